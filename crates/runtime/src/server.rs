//! The edge server: the `coinfer.v1.Edge` gRPC service, its limits, and an HTTP endpoint
//! with `/health` and Prometheus `/metrics`.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coinfer_compress::{decode_frame, Codec, DecodeLimits};
use coinfer_engine::{Engine, Tensor};
use coinfer_sim::SplitPoint;
use tonic::{Request, Response, Status};

use crate::credentials::Caller;
use crate::error::{Result, RuntimeError};
use crate::metrics::EdgeMetrics;
use crate::models::{ModelId, ModelStore, Part};
use crate::proto::edge_server::{Edge, EdgeServer};
use crate::proto::{
    FetchRequest, HealthRequest, HealthResponse, InferRequest, InferResponse, ModelChunk,
    ServerTiming, SharesRequest, SharesResponse, VersionsRequest, VersionsResponse,
};
use crate::scheduler::{Job, JobError, JobOutput, Scheduler, SchedulerConfig};
use crate::shaping::Shaper;

/// Edge server settings (`coinfer edge serve --config FILE`, TOML; every field optional).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeConfig {
    /// One bearer token every device shares (`authorization: Bearer <token>`): any holder
    /// may act as any device. For loopback experiments; exposed edges use `credentials`.
    pub token: Option<String>,
    /// Per-device and operator credentials file ([`crate::credentials`]); exclusive with
    /// `token`.
    pub credentials: Option<PathBuf>,
    /// TLS on the gRPC and HTTP ports (mutual TLS with a client CA); none = plaintext.
    pub tls: Option<crate::tls::ServerTls>,
    /// Most connections held open at once; more are accepted and closed at once, logged and
    /// counted. 0 = the descriptor limit less a reserve for models and logs.
    pub max_connections: usize,
    /// Most bytes of feature frames held by requests in the edge at once (shaping, queued,
    /// running); a request beyond it is refused with RESOURCE_EXHAUSTED.
    pub max_queued_bytes: usize,
    /// Worker threads running tails.
    pub workers: usize,
    /// Largest tail batch.
    pub max_batch: usize,
    /// How long a request may wait for its batch to fill (ms).
    pub max_queue_delay_ms: f64,
    /// Largest feature frame accepted (bytes).
    pub max_frame_bytes: usize,
    /// Largest tensor a frame may declare (elements).
    pub max_elements: usize,
    /// Requests one device may have in flight at once.
    pub max_in_flight_per_device: usize,
    /// Deadline applied when a request carries none (ms; 0 = none).
    pub default_deadline_ms: u32,
    /// Initial shares, as a policy would set them with `SetShares`.
    pub shares: Vec<ShareConfig>,
    /// Threads serving gRPC and HTTP (1 = a single-threaded runtime, the fastest per
    /// request; more for many busy devices on a big machine).
    pub io_threads: usize,
    /// Pin each tail worker to a core of its own and keep the I/O threads off those cores.
    pub pin_workers: bool,
    /// Keep idle cores polling for this long after each request (µs; 0 = off). Cuts the
    /// wake-up cost of halted cores on VMs without guest halt polling, at the price of idle
    /// CPU cycles; see [`crate::keep_awake`].
    pub busy_poll_us: u64,
    /// Concrete input shapes of models with symbolic dims, by model name (TOML:
    /// `[input_shapes.my-model]` then `image = [1, 3, 224, 224]`).
    pub input_shapes: std::collections::BTreeMap<String, coinfer_graph::InputShapes>,
}

/// One device's shares.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShareConfig {
    /// Device id.
    pub device_id: String,
    /// Weight in fair scheduling of tail compute (> 0).
    #[serde(default = "one")]
    pub compute_share: f64,
    /// Granted uplink rate (bit/s); 0 = unlimited.
    #[serde(default)]
    pub bandwidth_bps: f64,
    /// Testbed knob, not for production: emulate this device's *reserved slice of a slower
    /// edge* by answering its requests no sooner than this long (ms) after their tail started
    /// (the real tail runs; a longer one is not cut short). 0 = off. `coinfer mcia deploy`
    /// sets it to the simulator's tail time on the scenario's edge at the device's share.
    #[serde(default)]
    pub emulated_tail_ms: f64,
}

impl ShareConfig {
    /// The shares a plan gives its devices: each device's compute share, and its granted
    /// uplink rate (its bandwidth share of the plan's total).
    pub fn from_plan(plan: &coinfer_sim::Plan) -> Vec<ShareConfig> {
        plan.devices
            .iter()
            .map(|d| ShareConfig {
                device_id: d.device_id.clone(),
                compute_share: d.compute_share,
                bandwidth_bps: plan.granted_bps(d),
                emulated_tail_ms: 0.0,
            })
            .collect()
    }
}

impl From<ShareConfig> for crate::proto::Share {
    fn from(s: ShareConfig) -> Self {
        crate::proto::Share {
            device_id: s.device_id,
            compute_share: s.compute_share,
            bandwidth_bps: s.bandwidth_bps,
        }
    }
}

