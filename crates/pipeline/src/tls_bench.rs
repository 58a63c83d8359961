//! What TLS and per-device credentials cost the edge — the harness behind `coinfer bench tls`:
//! per-request latency on loopback against a plaintext edge, a TLS edge with token
//! credentials and a mutual-TLS edge, measured side by side in the same run (requests
//! interleaved round-robin so drift hits all three alike); then idle TLS connections held
//! by an edge *process* (`coinfer edge serve`), with that process's resident memory.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::credentials::{hash_token, Credential, CredentialFile, Role};
use coinfer_runtime::device::Percentiles;
use coinfer_runtime::proto::InferRequest;
use coinfer_runtime::server::{EdgeConfig, EdgeThread};
use coinfer_runtime::tls::{Authority, ClientTls, ServerTls};

use crate::error::{PipelineError, Result};

/// What to benchmark.
#[derive(Debug, Clone)]
pub struct TlsBenchConfig {
    /// Folder the edges serve models from.
    pub model_dir: PathBuf,
    /// Model name in it.
    pub model: String,
    /// Engine name.
    pub engine: String,
    /// Cut whose tail is served.
    pub cut: usize,
    /// Requests per edge in the latency run.
    pub requests: usize,
    /// Idle TLS connections to open and hold (0 = skip that part).
    pub idle: usize,
    /// The `coinfer` executable, to run the edge of the idle part as a process of its own.
    pub edge_exe: PathBuf,
    /// The latency part's edges' settings (threads, pinning, busy polling); each gets its
    /// TLS and credentials on top.
    pub edge: EdgeConfig,
}

/// One edge's latencies (ms).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Side {
    /// Which edge: `plaintext`, `tls+token`, `mutual-tls`.
    pub mode: String,
    /// Infer round trips, one device, sequential.
    pub infer_ms: Percentiles,
    /// Health round trips (no tail): the protocol's floor.
    pub health_ms: Percentiles,
    /// The server's time besides the tail (its own timing).
    pub server_extra_ms: Percentiles,
    /// Infer p50 minus the plaintext edge's (ms).
    pub added_p50_ms: f64,
    /// Infer p50 minus the tail's own p50: the serving overhead (ms).
    pub overhead_p50_ms: f64,
    /// The time of a new connection's first answered request (TCP + TLS handshake + HTTP/2
    /// + one Health), median of 20 (ms).
    pub connect_ms: f64,
}

/// Idle connections held by an edge process.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdleReport {
    /// Connections opened (each a TLS + HTTP/2 client that answered one Health).
    pub opened: usize,
    /// Connections whose Health failed, opening or after the hold.
    pub errors: usize,
    /// Seconds to open them all.
    pub open_s: f64,
    /// Edge process resident memory before, MiB.
    pub rss_before_mib: f64,
    /// ... while holding them, MiB.
    pub rss_held_mib: f64,
    /// Resident memory per held connection, KiB.
    pub kib_per_connection: f64,
    /// Edge CPU seconds over a 5 s hold with every connection idle.
    pub idle_cpu_s_per_s: f64,
    /// An inference answered while they were held.
    pub served_while_held: bool,
}

/// What the benchmark measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsBenchReport {
    /// Model, cut and engine served.
    pub model: String,
    /// Cut.
    pub cut: usize,
    /// The tail alone, batch 1, one thread (ms).
    pub tail_own_ms: Percentiles,
    /// Per edge mode.
    pub sides: Vec<Side>,
    /// The idle-connection part, if run.
    pub idle: Option<IdleReport>,
}

const TOKEN: &str = "bench-device-token";

/// Runs the benchmark.
pub fn tls_bench(config: &TlsBenchConfig) -> Result<TlsBenchReport> {
    let dir = tempfile::tempdir()
        .map_err(|source| PipelineError::Io { what: "a temporary directory".into(), source })?;
    let pki = Pki::create(dir.path())?;
    let engine = coinfer_engine::engine_for_name(&config.engine)?;
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let edge_cfg = |tls: Option<ServerTls>, credentials: bool| EdgeConfig {
        tls,
        credentials: credentials.then(|| pki.credentials.clone()),
        ..config.edge.clone()
    };
    let plain = EdgeThread::spawn(&config.model_dir, engine.clone(), edge_cfg(None, false), any)?;
    let tls = EdgeThread::spawn(
        &config.model_dir,
        engine.clone(),
        edge_cfg(Some(pki.server(false)), true),
        any,
    )?;
    let mtls =
        EdgeThread::spawn(&config.model_dir, engine, edge_cfg(Some(pki.server(true)), true), any)?;
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|source| {
            PipelineError::Io { what: "starting the async runtime".into(), source }
        })?;
    let (frame, tail_own_ms) = crate::edge_bench::first_frame(
        &config.model_dir,
        &config.model,
        &config.engine,
        config.cut,
        config.requests,
    )?;
    let targets = [
        ("plaintext", plain.url(), None, None),
        ("tls+token", tls.url(), Some(pki.client(false)), Some(TOKEN)),
        ("mutual-tls", mtls.url(), Some(pki.client(true)), None),
    ];
    let sides = rt.block_on(side_by_side(config, &targets, &frame, tail_own_ms.p50))?;
    let idle = if config.idle > 0 {
        Some(rt.block_on(idle_connections(config, &pki, &frame))?)
    } else {
        None
    };
    drop(rt);
    for e in [plain, tls, mtls] {
        e.stop()?;
    }
    Ok(TlsBenchReport { model: config.model.clone(), cut: config.cut, tail_own_ms, sides, idle })
}

