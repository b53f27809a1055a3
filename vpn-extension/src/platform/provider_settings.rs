//! What a packet tunnel provider tells the system about a tunnel, in the
//! shape `NEPacketTunnelNetworkSettings` takes it: IPv4 as address and
//! subnet-mask strings, IPv6 as address and prefix length, routes likewise.
//! Plain Rust, so the conversion is tested on any OS; the macOS provider
//! only turns these strings into Foundation objects.

use std::net::Ipv4Addr;

use ipnet::IpNet;

use super::NetworkSettings;

/// An IPv4 address or route with its mask, dotted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv4Entry {
    pub address: String,
    pub mask: String,
}

/// An IPv6 address or route with its prefix length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ipv6Entry {
    pub address: String,
    pub prefix: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSettings {
    /// `tunnelRemoteAddress`: an IP address (the resolved endpoint), shown
    /// to the user, not used for routing.
    pub remote_address: String,
    pub ipv4_addresses: Vec<Ipv4Entry>,
    pub ipv4_routes: Vec<Ipv4Entry>,
    pub ipv6_addresses: Vec<Ipv6Entry>,
    pub ipv6_routes: Vec<Ipv6Entry>,
    pub dns: Vec<String>,
    /// `NEDNSSettings.matchDomains`: `[""]` with DNS servers, so every
    /// query goes to them; without it macOS only sends queries for the
    /// tunnel's own domains there (NEDNSSettings documentation: an empty
    /// string matches all domains).
    pub dns_match_domains: Vec<String>,
    pub mtu: u16,
}

fn mask(prefix: u8) -> String {
    let bits = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(bits).to_string()
}

impl ProviderSettings {
    pub fn new(settings: &NetworkSettings) -> Self {
        let mut this = Self {
            // The system wants some address here; a tunnel that only
            // listens has no remote, so loopback says "none".
            remote_address: settings
                .remote()
                .unwrap_or(Ipv4Addr::LOCALHOST.into())
                .to_string(),
            ipv4_addresses: Vec::new(),
            ipv4_routes: Vec::new(),
            ipv6_addresses: Vec::new(),
            ipv6_routes: Vec::new(),
            dns: settings.dns.iter().map(ToString::to_string).collect(),
            dns_match_domains: if settings.dns.is_empty() {
                Vec::new()
            } else {
                vec![String::new()]
            },
            mtu: settings.mtu,
        };
        for address in &settings.addresses {
            match address {
                IpNet::V4(a) => this.ipv4_addresses.push(Ipv4Entry {
                    address: a.addr().to_string(),
                    mask: mask(a.prefix_len()),
                }),
                IpNet::V6(a) => this.ipv6_addresses.push(Ipv6Entry {
                    address: a.addr().to_string(),
                    prefix: a.prefix_len(),
                }),
            }
        }
        for route in &settings.routes {
            // Routes name networks: host bits are cleared.
            match route.trunc() {
                IpNet::V4(r) => this.ipv4_routes.push(Ipv4Entry {
                    address: r.network().to_string(),
                    mask: mask(r.prefix_len()),
                }),
                IpNet::V6(r) => this.ipv6_routes.push(Ipv6Entry {
                    address: r.network().to_string(),
                    prefix: r.prefix_len(),
                }),
            }
        }
        this
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_routes_take_the_system_shapes() {
        let settings = NetworkSettings {
            addresses: vec![
                "10.7.0.2/24".parse().unwrap(),
                "fd00::2/64".parse().unwrap(),
            ],
            routes: vec![
                "0.0.0.0/0".parse().unwrap(),
                "10.7.0.9/24".parse().unwrap(),
                "fd00::/48".parse().unwrap(),
            ],
            dns: vec!["10.7.0.1".parse().unwrap()],
            mtu: 1420,
            endpoints: vec![None, Some("192.0.2.7:51820".parse().unwrap())],
        };
        let provider = ProviderSettings::new(&settings);
        assert_eq!(provider.remote_address, "192.0.2.7");
        let v4 = |address: &str, mask: &str| Ipv4Entry {
            address: address.into(),
            mask: mask.into(),
        };
        assert_eq!(provider.ipv4_addresses, [v4("10.7.0.2", "255.255.255.0")]);
        assert_eq!(
            provider.ipv4_routes,
            [v4("0.0.0.0", "0.0.0.0"), v4("10.7.0.0", "255.255.255.0")]
        );
        assert_eq!(
            provider.ipv6_addresses,
            [Ipv6Entry {
                address: "fd00::2".into(),
                prefix: 64
            }]
        );
        assert_eq!(provider.ipv6_routes[0].prefix, 48);
        assert_eq!(provider.dns, ["10.7.0.1"]);
        assert_eq!(provider.dns_match_domains, [""]);
        assert_eq!(provider.mtu, 1420);
        let listening = NetworkSettings {
            endpoints: vec![None],
            dns: Vec::new(),
            ..settings
        };
        let listening = ProviderSettings::new(&listening);
        assert_eq!(listening.remote_address, "127.0.0.1");
        assert!(listening.dns_match_domains.is_empty());
        assert_eq!(mask(32), "255.255.255.255");
    }
}