fn one() -> f64 {
    1.0
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            token: None,
            credentials: None,
            tls: None,
            max_connections: 0,
            max_queued_bytes: 256 << 20,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_batch: 32,
            max_queue_delay_ms: 0.0,
            max_frame_bytes: 16 << 20,
            max_elements: 4 << 20,
            max_in_flight_per_device: 64,
            default_deadline_ms: 0,
            shares: vec![],
            io_threads: 1,
            pin_workers: false,
            busy_poll_us: 0,
            input_shapes: Default::default(),
        }
    }
}

impl EdgeConfig {
    /// Takes what a deployment plan says about the edge: its devices' shares and the input
    /// shapes their models are served at.
    pub fn apply_plan(&mut self, plan: &coinfer_sim::Plan) {
        self.shares.extend(ShareConfig::from_plan(plan));
        self.input_shapes.extend(crate::models::plan_input_shapes(plan));
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(RuntimeError::Invalid(m));
        if self.workers == 0
            || self.max_batch == 0
            || self.max_in_flight_per_device == 0
            || self.io_threads == 0
        {
            return bad(
                "workers, max_batch, max_in_flight_per_device and io_threads must be ≥ 1".into()
            );
        }
        if self.token.is_some() && self.credentials.is_some() {
            return bad("give either a shared `token` or a `credentials` file, not both".into());
        }
        if self.max_queued_bytes < self.max_frame_bytes {
            return bad(format!(
                "max_queued_bytes = {} must hold at least one frame (max_frame_bytes = {})",
                self.max_queued_bytes, self.max_frame_bytes
            ));
        }
        if !(self.max_queue_delay_ms.is_finite() && self.max_queue_delay_ms >= 0.0) {
            return bad(format!("max_queue_delay_ms = {} must be ≥ 0", self.max_queue_delay_ms));
        }
        for s in &self.shares {
            check_share(&s.device_id, s.compute_share, s.bandwidth_bps)?;
            if !(s.emulated_tail_ms.is_finite() && s.emulated_tail_ms >= 0.0) {
                return bad(format!(
                    "shares of `{}`: emulated_tail_ms = {} must be a finite number ≥ 0",
                    s.device_id, s.emulated_tail_ms
                ));
            }
        }
        Ok(())
    }

    fn scheduler(&self) -> SchedulerConfig {
        SchedulerConfig {
            workers: self.workers,
            max_batch: self.max_batch,
            max_queue_delay: Duration::from_secs_f64(self.max_queue_delay_ms / 1e3),
            pin_workers: self.pin_workers,
        }
    }

    /// The cores I/O threads keep to (all available cores unless `pin_workers`).
    pub fn io_cores(&self) -> Vec<usize> {
        let cores = crate::cpus::available();
        if self.pin_workers {
            crate::cpus::io_cores(&cores, self.workers)
        } else {
            cores
        }
    }

    /// The tokio runtime the edge serves on: single-threaded for `io_threads` = 1, else
    /// multi-threaded. With `pin_workers`, its threads keep off the workers' cores; a
    /// single-threaded runtime runs on the thread that calls `block_on`, which should call
    /// [`EdgeConfig::place_io_thread`] first.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        if self.io_threads <= 1 {
            return tokio::runtime::Builder::new_current_thread().enable_all().build();
        }
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(self.io_threads).enable_all();
        if self.pin_workers {
            let io = self.io_cores();
            b.on_thread_start(move || {
                crate::cpus::restrict_current(&io);
            });
        }
        b.build()
    }

    /// Keeps the calling thread off the workers' cores when `pin_workers` is set.
    pub fn place_io_thread(&self) {
        if self.pin_workers && !crate::cpus::restrict_current(&self.io_cores()) {
            tracing::warn!("could not keep the I/O thread off the worker cores");
        }
    }
}

/// Everything a running edge holds.
pub struct EdgeState {
    store: ModelStore,
    scheduler: Scheduler,
    shaper: Shaper,
    /// Metrics (shared with the HTTP endpoint).
    pub metrics: Arc<EdgeMetrics>,
    config: EdgeConfig,
    in_flight: Mutex<HashMap<String, usize>>,
    codecs: Mutex<HashMap<String, Arc<Codec>>>,
    /// Per device: the tail time its answers are held to (see [`ShareConfig::emulated_tail_ms`]).
    emulated_tail: HashMap<String, Duration>,
    started: Instant,
    keep_awake: Option<crate::keep_awake::KeepAwake>,
    /// Per model: the versions published so far, oldest first (none = every version on disk).
    published: Mutex<HashMap<String, Vec<String>>>,
    credentials: Option<crate::credentials::CredentialStore>,
    /// Bytes of frames held by requests in the edge now.
    queued_bytes: std::sync::atomic::AtomicUsize,
}

