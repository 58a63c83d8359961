//! `coinfer edge serve | health | shares` and `coinfer bench edge`.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use coinfer_pipeline::edge_bench::{edge_bench, EdgeBenchConfig};
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::proto::Share;
use coinfer_runtime::server::{EdgeConfig, EdgeHandle, EdgeState, ShareConfig};

use crate::args::{
    BenchEdgeArgs, CredentialsArgs, CredentialsWhat, EdgeServeArgs, EdgeWhat, TlsInitArgs,
};
use crate::output::{print_json, table};

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn serve_config(args: &EdgeServeArgs) -> Result<EdgeConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("edge config {}", path.display()))?
        }
        None => EdgeConfig::default(),
    };
    if let Some(t) = &args.token {
        config.token = Some(t.clone());
    }
    if let Some(c) = &args.credentials {
        config.credentials = Some(c.clone());
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(coinfer_runtime::tls::ServerTls {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.tls_client_ca.clone(),
            require_client_cert: !args.tls_client_cert_optional,
        });
    }
    if let Some(n) = args.max_connections {
        config.max_connections = n;
    }
    if let Some(w) = args.workers {
        config.workers = w;
    }
    if let Some(b) = args.max_batch {
        config.max_batch = b;
    }
    if let Some(d) = args.max_queue_delay_ms {
        config.max_queue_delay_ms = d;
    }
    args.serving.apply(&mut config);
    if let Some(p) = &args.plan {
        let plan = super::device::read_plan(p)?;
        config.apply_plan(&plan);
    }
    config.validate()?;
    Ok(config)
}

pub fn run(what: EdgeWhat, json: bool) -> Result<()> {
    match what {
        EdgeWhat::Serve(args) => serve(&args, json),
        EdgeWhat::Credentials(args) => credentials(&args, json),
        EdgeWhat::TlsInit(args) => tls_init(&args, json),
        EdgeWhat::Health { edge, tls } => runtime()?.block_on(async {
            let mut c = EdgeClient::connect(&edge, None, tls.for_url(&edge).as_ref())?;
            let h = c.health().await.with_context(|| format!("edge {edge}"))?;
            let v = serde_json::to_value(&h)?;
            if json {
                print_json(&v)
            } else {
                println!("{}", serde_json::to_string_pretty(&v)?);
                Ok(())
            }
        }),
        EdgeWhat::Shares { edge, plan, token, tls } => runtime()?.block_on(async {
            let plan = super::device::read_plan(&plan)?;
            let configs = ShareConfig::from_plan(&plan);
            let shares = configs.iter().cloned().map(Share::from).collect();
            let mut c = EdgeClient::connect(&edge, token.as_deref(), tls.for_url(&edge).as_ref())?;
            let n = c.set_shares(shares).await.with_context(|| format!("edge {edge}"))?;
            if json {
                return print_json(&serde_json::json!({
                    "edge": edge, "devices_set": n, "shares": configs,
                }));
            }
            println!("{n} devices' shares set on {edge}");
            Ok(())
        }),
    }
}

