//! Load and fault tests on loopback: many devices, an edge that dies and comes back,
//! bad clients next to good ones, fair shares, and the emulated link.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use coinfer_compress::Codec;
use coinfer_engine::Tensor;
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::device::{DeviceOptions, DeviceRunner, Record, ServedBy, Summary};
use coinfer_runtime::link::{LinkConfig, LossModel};
use coinfer_runtime::proto::{InferRequest, Share};
use coinfer_runtime::relay::LinkRelay;
use coinfer_runtime::server::{EdgeConfig, EdgeThread};
use coinfer_sim::{OnlineSplit, SplitChoice};
use common::{any, cut, edge_at, plan, samples, store};

/// Held by every test here: they load the CPU or time the network, so running them side by
/// side on a 2-core machine would let one's load skew another's timing.
static CPU: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `n` requests on each of `devices` concurrent devices; returns every record.
async fn run_devices(
    url: &str,
    devices: usize,
    n: usize,
    data: &Arc<Vec<(Tensor, u32)>>,
    options: DeviceOptions,
) -> Vec<Vec<Record>> {
    let store = store();
    let mut tasks = vec![];
    for d in 0..devices {
        let split = if d % 2 == 0 { cut(9) } else { SplitChoice::EdgeOnly };
        let client = EdgeClient::new(url, None).expect("client");
        let mut dev = DeviceRunner::new(
            plan(&format!("dev-{d}"), split),
            store.clone(),
            Some(client),
            options.clone(),
            None,
        );
        let data = data.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = vec![];
            for i in 0..n {
                let (x, y) = &data[(d * 7 + i) % data.len()];
                out.push(dev.infer(x.clone(), Some(*y)).await.expect("device answers"));
            }
            out
        }));
    }
    let mut all = vec![];
    for t in tasks {
        all.push(t.await.expect("device task"));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_devices_thousands_of_requests_all_accounted_for() {
    let _cpu = CPU.lock().await;
    let config = EdgeConfig { max_queue_delay_ms: 2.0, max_batch: 32, ..EdgeConfig::default() };
    let edge = edge_at(any(), config, false).await;
    let data = samples(200);
    // A bad client hammering the same edge meanwhile.
    let url = edge.url();
    let bad = tokio::spawn(async move {
        let mut c = EdgeClient::new(&url, None).expect("client");
        let mut refused = 0;
        for i in 0..200u64 {
            let r = InferRequest {
                device_id: "vandal".into(),
                model: "fmnist-resnet".into(),
                cut: -1,
                frame: vec![i as u8; 100],
                ..InferRequest::default()
            };
            refused += u32::from(c.infer(r, Some(Duration::from_secs(5))).await.is_err());
        }
        refused
    });
    let started = Instant::now();
    let per_device = 40;
    let all = run_devices(&edge.url(), 64, per_device, &data, DeviceOptions::default()).await;
    let wall = started.elapsed();
    assert_eq!(bad.await.expect("bad client"), 200, "every malformed request refused");
    let records: Vec<Record> = all.into_iter().flatten().collect();
    let s = Summary::of(&records);
    assert_eq!(s.requests, 64 * per_device, "every request answered");
    assert_eq!(s.edge + s.fallback, s.requests);
    assert_eq!(
        s.fallback,
        0,
        "a healthy edge serves everything: {:?}",
        records.iter().find(|r| r.error.is_some())
    );
    assert!(s.accuracy > 0.85, "accuracy {}", s.accuracy);
    let max_batch = records.iter().map(|r| r.batch_size).max().unwrap_or(0);
    assert!(max_batch > 1, "requests were batched (max batch {max_batch})");
    let text = edge.state.metrics.render();
    assert!(
        text.contains(&format!(
            "coinfer_edge_requests_total{{outcome=\"ok\"}} {}",
            64 * per_device
        )),
        "{text}"
    );
    assert!(text.contains("coinfer_edge_requests_total{outcome=\"invalid\"} 200"), "{text}");
    eprintln!(
        "64 devices × {per_device}: {:.0} req/s, p50 {:.2} ms, max batch {max_batch}",
        s.requests as f64 / wall.as_secs_f64(),
        s.e2e_ms.p50
    );
    edge.stop().await.expect("stops");
}

/// The edge is stopped while 8 devices are mid-run and started again on the same address.
/// Sequenced by what happened, not by sleeps: it stops once 40 answers came back, and each
/// device runs until it has seen the restarted edge answer 5 times (bounded: 400 requests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_stopped_mid_run_and_restarted_nothing_is_lost() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    let _cpu = CPU.lock().await;
    let edge = edge_at(any(), EdgeConfig::default(), false).await;
    let addr = edge.addr;
    let data = samples(50);
    let options = DeviceOptions {
        retry_after: Duration::from_millis(100),
        default_timeout: Duration::from_secs(2),
        ..DeviceOptions::default()
    };
    let answered = Arc::new(AtomicUsize::new(0));
    let restarted = Arc::new(AtomicBool::new(false));
    let store = store();
    let mut tasks = vec![];
    for d in 0..8 {
        let split = if d % 2 == 0 { cut(9) } else { SplitChoice::EdgeOnly };
        let client = EdgeClient::new(&edge.url(), None).expect("client");
        let mut dev = DeviceRunner::new(
            plan(&format!("dev-{d}"), split),
            store.clone(),
            Some(client),
            options.clone(),
            None,
        );
        let (data, answered, restarted) = (data.clone(), answered.clone(), restarted.clone());
        tasks.push(tokio::spawn(async move {
            let (mut out, mut after_restart) = (vec![], 0);
            for i in 0..400 {
                let (x, y) = &data[(d * 7 + i) % data.len()];
                let r = dev.infer(x.clone(), Some(*y)).await.expect("device answers");
                answered.fetch_add(1, SeqCst);
                let back = restarted.load(SeqCst) && r.served_by == ServedBy::Edge;
                out.push(r);
                after_restart += usize::from(back);
                if after_restart == 5 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            out
        }));
    }
    while answered.load(SeqCst) < 40 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    edge.stop().await.expect("edge stops");
    let stopped_at = answered.load(SeqCst);
    // Restart only after the devices have run into the outage.
    while answered.load(SeqCst) < stopped_at + 16 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let edge = edge_at(addr, EdgeConfig::default(), false).await;
    restarted.store(true, SeqCst);
    let mut records = vec![];
    for t in tasks {
        records.push(t.await.expect("device task"));
    }
    for dev in &records {
        let last = dev.last().expect("records");
        assert_eq!(last.served_by, ServedBy::Edge, "{} back on the edge: {last:?}", last.device_id);
        assert!(dev.len() < 400, "{} never came back to the edge", last.device_id);
    }
    let records: Vec<Record> = records.into_iter().flatten().collect();
    let s = Summary::of(&records);
    assert_eq!(s.requests, records.len(), "every request answered");
    assert_eq!(s.edge + s.fallback, s.requests, "answered by the edge or the device");
    assert!(s.fallback >= 8, "the outage was noticed: {} fallbacks", s.fallback);
    assert!(s.accuracy > 0.85, "fallback answers are right too: {}", s.accuracy);
    assert!(records
        .iter()
        .filter(|r| r.served_by == ServedBy::Fallback)
        .all(|r| r.error.as_deref().is_some_and(|e| !e.is_empty())));
    edge.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_edge_means_local_answers() {
    let _cpu = CPU.lock().await;
    // Nothing listens there.
    let free = std::net::TcpListener::bind(any()).expect("bind").local_addr().expect("addr");
    let data = samples(10);
    let all = run_devices(&format!("http://{free}"), 2, 10, &data, DeviceOptions::default()).await;
    let records: Vec<Record> = all.into_iter().flatten().collect();
    assert!(records.iter().all(|r| r.served_by == ServedBy::Fallback && r.error.is_some()));
    assert!(Summary::of(&records).accuracy > 0.8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compute_shares_divide_a_busy_edge() {
    let _cpu = CPU.lock().await;
    let config = EdgeConfig { workers: 1, max_batch: 1, ..EdgeConfig::default() };
    let edge = edge_at(any(), config, false).await;
    let mut admin = EdgeClient::new(&edge.url(), None).expect("client");
    let shares = vec![
        Share { device_id: "gold".into(), compute_share: 3.0, bandwidth_bps: 0.0 },
        Share { device_id: "bronze".into(), compute_share: 1.0, bandwidth_bps: 0.0 },
    ];
    assert_eq!(admin.set_shares(shares).await.expect("shares"), 2);
    let data = samples(1);
    let (x, _) = &data[0];
    let frame = Codec::RawF32.encode(
        &coinfer_compress::Feature::new(x.shape().to_vec(), x.iter().copied().collect())
            .expect("f"),
    );
    // Each device keeps 16 full-model requests in flight for 1.5 s.
    let stop = Instant::now() + Duration::from_millis(1500);
    let mut tasks = vec![];
    for device in ["gold", "bronze"] {
        for _ in 0..16 {
            let mut c = EdgeClient::new(&edge.url(), None).expect("client");
            let frame = frame.clone();
            tasks.push(tokio::spawn(async move {
                let mut done = 0u32;
                while Instant::now() < stop {
                    let r = InferRequest {
                        device_id: device.into(),
                        model: "fmnist-resnet".into(),
                        cut: -1,
                        frame: frame.clone(),
                        ..InferRequest::default()
                    };
                    c.infer(r, Some(Duration::from_secs(10))).await.expect("served");
                    done += 1;
                }
                (device, done)
            }));
        }
    }
    let (mut gold, mut bronze) = (0, 0);
    for t in tasks {
        match t.await.expect("task") {
            ("gold", n) => gold += n,
            (_, n) => bronze += n,
        }
    }
    // Both stay backlogged, so the fair queue serves 3:1 whatever the machine's speed (the
    // exact order is `scheduler.rs`'s unit test); the bounds allow for the requests in
    // flight when time ran out.
    let ratio = gold as f64 / bronze.max(1) as f64;
    assert!(bronze >= 10, "too few requests to judge: {gold}:{bronze}");
    assert!((2.0..4.5).contains(&ratio), "3:1 shares gave {gold}:{bronze} = {ratio:.2}");
    edge.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_shares_hold_requests_at_the_granted_rate() {
    let _cpu = CPU.lock().await;
    let config = EdgeConfig {
        shares: vec![coinfer_runtime::server::ShareConfig {
            device_id: "slow".into(),
            compute_share: 1.0,
            bandwidth_bps: 1e6,
            emulated_tail_ms: 0.0,
        }],
        ..EdgeConfig::default()
    };
    let edge = edge_at(any(), config, false).await;
    let data = samples(4);
    let store = store();
    let mut times = vec![];
    for device in ["slow", "fast"] {
        let client = EdgeClient::new(&edge.url(), None).expect("client");
        let mut dev = DeviceRunner::new(
            plan(device, SplitChoice::EdgeOnly),
            store.clone(),
            Some(client),
            DeviceOptions::default(),
            None,
        );
        let mut recs = vec![];
        for (x, y) in data.iter() {
            recs.push(dev.infer(x.clone(), Some(*y)).await.expect("infer"));
        }
        times.push(recs.iter().map(|r| r.edge_shaping_ms).sum::<f64>() / recs.len() as f64);
        if device == "slow" {
            // 3,136-byte input + header at 1 Mbit/s ≈ 25 ms each.
            let want = recs[0].frame_bytes as f64 * 8.0 / 1e6 * 1e3;
            // Held at least the granted time (the floor the shaper promises), at most twice
            // that plus scheduling slack (the exact hold is `shaping.rs`'s unit test).
            assert!(
                times[0] >= 0.95 * want && times[0] <= 2.0 * want + 5.0,
                "shaping {:.1} ms vs {want:.1} ms",
                times[0]
            );
        }
    }
    assert!(times[1] < 0.5, "unlimited device not held: {:.2} ms", times[1]);
    edge.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_emulated_link_transfer_time_follows_rate_and_delay() {
    let _cpu = CPU.lock().await;
    let edge = edge_at(any(), EdgeConfig::default(), false).await;
    let rate = 10e6;
    let delay_ms = 5.0;
    let relay = LinkRelay::start(
        any(),
        edge.addr,
        LinkConfig::fixed(rate, delay_ms),
        LinkConfig::fixed(rate, delay_ms),
    )
    .expect("relay");
    let client = EdgeClient::new(&format!("http://{}", relay.local_addr()), None).expect("client");
    let mut dev = DeviceRunner::new(
        plan("cam", cut(2)),
        store(),
        Some(client),
        DeviceOptions::default(),
        None,
    );
    let data = samples(12);
    let mut recs = vec![];
    for (x, y) in data.iter() {
        recs.push(dev.infer(x.clone(), Some(*y)).await.expect("infer"));
    }
    let recs = &recs[2..]; // connection set-up excluded
    assert!(recs.iter().all(|r| r.served_by == ServedBy::Edge));
    let transmit = recs.iter().map(|r| r.transmit_ms).sum::<f64>() / recs.len() as f64;
    // The one cost model, for the link part alone (no compute in this work): framed request
    // up, answer down, one RTT.
    let transport = coinfer_sim::Transport {
        rtt_s: 2.0 * delay_ms / 1e3,
        framing: coinfer_sim::Framing::grpc(),
        ..coinfer_sim::Transport::ideal()
    };
    let link = coinfer_sim::Link { up_bps: rate, tx_power_w: 0.0, transport };
    let work = coinfer_sim::Work::split(0.0, 0.0, recs[0].frame_bytes as f64, 0.0);
    let predicted = coinfer_sim::predict(&work, &link).total_s * 1e3;
    // The emulator can only make a transfer slower than the model, never faster: a tight
    // floor. Above it the machine's load adds (already 20 % seen here): a generous ceiling.
    // The emulator's own schedule is checked exactly in `link.rs`.
    assert!(
        transmit >= 0.95 * predicted && transmit <= 2.0 * predicted + 5.0,
        "measured {transmit:.2} ms, model {predicted:.2} ms"
    );
    assert!(
        relay.stats.up_bytes.load(std::sync::atomic::Ordering::Relaxed)
            > (10 * recs[0].frame_bytes) as u64
    );

    // A lossy link still answers everything, later.
    let lossy = LinkConfig {
        loss: LossModel::Bernoulli { p: 0.05 },
        rto_ms: 20.0,
        seed: 1,
        ..LinkConfig::fixed(rate, 1.0)
    };
    let relay =
        LinkRelay::start(any(), edge.addr, lossy, LinkConfig::fixed(rate, 1.0)).expect("relay");
    let client = EdgeClient::new(&format!("http://{}", relay.local_addr()), None).expect("client");
    let mut dev = DeviceRunner::new(
        plan("cam2", cut(0)),
        store(),
        Some(client),
        DeviceOptions::default(),
        None,
    );
    for (x, y) in data.iter() {
        let r = dev.infer(x.clone(), Some(*y)).await.expect("infer");
        assert_eq!(r.served_by, ServedBy::Edge);
    }
    let (packets, lost) = relay.uplink_losses();
    assert!(lost > 0 && packets > 50, "{lost} of {packets} packets lost");
    edge.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_splitting_follows_the_observed_rate() {
    let _cpu = CPU.lock().await;
    let edge = edge_at(any(), EdgeConfig::default(), false).await;
    let data = samples(6);
    let rule = OnlineSplit { cuts: vec![2, 9], min_rate_bps: vec![50e6, 5e6, 1e6] };
    let mut want_local = vec![];
    let mut reference = DeviceRunner::new(
        plan("ref", SplitChoice::DeviceOnly),
        store(),
        None,
        DeviceOptions::default(),
        None,
    );
    for (x, y) in data.iter() {
        want_local.push(reference.infer(x.clone(), Some(*y)).await.expect("local").predicted);
    }
    for (rate, want_cut) in [(100e6, Some(-1)), (10e6, Some(2)), (2e6, Some(9)), (0.5e6, None)] {
        let mut p = plan("roaming", SplitChoice::EdgeOnly);
        p.online = Some(rule.clone());
        let probe: coinfer_runtime::device::RateProbe = Arc::new(move || Some(rate));
        let client = EdgeClient::new(&edge.url(), None).expect("client");
        let mut dev =
            DeviceRunner::new(p, store(), Some(client), DeviceOptions::default(), Some(probe));
        for ((x, y), want) in data.iter().zip(&want_local) {
            let r = dev.infer(x.clone(), Some(*y)).await.expect("infer");
            assert_eq!(r.cut, want_cut, "rate {rate}");
            assert_eq!(r.predicted, *want, "same answer wherever it splits");
            let by = if want_cut.is_some() { ServedBy::Edge } else { ServedBy::Local };
            assert_eq!(r.served_by, by);
        }
    }
    edge.stop().await.expect("stops");
}

#[tokio::test(flavor = "current_thread")]
async fn single_threaded_edge_runs_a_lone_request_inline_and_batches_under_load() {
    let _cpu = CPU.lock().await;
    let config = EdgeConfig {
        io_threads: 1,
        workers: 1,
        max_batch: 8,
        pin_workers: true,
        busy_poll_us: 500,
        ..EdgeConfig::default()
    };
    let engine = coinfer_engine::engine_for_name("tract").expect("tract");
    let edge = EdgeThread::spawn(common::models_dir(), engine, config, any()).expect("edge");
    let url = edge.url();
    let data = samples(16);
    // One device, one request at a time: the tail runs on the I/O thread (no queue, batch 1)
    // and the answers equal the full local model's.
    let local = store();
    let mut reference = common::reference_runner(local.clone());
    let client = EdgeClient::new(&url, None).expect("client");
    let mut dev = DeviceRunner::new(
        plan("solo", cut(5)),
        local,
        Some(client),
        DeviceOptions::default(),
        None,
    );
    let mut inline = 0;
    for (x, y) in data.iter() {
        let want = reference.infer(x.clone(), Some(*y)).await.expect("local").predicted;
        let r = dev.infer(x.clone(), Some(*y)).await.expect("infer");
        assert_eq!(r.served_by, ServedBy::Edge, "{r:?}");
        assert_eq!(r.predicted, want);
        assert_eq!(r.batch_size, 1);
        inline += usize::from(r.edge_queue_ms == 0.0);
    }
    assert!(inline >= data.len() - 2, "only {inline}/{} lone requests ran inline", data.len());
    // Many devices at once: requests queue for the worker and are batched.
    let runs = run_devices(&url, 16, 12, &data, DeviceOptions::default()).await;
    let records: Vec<&Record> = runs.iter().flatten().collect();
    assert_eq!(records.len(), 16 * 12);
    assert!(records.iter().all(|r| r.served_by == ServedBy::Edge), "all answered by the edge");
    let biggest = records.iter().map(|r| r.batch_size).max().unwrap_or(0);
    assert!(biggest > 1, "under load the worker batches (largest batch {biggest})");
    // Stop: the edge waits for open connections to close, so keep this runtime running.
    drop((dev, reference, runs));
    tokio::task::spawn_blocking(move || edge.stop().expect("edge stops cleanly"))
        .await
        .expect("joined");
}

/// An edge that accepts connections and never answers (a hung process, a black-holing
/// middlebox): every request is given up at the plan's deadline and answered locally, right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_edge_is_given_up_at_the_deadline_and_nothing_is_lost() {
    let listener = tokio::net::TcpListener::bind(any()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hold = tokio::spawn(async move {
        let mut open = vec![];
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket); // held open, never read from or written to
        }
    });
    let data = samples(4);
    let mut reference = common::reference_runner(store());
    let client = EdgeClient::new(&format!("http://{addr}"), None).expect("client");
    let mut p = plan("cam", cut(5));
    p.deadline_ms = 200;
    let options = DeviceOptions { retry_after: Duration::ZERO, ..DeviceOptions::default() };
    let mut dev = DeviceRunner::new(p, store(), Some(client), options, None);
    // Bounded: a hang here fails the test instead of stalling the suite.
    let run = async {
        for (x, y) in data.iter() {
            let r = dev.infer(x.clone(), Some(*y)).await.expect("answered");
            let want = reference.infer(x.clone(), Some(*y)).await.expect("local");
            assert_eq!(r.served_by, ServedBy::Fallback, "{r:?}");
            assert!(r.error.is_some());
            assert_eq!(r.predicted, want.predicted);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), run).await.expect("no request hangs");
    hold.abort();
}

/// Two edges, active health checks every 50 ms and a retry-after of 30 s: when the first
/// edge stops, the checks steer requests to the second before any of them runs into the dead
/// one, nothing is answered locally, and when the first is back the device returns to it
/// within a few checks — long before the 30 s a failed request would have waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_steer_around_a_dead_edge_and_fail_back_at_once() {
    let _cpu = CPU.lock().await;
    let a = edge_at(any(), EdgeConfig::default(), false).await;
    let b = edge_at(any(), EdgeConfig::default(), false).await;
    let addr_a = a.addr;
    let options = DeviceOptions {
        retry_after: Duration::from_secs(30),
        default_timeout: Duration::from_secs(2),
        ..DeviceOptions::default()
    };
    let client = |url: &str| EdgeClient::new(url, None).expect("client");
    let mut dev =
        DeviceRunner::new(plan("cam", cut(9)), store(), Some(client(&a.url())), options, None);
    dev.add_edge(client(&b.url()));
    dev.check_health(Duration::from_millis(50));
    let data = samples(20);
    let mut run = async |n: usize| {
        let mut out = vec![];
        for i in 0..n {
            let (x, y) = &data[i % data.len()];
            out.push(dev.infer(x.clone(), Some(*y)).await.expect("answers"));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        out
    };
    let first = run(10).await;
    assert!(first.iter().all(|r| r.edge_index == Some(0)), "the first edge first");

    a.stop().await.expect("stops");
    tokio::time::sleep(Duration::from_millis(300)).await; // a few checks
    let during = run(20).await;
    assert!(during.iter().all(|r| r.served_by == ServedBy::Edge), "none answered locally");
    assert!(during.iter().all(|r| r.edge_index == Some(1)), "the second edge answered");
    assert!(
        during.iter().all(|r| r.error.is_none()),
        "no request ran into the dead edge: {:?}",
        during.iter().find_map(|r| r.error.clone())
    );

    let a = edge_at(addr_a, EdgeConfig::default(), false).await;
    let back = Instant::now();
    let mut returned = None;
    for _ in 0..300 {
        let r = run(1).await.remove(0);
        assert_eq!(r.served_by, ServedBy::Edge);
        if r.edge_index == Some(0) {
            returned = Some(back.elapsed());
            break;
        }
    }
    let after = returned.expect("the device came back to the first edge");
    assert!(after < Duration::from_secs(2), "fail-back took {after:?} (retry_after is 30 s)");
    drop(dev);
    a.stop().await.expect("stops");
    b.stop().await.expect("stops");
}
