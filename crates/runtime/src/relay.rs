//! The link emulator as a TCP relay: clients connect to the relay, the relay connects to
//! the upstream server, and every byte crosses a [`LinkClock`] in each direction. All
//! connections through one relay share its links, as devices behind one radio would.
//!
//! Each connection direction is a reader thread (stamps packets with their delivery time)
//! and a writer thread (sleeps until then and writes). OS threads rather than tokio timers:
//! `std::thread::sleep` wakes within tens of µs, tokio's timer wheel in whole milliseconds,
//! which would swamp sub-millisecond transfer times at 100 Mbit/s.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Result, RuntimeError};
use crate::link::{LinkClock, LinkConfig};

/// Traffic counters of a relay.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Bytes carried client → server.
    pub up_bytes: AtomicU64,
    /// Bytes carried server → client.
    pub down_bytes: AtomicU64,
}

/// A running relay. Dropping it stops accepting and closes its connections.
pub struct LinkRelay {
    local_addr: SocketAddr,
    started: Instant,
    up: Arc<Mutex<LinkClock>>,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
    /// Traffic so far.
    pub stats: Arc<RelayStats>,
}

struct Direction {
    clock: Arc<Mutex<LinkClock>>,
    started: Instant,
    counter: Arc<RelayStats>,
    up: bool,
}

impl LinkRelay {
    /// Listens on `listen` and relays each connection to `upstream` through `up`
    /// (client → server) and `down` (server → client).
    pub fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        up: LinkConfig,
        down: LinkConfig,
    ) -> Result<LinkRelay> {
        let up = Arc::new(Mutex::new(LinkClock::new(up)?));
        let down = Arc::new(Mutex::new(LinkClock::new(down)?));
        let listener = TcpListener::bind(listen)
            .map_err(|e| RuntimeError::io(format!("binding {listen}"), e))?;
        let local_addr = listener.local_addr().map_err(|e| RuntimeError::io("local address", e))?;
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stats = Arc::new(RelayStats::default());
        let accept = {
            let (stop, open, stats, up, down) =
                (stop.clone(), open.clone(), stats.clone(), up.clone(), down.clone());
            std::thread::Builder::new()
                .name("coinfer-link-accept".into())
                .spawn(move || {
                    for client in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(client) = client else { continue };
                        stats.connections.fetch_add(1, Ordering::Relaxed);
                        let dirs = (
                            Direction {
                                clock: up.clone(),
                                started,
                                counter: stats.clone(),
                                up: true,
                            },
                            Direction {
                                clock: down.clone(),
                                started,
                                counter: stats.clone(),
                                up: false,
                            },
                        );
                        if let Err(e) = relay_connection(client, upstream, dirs, &open) {
                            tracing::warn!(%upstream, error = %e, "link: connection not relayed");
                        }
                    }
                })
                .map_err(|e| RuntimeError::io("spawning the relay", e))?
        };
        tracing::info!(%local_addr, %upstream, "link relay started");
        Ok(LinkRelay { local_addr, started, up, stop, open, accept: Some(accept), stats })
    }

    /// Where clients connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The uplink rate right now (bit/s; `None` = unlimited): what a device observes.
    pub fn uplink_rate_bps(&self) -> Option<f64> {
        self.up.lock().ok()?.config().rate_at(self.started.elapsed())
    }

    /// When the relay started: rate schedules count from here.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// A probe of the uplink rate for [`crate::device::DeviceRunner`]'s online splitting.
    pub fn rate_probe(&self) -> crate::device::RateProbe {
        let (up, started) = (self.up.clone(), self.started);
        Arc::new(move || up.lock().ok()?.config().rate_at(started.elapsed()))
    }

    /// Packets sent and lost (retransmitted) on the uplink so far.
    pub fn uplink_losses(&self) -> (u64, u64) {
        self.up.lock().map_or((0, 0), |c| (c.packets, c.lost))
    }
}

impl Drop for LinkRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.local_addr, Duration::from_millis(200));
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        if let Ok(open) = self.open.lock() {
            for s in open.iter() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

fn relay_connection(
    client: TcpStream,
    upstream: SocketAddr,
    (up, down): (Direction, Direction),
    open: &Mutex<Vec<TcpStream>>,
) -> Result<()> {
    let server = TcpStream::connect_timeout(&upstream, Duration::from_secs(3))
        .map_err(|e| RuntimeError::io(format!("connecting to {upstream}"), e))?;
    for s in [&client, &server] {
        let _ = s.set_nodelay(true);
    }
    let clone = |s: &TcpStream| s.try_clone().map_err(|e| RuntimeError::io("cloning a socket", e));
    if let Ok(mut o) = open.lock() {
        o.retain(|s| s.peer_addr().is_ok());
        o.push(clone(&client)?);
        o.push(clone(&server)?);
    }
    pump(clone(&client)?, clone(&server)?, up)?;
    pump(server, client, down)?;
    Ok(())
}

/// Moves bytes `from` → `to` through the direction's link clock.
fn pump(mut from: TcpStream, mut to: TcpStream, dir: Direction) -> Result<()> {
    let (tx, rx) = mpsc::channel::<(Duration, Vec<u8>)>();
    let started = dir.started;
    let name = if dir.up { "coinfer-link-up" } else { "coinfer-link-down" };
    std::thread::Builder::new()
        .name(format!("{name}-w"))
        .spawn(move || {
            for (at, bytes) in rx {
                let now = started.elapsed();
                if at > now {
                    std::thread::sleep(at - now);
                }
                if to.write_all(&bytes).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })
        .map_err(|e| RuntimeError::io("spawning a link writer", e))?;
    std::thread::Builder::new()
        .name(format!("{name}-r"))
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let counter = if dir.up { &dir.counter.up_bytes } else { &dir.counter.down_bytes };
                counter.fetch_add(n as u64, Ordering::Relaxed);
                let now = started.elapsed();
                let (packets, backlog) = match dir.clock.lock() {
                    Ok(mut c) => {
                        let p = c.send_chunk(now, n);
                        let max = Duration::from_secs_f64(c.config().max_backlog_ms / 1e3);
                        (p, c.free_at().saturating_sub(now).saturating_sub(max))
                    }
                    Err(_) => break,
                };
                let mut offset = 0;
                for (at, len) in packets {
                    if tx.send((at, buf[offset..offset + len].to_vec())).is_err() {
                        return;
                    }
                    offset += len;
                }
                // Hold the sender back while the link's queue is over its limit.
                if !backlog.is_zero() {
                    std::thread::sleep(backlog);
                }
            }
        })
        .map_err(|e| RuntimeError::io("spawning a link reader", e))?;
    Ok(())
}