/// `coinfer edge credentials add | revoke | list`.
fn credentials(args: &CredentialsArgs, json: bool) -> Result<()> {
    use coinfer_runtime::credentials::{CredentialFile, Role};
    let path = &args.file;
    match &args.what {
        CredentialsWhat::Add { id, operator, cert } => {
            let mut file = CredentialFile::load_or_empty(path)?;
            let role = if *operator { Role::Operator } else { Role::Device };
            let fp = cert.as_deref().map(coinfer_runtime::tls::pem_fingerprint).transpose()?;
            let token = file.add(id, role, fp.clone())?;
            file.save(path)?;
            match (fp, json) {
                (Some(fp), true) => print_json(&serde_json::json!({"id": id, "cert_sha256": fp})),
                (Some(fp), false) => {
                    println!("{id}: client certificate {fp} bound in {}", path.display());
                    Ok(())
                }
                (None, true) => print_json(&serde_json::json!({"id": id, "token": token})),
                (None, false) => {
                    eprintln!(
                        "{id}: token added to {} (only its SHA-256 is stored; this is the one \
                         time it is shown):",
                        path.display()
                    );
                    println!("{token}");
                    Ok(())
                }
            }
        }
        CredentialsWhat::Revoke { id } => {
            let mut file = CredentialFile::load(path)?;
            if !file.revoke(id) {
                bail!("{}: no credential `{id}`", path.display());
            }
            file.save(path)?;
            println!("{id}: revoked (a running edge refuses it within a second)");
            Ok(())
        }
        CredentialsWhat::List => {
            let file = CredentialFile::load(path)?;
            let rows: Vec<serde_json::Value> = file
                .credentials
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "id": c.id, "role": c.role, "token": c.token_sha256.is_some(),
                        "certificate": c.cert_sha256.is_some(), "revoked": c.revoked,
                    })
                })
                .collect();
            if json {
                return print_json(&rows);
            }
            let yes = |b: bool| if b { "yes" } else { "" };
            let body = file
                .credentials
                .iter()
                .map(|c| {
                    vec![
                        c.id.clone(),
                        format!("{:?}", c.role).to_lowercase(),
                        yes(c.token_sha256.is_some()).into(),
                        yes(c.cert_sha256.is_some()).into(),
                        yes(c.revoked).into(),
                    ]
                })
                .collect();
            println!("{}", table(&["id", "role", "token", "certificate", "revoked"], body));
            Ok(())
        }
    }
}

/// `coinfer edge tls-init`.
fn tls_init(args: &TlsInitArgs, json: bool) -> Result<()> {
    use coinfer_runtime::tls::Authority;
    let ca = if args.dir.join("ca.pem").exists() {
        Authority::open(&args.dir)?
    } else {
        Authority::create(&args.dir, "coinfer edge CA")?
    };
    let edge = ca.issue_server("edge", &args.host, args.days)?;
    let now = std::time::SystemTime::now();
    let until = now + Duration::from_secs(u64::from(args.days) * 86_400);
    let devices = args
        .device
        .iter()
        .map(|d| Ok((d.clone(), ca.issue_device(d, now, until)?)))
        .collect::<Result<Vec<_>>>()?;
    if let Some(path) = &args.credentials {
        use coinfer_runtime::credentials::{CredentialFile, Role};
        let mut file = CredentialFile::load_or_empty(path)?;
        for (d, issued) in &devices {
            file.add(d, Role::Device, Some(issued.sha256.clone()))?;
        }
        file.save(path)?;
    }
    let v = serde_json::json!({
        "ca": ca.ca_cert(), "edge": edge, "devices": devices.iter().map(|(d, i)| (d.clone(), i)).collect::<std::collections::BTreeMap<_, _>>(),
    });
    if json {
        return print_json(&v);
    }
    println!(
        "CA {} · edge certificate {} (key {}) for {}",
        ca.ca_cert().display(),
        edge.cert.display(),
        edge.key.display(),
        args.host.join(", ")
    );
    for (d, i) in &devices {
        println!(
            "device {d}: {} (key {}), SHA-256 {}",
            i.cert.display(),
            i.key.display(),
            i.sha256
        );
    }
    if let Some(path) = &args.credentials {
        println!("{} device certificates bound in {}", devices.len(), path.display());
    }
    Ok(())
}

