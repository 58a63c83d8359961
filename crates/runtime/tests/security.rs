//! Attacks on an exposed edge: TLS with per-device credentials (tokens and client
//! certificates) against callers with no credential, another device's, a revoked one, a
//! forged or expired certificate, a plaintext client, an edge impersonator, and connection
//! floods past `max_connections`.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use coinfer_compress::Codec;
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::credentials::{hash_token, Credential, CredentialFile, Role, RELOAD_EVERY};
use coinfer_runtime::proto::{InferRequest, Share};
use coinfer_runtime::server::EdgeConfig;
use coinfer_runtime::tls::{Authority, ClientTls, Issued, ServerTls};
use common::{any, edge_at, samples};
use tonic::Code;

const HOUR: Duration = Duration::from_secs(3600);

fn frame() -> Vec<u8> {
    let (x, _) = samples(1)[0].clone();
    Codec::RawF32.encode(
        &coinfer_compress::Feature::new(x.shape().to_vec(), x.iter().copied().collect())
            .expect("feature"),
    )
}

fn request(device: &str) -> InferRequest {
    InferRequest {
        device_id: device.into(),
        model: "fmnist-resnet".into(),
        version: String::new(),
        cut: -1,
        frame: frame(),
        deadline_ms: 0,
        request_id: 1,
        codec: String::new(),
    }
}

/// A CA, the edge's certificate, device certificates, and the credentials file:
/// cam-1 and cam-2 have tokens, cam-2 and cam-4 client certificates, ops is an operator.
struct Pki {
    _dir: tempfile::TempDir,
    ca: Authority,
    edge: Issued,
    cam2: Issued,
    cam4: Issued,
    credentials: std::path::PathBuf,
    cam1_token: String,
    cam2_token: String,
    ops_token: String,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = Authority::create(&dir.path().join("ca"), "coinfer test CA").expect("CA");
    let edge = ca.issue_server("edge", &["localhost".into(), "127.0.0.1".into()], 1).expect("edge");
    let now = SystemTime::now();
    let cam2 = ca.issue_device("cam-2", now, now + HOUR).expect("cam-2");
    let cam4 = ca.issue_device("cam-4", now, now + HOUR).expect("cam-4");
    let (cam1_token, cam2_token, ops_token) =
        (coinfer_runtime::credentials::new_token(), "cam-2 token".to_string(), "ops".to_string());
    let entry = |id: &str, role, token: Option<&str>, cert: Option<&Issued>| Credential {
        id: id.into(),
        role,
        token_sha256: token.map(hash_token),
        cert_sha256: cert.map(|c| c.sha256.clone()),
        revoked: false,
    };
    let file = CredentialFile {
        credentials: vec![
            entry("cam-1", Role::Device, Some(&cam1_token), None),
            entry("cam-2", Role::Device, Some(&cam2_token), Some(&cam2)),
            entry("cam-4", Role::Device, None, Some(&cam4)),
            entry("ops", Role::Operator, Some(&ops_token), None),
        ],
    };
    let credentials = dir.path().join("credentials.toml");
    file.save(&credentials).expect("save");
    Pki { _dir: dir, ca, edge, cam2, cam4, credentials, cam1_token, cam2_token, ops_token }
}

fn edge_config(p: &Pki, require_client_cert: bool) -> EdgeConfig {
    EdgeConfig {
        credentials: Some(p.credentials.clone()),
        tls: Some(ServerTls {
            cert: p.edge.cert.clone(),
            key: p.edge.key.clone(),
            client_ca: Some(p.ca.ca_cert()),
            require_client_cert,
        }),
        ..EdgeConfig::default()
    }
}

fn trusting(p: &Pki, cert: Option<&Issued>) -> ClientTls {
    ClientTls {
        ca: Some(p.ca.ca_cert()),
        cert: cert.map(|c| c.cert.clone()),
        key: cert.map(|c| c.key.clone()),
        domain: None,
    }
}

const T: Option<Duration> = Some(Duration::from_secs(10));

/// Refused by the connection, before any service answered: how a failed TLS handshake or a
/// closed connection reaches a gRPC client (the code depends on when the socket closed).
fn refused_by_transport(e: &tonic::Status) {
    assert!(
        matches!(e.code(), Code::Unavailable | Code::Cancelled | Code::Unknown),
        "not a transport refusal: {e:?}"
    );
}

