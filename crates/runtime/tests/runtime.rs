//! End-to-end runtime tests on loopback: real gRPC, real models, real data.

use std::time::Duration;

mod common;

use coinfer_compress::Codec;
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::device::{DeviceOptions, DeviceRunner, ServedBy, Summary};
use coinfer_runtime::proto::InferRequest;
use coinfer_runtime::server::EdgeConfig;
use coinfer_sim::SplitChoice;
use common::{any, cut, edge_at, plan, samples, store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_answers_match_the_local_model_for_every_split() {
    let edge = edge_at(any(), EdgeConfig::default(), true).await;
    let data = samples(24);
    let local = store();
    let mut reference = common::reference_runner(local.clone());
    let mut want = vec![];
    for (x, y) in data.iter() {
        let r = reference.infer(x.clone(), Some(*y)).await.expect("local");
        assert_eq!(r.served_by, ServedBy::Local);
        want.push(r.predicted);
    }
    let id =
        coinfer_runtime::models::ModelId { model: "fmnist-resnet".into(), version: String::new() };
    let cuts = local.model(&id).expect("model").cuts.len();
    assert_eq!(cuts, 19);
    let splits: Vec<SplitChoice> =
        std::iter::once(SplitChoice::EdgeOnly).chain((0..cuts).map(cut)).collect();
    for split in splits {
        let client = EdgeClient::new(&edge.url(), None).expect("client");
        let p = plan("cam", split.clone());
        let mut dev =
            DeviceRunner::new(p, local.clone(), Some(client), DeviceOptions::default(), None);
        let mut records = vec![];
        for (x, y) in data.iter() {
            records.push(dev.infer(x.clone(), Some(*y)).await.expect("infer"));
        }
        let s = Summary::of(&records);
        assert_eq!(s.edge, data.len(), "{split}: all served by the edge: {records:?}");
        let got: Vec<u32> = records.iter().map(|r| r.predicted).collect();
        assert_eq!(got, want, "{split}: same answers as the full local model");
        assert!(records.iter().all(|r| r.edge_tail_ms > 0.0 && r.frame_bytes > 0));
    }
    let metrics = reqwest_free_get(edge.http_addr.expect("http"), "/metrics").await;
    let served = format!("coinfer_edge_requests_total{{outcome=\"ok\"}} {}", 24 * (cuts + 1));
    assert!(metrics.contains(&served), "{served} not in {metrics}");
    let health = reqwest_free_get(edge.http_addr.expect("http"), "/health").await;
    assert!(health.contains("SERVING") && health.contains("fmnist-resnet@tail9"), "{health}");
    edge.stop().await.expect("stops");
}

/// A minimal HTTP/1.0 GET over a TCP socket, returning the body.
async fn reqwest_free_get(addr: std::net::SocketAddr, path: &str) -> String {
    let out = http_get(addr, path).await;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or(out)
}

/// A minimal HTTP/1.0 GET over a TCP socket, returning the whole response.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

fn request(device: &str, cut: i32, frame: Vec<u8>) -> InferRequest {
    InferRequest {
        device_id: device.into(),
        model: "fmnist-resnet".into(),
        version: String::new(),
        cut,
        frame,
        deadline_ms: 0,
        request_id: 7,
        codec: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_the_server_stays_up() {
    let config = EdgeConfig {
        token: Some("s3cret".into()),
        max_frame_bytes: 64 * 1024,
        max_elements: 2048,
        // Device "slow" gets its answers 400 ms late: a client deadline cancels it.
        shares: vec![
            coinfer_runtime::server::ShareConfig {
                device_id: "slow".into(),
                compute_share: 1.0,
                bandwidth_bps: 0.0,
                emulated_tail_ms: 400.0,
            },
            // 8 kbit/s: a 3 kB frame needs 3 s of it.
            coinfer_runtime::server::ShareConfig {
                device_id: "thin".into(),
                compute_share: 1.0,
                bandwidth_bps: 8e3,
                emulated_tail_ms: 0.0,
            },
        ],
        ..EdgeConfig::default()
    };
    let edge = edge_at(any(), config, true).await;
    let (x, _) = samples(1)[0].clone();
    let frame = Codec::RawF32.encode(
        &coinfer_compress::Feature::new(x.shape().to_vec(), x.iter().copied().collect())
            .expect("feature"),
    );
    let mut anon = EdgeClient::new(&edge.url(), None).expect("client");
    let mut wrong = EdgeClient::new(&edge.url(), Some("nope")).expect("client");
    let mut ok = EdgeClient::new(&edge.url(), Some("s3cret")).expect("client");
    let t = Some(Duration::from_secs(10));

    let e = anon.infer(request("a", -1, frame.clone()), t).await.expect_err("no token");
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    let e = wrong.infer(request("a", -1, frame.clone()), t).await.expect_err("bad token");
    assert_eq!(e.code(), tonic::Code::Unauthenticated);

    let mut truncated = frame.clone();
    truncated.truncate(frame.len() / 2);
    let e = ok.infer(request("a", -1, truncated), t).await.expect_err("truncated");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("frame"), "{}", e.message());

    let mut corrupt = frame.clone();
    corrupt[40] ^= 0xff;
    let e = ok.infer(request("a", -1, corrupt), t).await.expect_err("corrupt");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    let e = ok.infer(request("a", 3, frame.clone()), t).await.expect_err("wrong shape");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("wrong shape"), "{}", e.message());

    let e = ok.infer(request("a", 999, frame.clone()), t).await.expect_err("no such cut");
    assert_eq!(e.code(), tonic::Code::NotFound);
    let mut r = request("a", -1, frame.clone());
    r.model = "../etc/passwd".into();
    assert_eq!(ok.infer(r, t).await.expect_err("traversal").code(), tonic::Code::InvalidArgument);
    let mut r = request("a", -1, frame.clone());
    r.model = "no-such-model".into();
    assert_eq!(ok.infer(r, t).await.expect_err("unknown").code(), tonic::Code::NotFound);

    // Over the edge's own frame limit (64 kB): refused by its check, which names the limit ...
    let e = ok.infer(request("a", -1, vec![0u8; 100 * 1024]), t).await.expect_err("oversized");
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("limit of 65536 bytes"), "{}", e.message());
    // ... and past the transport's decoding limit (frame limit + 64 kB), by gRPC itself.
    let e = ok.infer(request("a", -1, vec![0u8; 200 * 1024]), t).await.expect_err("too big");
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");

    // A frame declaring more elements than the edge's limit (2,048): refused before decoding.
    let wide = Codec::RawF32
        .encode(&coinfer_compress::Feature::new(vec![1, 4096], vec![0.5; 4096]).expect("feature"));
    let e = ok.infer(request("a", 0, wide), t).await.expect_err("too many elements");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("elements = 4096, above the limit 2048"), "{}", e.message());

    // Shares are set by token holders only, and checked.
    use coinfer_runtime::proto::Share;
    let share =
        |c: f64| vec![Share { device_id: "a".into(), compute_share: c, bandwidth_bps: 0.0 }];
    assert_eq!(
        anon.set_shares(share(2.0)).await.expect_err("no token").code(),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        wrong.set_shares(share(2.0)).await.expect_err("bad token").code(),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        ok.set_shares(share(-1.0)).await.expect_err("negative").code(),
        tonic::Code::InvalidArgument
    );
    assert_eq!(ok.set_shares(share(2.0)).await.expect("shares"), 1);

    // A frame its bandwidth share cannot carry before its deadline: refused at once, not
    // after seconds in the shaper.
    let mut r = request("thin", -1, frame.clone());
    r.deadline_ms = 50;
    let sent = std::time::Instant::now();
    let e = ok.infer(r, t).await.expect_err("cannot make its deadline");
    assert_eq!(e.code(), tonic::Code::DeadlineExceeded, "{e:?}");
    assert!(e.message().contains("refused at once"), "{}", e.message());
    assert!(sent.elapsed() < Duration::from_secs(1), "refused after {:?}", sent.elapsed());

    // The authorization scheme is case-insensitive; a share needs a device.
    let mut raw = coinfer_runtime::proto::edge_client::EdgeClient::connect(edge.url())
        .await
        .expect("raw client");
    let mut lower = tonic::Request::new(request("a", -1, frame.clone()));
    lower.metadata_mut().insert("authorization", "bearer s3cret".parse().expect("ascii"));
    raw.infer(lower).await.expect("lowercase bearer accepted");
    let nameless = vec![Share { device_id: String::new(), compute_share: 1.0, bandwidth_bps: 0.0 }];
    let e = ok.set_shares(nameless).await.expect_err("no device");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);

    // Abandoned by its client before the answer.
    let short = Some(Duration::from_millis(50));
    let e = ok.infer(request("slow", -1, frame.clone()), short).await.expect_err("client deadline");
    assert!(matches!(e.code(), tonic::Code::Cancelled | tonic::Code::DeadlineExceeded), "{e:?}");

    // Still serving, and right.
    let r = ok.infer(request("a", -1, frame), t).await.expect("valid request after the bad ones");
    assert_eq!(r.output_shape, vec![1, 10]);
    assert_eq!(r.top1.len(), 1);
    assert!(ok.health().await.expect("health").status == "SERVING");

    // Every Infer above is counted, by outcome, including the ones the transport refused
    // (too large) and the one its client abandoned; the body is the type it declares.
    let http = edge.http_addr.expect("http");
    let want = [
        ("unauthenticated", 2),
        ("invalid", 5),
        ("not_found", 2),
        ("overloaded", 1),
        ("too_large", 1),
        ("cancelled", 1),
        ("deadline", 1),
        ("ok", 2),
    ];
    let mut text = String::new();
    for _ in 0..50 {
        text = http_get(http, "/metrics").await;
        if text.contains("outcome=\"cancelled\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(
        head.to_ascii_lowercase().contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "OpenMetrics ends with # EOF");
    let mut total = 0;
    for (label, n) in want {
        let line = format!("coinfer_edge_requests_total{{outcome=\"{label}\"}} {n}");
        assert!(body.contains(&line), "{line} not in {body}");
        total += n;
    }
    let counted: u64 = body
        .lines()
        .filter(|l| l.starts_with("coinfer_edge_requests_total{"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum();
    assert_eq!(counted, total, "no request uncounted or counted twice: {body}");
    edge.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_limits_and_deadlines_refuse_work_the_edge_cannot_take() {
    let config = EdgeConfig {
        workers: 1,
        max_batch: 1,
        max_in_flight_per_device: 2,
        ..EdgeConfig::default()
    };
    let edge = edge_at(any(), config, false).await;
    let (x, _) = samples(1)[0].clone();
    let frame = Codec::RawF32.encode(
        &coinfer_compress::Feature::new(x.shape().to_vec(), x.iter().copied().collect())
            .expect("feature"),
    );
    let fire = |device: String, deadline_ms: u32| {
        let url = edge.url();
        let frame = frame.clone();
        tokio::spawn(async move {
            let mut c = EdgeClient::new(&url, None).expect("client");
            let mut r = request(&device, -1, frame);
            r.deadline_ms = deadline_ms;
            c.infer(r, Some(Duration::from_secs(10))).await.map_err(|s| s.code())
        })
    };
    // One device, 24 at once, at most 2 in flight: the rest are refused, not queued.
    let tasks: Vec<_> = (0..24).map(|_| fire("greedy".into(), 0)).collect();
    let mut codes = vec![];
    for t in tasks {
        codes.push(t.await.expect("task"));
    }
    let refused = codes.iter().filter(|c| **c == Err(tonic::Code::ResourceExhausted)).count();
    let served = codes.iter().filter(|c| c.is_ok()).count();
    assert!(refused > 0 && served > 0 && refused + served == 24, "{codes:?}");
    // 48 devices at once with a 1 ms budget on one worker: the queue outlasts it for some.
    let tasks: Vec<_> = (0..48).map(|d| fire(format!("d{d}"), 1)).collect();
    let mut codes = vec![];
    for t in tasks {
        codes.push(t.await.expect("task"));
    }
    let late = codes.iter().filter(|c| **c == Err(tonic::Code::DeadlineExceeded)).count();
    assert!(late > 0, "{codes:?}");
    assert!(codes.iter().all(|c| c.is_ok() || *c == Err(tonic::Code::DeadlineExceeded)));
    edge.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_band_codecs_are_named_in_requests() {
    // A model directory with the default model and a static-entropy codec for cut 9.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        common::models_dir().join("fmnist-resnet.onnx"),
        dir.path().join("fmnist-resnet.onnx"),
    )
    .expect("copy model");
    let data = samples(16);
    let head = store()
        .part(
            &coinfer_runtime::models::ModelId {
                model: "fmnist-resnet".into(),
                version: String::new(),
            },
            coinfer_runtime::models::Part::Head(9),
        )
        .expect("head");
    let features: Vec<coinfer_compress::Feature> = data
        .iter()
        .map(|(x, _)| {
            let y = head.runnable.run(std::slice::from_ref(x)).expect("head runs").remove(0);
            coinfer_compress::Feature::new(y.shape().to_vec(), y.iter().copied().collect())
                .expect("feature")
        })
        .collect();
    let Some(Codec::Uniform { range, .. }) = Codec::calibrate_uniform(4, false, &features) else {
        panic!("calibration")
    };
    let codec = Codec::calibrate_entropy(4, range.clone(), &features).expect("entropy model");
    std::fs::write(dir.path().join("cut9-ans4.json"), serde_json::to_string(&codec).expect("json"))
        .expect("write codec");
    // The same symbols in session frames (shape and a per-element, channel-context model
    // agreed once): 6 bytes of frame beyond the payload.
    let context = coinfer_compress::SessionEntropy::ChannelContext;
    let session =
        Codec::calibrate_session(4, range, &features, context).expect("session entropy model");
    let session_json = serde_json::to_string(&session).expect("json");
    std::fs::write(dir.path().join("cut9-session4.json"), session_json).expect("write codec");

    let engine = coinfer_engine::engine_for_name("tract").expect("tract");
    let state = coinfer_runtime::server::EdgeState::new(dir.path(), engine, EdgeConfig::default())
        .expect("edge");
    let edge = coinfer_runtime::server::EdgeHandle::start(state, any(), None).await.expect("edge");
    let mut p = plan("cam", cut(9));
    p.codec = codec;
    let client = EdgeClient::new(&edge.url(), None).expect("client");
    let mut named = p.clone();
    named.codec_name = Some("cut9-ans4".into());
    let mut dev =
        DeviceRunner::new(named, store(), Some(client.clone()), DeviceOptions::default(), None);
    let mut bytes = 0;
    for (x, y) in data.iter() {
        let r = dev.infer(x.clone(), Some(*y)).await.expect("infer");
        assert_eq!(r.served_by, ServedBy::Edge, "{r:?}");
        bytes += r.frame_bytes;
    }
    assert!(bytes / data.len() < 6272 / 4, "4-bit ANS frames are small: {} B", bytes / data.len());
    let mut named = p.clone();
    named.codec = session;
    named.codec_name = Some("cut9-session4".into());
    let mut dev =
        DeviceRunner::new(named, store(), Some(client.clone()), DeviceOptions::default(), None);
    let mut session_bytes = 0;
    for (x, y) in data.iter() {
        let r = dev.infer(x.clone(), Some(*y)).await.expect("infer");
        assert_eq!(r.served_by, ServedBy::Edge, "{r:?}");
        session_bytes += r.frame_bytes;
    }
    assert!(session_bytes < bytes, "session frames {session_bytes} B vs full frames {bytes} B");
    // Without the name the edge cannot decode such frames, says so, and the device falls back.
    let mut dev = DeviceRunner::new(p, store(), Some(client), DeviceOptions::default(), None);
    let r = dev.infer(data[0].0.clone(), Some(data[0].1)).await.expect("infer");
    assert_eq!(r.served_by, ServedBy::Fallback);
    assert!(r.error.as_deref().unwrap_or("").contains("InvalidArgument"), "{r:?}");
    edge.stop().await.expect("stops");
}

/// The cost model's framing of the runtime protocol (`Framing::grpc`) is the bytes the link
/// emulator counts: request and response, for small and large frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_matches_the_bytes_on_the_wire() {
    use coinfer_runtime::link::LinkConfig;
    use coinfer_runtime::relay::LinkRelay;
    use std::sync::atomic::Ordering::Relaxed;
    let edge = edge_at(any(), EdgeConfig::default(), false).await;
    let data = samples(8);
    let framing = coinfer_sim::Framing::grpc();
    // Cut 16: 220-byte frames; edge-only: the 3,136-byte input; cut 0: 12,580 bytes.
    for split in [cut(16), SplitChoice::EdgeOnly, cut(0)] {
        let unlimited = LinkConfig::fixed(0.0, 0.0);
        let relay =
            LinkRelay::start(any(), edge.addr, unlimited.clone(), unlimited).expect("relay");
        let client =
            EdgeClient::new(&format!("http://{}", relay.local_addr()), None).expect("client");
        let mut dev = DeviceRunner::new(
            plan("cam", split.clone()),
            store(),
            Some(client),
            DeviceOptions::default(),
            None,
        );
        // Two warm-up requests fill the HPACK tables.
        let mut frames = 0usize;
        let mut start = (0, 0);
        for (i, (x, y)) in data.iter().enumerate() {
            if i == 2 {
                start = (relay.stats.up_bytes.load(Relaxed), relay.stats.down_bytes.load(Relaxed));
            }
            let r = dev.infer(x.clone(), Some(*y)).await.expect("infer");
            if i >= 2 {
                frames += r.frame_bytes;
            }
        }
        // Let the last response's bytes be counted.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let n = (data.len() - 2) as f64;
        let up = (relay.stats.up_bytes.load(Relaxed) - start.0) as f64 / n;
        let down = (relay.stats.down_bytes.load(Relaxed) - start.1) as f64 / n;
        let want_up = framing.request_wire_bytes(frames as f64 / n);
        // Varint lengths and HPACK indices move a few bytes; HTTP/2 control frames (window
        // updates, pings) are not per request.
        assert!((up - want_up).abs() <= 16.0, "{split}: {up:.1} B up, model {want_up:.1}");
        assert!((down - framing.response_bytes).abs() <= 16.0, "{split}: {down:.1} B down");
    }
    edge.stop().await.expect("stops");
}

/// The device's fast path: a prepared part is found without a blocking thread (and a part
/// not prepared yet is not), and a timed run records how long it took.
#[test]
fn prepared_parts_are_found_at_once_and_their_runs_timed() {
    use coinfer_runtime::models::{ModelId, Part};
    let store = store();
    let id = ModelId { model: "fmnist-resnet".into(), version: String::new() };
    assert!(store.prepared(&id, Part::Head(3)).is_none(), "not prepared yet");
    let head = store.part(&id, Part::Head(3)).expect("head");
    let found = store.prepared(&id, Part::Head(3)).expect("prepared now");
    assert!(std::sync::Arc::ptr_eq(&head, &found), "the same prepared part");
    assert!(store.prepared(&id, Part::Tail(3)).is_none(), "each part on its own");
    assert!(head.last_run().is_none(), "never run");
    let (x, _) = samples(1)[0].clone();
    let timed = head.run_timed(std::slice::from_ref(&x)).expect("runs");
    let plain = head.runnable.run(std::slice::from_ref(&x)).expect("runs");
    assert_eq!(timed.len(), 1);
    assert_eq!(timed[0].shape(), plain[0].shape());
    let took = head.last_run().expect("timed");
    assert!(took > Duration::ZERO && took < Duration::from_secs(10), "{took:?}");
}