/// A test CA, the edge's certificate for 127.0.0.1, a device certificate, and credentials
/// binding both the device's token and its certificate.
struct Pki {
    ca: Authority,
    edge: coinfer_runtime::tls::Issued,
    device: coinfer_runtime::tls::Issued,
    credentials: PathBuf,
}

impl Pki {
    fn create(dir: &std::path::Path) -> Result<Pki> {
        let ca = Authority::create(&dir.join("pki"), "coinfer bench CA")?;
        let edge = ca.issue_server("edge", &["127.0.0.1".into(), "localhost".into()], 1)?;
        let now = SystemTime::now();
        let device = ca.issue_device("bench", now, now + Duration::from_secs(86_400))?;
        let credentials = dir.join("credentials.toml");
        let file = CredentialFile {
            credentials: vec![Credential {
                id: "bench".into(),
                role: Role::Device,
                token_sha256: Some(hash_token(TOKEN)),
                cert_sha256: Some(device.sha256.clone()),
                revoked: false,
            }],
        };
        file.save(&credentials)?;
        Ok(Pki { ca, edge, device, credentials })
    }

    fn server(&self, mutual: bool) -> ServerTls {
        ServerTls {
            cert: self.edge.cert.clone(),
            key: self.edge.key.clone(),
            client_ca: mutual.then(|| self.ca.ca_cert()),
            require_client_cert: true,
        }
    }

    fn client(&self, mutual: bool) -> ClientTls {
        ClientTls {
            ca: Some(self.ca.ca_cert()),
            cert: mutual.then(|| self.device.cert.clone()),
            key: mutual.then(|| self.device.key.clone()),
            domain: None,
        }
    }
}

type Target = (&'static str, String, Option<ClientTls>, Option<&'static str>);

fn refused(status: tonic::Status) -> PipelineError {
    PipelineError::Invalid(format!("the edge refused a benchmark request: {status}"))
}

/// The benchmark's request: `frame` for the tail after `config.cut`, as device `bench`.
fn bench_request(config: &TlsBenchConfig, frame: &[u8]) -> InferRequest {
    InferRequest {
        device_id: "bench".into(),
        model: config.model.clone(),
        cut: config.cut as i32,
        frame: frame.to_vec(),
        ..InferRequest::default()
    }
}

