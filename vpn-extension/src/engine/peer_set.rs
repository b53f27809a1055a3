//! Every peer of a tunnel and the rules between them and the wire, with no
//! I/O (as boringtun's `noise` is): which peer a datagram is for, what it
//! opens to, whether its source is one that peer may send from, and which
//! peer a packet from the device goes to. The engine feeds it datagrams and
//! packets and sends what it is handed; the datagram fuzz target feeds it
//! anything.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use boringtun::{
    noise::{handshake::parse_handshake_anon, rate_limiter::RateLimiter, Packet, Tunn, TunnResult},
    x25519,
};

use super::{
    allowed_ips::AllowedIps,
    peer::{Peer, PeerStats, SendDatagram},
    TunnelConfig,
};

/// Handshakes per second across all peers before cookies are demanded:
/// boringtun's own figure. Each datagram is counted once, when
/// [`PeerSet::receive`] finds its peer.
const HANDSHAKE_RATE_LIMIT: u64 = 100;

pub struct PeerSet {
    peers: Vec<Peer>,
    by_key: HashMap<[u8; 32], usize>,
    routes: AllowedIps<usize>,
    /// Peers' session indices are `(index_base + position) << 8`; a random
    /// base keeps packets of a previous run from landing on a new session.
    index_base: u32,
    private: x25519::StaticSecret,
    public: x25519::PublicKey,
    rate_limiter: Arc<RateLimiter>,
}

/// An IP packet a peer sent, opened and allowed through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub peer: usize,
    /// Its length, at the start of the `out` buffer given to
    /// [`PeerSet::receive`].
    pub len: usize,
}