impl EdgeState {
    /// An edge serving the models in `models_dir` on `engine`.
    pub fn new(
        models_dir: impl Into<PathBuf>,
        engine: Arc<dyn Engine>,
        config: EdgeConfig,
    ) -> Result<Arc<EdgeState>> {
        config.validate()?;
        let metrics = Arc::new(EdgeMetrics::default());
        let m = metrics.clone();
        let scheduler = Scheduler::start(config.scheduler(), move |e| {
            m.batch_size.observe(e.batch_size as f64);
            m.queue_length.set(e.queue_length as i64);
        });
        let shaper = Shaper::default();
        for s in &config.shares {
            scheduler.set_share(&s.device_id, s.compute_share);
            shaper.set_rate(&s.device_id, s.bandwidth_bps);
        }
        Ok(Arc::new(EdgeState {
            store: ModelStore::new(models_dir, engine)
                .with_input_shapes(config.input_shapes.clone()),
            scheduler,
            shaper,
            metrics,
            in_flight: Mutex::default(),
            codecs: Mutex::default(),
            emulated_tail: config
                .shares
                .iter()
                .filter(|s| s.emulated_tail_ms > 0.0)
                .map(|s| (s.device_id.clone(), Duration::from_secs_f64(s.emulated_tail_ms / 1e3)))
                .collect(),
            started: Instant::now(),
            published: Mutex::default(),
            credentials: config
                .credentials
                .as_deref()
                .map(crate::credentials::CredentialStore::open)
                .transpose()?,
            queued_bytes: Default::default(),
            keep_awake: (config.busy_poll_us > 0).then(|| {
                crate::keep_awake::KeepAwake::start(Duration::from_micros(config.busy_poll_us))
            }),
            config,
        }))
    }