/// Every target's latencies, requests interleaved round-robin; `tail_own_p50_ms` is the
/// tail's own time the serving overhead is measured against.
async fn side_by_side(
    config: &TlsBenchConfig,
    targets: &[Target],
    frame: &[u8],
    tail_own_p50_ms: f64,
) -> Result<Vec<Side>> {
    let req = || bench_request(config, frame);
    let mut clients = targets
        .iter()
        .map(|(_, url, tls, token)| EdgeClient::connect(url, *token, tls.as_ref()))
        .collect::<coinfer_runtime::Result<Vec<_>>>()?;
    for c in clients.iter_mut() {
        for _ in 0..50 {
            c.infer(req(), None).await.map_err(refused)?;
        }
    }
    let n = targets.len();
    let (mut infer, mut health, mut extra) = (vec![vec![]; n], vec![vec![]; n], vec![vec![]; n]);
    for _ in 0..config.requests {
        for (i, c) in clients.iter_mut().enumerate() {
            let t = Instant::now();
            let r = c.infer(req(), None).await.map_err(refused)?;
            infer[i].push(t.elapsed().as_secs_f64() * 1e3);
            if let Some(tm) = r.timing {
                extra[i].push(tm.total_us.saturating_sub(tm.tail_us) as f64 / 1e3);
            }
            let t = Instant::now();
            c.health().await.map_err(refused)?;
            health[i].push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    // New connections: handshake and first answer, interleaved too.
    let mut connect = vec![vec![]; n];
    for _ in 0..20 {
        for (i, (_, url, tls, token)) in targets.iter().enumerate() {
            let t = Instant::now();
            let mut c = EdgeClient::connect(url, *token, tls.as_ref())?;
            c.health().await.map_err(refused)?;
            connect[i].push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let p50_plain = Percentiles::of(infer[0].clone()).p50;
    Ok(targets
        .iter()
        .enumerate()
        .map(|(i, (mode, ..))| {
            let infer_ms = Percentiles::of(std::mem::take(&mut infer[i]));
            Side {
                mode: mode.to_string(),
                added_p50_ms: infer_ms.p50 - p50_plain,
                overhead_p50_ms: infer_ms.p50 - tail_own_p50_ms,
                infer_ms,
                health_ms: Percentiles::of(std::mem::take(&mut health[i])),
                server_extra_ms: Percentiles::of(std::mem::take(&mut extra[i])),
                connect_ms: Percentiles::of(std::mem::take(&mut connect[i])).p50,
            }
        })
        .collect())
}

/// An edge process with TLS and credentials; `config.idle` TLS clients open, answer one
/// Health each, are held 5 s idle (edge CPU measured), answer again.
async fn idle_connections(config: &TlsBenchConfig, pki: &Pki, frame: &[u8]) -> Result<IdleReport> {
    let port = free_port()?;
    let metrics = free_port()?;
    let tls = pki.server(false);
    let mut child = std::process::Command::new(&config.edge_exe)
        .args(["edge", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics", &format!("127.0.0.1:{metrics}"), "--workers", "1"])
        .arg("--models")
        .arg(&config.model_dir)
        .arg("--credentials")
        .arg(&pki.credentials)
        .arg("--tls-cert")
        .arg(&tls.cert)
        .arg("--tls-key")
        .arg(&tls.key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|source| PipelineError::Io { what: "starting the edge process".into(), source })?;
    let pid = child.id();
    let result = async {
        let url = format!("https://127.0.0.1:{port}");
        let client_tls = pki.client(false);
        let mut probe = EdgeClient::connect(&url, Some(TOKEN), Some(&client_tls))?;
        let up = Instant::now() + Duration::from_secs(20);
        while probe.health().await.is_err() {
            if Instant::now() > up {
                return Err(PipelineError::Invalid("the edge process did not start".into()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let rss_before = rss_mib(pid)?;
        // This process holds one descriptor per client: take what the hard limit allows.
        let _ = coinfer_runtime::limits::raise_descriptor_limit();
        let t = Instant::now();
        let mut held = Vec::with_capacity(config.idle);
        let mut errors = 0;
        tracing::info!(n = config.idle, "opening idle TLS connections");
        for chunk in (0..config.idle).collect::<Vec<_>>().chunks(100) {
            let mut opening = vec![];
            for _ in chunk {
                let mut c = EdgeClient::connect(&url, Some(TOKEN), Some(&client_tls))?;
                opening.push(tokio::spawn(async move {
                    let ok = c.health().await.is_ok();
                    (c, ok)
                }));
            }
            for o in opening {
                let (c, ok) = o.await.map_err(|e| PipelineError::Invalid(e.to_string()))?;
                errors += usize::from(!ok);
                held.push(c);
            }
        }
        let open_s = t.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_held = rss_mib(pid)?;
        let cpu0 = cpu_seconds(pid)?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let idle_cpu = (cpu_seconds(pid)? - cpu0) / 5.0;
        let req = bench_request(config, frame);
        let served = probe.infer(req, Some(Duration::from_secs(10))).await.is_ok();
        for c in held.iter_mut().step_by(10) {
            errors += usize::from(c.health().await.is_err());
        }
        Ok(IdleReport {
            opened: held.len(),
            errors,
            open_s,
            rss_before_mib: rss_before,
            rss_held_mib: rss_held,
            kib_per_connection: (rss_held - rss_before) * 1024.0 / held.len().max(1) as f64,
            idle_cpu_s_per_s: idle_cpu,
            served_while_held: served,
        })
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|source| PipelineError::Io { what: "finding a free port".into(), source })?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|source| PipelineError::Io { what: "finding a free port".into(), source })
}

fn proc_file(pid: u32, name: &str) -> Result<String> {
    let path = format!("/proc/{pid}/{name}");
    std::fs::read_to_string(&path)
        .map_err(|source| PipelineError::Io { what: format!("reading {path}"), source })
}

/// A process's resident memory (MiB), from `/proc/<pid>/status`.
fn rss_mib(pid: u32) -> Result<f64> {
    let status = proc_file(pid, "status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .ok_or_else(|| PipelineError::Invalid(format!("no VmRSS for process {pid}")))
}

/// A process's CPU seconds (user + system), from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = proc_file(pid, "stat")?;
    // Fields after the command name (which may hold spaces) end with `)`.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat: the 12th and 13th after the name.
    let hz = 100.0; // USER_HZ, 100 on every Linux ABI
    Ok((ticks(11) + ticks(12)) / hz)
}
