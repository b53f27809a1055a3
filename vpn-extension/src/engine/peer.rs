//! One peer: its boringtun session state, where it is, and what it carried.

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::SystemTime,
};

use boringtun::noise::{Tunn, TunnResult};
use parking_lot::{Mutex, RwLock};

use super::config::PublicKey;

/// Where the protocol's own datagrams go (handshakes, cookies, keepalives,
/// packets queued during a handshake): the caller owns the sockets.
pub type SendDatagram<'a> = dyn FnMut(&[u8], SocketAddr) + 'a;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    pub public_key: Option<PublicKey>,
    pub endpoint: Option<SocketAddr>,
    pub last_handshake: Option<SystemTime>,
    /// Bytes and packets of the IP traffic inside the tunnel.
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
}

pub(super) struct Peer {
    public_key: PublicKey,
    tunn: Mutex<Tunn>,
    /// Where to send; follows the peer when it roams (the source of its
    /// last authenticated datagram).
    endpoint: RwLock<Option<SocketAddr>>,
    rx_bytes: AtomicU64,
    tx_bytes: AtomicU64,
    rx_packets: AtomicU64,
    tx_packets: AtomicU64,
}

/// WireGuard message type 4: a data packet (keepalives included).
const DATA: u8 = 4;
/// WireGuard message type 3: a cookie reply.
const COOKIE_REPLY: u8 = 3;

/// Whether `datagram`, opened to `result`, came from the peer itself: only
/// then may the peer's endpoint move to its source (the WireGuard paper,
/// section 2.1: roaming follows authenticated packets). A cookie reply
/// proves nothing, and neither does a handshake answered with a cookie:
/// anyone who knows the public keys can send one.
fn proves_the_sender(datagram: &[u8], result: &TunnResult) -> bool {
    match result {
        // A packet or keepalive decrypted with a session key.
        TunnResult::WriteToTunnelV4(..) | TunnResult::WriteToTunnelV6(..) => true,
        TunnResult::Done => datagram[0] == DATA,
        // The answer to a verified initiation (a response), or the
        // keepalive that confirms a verified response; never a cookie.
        TunnResult::WriteToNetwork(reply) => reply[0] != COOKIE_REPLY,
        TunnResult::Err(_) => false,
    }
}

impl Peer {
    pub(super) fn new(public_key: PublicKey, tunn: Tunn, endpoint: Option<SocketAddr>) -> Self {
        Self {
            public_key,
            tunn: Mutex::new(tunn),
            endpoint: RwLock::new(endpoint),
            rx_bytes: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
            rx_packets: AtomicU64::new(0),
            tx_packets: AtomicU64::new(0),
        }
    }

    fn endpoint(&self) -> Option<SocketAddr> {
        *self.endpoint.read()
    }

    /// Seals one packet from the tunnel. Without a session boringtun queues
    /// it and hands back a handshake initiation instead.
    pub(super) fn encapsulate<'a>(
        &self,
        packet: &[u8],
        out: &'a mut [u8],
    ) -> Option<(&'a mut [u8], SocketAddr)> {
        let result = self.tunn.lock().encapsulate(packet, out);
        match result {
            TunnResult::WriteToNetwork(datagram) => {
                if datagram[0] == DATA {
                    self.tx_packets.fetch_add(1, Relaxed);
                    self.tx_bytes.fetch_add(packet.len() as u64, Relaxed);
                }
                // A peer without a known endpoint waits to be contacted.
                Some((datagram, self.endpoint()?))
            }
            TunnResult::Err(e) => {
                tracing::debug!(peer = %self.public_key, error = ?e, "encapsulate");
                None
            }
            _ => None,
        }
    }

    /// Opens one datagram from this peer, answers what the protocol asks
    /// (handshake responses, queued packets) and returns the length of the
    /// IP packet it carried, now at the start of `out`, if any.
    pub(super) fn decapsulate(
        &self,
        datagram: &[u8],
        from: SocketAddr,
        out: &mut [u8],
        send: &mut SendDatagram,
    ) -> Option<usize> {
        let start = out.as_ptr() as usize;
        let mut tunn = self.tunn.lock();
        let result = tunn.decapsulate(Some(from.ip()), datagram, out);
        if let TunnResult::Err(e) = &result {
            tracing::debug!(peer = %self.public_key, %from, error = ?e, "decapsulate");
            return None;
        }
        if proves_the_sender(datagram, &result) && self.endpoint() != Some(from) {
            tracing::info!(peer = %self.public_key, %from, "peer endpoint");
            *self.endpoint.write() = Some(from);
        }
        match result {
            TunnResult::WriteToNetwork(reply) => {
                send(reply, from);
                // Packets queued while there was no session go out now.
                while let TunnResult::WriteToNetwork(queued) = tunn.decapsulate(None, &[], out) {
                    send(queued, from);
                }
                None
            }
            TunnResult::WriteToTunnelV4(packet, _) | TunnResult::WriteToTunnelV6(packet, _) => {
                // boringtun decrypts in place at the start of `out`; should
                // that change, move the packet there.
                let (offset, len) = (packet.as_ptr() as usize - start, packet.len());
                if offset != 0 {
                    out.copy_within(offset..offset + len, 0);
                }
                Some(len)
            }
            _ => None,
        }
    }

    pub(super) fn count_rx(&self, len: usize) {
        self.rx_packets.fetch_add(1, Relaxed);
        self.rx_bytes.fetch_add(len as u64, Relaxed);
    }

    /// Sends a handshake initiation now (boringtun would otherwise wait for
    /// the first packet or timer).
    pub(super) fn initiate(&self, send: &mut SendDatagram) {
        let mut out = [0u8; 256];
        let result = self
            .tunn
            .lock()
            .format_handshake_initiation(&mut out, false);
        if let (TunnResult::WriteToNetwork(datagram), Some(to)) = (result, self.endpoint()) {
            send(datagram, to);
        }
    }

    pub(super) fn update_timers(&self, out: &mut [u8], send: &mut SendDatagram) {
        let result = self.tunn.lock().update_timers(out);
        match result {
            TunnResult::WriteToNetwork(datagram) => {
                if let Some(to) = self.endpoint() {
                    send(datagram, to);
                }
            }
            TunnResult::Err(e) => tracing::debug!(peer = %self.public_key, error = ?e, "timers"),
            _ => {}
        }
    }

    pub(super) fn has_session(&self) -> bool {
        self.tunn.lock().time_since_last_handshake().is_some()
    }

    pub(super) fn stats(&self) -> PeerStats {
        let since = self.tunn.lock().time_since_last_handshake();
        PeerStats {
            public_key: Some(self.public_key),
            endpoint: self.endpoint(),
            last_handshake: since.and_then(|d| SystemTime::now().checked_sub(d)),
            rx_bytes: self.rx_bytes.load(Relaxed),
            tx_bytes: self.tx_bytes.load(Relaxed),
            rx_packets: self.rx_packets.load(Relaxed),
            tx_packets: self.tx_packets.load(Relaxed),
        }
    }
}
