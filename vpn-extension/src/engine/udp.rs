//! The wire side: one UDP socket per address family, with Linux's segment
//! offloads through quinn-udp (GSO: many same-sized datagrams to one peer in
//! one `sendmsg`; GRO: many datagrams from one peer in one `recvmsg`).
//! Elsewhere quinn-udp falls back to a datagram per call.

use std::{
    io::{self, IoSliceMut},
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::{io::Interest, net::UdpSocket};

const SOCKET_BUFFER_BYTES: usize = 4 << 20;

pub(super) struct Udp {
    socket: UdpSocket,
    state: UdpSocketState,
}

impl Udp {
    fn open(addr: SocketAddr) -> io::Result<Self> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        let socket = UdpSocket::from_std(socket.into())?;
        let state = UdpSocketState::new((&socket).into())?;
        // Bigger buffers absorb bursts at Gbit/s; the kernel caps them at
        // net.core.*mem_max, which is fine.
        let _ = state.set_recv_buffer_size((&socket).into(), SOCKET_BUFFER_BYTES);
        let _ = state.set_send_buffer_size((&socket).into(), SOCKET_BUFFER_BYTES);
        Ok(Self { socket, state })
    }

    /// A socket per family on the same port. IPv6 is optional: a host
    /// without it still runs an IPv4 tunnel.
    pub(super) fn bind(port: u16) -> io::Result<(Udp, Option<Udp>)> {
        let v4 = Self::open(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))?;
        let port = v4.socket.local_addr()?.port();
        let v6 = match Self::open(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))) {
            Ok(socket) => Some(socket),
            Err(e) => {
                tracing::warn!(error = %e, "no IPv6 socket; IPv6 endpoints are unreachable");
                None
            }
        };
        Ok((v4, v6))
    }

    pub(super) fn port(&self) -> u16 {
        self.socket.local_addr().map_or(0, |a| a.port())
    }

    /// How many datagrams one [`Udp::send_segments`] may carry.
    pub(super) fn max_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    /// Sends `contents`, cut into datagrams of `segment` bytes (the last may
    /// be shorter), to `to`; waits while the socket buffer is full, which
    /// is the backpressure that keeps TCP inside the tunnel from overrunning
    /// the wire.
    pub(super) async fn send_segments(
        &self,
        contents: &[u8],
        segment: usize,
        to: SocketAddr,
    ) -> io::Result<()> {
        let transmit = Transmit {
            destination: to,
            ecn: None,
            contents,
            segment_size: (contents.len() > segment).then_some(segment),
            src_ip: None,
        };
        self.socket
            .async_io(Interest::WRITABLE, || {
                self.state.try_send((&self.socket).into(), &transmit)
            })
            .await
    }

    /// Sends one datagram if the socket can take it now, else drops it (as
    /// a full queue would): for handshakes and keepalives, which WireGuard
    /// retries itself.
    pub(super) fn try_send_to(&self, datagram: &[u8], to: SocketAddr) {
        if let Err(e) = self.socket.try_send_to(datagram, to) {
            if e.kind() != io::ErrorKind::WouldBlock {
                tracing::debug!(%to, error = %e, "send failed");
            }
        }
    }

    /// Receives into `bufs`; `meta[i]` says how many bytes `bufs[i]` holds,
    /// from whom, and the size of each datagram in it (`stride`).
    pub(super) async fn recv(
        &self,
        bufs: &mut [Vec<u8>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        let mut slices: Vec<IoSliceMut> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        self.socket
            .async_io(Interest::READABLE, || {
                self.state.recv((&self.socket).into(), &mut slices, meta)
            })
            .await
    }
}

/// What to do after receive errors in a row. They are rare and pass (an
/// interrupted call, a short burst of memory pressure), but one that
/// persists would spin a core and flood the log: each retry waits twice as
/// long as the last, up to [`RecvBackoff::MAX`], and only the first error of
/// a run is logged.
#[derive(Debug, Default)]
pub(super) struct RecvBackoff {
    failures: u32,
}

impl RecvBackoff {
    pub(super) const FIRST: Duration = Duration::from_millis(1);
    pub(super) const MAX: Duration = Duration::from_millis(500);

    /// Records a failure: how long to wait, and whether to log it.
    pub(super) fn failed(&mut self) -> (Duration, bool) {
        let wait = Self::FIRST
            .saturating_mul(1 << self.failures.min(16))
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        (wait, self.failures == 1)
    }

    /// Records a success, returning how many failures it ended.
    pub(super) fn succeeded(&mut self) -> u32 {
        std::mem::take(&mut self.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_to_a_cap_and_only_the_first_failure_is_logged() {
        let mut backoff = RecvBackoff::default();
        let runs: Vec<(Duration, bool)> = (0..14).map(|_| backoff.failed()).collect();
        assert_eq!(runs[0], (RecvBackoff::FIRST, true));
        assert_eq!(runs[1], (RecvBackoff::FIRST * 2, false));
        assert!(runs.windows(2).all(|w| w[1].0 >= w[0].0));
        assert_eq!(runs[13].0, RecvBackoff::MAX);
        assert_eq!(runs.iter().filter(|(_, log)| *log).count(), 1);
        assert_eq!(backoff.succeeded(), 14);
        assert_eq!(backoff.failed(), (RecvBackoff::FIRST, true));
    }
}
