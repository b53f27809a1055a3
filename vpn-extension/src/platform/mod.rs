//! What the engine needs from the system, one file per platform.

#[cfg(target_os = "linux")]
pub mod linux;

use std::net::IpAddr;

use ipnet::IpNet;

use crate::engine::TunnelConfig;

/// What the system is told about a tunnel: the same facts a packet tunnel
/// provider puts into `NEPacketTunnelNetworkSettings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkSettings {
    pub addresses: Vec<IpNet>,
    /// Every peer's AllowedIPs: traffic to these goes into the tunnel.
    pub routes: Vec<IpNet>,
    pub dns: Vec<IpAddr>,
    pub mtu: u16,
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
        }
    }
}