fn serve(args: &EdgeServeArgs, json: bool) -> Result<()> {
    if !args.models.is_dir() {
        bail!("model directory {} not found", args.models.display());
    }
    let config = serve_config(args)?;
    // One descriptor per device connection: take what the hard limit allows, and say it.
    match coinfer_runtime::limits::raise_descriptor_limit() {
        Some((before, now)) if now > before => {
            tracing::info!("open descriptor limit raised from {before} to {now}")
        }
        Some((_, now)) => tracing::info!("open descriptor limit {now} (the hard limit)"),
        None => tracing::warn!("open descriptor limit unknown"),
    }
    let engine = coinfer_engine::engine_for_name(args.engine.name())?;
    let rt = config.runtime()?;
    config.place_io_thread();
    rt.block_on(async {
        let state = EdgeState::new(&args.models, engine, config.clone())?;
        let edge = EdgeHandle::start(state, args.listen, Some(args.metrics)).await?;
        let info = serde_json::json!({
            "grpc": edge.url(),
            "http": edge.http_url(),
            "models": args.models, "workers": config.workers, "max_batch": config.max_batch,
            "max_queue_delay_ms": config.max_queue_delay_ms,
            "auth": if config.credentials.is_some() { "credentials" }
                else if config.token.is_some() { "shared token" } else { "none" },
            "tls": config.tls.as_ref().map(|t| if t.client_ca.is_some() { "mutual" } else { "server" }),
            "io_threads": config.io_threads, "pin_workers": config.pin_workers,
            "busy_poll_us": config.busy_poll_us,
        });
        if json {
            println!("{info}");
        } else {
            eprintln!(
                "coinfer edge: gRPC {} · /health and /metrics on {} · models {} · {} workers, batch ≤ {}, queue delay ≤ {} ms{} — Ctrl-C stops",
                edge.url(),
                edge.http_url().unwrap_or_else(|| "-".into()),
                args.models.display(),
                config.workers,
                config.max_batch,
                config.max_queue_delay_ms,
                match (&config.tls, &config.credentials, &config.token) {
                    (Some(_), Some(_), _) => ", TLS, per-device credentials",
                    (Some(_), None, Some(_)) => ", TLS, shared token",
                    (Some(_), None, None) => ", TLS, no authentication",
                    (None, Some(_), _) => ", PLAINTEXT, per-device credentials",
                    (None, None, Some(_)) => ", PLAINTEXT, shared token",
                    (None, None, None) => ", PLAINTEXT, no authentication",
                }
            );
        }
        let stopper = edge.stopper();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            let _ = stopper.send(true);
        });
        publish(&edge, &args.publish, args.publish_every_s)?;
        edge.wait().await?;
        Ok(())
    })
}

/// Publishes `MODEL/VERSION`s one every `every_s` seconds (the first at once), each with its
/// tails prepared first; a bad name stops the server before it serves.
fn publish(edge: &EdgeHandle, list: &[String], every_s: f64) -> Result<()> {
    let mut ids = vec![];
    for item in list {
        let (model, version) = item
            .split_once('/')
            .with_context(|| format!("--publish `{item}`: expected MODEL/VERSION"))?;
        ids.push((model.to_string(), version.to_string()));
    }
    if ids.is_empty() {
        return Ok(());
    }
    if !(every_s.is_finite() && every_s > 0.0) {
        bail!("--publish-every-s must be > 0");
    }
    let state = edge.state.clone();
    let (model, version) = &ids[0];
    state.prepare_version(model, version)?;
    state.publish(model, version)?;
    tokio::spawn(async move {
        for (model, version) in ids.into_iter().skip(1) {
            tokio::time::sleep(Duration::from_secs_f64(every_s)).await;
            let s = state.clone();
            let (m, v) = (model.clone(), version.clone());
            let ready = tokio::task::spawn_blocking(move || {
                s.prepare_version(&m, &v)?;
                s.publish(&m, &v)
            })
            .await;
            match ready {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!("publishing {model}/{version}: {e}"),
                Err(e) => tracing::error!("publishing {model}/{version}: {e}"),
            }
        }
    });
    Ok(())
}

