//! The WireGuard engine: boringtun's `noise::Tunn` per peer for the protocol,
//! and our own packet loop around it, with the I/O at the edges (a [`Tun`]
//! for packets, UDP sockets for the wire) so the same loop runs over a Linux
//! TUN device, the macOS provider's utun, or channels in tests.
//!
//! boringtun's `device` module is not used: it owns the TUN device itself and
//! cannot adopt the one a packet tunnel provider is given.

pub mod allowed_ips;
pub mod config;
mod peer;
pub mod peer_set;
pub mod state;
mod tun;
mod udp;

use std::{
    io,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime},
};

use parking_lot::Mutex;
use quinn_udp::RecvMeta;
use tokio::task::JoinSet;

use self::{
    config::PublicKey,
    peer::PeerStats,
    peer_set::PeerSet,
    udp::{RecvBackoff, Udp},
};
pub use self::{
    config::TunnelConfig,
    state::{TunnelEvent, TunnelState},
    tun::{ChannelTun, ChannelTunEnd, Tun, TUN_HEADROOM},
};

/// How often boringtun's timers run (handshake retries, keepalives, expiry):
/// the interval its own device uses.
const TIMER_TICK: Duration = Duration::from_millis(250);
/// Large enough for any IP packet plus WireGuard's 32-byte overhead.
const BUFFER_LEN: usize = 65_536 + 32;
/// Packets per batch between the device and the wire: a 64 KB TCP segment
/// from the device is at most 123 packets at the smallest MTU we take (576).
const BATCH: usize = 128;
/// Receive buffers per UDP read; with GRO each holds many datagrams.
const UDP_BUFFERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot resolve the endpoint {endpoint} of peer {peer}")]
    Resolve {
        endpoint: String,
        peer: PublicKey,
        #[source]
        source: io::Error,
    },
    #[error("cannot listen on UDP port {port}")]
    Bind {
        port: u16,
        #[source]
        source: io::Error,
    },
}

/// What the engine reports: the state, the port it listens on, and each
/// peer's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineStatus {
    pub state: TunnelState,
    /// Why the engine stopped on its own, in the `Error` state.
    pub error: Option<String>,
    pub listen_port: u16,
    pub peers: Vec<PeerStats>,
}

impl EngineStatus {
    /// The most recent handshake over all peers.
    pub fn last_handshake(&self) -> Option<SystemTime> {
        self.totals().last_handshake
    }

    pub fn totals(&self) -> PeerStats {
        self.peers.iter().fold(PeerStats::default(), |mut sum, p| {
            sum.rx_bytes += p.rx_bytes;
            sum.tx_bytes += p.tx_bytes;
            sum.rx_packets += p.rx_packets;
            sum.tx_packets += p.tx_packets;
            sum.last_handshake = sum.last_handshake.max(p.last_handshake);
            sum
        })
    }
}

/// A running tunnel. Dropping it stops every task; [`Engine::stop`] does the
/// same and records the transitions.
pub struct Engine {
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
}

struct Shared {
    peers: PeerSet,
    v4: Udp,
    v6: Option<Udp>,
    /// The largest packet the device hands us or takes (the MTU), plus
    /// WireGuard's overhead.
    packet_len: usize,
    listen_port: u16,
    state: Mutex<(TunnelState, Option<String>)>,
}

impl Engine {
    /// Binds the UDP sockets and starts the packet loop on the current tokio
    /// runtime. `endpoints` are the peers' endpoints from
    /// [`resolve_endpoints`], in the config's order: resolved once, before
    /// any route of the tunnel could carry the lookup.
    pub async fn start<T: Tun>(
        config: &TunnelConfig,
        endpoints: &[Option<SocketAddr>],
        tun: T,
    ) -> Result<Engine, EngineError> {
        let peers = PeerSet::new(config, endpoints);
        let port = config.interface.listen_port.unwrap_or(0);
        let (v4, v6) = Udp::bind(port).map_err(|source| EngineError::Bind { port, source })?;
        let listen_port = v4.port();
        let shared = Arc::new(Shared {
            peers,
            v4,
            v6,
            packet_len: usize::from(config.interface.mtu) + 32,
            listen_port,
            state: Mutex::new((TunnelState::Connecting, None)),
        });
        tracing::info!(listen_port, peers = shared.peers.len(), "tunnel starting");

        let tun = Arc::new(tun);
        let mut tasks = JoinSet::new();
        tasks.spawn(tun_to_network(Arc::clone(&shared), Arc::clone(&tun)));
        for v6 in [false, true] {
            if shared.socket(v6).is_some() {
                tasks.spawn(network_to_tun(Arc::clone(&shared), Arc::clone(&tun), v6));
            }
        }
        tasks.spawn(timers(Arc::clone(&shared)));
        // Start the first handshake now rather than on the first packet, so
        // "connected" means what it says before any traffic flows.
        shared
            .peers
            .initiate_all(&mut |datagram, to| shared.send_to(datagram, to));
        Ok(Engine { shared, tasks })
    }

