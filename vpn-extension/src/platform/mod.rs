//! What the engine needs from the system, one file per platform.

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "macos")]
pub mod macos;
pub mod provider_settings;
pub mod utun_header;

use std::{io, net::IpAddr};

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
    /// The first peer's endpoint, resolved: the VPN's server address.
    pub remote: Option<IpAddr>,
}

impl NetworkSettings {
    /// The settings of `config`, its first endpoint resolved now, before
    /// any route or DNS server is applied: `tunnelRemoteAddress` must be an
    /// IP address (NEPacketTunnelNetworkSettings), and a name looked up
    /// after the default route moved would be asked through the tunnel.
    pub async fn resolve(config: &TunnelConfig) -> io::Result<Self> {
        let remote = match config.peers.iter().find_map(|p| p.endpoint.as_ref()) {
            Some(endpoint) => Some(crate::engine::resolve(endpoint).await?.ip()),
            None => None,
        };
        let mut routes: Vec<IpNet> = config
            .peers
            .iter()
            .flat_map(|p| p.allowed_ips.iter().copied())
            .collect();
        routes.sort();
        routes.dedup();
        Ok(Self {
            addresses: config.interface.addresses.clone(),
            routes,
            dns: config.interface.dns.clone(),
            mtu: config.interface.mtu,
            remote,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_of(endpoint: &str) -> io::Result<NetworkSettings> {
        let config: TunnelConfig = format!(
            "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n\
             Address = 10.7.0.2/24\nDNS = 10.7.0.1\n[Peer]\n\
             PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n\
             AllowedIPs = 10.7.0.0/24, 0.0.0.0/0\nEndpoint = {endpoint}\n"
        )
        .parse()
        .unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(NetworkSettings::resolve(&config))
    }

    #[test]
    fn the_remote_is_the_resolved_endpoint_address() {
        // `localhost` resolves from /etc/hosts, with no network.
        let settings = settings_of("localhost:51820").unwrap();
        assert!(settings.remote.unwrap().is_loopback(), "{settings:?}");
        assert_eq!(
            settings_of("192.0.2.7:51820").unwrap().remote,
            Some("192.0.2.7".parse().unwrap())
        );
        assert_eq!(settings.routes.len(), 2);
    }
}