async fn infer(c: &mut EdgeClient, device: &str) -> Result<(), tonic::Status> {
    c.infer(request(device), T).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_act_only_as_themselves_and_revoked_credentials_are_refused_without_restart() {
    let p = pki();
    let edge = edge_at(any(), edge_config(&p, false), true).await;
    let url = edge.url();
    assert!(url.starts_with("https://"), "{url}");
    let tls = trusting(&p, None);
    let client = |token: Option<&str>| EdgeClient::connect(&url, token, Some(&tls)).expect("c");

    // No credential at all.
    let e = infer(&mut client(None), "cam-1").await.expect_err("no credential");
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("missing credential"), "{}", e.message());
    // A guessed token.
    let e = infer(&mut client(Some("guess")), "cam-1").await.expect_err("guessed");
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("unknown credential"), "{}", e.message());

    // cam-1 as itself: answered; as cam-2: refused, naming both.
    let mut cam1 = client(Some(&p.cam1_token));
    infer(&mut cam1, "cam-1").await.expect("cam-1 as itself");
    let e = infer(&mut cam1, "cam-2").await.expect_err("cam-1 as cam-2");
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("cam-1") && e.message().contains("cam-2"), "{}", e.message());

    // Shares: devices may not set them, the operator may.
    let shares = vec![Share { device_id: "cam-1".into(), compute_share: 2.0, bandwidth_bps: 0.0 }];
    let e = cam1.set_shares(shares.clone()).await.expect_err("device sets shares");
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(client(Some(&p.ops_token)).set_shares(shares).await.expect("operator"), 1);
    // Operators may send as any device (testing, replay).
    infer(&mut client(Some(&p.ops_token)), "cam-9").await.expect("operator infers");

    // Revoke cam-1 in the file: refused within a reload period, others unaffected.
    let mut file = CredentialFile::load(&p.credentials).expect("load");
    assert!(file.revoke("cam-1"));
    file.save(&p.credentials).expect("save");
    tokio::time::sleep(RELOAD_EVERY + Duration::from_millis(100)).await;
    let e = infer(&mut cam1, "cam-1").await.expect_err("revoked");
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("revoked"), "{}", e.message());
    infer(&mut client(Some(&p.cam2_token)), "cam-2").await.expect("cam-2 still served");

    // Every refusal is counted by kind, and /metrics is served over TLS.
    let text = https_get(&p, edge.http_addr.expect("http"), "/metrics").await;
    assert!(text.contains("coinfer_edge_requests_total{outcome=\"forbidden\"} 1"), "{text}");
    assert!(text.contains("coinfer_edge_requests_total{outcome=\"unauthenticated\"} 3"), "{text}");
    assert!(text.contains("coinfer_edge_requests_total{outcome=\"ok\"} 3"), "{text}");
    edge.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_certificates_the_ca_signed_in_their_validity_pass_mutual_tls() {
    let p = pki();
    let edge = edge_at(any(), edge_config(&p, true), false).await;
    let url = edge.url();
    let with = |tls: ClientTls| EdgeClient::connect(&url, None, Some(&tls)).expect("client");

    // cam-2's certificate identifies it: no token needed; it cannot act as cam-4.
    let mut cam2 = with(trusting(&p, Some(&p.cam2)));
    infer(&mut cam2, "cam-2").await.expect("cam-2 by certificate");
    let e = infer(&mut cam2, "cam-4").await.expect_err("cam-2 as cam-4");
    assert_eq!(e.code(), Code::PermissionDenied);
    infer(&mut with(trusting(&p, Some(&p.cam4))), "cam-4").await.expect("cam-4");

    // No client certificate: the handshake is refused (required).
    let e = infer(&mut with(trusting(&p, None)), "cam-2").await.expect_err("no cert");
    refused_by_transport(&e);

    // A forged certificate: same name, another CA.
    let dir = tempfile::tempdir().expect("tmp");
    let rogue = Authority::create(dir.path(), "rogue CA").expect("rogue");
    let now = SystemTime::now();
    let forged = rogue.issue_device("cam-2", now, now + HOUR).expect("forged");
    let e = infer(&mut with(trusting(&p, Some(&forged))), "cam-2").await.expect_err("forged");
    refused_by_transport(&e);

    // An expired certificate from the right CA.
    let old = p.ca.issue_device("cam-5", now - 3 * HOUR, now - HOUR).expect("expired");
    let e = infer(&mut with(trusting(&p, Some(&old))), "cam-5").await.expect_err("expired");
    refused_by_transport(&e);

    // A valid certificate the credentials file does not know.
    let stranger = p.ca.issue_device("cam-6", now, now + HOUR).expect("cam-6");
    let e = infer(&mut with(trusting(&p, Some(&stranger))), "cam-6").await.expect_err("unknown");
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");

    // A plaintext client against the TLS edge.
    let plain = url.replace("https://", "http://");
    let e = infer(&mut EdgeClient::new(&plain, Some(&p.cam2_token)).expect("c"), "cam-2")
        .await
        .expect_err("plaintext");
    assert_ne!(e.code(), Code::Ok);

    // An impersonated edge: the device trusts only its CA, the rogue's server is refused.
    let fake = rogue.issue_server("edge", &["127.0.0.1".into()], 1).expect("fake edge");
    let fake_cfg = EdgeConfig {
        tls: Some(ServerTls {
            cert: fake.cert,
            key: fake.key,
            client_ca: None,
            require_client_cert: false,
        }),
        ..EdgeConfig::default()
    };
    let impostor = edge_at(any(), fake_cfg, false).await;
    let e = infer(
        &mut EdgeClient::connect(&impostor.url(), None, Some(&trusting(&p, Some(&p.cam2))))
            .expect("c"),
        "cam-2",
    )
    .await
    .expect_err("impostor");
    refused_by_transport(&e);

    // After all that, the edge still serves.
    infer(&mut cam2, "cam-2").await.expect("still serving");
    drop(cam2);
    impostor.stop().await.expect("stop");
    edge.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_closed_counted_and_the_edge_keeps_serving() {
    let config = EdgeConfig { max_connections: 4, ..EdgeConfig::default() };
    let edge = edge_at(any(), config, true).await;
    // Four connections held open and answered.
    let mut held = vec![];
    for i in 0..4 {
        let mut c = EdgeClient::new(&edge.url(), None).expect("client");
        infer(&mut c, &format!("d{i}")).await.expect("within the limit");
        held.push(c);
    }
    // The fifth is closed at once: an error, not a hang.
    let mut fifth = EdgeClient::new(&edge.url(), None).expect("client");
    let started = std::time::Instant::now();
    let e = infer(&mut fifth, "d4").await.expect_err("past the limit");
    refused_by_transport(&e);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let metrics = http_get(edge.http_addr.expect("http"), "/metrics").await;
    assert!(metrics.contains("coinfer_edge_connections 4"), "{metrics}");
    assert!(!metrics.contains("coinfer_edge_connections_refused_total 0"), "{metrics}");
    // One leaves, a new one is served.
    held.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = EdgeClient::new(&edge.url(), None).expect("client");
    infer(&mut again, "d5").await.expect("a slot came free");
    drop((held, again, fifth));
    edge.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_frame_memory_is_bounded() {
    // Room for one 3 kB frame: a second request while the first waits in its 8 kbit/s share
    // is refused with the reason; the first is answered.
    let config = EdgeConfig {
        max_frame_bytes: 4096,
        max_queued_bytes: 4096,
        shares: vec![coinfer_runtime::server::ShareConfig {
            device_id: "thin".into(),
            compute_share: 1.0,
            bandwidth_bps: 20e3,
            emulated_tail_ms: 0.0,
        }],
        ..EdgeConfig::default()
    };
    let edge = edge_at(any(), config, false).await;
    let c = EdgeClient::new(&edge.url(), None).expect("client");
    let mut first = c.clone();
    let slow = tokio::spawn(async move { infer(&mut first, "thin").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let e = infer(&mut c.clone(), "other").await.expect_err("no room");
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("queued frames"), "{}", e.message());
    slow.await.expect("join").expect("the first is answered");
    infer(&mut c.clone(), "other").await.expect("room again");
    drop(c);
    edge.stop().await.expect("stop");
}

/// `GET path` over plain HTTP/1.1; the body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    exchange(stream, addr, path).await
}

/// `GET path` over HTTPS, trusting the test CA; the body.
async fn https_get(p: &Pki, addr: std::net::SocketAddr, path: &str) -> String {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(p.ca.ca_cert()).expect("ca");
    use rustls_pki_types::pem::PemObject;
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.expect("cert")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    exchange(tls, addr, path).await
}

async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    addr: std::net::SocketAddr,
    path: &str,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}