    pub fn status(&self) -> EngineStatus {
        let (state, error) = self.shared.state.lock().clone();
        EngineStatus {
            state,
            error,
            listen_port: self.shared.listen_port,
            peers: self.shared.peers.stats(),
        }
    }

    /// Stops the packet loop and waits for its tasks to end; the TUN device
    /// and sockets close with them.
    pub async fn stop(mut self) -> EngineStatus {
        self.shared.transition(TunnelEvent::Stop);
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.shared.transition(TunnelEvent::Stopped);
        self.status()
    }
}

/// Each peer's endpoint, looked up now, in the config's order.
pub async fn resolve_endpoints(
    config: &TunnelConfig,
) -> Result<Vec<Option<SocketAddr>>, EngineError> {
    let mut endpoints = Vec::with_capacity(config.peers.len());
    for peer in &config.peers {
        let Some(endpoint) = &peer.endpoint else {
            endpoints.push(None);
            continue;
        };
        let resolved = tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
            .await
            .and_then(|mut addresses| {
                addresses.next().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "the name has no address")
                })
            })
            .map_err(|source| EngineError::Resolve {
                endpoint: endpoint.to_string(),
                peer: peer.public_key,
                source,
            })?;
        endpoints.push(Some(resolved));
    }
    Ok(endpoints)
}

impl Shared {
    fn socket(&self, v6: bool) -> Option<&Udp> {
        if v6 {
            self.v6.as_ref()
        } else {
            Some(&self.v4)
        }
    }

    fn transition(&self, event: TunnelEvent) {
        let mut state = self.state.lock();
        match state.0.on(event) {
            Ok(next) if next != state.0 => {
                tracing::info!(from = %state.0, to = %next, "tunnel state");
                state.0 = next;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("{e}"),
        }
    }

    fn fail(&self, why: String) {
        tracing::error!("{why}");
        self.transition(TunnelEvent::Failed);
        self.state.lock().1 = Some(why);
    }

    /// Sends without waiting (handshakes, keepalives, cookies).
    fn send_to(&self, datagram: &[u8], to: SocketAddr) {
        if let Some(socket) = self.socket(to.is_ipv6()) {
            socket.try_send_to(datagram, to);
        }
    }
}

/// Zeroed buffers whose pages stay unallocated until used (`vec![v; n]`
/// would clone, touching every page), so an idle tunnel stays small.
fn buffers(count: usize, len: usize) -> Vec<Vec<u8>> {
    (0..count).map(|_| vec![0u8; len]).collect()
}

/// Datagrams for one destination, laid end to end to go out in one send:
/// all the same size but the last.
struct Segments {
    bytes: Vec<u8>,
    segment: usize,
    count: usize,
    to: Option<SocketAddr>,
}

impl Segments {
    /// Adds a datagram if it can go out with those already here; `false`
    /// means flush first (an empty batch takes anything).
    fn try_push(&mut self, datagram: &[u8], to: SocketAddr, max: usize) -> bool {
        if self.count == 0 {
            self.segment = datagram.len();
            self.to = Some(to);
        } else {
            let fits = self.to == Some(to)
                && self.count < max
                && datagram.len() <= self.segment
                // Only the last datagram may be shorter than the others.
                && self.bytes.len() == self.count * self.segment
                && self.bytes.len() + datagram.len() <= u16::MAX as usize;
            if !fits {
                return false;
            }
        }
        self.bytes.extend_from_slice(datagram);
        self.count += 1;
        true
    }