    /// Says loudly what an edge without TLS or credentials exposes.
    fn warn_if_exposed(&self, addr: std::net::SocketAddr) {
        let c = &self.config;
        let anyone = c.token.is_none() && c.credentials.is_none();
        // On loopback nothing crosses a network: a note for the curious, not a warning in
        // every experiment's console.
        if c.tls.is_none() && !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "PLAINTEXT: features, answers{} cross the network unencrypted and unauthenticated \
                 by any certificate; for loopback experiments only (give `tls` to expose the edge)",
                if anyone { "" } else { " and bearer tokens" }
            );
        } else if c.tls.is_none() {
            tracing::debug!(%addr, "plaintext on loopback");
        }
        if anyone && !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "NO AUTHENTICATION on a non-loopback address: anyone who reaches it may send as \
                 any device and change shares (give `credentials`)"
            );
        } else if c.token.is_some() {
            tracing::warn!(
                "shared token: every holder may act as any device and set shares; use per-device \
                 `credentials` for an exposed edge"
            );
        }
    }

    /// Activity: keeps the cores polling (when `busy_poll_us` > 0).
    fn touch(&self) {
        if let Some(k) = &self.keep_awake {
            k.touch();
        }
    }

    /// The health report.
    pub fn health(&self) -> HealthResponse {
        HealthResponse {
            status: "SERVING".into(),
            protocol: crate::PROTOCOL.into(),
            loaded: self.store.loaded(),
            queue_length: self.scheduler.queue_length() as u32,
            uptime_s: self.started.elapsed().as_secs_f64(),
        }
    }

    /// Publishes `version` of `model` as its current version (devices see it in `Versions`).
    /// Until a model's first publication, every version on disk counts as published.
    pub fn publish(&self, model: &str, version: &str) -> Result<()> {
        let id = ModelId { model: model.into(), version: version.into() };
        let path = self.store.path(&id)?;
        if !path.is_file() {
            return Err(RuntimeError::NotFound(format!(
                "cannot publish `{id}`: no file {}",
                path.display()
            )));
        }
        let mut p = self.published.lock().map_err(|_| RuntimeError::Invalid("poisoned".into()))?;
        let list = p.entry(model.to_string()).or_default();
        list.retain(|v| v != version);
        list.push(version.to_string());
        tracing::info!(model, version, "version published");
        Ok(())
    }

    /// Prepares every tail of a version (and the whole model, for edge-only requests), so
    /// the first device request after an update does not pay for it. Blocking: seconds for
    /// large models.
    pub fn prepare_version(&self, model: &str, version: &str) -> Result<()> {
        let id = ModelId { model: model.into(), version: version.into() };
        self.store.part(&id, Part::Full)?;
        for c in 0..self.store.cut_count(&id)? {
            self.store.part(&id, Part::Tail(c))?;
        }
        Ok(())
    }

    /// The published versions of `model`, oldest first.
    pub fn published(&self, model: &str) -> Result<Vec<String>> {
        let listed = self.published.lock().ok().and_then(|p| p.get(model).cloned());
        match listed {
            Some(v) => Ok(v),
            None => self.store.versions_on_disk(model),
        }
    }

    /// `Versions`: each published version with its heads (built once, off the async threads).
    async fn versions(self: &Arc<Self>, model: String) -> Result<VersionsResponse> {
        let versions = self.published(&model)?;
        let state = self.clone();
        let name = model.clone();
        let infos = tokio::task::spawn_blocking(move || {
            versions
                .into_iter()
                .map(|v| state.store.version_info(&ModelId { model: name.clone(), version: v }))
                .collect::<Result<Vec<_>>>()
        })
        .await
        .map_err(|e| RuntimeError::Invalid(format!("describing versions: {e}")))??;
        Ok(VersionsResponse { model, versions: infos })
    }

    /// `FetchModel`: the head file from `offset`, in chunks.
    async fn fetch(self: &Arc<Self>, req: FetchRequest) -> Result<Vec<ModelChunk>> {
        /// Default and largest chunk, bytes.
        const DEFAULT_CHUNK: usize = 64 << 10;
        const MAX_CHUNK: usize = 1 << 20;
        let id = ModelId { model: req.model, version: req.version };
        self.store.path(&id)?;
        let state = self.clone();
        let layers = req.layers as usize;
        let file = {
            let id = id.clone();
            tokio::task::spawn_blocking(move || state.store.head_file(&id, layers))
                .await
                .map_err(|e| RuntimeError::Invalid(format!("building a head: {e}")))??
        };
        let total = file.bytes.len();
        let offset = usize::try_from(req.offset).unwrap_or(usize::MAX);
        if offset > total {
            return Err(RuntimeError::Invalid(format!(
                "offset {offset} is past the end of the {total}-byte head of `{id}`"
            )));
        }
        let chunk = match req.chunk_bytes as usize {
            0 => DEFAULT_CHUNK,
            c => c.min(MAX_CHUNK),
        };
        self.metrics.model_bytes_served.inc_by((total - offset) as u64);
        Ok((offset..total)
            .step_by(chunk)
            .map(|at| ModelChunk {
                offset: at as u64,
                data: file.bytes[at..(at + chunk).min(total)].to_vec(),
                total_bytes: total as u64,
            })
            .collect())
    }

    /// Who sent `req`: by client certificate or bearer token against the credentials file,
    /// else the shared token, else anyone.
    fn authorize<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        let given = req.metadata().get("authorization").and_then(|v| v.to_str().ok());
        // The scheme is case-insensitive (RFC 7235 § 2.1).
        let token = given.and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
        if let Some(store) = &self.credentials {
            let certs = req.peer_certs();
            let cert = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
            return store.identify(token, cert).map_err(|e| Status::unauthenticated(e.to_string()));
        }
        let Some(shared) = &self.config.token else { return Ok(Caller::Anyone) };
        match token {
            Some(t) if constant_time_eq(t.as_bytes(), shared.as_bytes()) => Ok(Caller::Shared),
            Some(_) => Err(Status::unauthenticated("wrong token")),
            None => Err(Status::unauthenticated("missing `authorization: Bearer <token>`")),
        }
    }

    /// The named out-of-band codec (`<models>/<name>.json`), loaded once.
    fn codec(&self, name: &str) -> Result<Arc<Codec>> {
        let id = ModelId { model: name.to_string(), version: String::new() };
        let path = self.store.path(&id)?.with_extension("json");
        let mut codecs =
            self.codecs.lock().map_err(|_| RuntimeError::Invalid("codec cache poisoned".into()))?;
        if let Some(c) = codecs.get(name) {
            return Ok(c.clone());
        }
        let text = std::fs::read_to_string(&path).map_err(|_| {
            RuntimeError::NotFound(format!("codec `{name}`: no file {}", path.display()))
        })?;
        let codec: Codec = serde_json::from_str(&text)
            .map_err(|e| RuntimeError::Invalid(format!("codec `{name}`: {e}")))?;
        let codec = Arc::new(codec);
        codecs.insert(name.to_string(), codec.clone());
        Ok(codec)
    }

    /// Handles one inference request (auth already checked).
    async fn infer(self: &Arc<Self>, req: InferRequest) -> Result<InferResponse, Status> {
        let arrived = Instant::now();
        self.touch();
        if req.device_id.is_empty() || req.device_id.len() > 128 {
            return Err(Status::invalid_argument("device_id must have 1–128 characters"));
        }
        if req.frame.len() > self.config.max_frame_bytes {
            return Err(Status::resource_exhausted(format!(
                "frame of {} bytes exceeds the limit of {} bytes",
                req.frame.len(),
                self.config.max_frame_bytes
            )));
        }
        let _slot = InFlight::take(self, &req.device_id, req.frame.len())?;
        self.metrics.frame_bytes.inc_by(req.frame.len() as u64);

        // Bandwidth share: hold the request until its bytes crossed the granted rate — or,
        // when that is already past its deadline, refuse it now and leave the link free.
        let budget_ms =
            if req.deadline_ms > 0 { req.deadline_ms } else { self.config.default_deadline_ms };
        let deadline = (budget_ms > 0).then(|| arrived + Duration::from_millis(budget_ms.into()));
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let hold = match self.shaper.reserve_within(&req.device_id, req.frame.len(), left) {
            Ok(hold) => hold,
            Err(hold) => {
                return Err(Status::deadline_exceeded(format!(
                    "the bandwidth share of `{}` ({:.0} bit/s) would hold this {}-byte frame \
                     {:.1} ms, past its {budget_ms} ms deadline: refused at once",
                    req.device_id,
                    self.shaper.rate(&req.device_id).unwrap_or(0.0),
                    req.frame.len(),
                    hold.as_secs_f64() * 1e3
                )))
            }
        };
        if !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }
        let shaping = arrived.elapsed();
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Status::deadline_exceeded("deadline passed while shaping"));
        }

        // The tail (prepared on first use, off the async threads).
        let part = match SplitPoint::parse_wire(req.cut) {
            Ok(SplitPoint::AfterCut(k)) => Part::Tail(k),
            Ok(_) => Part::Full,
            Err(_) => {
                let c = req.cut;
                return Err(Status::invalid_argument(format!("cut {c}: use -1 or a cut index")));
            }
        };
        let id = ModelId { model: req.model.clone(), version: req.version.clone() };
        let tail = match self.store.prepared(&id, part) {
            Some(t) => t,
            None => {
                let me = self.clone();
                tokio::task::spawn_blocking(move || me.store.part(&id, part))
                    .await
                    .map_err(|e| Status::internal(format!("loading the tail: {e}")))?
                    .map_err(to_status)?
            }
        };

        // Decode the frame.
        let t = Instant::now();
        let limits = DecodeLimits {
            max_elements: self.config.max_elements,
            max_frame_bytes: self.config.max_frame_bytes,
        };
        let feature = if req.codec.is_empty() {
            decode_frame(&req.frame, &limits).map_err(RuntimeError::Frame)
        } else {
            self.codec(&req.codec)
                .and_then(|c| c.decode(&req.frame, &limits).map_err(RuntimeError::Frame))
        }
        .map_err(to_status)?;
        let (batch, sample) = feature.shape.split_first().map_or((0, &[][..]), |(b, s)| (*b, s));
        if batch == 0 || sample != tail.sample_shape.as_slice() {
            return Err(Status::invalid_argument(format!(
                "wrong shape {:?} for {}: expected (batch ≥ 1, {:?})",
                feature.shape, tail.label, tail.sample_shape
            )));
        }
        let input = Tensor::from_shape_vec(feature.shape, feature.values)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let decode = t.elapsed();

        // Idle edge (this is the only request in it): run the tail right here, saving two
        // thread hand-offs. It holds this I/O thread for one tail time, so only when nothing
        // else is in flight; under load the workers batch. The yield lets the runtime read
        // requests already waiting in sockets first, so they count. (`block_in_place` would
        // hand the runtime to another thread per request, which cost more than it saved.)
        let idle = || self.metrics.in_flight.get() <= 1 && self.scheduler.queue_length() == 0;
        let mut inline = None;
        if idle() {
            tokio::task::yield_now().await;
            if idle() {
                inline = self.scheduler.try_run_inline(&tail, &req.device_id, &input);
            }
        }
        let out = match inline {
            Some(r) => r,
            None => self.queued(tail, &req.device_id, input, deadline).await?,
        };
        let out = match out {
            Ok(out) => out,
            Err(JobError::Deadline { waited_ms }) => {
                return Err(Status::deadline_exceeded(format!(
                    "deadline of {budget_ms} ms passed after {waited_ms:.1} ms in the queue"
                )))
            }
            Err(e @ JobError::Engine(_)) => return Err(Status::internal(e.to_string())),
            Err(JobError::Shutdown) => return Err(Status::unavailable("edge is shutting down")),
        };
        // An emulated slower edge slice: the answer waits out the rest of its tail time.
        let tail_time = match self.emulated_tail.get(&req.device_id) {
            Some(&target) if target > out.tail => {
                crate::pace::sleep_until(Instant::now() + (target - out.tail)).await;
                target
            }
            _ => out.tail,
        };
        let total = arrived.elapsed();
        self.touch();
        let m = &self.metrics;
        for (stage, d) in [
            ("shaping", shaping),
            ("decode", decode),
            ("queue", out.queue),
            ("tail", tail_time),
            ("total", total),
        ] {
            m.stage(stage, d.as_secs_f64());
        }
        let output = out.output;
        let top1 = coinfer_data::argmax(&output).into_iter().map(|i| i as u32).collect();
        let values: Vec<f32> = output.iter().copied().collect();
        Ok(InferResponse {
            request_id: req.request_id,
            output_shape: output.shape().iter().map(|&d| d as u32).collect(),
            output: values,
            top1,
            timing: Some(ServerTiming {
                shaping_us: micros(shaping),
                decode_us: micros(decode),
                queue_us: micros(out.queue),
                tail_us: micros(tail_time),
                batch_size: out.batch_size as u32,
                total_us: micros(total),
            }),
        })
    }
}