pub fn bench(setup: &BenchEdgeArgs, json: bool) -> Result<()> {
    let BenchEdgeArgs { devices, requests, seconds, idle, cut, workers, max_batch, serving } =
        *setup;
    let mut edge =
        EdgeConfig { workers, max_batch, max_queue_delay_ms: 0.0, ..EdgeConfig::default() };
    serving.apply(&mut edge);
    let config = EdgeBenchConfig {
        model_dir: "models".into(),
        model: "fmnist-resnet".into(),
        engine: "tract".into(),
        cut,
        data: coinfer_data::DatasetName::FashionMnist,
        devices,
        requests,
        seconds,
        idle,
        edge,
    };
    let r = edge_bench(&config).context("the default model (run from the project root)")?;
    if json {
        return print_json(&r);
    }
    let rows = vec![
        vec!["tail own p50 (ms)".into(), format!("{:.3}", r.tail_own_ms.p50), "".into()],
        vec!["served p50 (ms)".into(), format!("{:.3}", r.served_ms.p50), "".into()],
        vec![
            "gRPC Health round trip p50 (ms)".into(),
            format!("{:.3}", r.grpc_health_rtt_ms.p50),
            "".into(),
        ],
        vec![
            "server: queue | total − tail p50 (ms)".into(),
            format!("{:.3} | {:.3}", r.server_queue_ms.p50, r.server_total_minus_tail_ms.p50),
            "".into(),
        ],
        vec![
            "serving overhead p50 (ms)".into(),
            format!("{:.3}", r.overhead_p50_ms),
            "≤ 0.2".into(),
        ],
        vec![
            format!("raw tail /s, {} threads (batch 1 | max batch)", r.workers),
            format!("{:.0} | {:.0}", r.raw_tail_per_s_batch1, r.raw_tail_per_s_max_batch),
            "".into(),
        ],
        vec![format!("served /s, {devices} devices"), format!("{:.0}", r.served_per_s), "".into()],
        vec![
            "throughput ratio (vs best raw)".into(),
            format!("{:.2}", r.throughput_ratio_vs_best_raw),
            "≥ 0.90".into(),
        ],
        vec![
            format!("idle connections held ({idle})"),
            format!("{} errors", r.idle_errors),
            "0".into(),
        ],
    ];
    println!("{}", table(&["measure", "value", "target"], rows));
    Ok(())
}

/// `coinfer bench tls`.
pub fn bench_tls(
    requests: usize,
    idle: usize,
    cut: usize,
    serving: crate::args::ServingArgs,
    json: bool,
) -> Result<()> {
    use coinfer_pipeline::tls_bench::{tls_bench, TlsBenchConfig};
    let mut edge = EdgeConfig { workers: 1, ..EdgeConfig::default() };
    serving.apply(&mut edge);
    let config = TlsBenchConfig {
        edge,
        model_dir: "models".into(),
        model: "fmnist-resnet".into(),
        engine: "tract".into(),
        cut,
        requests,
        idle,
        edge_exe: std::env::current_exe()?,
    };
    let r = tls_bench(&config).context("the default model (run from the project root)")?;
    if json {
        return print_json(&r);
    }
    let ms = |p: &coinfer_runtime::device::Percentiles| format!("{:.3} / {:.3}", p.p50, p.p95);
    let rows = r
        .sides
        .iter()
        .map(|s| {
            vec![
                s.mode.clone(),
                ms(&s.infer_ms),
                format!("{:+.3}", s.added_p50_ms),
                format!("{:.3}", s.overhead_p50_ms),
                ms(&s.health_ms),
                format!("{:.3}", s.server_extra_ms.p50),
                format!("{:.2}", s.connect_ms),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "edge",
                "infer p50 / p95 ms",
                "added p50 ms (≤ +0.1)",
                "overhead over tail p50 ms (≤ 0.2)",
                "health p50 / p95 ms",
                "server − tail p50 ms",
                "new connection ms",
            ],
            rows
        )
    );
    println!("tail's own time p50 {:.3} ms (batch 1, one thread)", r.tail_own_ms.p50);
    if let Some(i) = &r.idle {
        let rows = vec![
            vec!["idle TLS connections held".into(), format!("{} ({} errors)", i.opened, i.errors)],
            vec!["time to open them (s)".into(), format!("{:.1}", i.open_s)],
            vec![
                "edge process RSS before → held (MiB)".into(),
                format!("{:.1} → {:.1}", i.rss_before_mib, i.rss_held_mib),
            ],
            vec!["per connection (KiB)".into(), format!("{:.1}", i.kib_per_connection)],
            vec!["edge CPU while all idle (s/s)".into(), format!("{:.4}", i.idle_cpu_s_per_s)],
            vec!["inference served while held".into(), i.served_while_held.to_string()],
        ];
        println!("{}", table(&["measure", "value"], rows));
    }
    Ok(())
}
