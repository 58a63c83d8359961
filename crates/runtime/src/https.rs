//! TLS for the edge's HTTP port (`/health`, `/metrics`): an axum listener that accepts TCP
//! and runs each TLS handshake as a task of its own, so one slow or silent client cannot hold
//! up the others (each handshake is cut at [`crate::tls::HANDSHAKE_TIMEOUT`]).
//!
//! Hand-written because axum serves only plain listeners and the crates that add TLS to it
//! (axum-server) bring a second server stack for these ~50 lines.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

type Handshake = Option<(TlsStream<TcpStream>, SocketAddr)>;

/// TCP accepted, then TLS, for `axum::serve`.
pub struct TlsListener {
    tcp: TcpListener,
    tls: TlsAcceptor,
    handshakes: JoinSet<Handshake>,
}

impl TlsListener {
    /// Serves TLS with `tls` on `tcp`.
    pub fn new(tcp: TcpListener, tls: TlsAcceptor) -> TlsListener {
        TlsListener { tcp, tls, handshakes: JoinSet::new() }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let tls = self.tls.clone();
                        self.handshakes.spawn(async move {
                            let shake = tls.accept(stream);
                            match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, shake).await {
                                Ok(Ok(s)) => Some((s, peer)),
                                Ok(Err(e)) => {
                                    tracing::debug!(%peer, "HTTPS handshake failed: {e}");
                                    None
                                }
                                Err(_) => None,
                            }
                        });
                    }
                    // Out of descriptors or similar: wait instead of spinning.
                    Err(e) => {
                        tracing::debug!("HTTPS accept: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(conn)) = done {
                        return conn;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
