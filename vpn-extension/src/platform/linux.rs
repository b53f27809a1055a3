//! Linux: a TUN device from tun-rs, addresses and MTU set as it is created,
//! routes added with iproute2 (what wg-quick does too). The device is not
//! persistent, so closing it removes the interface and its routes.

use std::{io, process::Command};

use ipnet::IpNet;

use super::NetworkSettings;
use crate::engine::Tun;

pub struct LinuxTun {
    device: tun_rs::AsyncDevice,
    name: String,
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
}

impl LinuxTun {
    pub fn open(name: &str, settings: &NetworkSettings) -> Result<Self, TunError> {
        let create = |source| TunError::Create {
            name: name.to_string(),
            source,
        };
        if let Some(route) = settings.routes.iter().find(|r| r.prefix_len() == 0) {
            return Err(TunError::DefaultRoute { route: *route });
        }
        let device = tun_rs::DeviceBuilder::new()
            .name(name)
            .mtu(settings.mtu)
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
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
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
    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.device.recv(buf).await
    }

    async fn send(&self, packet: &[u8]) -> io::Result<()> {
        self.device.send(packet).await.map(|_| ())
    }
}