impl EdgeState {
    /// Queues a job for the workers and waits for it.
    async fn queued(
        &self,
        tail: Arc<crate::models::Loaded>,
        device: &str,
        input: Tensor,
        deadline: Option<Instant>,
    ) -> Result<Result<JobOutput, JobError>, Status> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Job { tail, device: device.to_string(), input, deadline, reply: tx };
        if self.scheduler.submit(job).is_err() {
            return Err(Status::unavailable("edge is shutting down"));
        }
        self.metrics.queue_length.set(self.scheduler.queue_length() as i64);
        Ok(rx.await.unwrap_or(Err(JobError::Shutdown)))
    }
}

/// A device's shares are usable: compute share finite and > 0, bandwidth ≥ 0 (0 = unlimited).
fn check_share(device: &str, compute_share: f64, bandwidth_bps: f64) -> Result<()> {
    if device.is_empty() || device.len() > 128 {
        return Err(RuntimeError::Invalid("shares: device_id must have 1–128 characters".into()));
    }
    if compute_share.is_finite() && compute_share > 0.0 && bandwidth_bps >= 0.0 {
        Ok(())
    } else {
        Err(RuntimeError::Invalid(format!(
            "shares of `{device}`: compute_share must be > 0 and bandwidth_bps ≥ 0"
        )))
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// Compares tokens without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The gRPC status for a runtime error.
fn to_status(e: RuntimeError) -> Status {
    match e {
        RuntimeError::NotFound(m) => Status::not_found(m),
        RuntimeError::Invalid(m) => Status::invalid_argument(m),
        RuntimeError::Frame(f) => Status::invalid_argument(format!("bad frame: {f}")),
        other => Status::internal(other.to_string()),
    }
}

/// A device's in-flight slot, released on drop.
struct InFlight<'a> {
    state: &'a EdgeState,
    device: String,
    bytes: usize,
}

impl<'a> InFlight<'a> {
    /// Takes a slot for `device` and holds `bytes` of frame against `max_queued_bytes`.
    fn take(state: &'a EdgeState, device: &str, bytes: usize) -> Result<InFlight<'a>, Status> {
        use std::sync::atomic::Ordering;
        let mut m =
            state.in_flight.lock().map_err(|_| Status::internal("in-flight map poisoned"))?;
        let n = m.entry(device.to_string()).or_insert(0);
        if *n >= state.config.max_in_flight_per_device {
            return Err(Status::resource_exhausted(format!(
                "device `{device}` already has {n} requests in flight (limit {})",
                state.config.max_in_flight_per_device
            )));
        }
        let held = state.queued_bytes.load(Ordering::Relaxed);
        if held + bytes > state.config.max_queued_bytes {
            return Err(Status::resource_exhausted(format!(
                "the edge holds {held} bytes of queued frames; this {bytes}-byte frame would pass \
                 its limit of {} bytes: retry later or another edge",
                state.config.max_queued_bytes
            )));
        }
        state.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        *n += 1;
        state.metrics.in_flight.inc();
        Ok(InFlight { state, device: device.to_string(), bytes })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.state.metrics.in_flight.dec();
        self.state.queued_bytes.fetch_sub(self.bytes, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut m) = self.state.in_flight.lock() {
            if let Some(n) = m.get_mut(&self.device) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.device);
                }
            }
        }
    }
}