impl PeerSet {
    /// The peers of `config`; `endpoints` are theirs, resolved, in order.
    pub fn new(config: &TunnelConfig, endpoints: &[Option<SocketAddr>]) -> Self {
        assert_eq!(endpoints.len(), config.peers.len(), "an endpoint per peer");
        let private = x25519::StaticSecret::from(config.interface.private_key.bytes());
        let public = x25519::PublicKey::from(&private);
        let rate_limiter = Arc::new(RateLimiter::new(&public, HANDSHAKE_RATE_LIMIT));
        // Each `Tunn` checks mac1 again and would count the datagram a
        // second time against its limiter. A limiter that is never under
        // load keeps the one count in `receive`; with the shared one, a
        // handshake crossing the limit between the two checks was answered
        // with a cookie from inside `Tunn`, which looked like a verified
        // datagram.
        let verified = Arc::new(RateLimiter::new(&public, u64::MAX));
        let index_base = rand::random::<u32>() & 0x00ff_ffff;
        let mut peers = Vec::with_capacity(config.peers.len());
        let mut by_key = HashMap::new();
        let mut routes = AllowedIps::default();
        for (position, (peer, endpoint)) in config.peers.iter().zip(endpoints).enumerate() {
            let tunn = Tunn::new(
                private.clone(),
                x25519::PublicKey::from(peer.public_key.0),
                peer.preshared_key.as_ref().map(|k| k.bytes()),
                peer.persistent_keepalive,
                (index_base + position as u32) & 0x00ff_ffff,
                Some(Arc::clone(&verified)),
            );
            for net in &peer.allowed_ips {
                routes.insert(*net, position);
            }
            by_key.insert(peer.public_key.0, position);
            peers.push(Peer::new(peer.public_key, tunn, *endpoint));
        }
        Self {
            peers,
            by_key,
            routes,
            index_base,
            private,
            public,
            rate_limiter,
        }
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    pub fn stats(&self) -> Vec<PeerStats> {
        self.peers.iter().map(Peer::stats).collect()
    }

    fn peer_by_index(&self, receiver_idx: u32) -> Option<usize> {
        let position = ((receiver_idx >> 8).wrapping_sub(self.index_base) & 0x00ff_ffff) as usize;
        (position < self.peers.len()).then_some(position)
    }

    /// Which peer a datagram is for. Handshake initiations name their sender
    /// only inside the encrypted static key, which costs a DH to read, so
    /// they pass the shared rate limiter first (answered with a cookie when
    /// under load).
    fn route_datagram(
        &self,
        datagram: &[u8],
        from: SocketAddr,
        scratch: &mut [u8],
        send: &mut SendDatagram,
    ) -> Option<usize> {
        let packet = match self
            .rate_limiter
            .verify_packet(Some(from.ip()), datagram, scratch)
        {
            Ok(packet) => packet,
            Err(TunnResult::WriteToNetwork(cookie)) => {
                send(cookie, from);
                return None;
            }
            Err(_) => return None,
        };
        match packet {
            Packet::HandshakeInit(init) => {
                let half = parse_handshake_anon(&self.private, &self.public, &init).ok()?;
                self.by_key.get(&half.peer_static_public).copied()
            }
            Packet::HandshakeResponse(p) => self.peer_by_index(p.receiver_idx),
            Packet::PacketCookieReply(p) => self.peer_by_index(p.receiver_idx),
            Packet::PacketData(p) => self.peer_by_index(p.receiver_idx),
        }
    }

    /// Takes one datagram from the wire: answers what the protocol asks
    /// through `send`, and returns the IP packet it carried, now at the
    /// start of `out`, if it opened and its source is one the peer may
    /// send from. `scratch` holds a cookie reply; `out` must take the
    /// largest packet plus WireGuard's overhead.
    pub fn receive(
        &self,
        datagram: &[u8],
        from: SocketAddr,
        scratch: &mut [u8],
        out: &mut [u8],
        send: &mut SendDatagram,
    ) -> Option<Received> {
        let position = self.route_datagram(datagram, from, scratch, send)?;
        let peer = &self.peers[position];
        let len = peer.decapsulate(datagram, from, out, send)?;
        // Source filtering: a peer may only send from its AllowedIPs.
        let source = source_address(&out[..len]);
        if !source.is_some_and(|src| self.routes.allows(src, &position)) {
            tracing::trace!(?source, "dropped: source outside the peer's AllowedIPs");
            return None;
        }
        peer.count_rx(len);
        Some(Received {
            peer: position,
            len,
        })
    }

    /// Seals a packet from the device for the peer its destination routes
    /// to: the datagram and where it goes. `None` when no peer takes the
    /// destination, or the packet waits for a handshake.
    pub fn encapsulate<'a>(
        &self,
        packet: &[u8],
        out: &'a mut [u8],
    ) -> Option<(&'a mut [u8], SocketAddr)> {
        let dst = Tunn::dst_address(packet)?;
        let Some(&position) = self.routes.lookup(dst) else {
            tracing::trace!(%dst, "no peer for destination");
            return None;
        };
        self.peers[position].encapsulate(packet, out)
    }

    /// Starts a new second of the handshake rate limit.
    pub fn reset_handshake_count(&self) {
        self.rate_limiter.reset_count();
    }

    /// Starts a handshake with every peer that has an endpoint.
    pub fn initiate_all(&self, send: &mut SendDatagram) {
        for peer in &self.peers {
            peer.initiate(send);
        }
    }

    /// Runs every peer's timers; whether any has a live session.
    pub fn tick(&self, out: &mut [u8], send: &mut SendDatagram) -> bool {
        let mut any_session = false;
        for peer in &self.peers {
            peer.update_timers(out, send);
            any_session |= peer.has_session();
        }
        any_session
    }
}

/// The source address of an IP packet (boringtun only reads destinations).
fn source_address(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => {
            let bytes: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
            Some(IpAddr::from(bytes))
        }
        6 => {
            let bytes: [u8; 16] = packet.get(8..24)?.try_into().ok()?;
            Some(IpAddr::from(bytes))
        }
        _ => None,
    }
}