    async fn flush(&mut self, shared: &Shared) {
        if let Some(to) = self.to.take() {
            if let Some(socket) = shared.socket(to.is_ipv6()) {
                if let Err(e) = socket.send_segments(&self.bytes, self.segment, to).await {
                    tracing::debug!(%to, error = %e, "send failed");
                }
            }
        }
        self.bytes.clear();
        self.count = 0;
    }
}

async fn tun_to_network<T: Tun>(shared: Arc<Shared>, tun: Arc<T>) {
    let mut packets = buffers(BATCH, shared.packet_len);
    let mut sizes = [0usize; BATCH];
    let mut out = vec![0u8; BUFFER_LEN];
    let mut segments = Segments {
        bytes: Vec::with_capacity(u16::MAX as usize),
        segment: 0,
        count: 0,
        to: None,
    };
    let max_segments = shared.v4.max_segments().min(BATCH);
    loop {
        let count = match tun.recv(&mut packets, &mut sizes).await {
            Ok(count) => count,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return shared.fail(format!("reading the tunnel device failed: {e}")),
        };
        for (packet, &len) in packets.iter().zip(&sizes).take(count) {
            let Some((datagram, to)) = shared.peers.encapsulate(&packet[..len], &mut out) else {
                continue;
            };
            while !segments.try_push(datagram, to, max_segments) {
                segments.flush(&shared).await;
            }
        }
        segments.flush(&shared).await;
    }
}

async fn network_to_tun<T: Tun>(shared: Arc<Shared>, tun: Arc<T>, v6: bool) {
    let socket = shared.socket(v6).expect("spawned only for an open socket");
    let mut datagrams = buffers(UDP_BUFFERS, u16::MAX as usize);
    let mut meta = [RecvMeta::default(); UDP_BUFFERS];
    let full = TUN_HEADROOM + shared.packet_len;
    let mut packets = buffers(BATCH, full);
    let mut scratch = vec![0u8; BUFFER_LEN];
    let mut backoff = RecvBackoff::default();
    loop {
        let received = match socket.recv(&mut datagrams, &mut meta).await {
            Ok(received) => {
                let failures = backoff.succeeded();
                if failures > 0 {
                    tracing::info!(failures, v6, "receiving from the network again");
                }
                received
            }
            Err(e) => {
                let (wait, first) = backoff.failed();
                if first {
                    tracing::warn!(error = %e, v6, "receiving from the network failed; retrying");
                }
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let mut ready = 0;
        for (buffer, meta) in datagrams.iter().zip(&meta).take(received) {
            for datagram in buffer[..meta.len].chunks(meta.stride.max(1)) {
                let target = &mut packets[ready];
                target.resize(full, 0);
                let Some(received) = shared.peers.receive(
                    datagram,
                    meta.addr,
                    &mut scratch,
                    &mut target[TUN_HEADROOM..],
                    &mut |reply, to| shared.send_to(reply, to),
                ) else {
                    continue;
                };
                target.truncate(TUN_HEADROOM + received.len);
                ready += 1;
                if ready == BATCH {
                    if let Err(e) = tun.send(&mut packets[..ready]).await {
                        return shared.fail(format!("writing the tunnel device failed: {e}"));
                    }
                    ready = 0;
                }
            }
        }
        if ready > 0 {
            if let Err(e) = tun.send(&mut packets[..ready]).await {
                return shared.fail(format!("writing the tunnel device failed: {e}"));
            }
        }
    }
}

async fn timers(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(TIMER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut out = vec![0u8; BUFFER_LEN];
    let mut ticks = 0u64;
    loop {
        tick.tick().await;
        ticks += 1;
        if ticks.is_multiple_of(4) {
            shared.peers.reset_handshake_count();
        }
        let any_session = shared
            .peers
            .tick(&mut out, &mut |datagram, to| shared.send_to(datagram, to));
        shared.transition(if any_session {
            TunnelEvent::HandshakeCompleted
        } else {
            TunnelEvent::SessionsExpired
        });
    }
}