/// The gRPC service over an [`EdgeState`].
#[derive(Clone)]
pub struct EdgeService {
    state: Arc<EdgeState>,
}

#[tonic::async_trait]
impl Edge for EdgeService {
    async fn infer(
        &self,
        request: Request<InferRequest>,
    ) -> Result<Response<InferResponse>, Status> {
        let result = match self.state.authorize(&request) {
            Ok(caller) if !caller.may_act_as(&request.get_ref().device_id) => {
                Err(Status::permission_denied(format!(
                    "{caller} may not send as device `{}`: a device credential acts only as its \
                     own device_id",
                    request.get_ref().device_id
                )))
            }
            Ok(_) => self.state.infer(request.into_inner()).await,
            Err(s) => Err(s),
        };
        // Counted by outcome at the transport (`crate::outcomes`).
        if let Err(s) = &result {
            tracing::debug!(code = ?s.code(), message = s.message(), "request refused");
        }
        result.map(Response::new)
    }

    async fn health(&self, _: Request<HealthRequest>) -> Result<Response<HealthResponse>, Status> {
        Ok(Response::new(self.state.health()))
    }

    async fn versions(
        &self,
        request: Request<VersionsRequest>,
    ) -> Result<Response<VersionsResponse>, Status> {
        self.state.authorize(&request)?;
        let model = request.into_inner().model;
        self.state.versions(model).await.map(Response::new).map_err(to_status)
    }

    type FetchModelStream = std::pin::Pin<
        Box<dyn tonic::codegen::tokio_stream::Stream<Item = Result<ModelChunk, Status>> + Send>,
    >;

