//! The packet side of the engine: whatever hands it IP packets. On Linux a
//! TUN device; in the macOS provider the utun fd or the packet flow; in
//! tests a pair of channels.

use std::{future::Future, io};

/// One IP packet per call, without any packet-information header.
pub trait Tun: Send + Sync + 'static {
    fn recv(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;
    fn send(&self, packet: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
}

/// An in-memory Tun: what the engine writes comes out of `outgoing`, what is
/// pushed into `incoming` is read by the engine. For tests and benchmarks of
/// the engine without a kernel device.
pub struct ChannelTun {
    incoming: tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Vec<u8>>>,
    outgoing: tokio::sync::mpsc::Sender<Vec<u8>>,
}

/// The other end of a [`ChannelTun`].
pub struct ChannelTunEnd {
    pub to_engine: tokio::sync::mpsc::Sender<Vec<u8>>,
    pub from_engine: tokio::sync::mpsc::Receiver<Vec<u8>>,
}

impl ChannelTun {
    pub fn pair(depth: usize) -> (Self, ChannelTunEnd) {
        let (to_engine, incoming) = tokio::sync::mpsc::channel(depth);
        let (outgoing, from_engine) = tokio::sync::mpsc::channel(depth);
        (
            Self {
                incoming: tokio::sync::Mutex::new(incoming),
                outgoing,
            },
            ChannelTunEnd {
                to_engine,
                from_engine,
            },
        )
    }
}

impl Tun for ChannelTun {
    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let packet = self
            .incoming
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "the test side closed"))?;
        buf[..packet.len()].copy_from_slice(&packet);
        Ok(packet.len())
    }

    async fn send(&self, packet: &[u8]) -> io::Result<()> {
        self.outgoing
            .send(packet.to_vec())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the test side closed"))
    }
}
