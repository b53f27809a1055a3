//! What the engine needs from the system, one file per platform.

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "macos")]
pub mod macos;
pub mod provider_settings;
pub mod utun_header;

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::engine::{resolve_endpoints, EngineError, Tun, TunnelConfig};

/// What the system is told about a tunnel: the same facts a packet tunnel
/// provider puts into `NEPacketTunnelNetworkSettings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkSettings {
    pub addresses: Vec<IpNet>,
    /// Every peer's AllowedIPs: traffic to these goes into the tunnel.
    pub routes: Vec<IpNet>,
    pub dns: Vec<IpAddr>,
    pub mtu: u16,
    /// Each peer's endpoint, resolved, in the config's order.
    pub endpoints: Vec<Option<SocketAddr>>,
}

impl NetworkSettings {
    /// The settings of `config`, its endpoints resolved now, before any
    /// route or DNS server is applied: a name looked up after the routes
    /// moved would be asked through the tunnel, and `tunnelRemoteAddress`
    /// must be an IP address (NEPacketTunnelNetworkSettings).
    pub async fn resolve(config: &TunnelConfig) -> Result<Self, EngineError> {
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
            endpoints: resolve_endpoints(config).await?,
        })
    }

    /// The first peer's endpoint address: the VPN's server address.
    pub fn remote(&self) -> Option<IpAddr> {
        self.endpoints.iter().flatten().next().map(SocketAddr::ip)
    }

    /// A route that would carry the tunnel's own datagrams to a peer into
    /// the tunnel, and that peer's endpoint: a loop in which nothing gets
    /// through. `0.0.0.0/1` with `128.0.0.0/1` (wg-quick's way around the
    /// default route) covers every endpoint too, one half each.
    pub fn route_covering_an_endpoint(&self) -> Option<(IpNet, SocketAddr)> {
        self.endpoints.iter().flatten().find_map(|endpoint| {
            self.routes
                .iter()
                .find(|route| route.contains(&endpoint.ip()))
                .map(|route| (*route, *endpoint))
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

    fn settings_of(endpoint: &str, allowed_ips: &str) -> Result<NetworkSettings, EngineError> {
        let config: TunnelConfig = format!(
            "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n\
             Address = 10.7.0.2/24\nDNS = 10.7.0.1\n[Peer]\n\
             PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n\
             AllowedIPs = {allowed_ips}\nEndpoint = {endpoint}\n\
             [Peer]\nPublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\n\
             AllowedIPs = 10.8.0.0/24\nEndpoint = 198.51.100.9:51820\n"
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
    fn every_endpoint_is_resolved_and_the_first_is_the_remote() {
        // `localhost` resolves from /etc/hosts, with no network.
        let settings = settings_of("localhost:51820", "10.7.0.0/24").unwrap();
        assert!(settings.remote().unwrap().is_loopback(), "{settings:?}");
        assert_eq!(
            settings.endpoints[1],
            Some("198.51.100.9:51820".parse().unwrap())
        );
        let settings = settings_of("192.0.2.7:51820", "10.7.0.0/24").unwrap();
        assert_eq!(settings.remote(), Some("192.0.2.7".parse().unwrap()));
        assert_eq!(settings.routes.len(), 2);
        assert_eq!(settings.route_covering_an_endpoint(), None);
    }

    #[test]
    fn a_name_that_does_not_resolve_names_the_peer() {
        let e = settings_of("no-such-host.invalid:51820", "10.7.0.0/24").unwrap_err();
        let message = e.to_string();
        assert!(
            message.contains("no-such-host.invalid:51820")
                && message.contains("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="),
            "{message}"
        );
    }

    #[test]
    fn routes_that_cover_an_endpoint_are_found() {
        for (allowed, covering) in [
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("0.0.0.0/1, 128.0.0.0/1", "128.0.0.0/1"),
            ("10.7.0.0/24, 192.0.2.0/24", "192.0.2.0/24"),
        ] {
            let settings = settings_of("192.0.2.7:51820", allowed).unwrap();
            assert_eq!(
                settings.route_covering_an_endpoint(),
                Some((
                    covering.parse().unwrap(),
                    "192.0.2.7:51820".parse().unwrap()
                )),
                "{allowed}"
            );
        }
        // The second peer's endpoint counts as much as the first's.
        let settings = settings_of("192.0.2.7:51820", "198.51.100.0/24").unwrap();
        assert_eq!(
            settings.route_covering_an_endpoint().map(|(_, e)| e),
            Some("198.51.100.9:51820".parse().unwrap())
        );
    }
}