    async fn fetch_model(
        &self,
        request: Request<FetchRequest>,
    ) -> Result<Response<Self::FetchModelStream>, Status> {
        self.state.authorize(&request)?;
        let chunks = self.state.fetch(request.into_inner()).await.map_err(to_status)?;
        let stream = tonic::codegen::tokio_stream::iter(chunks.into_iter().map(Ok));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn set_shares(
        &self,
        request: Request<SharesRequest>,
    ) -> Result<Response<SharesResponse>, Status> {
        let caller = self.state.authorize(&request)?;
        if !caller.may_set_shares() {
            return Err(Status::permission_denied(format!(
                "{caller} may not set shares: only an operator credential may"
            )));
        }
        let shares = request.into_inner().shares;
        for s in &shares {
            check_share(&s.device_id, s.compute_share, s.bandwidth_bps).map_err(to_status)?;
        }
        for s in &shares {
            self.state.scheduler.set_share(&s.device_id, s.compute_share);
            self.state.shaper.set_rate(&s.device_id, s.bandwidth_bps);
        }
        tracing::info!(devices = shares.len(), "shares set");
        Ok(Response::new(SharesResponse { applied: shares.len() as u32 }))
    }
}

/// Serves gRPC on `listener` until `shutdown` completes: TLS when configured, at most
/// `max_connections` connections.
pub async fn serve_grpc(
    state: Arc<EdgeState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let max = state.config.max_frame_bytes + 64 * 1024;
    let metrics = state.metrics.clone();
    let tls = state.config.tls.as_ref().map(|t| t.grpc()).transpose()?;
    let max_connections = state.config.max_connections;
    let service = EdgeServer::new(EdgeService { state })
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let service = crate::outcomes::CountOutcomes::new(service, metrics.clone());
    // Backs off when out of descriptors instead of retrying at once (tonic's loop spins).
    let incoming = crate::accept::Acceptor::new(listener, max_connections, metrics);
    tracing::info!(max_connections = incoming.max(), tls = tls.is_some(), "gRPC accepting");
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder =
            builder.tls_config(tls).map_err(|e| RuntimeError::Invalid(format!("TLS: {e}")))?;
    }
    builder
        .initial_connection_window_size(4 << 20)
        .initial_stream_window_size(2 << 20)
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| RuntimeError::Edge(format!("gRPC server: {e}")))
}

