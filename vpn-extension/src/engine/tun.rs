//! The packet side of the engine: whatever hands it IP packets. On Linux a
//! TUN device; in the macOS provider the utun fd or the packet flow; in
//! tests a pair of channels.
//!
//! Packets move in batches so a device that can segment and coalesce (Linux
//! TUN with offloads: one read yields a 64 KB TCP segment split into MTU
//! packets, one write takes many packets coalesced) pays one system call
//! per batch instead of one per packet. A device without that reads and
//! writes one packet at a time behind the same calls.

use std::{future::Future, io};

/// Bytes kept free before each packet given to [`Tun::send`]: the Linux TUN
/// device writes its virtio-net header there.
pub const TUN_HEADROOM: usize = 16;

pub trait Tun: Send + Sync + 'static {
    /// Reads one or more packets: packet `i` is `bufs[i][..sizes[i]]`.
    /// Returns how many.
    fn recv(
        &self,
        bufs: &mut [Vec<u8>],
        sizes: &mut [usize],
    ) -> impl Future<Output = io::Result<usize>> + Send;

    /// Writes packets, packet `i` being `packets[i][TUN_HEADROOM..]`. The
    /// device may coalesce them and may grow the buffers.
    fn send(&self, packets: &mut [Vec<u8>]) -> impl Future<Output = io::Result<()>> + Send;
}

/// An in-memory Tun: what the engine writes comes out of `from_engine`,
/// what is pushed into `to_engine` is read by the engine. For tests of the
/// engine without a kernel device.
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

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the test side closed")
}

impl Tun for ChannelTun {
    async fn recv(&self, bufs: &mut [Vec<u8>], sizes: &mut [usize]) -> io::Result<usize> {
        let packet = self.incoming.lock().await.recv().await.ok_or_else(closed)?;
        bufs[0][..packet.len()].copy_from_slice(&packet);
        sizes[0] = packet.len();
        Ok(1)
    }

    async fn send(&self, packets: &mut [Vec<u8>]) -> io::Result<()> {
        for packet in packets {
            self.outgoing
                .send(packet[TUN_HEADROOM..].to_vec())
                .await
                .map_err(|_| closed())?;
        }
        Ok(())
    }
}
