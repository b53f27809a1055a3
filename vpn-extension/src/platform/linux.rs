//! Linux: a TUN device from tun-rs, addresses and MTU set as it is created,
//! routes added with iproute2 (what wg-quick does too). The device is not
//! persistent, so closing it removes the interface and its routes.
//!
//! The device is opened with offloads (virtio-net headers): the kernel hands
//! over whole 64 KB TCP segments, which tun-rs splits into MTU packets, and
//! takes packets of one flow coalesced back into one, so a bulk transfer
//! costs one read and one write per 64 KB instead of per packet.

use std::{io, net::SocketAddr, process::Command};

use ipnet::IpNet;

use super::NetworkSettings;
use crate::engine::{Tun, TUN_HEADROOM};

/// Batches smaller than this are written packet by packet: bulk transfers
/// arrive in batches of tens of packets, pings and handshakes in ones and
/// twos (or a few queued while a handshake completed).
const COALESCE_FROM: usize = 8;

pub struct LinuxTun {
    device: tun_rs::AsyncDevice,
    /// A whole segment as read, before splitting (only the reading task
    /// uses it; the lock is never contended).
    segment: tokio::sync::Mutex<Vec<u8>>,
    /// Created on the first batch big enough to coalesce: it preallocates
    /// about 1.5 MB of flow tables, which a tunnel that is idle or carrying
    /// pings and keepalives has no use for.
    coalescing: tokio::sync::Mutex<Option<tun_rs::GROTable>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TunError {
    #[error("cannot create the tunnel interface {name} (root, or CAP_NET_ADMIN, and /dev/net/tun are needed)")]
    Create {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot add address {address} to {name}")]
    Address {
        name: String,
        address: IpNet,
        #[source]
        source: io::Error,
    },
    #[error("cannot route {route} into {name}: {detail}")]
    Route {
        name: String,
        route: IpNet,
        detail: String,
    },
    #[error(
        "AllowedIPs {route} would send all traffic into the tunnel, including its own \
         packets to the peer; on Linux, list the networks to reach instead"
    )]
    DefaultRoute { route: IpNet },
    #[error(
        "AllowedIPs {route} covers the peer's endpoint {endpoint}: the tunnel's own \
         packets to the peer would be routed into the tunnel; on Linux, list \
         networks that leave out {endpoint_ip}",
        endpoint_ip = endpoint.ip()
    )]
    RouteCoversEndpoint { route: IpNet, endpoint: SocketAddr },
}

impl LinuxTun {
    pub fn open(name: &str, settings: &NetworkSettings) -> Result<Self, TunError> {
        let create = |source| TunError::Create {
            name: name.to_string(),
            source,
        };
        // wg-quick takes these through a firewall mark and a routing table
        // of its own; we only add routes, which would loop.
        if let Some(route) = settings.routes.iter().find(|r| r.prefix_len() == 0) {
            return Err(TunError::DefaultRoute { route: *route });
        }
        if let Some((route, endpoint)) = settings.route_covering_an_endpoint() {
            return Err(TunError::RouteCoversEndpoint { route, endpoint });
        }
        let device = tun_rs::DeviceBuilder::new()
            .name(name)
            .mtu(settings.mtu)
            .offload(true)
            .build_sync()
            .map_err(create)?;
        for address in &settings.addresses {
            let added = match address {
                IpNet::V4(a) => device.add_address_v4(a.addr(), a.prefix_len()),
                IpNet::V6(a) => device.add_address_v6(a.addr(), a.prefix_len()),
            };
            added.map_err(|source| TunError::Address {
                name: name.to_string(),
                address: *address,
                source,
            })?;
        }
        device.enabled(true).map_err(create)?;
        for route in &settings.routes {
            add_route(name, route)?;
        }
        if !settings.dns.is_empty() {
            tracing::warn!(dns = ?settings.dns, "DNS servers are not applied on Linux");
        }
        let device = tun_rs::AsyncDevice::new(device).map_err(create)?;
        Ok(Self {
            device,
            segment: tokio::sync::Mutex::new(vec![0; tun_rs::VIRTIO_NET_HDR_LEN + 65_535]),
            coalescing: tokio::sync::Mutex::new(None),
        })
    }
}

/// TUN devices named `interface`, one tunnel at a time.
pub struct LinuxDevices {
    pub interface: String,
}

impl super::TunnelDevices for LinuxDevices {
    type Tun = LinuxTun;
    type Error = TunError;

    fn open(&self, settings: &NetworkSettings) -> Result<LinuxTun, TunError> {
        LinuxTun::open(&self.interface, settings)
    }
}

fn add_route(name: &str, route: &IpNet) -> Result<(), TunError> {
    let family = if route.addr().is_ipv4() { "-4" } else { "-6" };
    let output = Command::new("ip")
        .args([family, "route", "replace", &route.to_string(), "dev", name])
        .output()
        .map_err(|e| TunError::Route {
            name: name.to_string(),
            route: *route,
            detail: format!("cannot run `ip` (iproute2): {e}"),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(TunError::Route {
            name: name.to_string(),
            route: *route,
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

impl Tun for LinuxTun {
    async fn recv(&self, bufs: &mut [Vec<u8>], sizes: &mut [usize]) -> io::Result<usize> {
        let mut segment = self.segment.lock().await;
        self.device
            .recv_multiple(&mut segment, bufs, sizes, 0)
            .await
    }

    async fn send(&self, packets: &mut [Vec<u8>]) -> io::Result<()> {
        if packets.len() < COALESCE_FROM {
            // Too few to be worth coalescing: each goes out behind a zeroed
            // virtio-net header, which says "a plain packet, no offload".
            let start = TUN_HEADROOM - tun_rs::VIRTIO_NET_HDR_LEN;
            for packet in packets {
                packet[start..TUN_HEADROOM].fill(0);
                self.device.send(&packet[start..]).await?;
            }
            return Ok(());
        }
        let mut coalescing = self.coalescing.lock().await;
        let coalescing = coalescing.get_or_insert_with(tun_rs::GROTable::new);
        self.device
            .send_multiple(coalescing, packets, TUN_HEADROOM)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(routes: &[&str], endpoint: &str) -> NetworkSettings {
        NetworkSettings {
            addresses: vec!["10.7.0.2/24".parse().unwrap()],
            routes: routes.iter().map(|r| r.parse().unwrap()).collect(),
            dns: Vec::new(),
            mtu: 1420,
            endpoints: vec![Some(endpoint.parse().unwrap())],
        }
    }

    /// Refused before any device exists, so no root is needed to see it.
    #[test]
    fn routes_that_would_loop_are_refused_before_the_device_is_made() {
        let open = |routes: &[&str]| {
            LinuxTun::open("vkloop0", &settings(routes, "192.0.2.7:51820"))
                .err()
                .map(|e| e.to_string())
        };
        let split = open(&["0.0.0.0/1", "128.0.0.0/1"]).unwrap();
        assert!(
            split.contains("AllowedIPs 128.0.0.0/1 covers the peer's endpoint 192.0.2.7:51820"),
            "{split}"
        );
        let default = open(&["0.0.0.0/0"]).unwrap();
        assert!(default.contains("AllowedIPs 0.0.0.0/0"), "{default}");
        let narrow = open(&["192.0.2.0/24"]).unwrap();
        assert!(narrow.contains("leave out 192.0.2.7"), "{narrow}");
    }
}