/// Serves `GET /health` (JSON) and `GET /metrics` (Prometheus text) on `listener`, over TLS
/// when the edge has it.
pub async fn serve_http(
    state: Arc<EdgeState>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    use axum::routing::get;
    let tls = state.config.tls.as_ref().map(|t| t.https()).transpose()?;
    let health_state = state.clone();
    let app =
        axum::Router::new()
            .route(
                "/health",
                get(move || {
                    let h = health_state.health();
                    async move { axum::Json(h) }
                }),
            )
            .route(
                "/metrics",
                get(move || {
                    let body = state.metrics.render();
                    async move {
                        ([(axum::http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body)
                    }
                }),
            );
    let served = match tls {
        Some(tls) => {
            axum::serve(crate::https::TlsListener::new(listener, tls), app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
    };
    served.map_err(|e| RuntimeError::io("metrics endpoint", e))
}

/// A running edge (gRPC and, optionally, HTTP metrics) on the current tokio runtime.
pub struct EdgeHandle {
    /// gRPC address.
    pub addr: std::net::SocketAddr,
    /// HTTP `/health` + `/metrics` address, if served.
    pub http_addr: Option<std::net::SocketAddr>,
    /// The server's state (metrics, health).
    pub state: Arc<EdgeState>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<Result<()>>>,
}

impl EdgeHandle {
    /// Binds `addr` (and `http_addr`) and serves `state` in background tasks.
    pub async fn start(
        state: Arc<EdgeState>,
        addr: std::net::SocketAddr,
        http_addr: Option<std::net::SocketAddr>,
    ) -> Result<EdgeHandle> {
        let bind = |a: std::net::SocketAddr| async move {
            tokio::net::TcpListener::bind(a)
                .await
                .map_err(|e| RuntimeError::io(format!("binding {a}"), e))
        };
        let grpc = bind(addr).await?;
        let addr = grpc.local_addr().map_err(|e| RuntimeError::io("local address", e))?;
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let mut tasks = vec![tokio::spawn(serve_grpc(state.clone(), grpc, stopped(rx.clone())))];
        let http_addr = match http_addr {
            Some(a) => {
                let l = bind(a).await?;
                let a = l.local_addr().map_err(|e| RuntimeError::io("local address", e))?;
                tasks.push(tokio::spawn(serve_http(state.clone(), l, stopped(rx))));
                Some(a)
            }
            None => None,
        };
        state.warn_if_exposed(addr);
        tracing::info!(%addr, ?http_addr, "edge serving");
        Ok(EdgeHandle { addr, http_addr, state, shutdown, tasks })
    }

    /// The gRPC URL devices connect to (`https://` with TLS).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    /// The URL of `/health` and `/metrics`' port, if served (`https://` with TLS).
    pub fn http_url(&self) -> Option<String> {
        self.http_addr.map(|a| format!("{}://{a}", self.scheme()))
    }

    /// Both ports speak TLS or neither does.
    fn scheme(&self) -> &'static str {
        if self.state.config.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the servers to end.
    pub async fn stop(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        self.wait().await
    }

    /// Waits until the servers end (on their own, or after [`EdgeHandle::stop`] elsewhere).
    pub async fn wait(self) -> Result<()> {
        for t in self.tasks {
            t.await.map_err(|e| RuntimeError::Edge(format!("server task: {e}")))??;
        }
        Ok(())
    }

    /// A sender that stops the servers when `true` is sent.
    pub fn stopper(&self) -> tokio::sync::watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// An edge on a thread and runtime of its own ([`EdgeConfig::runtime`], I/O thread placed
/// by [`EdgeConfig::place_io_thread`]), as `coinfer edge serve` runs it: for benches and tests
/// whose devices run on another runtime in the same process.
pub struct EdgeThread {
    url: String,
    stop: tokio::sync::watch::Sender<bool>,
    thread: std::thread::JoinHandle<Result<()>>,
}

impl EdgeThread {
    /// Starts an edge serving `models_dir` on `addr` (gRPC only) and returns once it listens.
    pub fn spawn(
        models_dir: impl Into<PathBuf>,
        engine: Arc<dyn Engine>,
        config: EdgeConfig,
        addr: std::net::SocketAddr,
    ) -> Result<EdgeThread> {
        let models_dir = models_dir.into();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("coinfer-edge".into())
            .spawn(move || {
                let rt = config.runtime().map_err(|e| RuntimeError::io("edge runtime", e))?;
                config.place_io_thread();
                rt.block_on(async move {
                    let state = EdgeState::new(models_dir, engine, config)?;
                    let edge = EdgeHandle::start(state, addr, None).await?;
                    let _ = tx.send((edge.url(), edge.stopper()));
                    edge.wait().await
                })
            })
            .map_err(|e| RuntimeError::io("spawning the edge thread", e))?;
        match rx.recv() {
            Ok((url, stop)) => Ok(EdgeThread { url, stop, thread }),
            Err(_) => Err(match thread.join() {
                Ok(Err(e)) => e,
                _ => RuntimeError::Edge("the edge thread ended before serving".into()),
            }),
        }
    }

    /// The gRPC URL devices connect to.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Stops the edge and waits for its thread. A graceful stop waits for open connections
    /// to close, so drop clients first (or keep their runtime running while this blocks).
    pub fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.thread.join().map_err(|_| RuntimeError::Edge("the edge thread panicked".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan's compute shares, granted rates and input shapes reach the edge's config.
    #[test]
    fn a_plan_gives_the_edge_its_shares_and_shapes() {
        use coinfer_sim::{DevicePlan, Plan, SplitChoice};
        let mut cam = DevicePlan::new("cam", "seg", SplitChoice::EdgeOnly);
        cam.compute_share = 3.0;
        cam.bandwidth_share = 0.25;
        cam.input_shape.insert("image".into(), vec![1, 3, 64, 96]);
        let watch = DevicePlan::new("watch", "fmnist-resnet", SplitChoice::DeviceOnly);
        let plan =
            Plan { note: String::new(), uplink_capacity_bps: 8e6, devices: vec![cam, watch] };
        let mut c = EdgeConfig::default();
        c.apply_plan(&plan);
        let got: Vec<(String, f64, f64)> = c
            .shares
            .iter()
            .map(|s| (s.device_id.clone(), s.compute_share, s.bandwidth_bps))
            .collect();
        assert_eq!(got, [("cam".into(), 3.0, 2e6), ("watch".into(), 1.0, 0.0)]);
        assert_eq!(c.input_shapes["seg"].get("image"), Some(&[1, 3, 64, 96][..]));
        assert!(!c.input_shapes.contains_key("fmnist-resnet"), "no shape given, none set");
        let wire: crate::proto::Share = c.shares[0].clone().into();
        assert_eq!((wire.compute_share, wire.bandwidth_bps), (3.0, 2e6));
    }

    #[test]
    fn config_files_name_every_setting_and_bad_values_are_refused() {
        let c: EdgeConfig = toml::from_str(
            "workers = 1\nmax_batch = 8\nio_threads = 2\npin_workers = true\nbusy_poll_us = 300",
        )
        .expect("parses");
        assert_eq!((c.workers, c.max_batch, c.io_threads), (1, 8, 2));
        assert!(c.pin_workers);
        assert_eq!(c.busy_poll_us, 300);
        c.validate().expect("valid");
        assert!(toml::from_str::<EdgeConfig>("io_thread = 2").is_err(), "unknown keys refused");
        let exposed: EdgeConfig = toml::from_str(
            "credentials = \"c.toml\"\nmax_connections = 5000\n\
             [tls]\ncert = \"e.pem\"\nkey = \"k.pem\"\nclient_ca = \"ca.pem\"",
        )
        .expect("TLS and credentials parse");
        let tls = exposed.tls.clone().expect("tls");
        assert!(tls.require_client_cert, "a client CA requires certificates by default");
        assert_eq!(exposed.max_connections, 5000);
        exposed.validate().expect("valid");
        let both = EdgeConfig { token: Some("t".into()), ..exposed };
        assert!(both.validate().is_err(), "a shared token and credentials are exclusive");
        assert!(toml::from_str::<EdgeConfig>("[tls]\ncert = \"e.pem\"").is_err(), "key needed");
        let zero = EdgeConfig { io_threads: 0, ..EdgeConfig::default() };
        assert!(zero.validate().is_err());
        assert!(EdgeConfig { io_threads: 3, ..c.clone() }.runtime().is_ok());
        assert!(EdgeConfig { io_threads: 1, ..c }.runtime().is_ok());
    }
}
