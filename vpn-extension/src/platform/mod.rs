//! What the engine needs from the system, one file per platform.

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "macos")]
pub mod macos;
pub mod provider_settings;
pub mod utun_header;

use std::net::IpAddr;

use ipnet::IpNet;

use crate::engine::{Tun, TunnelConfig};

/// What the system is told about a tunnel: the same facts a packet tunnel
/// provider puts into `NEPacketTunnelNetworkSettings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkSettings {
    pub addresses: Vec<IpNet>,
    /// Every peer's AllowedIPs: traffic to these goes into the tunnel.
    pub routes: Vec<IpNet>,
    pub dns: Vec<IpAddr>,
    pub mtu: u16,
    /// The first peer's endpoint host, shown as the VPN's server address.
    pub remote: Option<String>,
}

impl NetworkSettings {
    pub fn of(config: &TunnelConfig) -> Self {
        let mut routes: Vec<IpNet> = config
            .peers
            .iter()
            .flat_map(|p| p.allowed_ips.iter().copied())
            .collect();
        routes.sort();
        routes.dedup();
        Self {
            addresses: config.interface.addresses.clone(),
            routes,
            dns: config.interface.dns.clone(),
            mtu: config.interface.mtu,
            remote: config
                .peers
                .iter()
                .find_map(|p| p.endpoint.as_ref())
                .map(|e| e.host.clone()),
        }
    }
}

/// Where tunnels get their packet device: a TUN interface on Linux; on
/// macOS the provider's utun, which the system creates.
pub trait TunnelDevices: Send + Sync + 'static {
    type Tun: Tun;
    type Error: std::error::Error;

    /// Creates the device and applies `settings` to it. Called inside the
    /// engine's runtime.
    fn open(&self, settings: &NetworkSettings) -> Result<Self::Tun, Self::Error>;
}
