//! The fallback packet path: `NEPacketTunnelFlow`'s read and write calls,
//! for when the utun fd cannot be found (Apple does not promise it). Each
//! packet crosses into an `NSData`, so the fd is preferred.

use std::{io, ptr::NonNull};

use block2::RcBlock;
use objc2::rc::Retained;
use objc2_foundation::{NSArray, NSData, NSNumber};
use objc2_network_extension::NEPacketTunnelFlow;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::{
    engine::{Tun, TUN_HEADROOM},
    platform::utun_header::header_for,
};

/// Packets read ahead of the engine; beyond this they are dropped, as a
/// full interface queue drops them.
const QUEUE: usize = 1024;

/// NetworkExtension's flow may be used from any thread.
#[derive(Clone)]
struct SharedFlow(Retained<NEPacketTunnelFlow>);
// SAFETY: Apple documents NEPacketTunnelFlow's methods as thread-safe.
unsafe impl Send for SharedFlow {}
// SAFETY: as above.
unsafe impl Sync for SharedFlow {}

pub struct FlowTun {
    flow: SharedFlow,
    incoming: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
}

/// Asks the flow for packets; the completion queues them and asks again,
/// until the engine's side is gone.
fn read_next(flow: SharedFlow, queue: mpsc::Sender<Vec<u8>>) {
    let again = flow.clone();
    let block = RcBlock::new(
        move |packets: NonNull<NSArray<NSData>>, _: NonNull<NSArray<NSNumber>>| {
            // SAFETY: the system passes a live array for the block's duration.
            for packet in unsafe { packets.as_ref() }.iter() {
                match queue.try_send(packet.to_vec()) {
                    Ok(()) | Err(TrySendError::Full(_)) => {}
                    Err(TrySendError::Closed(_)) => return,
                }
            }
            read_next(again.clone(), queue.clone());
        },
    );
    // SAFETY: a live flow; the system copies the block.
    unsafe { flow.0.readPacketsWithCompletionHandler(&block) };
}

impl FlowTun {
    pub fn start(flow: Retained<NEPacketTunnelFlow>) -> Self {
        let (queue, incoming) = mpsc::channel(QUEUE);
        let flow = SharedFlow(flow);
        read_next(flow.clone(), queue);
        Self {
            flow,
            incoming: tokio::sync::Mutex::new(incoming),
        }
    }

    /// Writes a batch at once (no await: the Foundation objects stay on
    /// this thread).
    fn write(&self, packets: &[Vec<u8>]) -> io::Result<()> {
        let mut datas = Vec::with_capacity(packets.len());
        let mut families = Vec::with_capacity(packets.len());
        for packet in packets {
            let payload = &packet[TUN_HEADROOM..];
            if let Some(header) = header_for(payload) {
                datas.push(NSData::with_bytes(payload));
                families.push(NSNumber::new_u32(u32::from_be_bytes(header)));
            }
        }
        // SAFETY: arrays of the declared element types.
        let written = unsafe {
            self.flow.0.writePackets_withProtocols(
                &NSArray::from_retained_slice(&datas),
                &NSArray::from_retained_slice(&families),
            )
        };
        if written {
            Ok(())
        } else {
            Err(io::Error::other("the packet flow refused the packets"))
        }
    }
}

impl Tun for FlowTun {
    async fn recv(&self, bufs: &mut [Vec<u8>], sizes: &mut [usize]) -> io::Result<usize> {
        let packet =
            self.incoming.lock().await.recv().await.ok_or_else(|| {
                io::Error::new(io::ErrorKind::BrokenPipe, "the packet flow stopped")
            })?;
        let n = packet.len().min(bufs[0].len());
        bufs[0][..n].copy_from_slice(&packet[..n]);
        sizes[0] = n;
        Ok(1)
    }

    async fn send(&self, packets: &mut [Vec<u8>]) -> io::Result<()> {
        self.write(packets)
    }
}
