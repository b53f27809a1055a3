//! AllowedIPs routing: which peer a packet to an address goes to (longest
//! prefix match), and whether a packet from a peer may carry its source
//! address (the same table, read the other way).

use std::net::IpAddr;

use ip_network::IpNetwork;
use ip_network_table::IpNetworkTable;
use ipnet::IpNet;

pub struct AllowedIps<T> {
    table: IpNetworkTable<T>,
}

impl<T> Default for AllowedIps<T> {
    fn default() -> Self {
        Self {
            table: IpNetworkTable::new(),
        }
    }
}

impl<T: PartialEq> AllowedIps<T> {
    /// Routes `net` to `value`. As with `wg`, a network listed by two peers
    /// belongs to the one inserted last.
    pub fn insert(&mut self, net: IpNet, value: T) {
        let net = net.trunc();
        let network = IpNetwork::new(net.addr(), net.prefix_len())
            .expect("a truncated IpNet is a valid network");
        self.table.insert(network, value);
    }

    pub fn lookup(&self, addr: IpAddr) -> Option<&T> {
        self.table.longest_match(addr).map(|(_, value)| value)
    }

    /// Whether `value` may send from `addr`.
    pub fn allows(&self, addr: IpAddr, value: &T) -> bool {
        self.lookup(addr) == Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_for_both_families() {
        let mut table = AllowedIps::default();
        table.insert("0.0.0.0/0".parse().unwrap(), 0);
        table.insert("10.0.0.0/8".parse().unwrap(), 1);
        table.insert("10.1.2.3/24".parse().unwrap(), 2);
        table.insert("fd00::/8".parse().unwrap(), 3);
        table.insert("fd00:1::/32".parse().unwrap(), 4);
        assert_eq!(table.lookup(ip("192.0.2.1")), Some(&0));
        assert_eq!(table.lookup(ip("10.9.9.9")), Some(&1));
        assert_eq!(table.lookup(ip("10.1.2.200")), Some(&2));
        assert_eq!(table.lookup(ip("fd00:1::5")), Some(&4));
        assert_eq!(table.lookup(ip("fd42::5")), Some(&3));
        assert_eq!(table.lookup(ip("2001:db8::1")), None);
        assert!(table.allows(ip("10.1.2.9"), &2));
        assert!(!table.allows(ip("10.1.3.9"), &2));
    }

    #[test]
    fn the_last_peer_to_claim_a_network_owns_it() {
        let mut table = AllowedIps::default();
        table.insert("10.0.0.0/24".parse().unwrap(), 1);
        table.insert("10.0.0.0/24".parse().unwrap(), 2);
        assert_eq!(table.lookup(ip("10.0.0.1")), Some(&2));
    }

    /// Against the simplest matcher there is: every network that contains
    /// the address, the longest prefix winning, the last insertion of a
    /// network winning over an earlier one.
    fn naive(routes: &[(IpNet, usize)], addr: IpAddr) -> Option<usize> {
        let mut best: Option<(u8, usize)> = None;
        for (net, value) in routes {
            let net = net.trunc();
            if net.contains(&addr) && best.is_none_or(|(len, _)| net.prefix_len() >= len) {
                best = Some((net.prefix_len(), *value));
            }
        }
        best.map(|(_, value)| value)
    }

    fn net() -> impl proptest::strategy::Strategy<Value = IpNet> {
        use proptest::prelude::*;
        // A few distinct first bytes so that networks overlap often.
        prop_oneof![
            (0u8..4, any::<[u8; 3]>(), 0u8..=32).prop_map(|(a, rest, len)| {
                let addr = std::net::Ipv4Addr::new(a, rest[0], rest[1], rest[2]);
                IpNet::new(addr.into(), len).unwrap()
            }),
            (0u16..4, any::<[u16; 7]>(), 0u8..=128).prop_map(|(a, rest, len)| {
                let addr = std::net::Ipv6Addr::new(
                    a, rest[0], rest[1], rest[2], rest[3], rest[4], rest[5], rest[6],
                );
                IpNet::new(addr.into(), len).unwrap()
            }),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn lookups_match_a_naive_longest_prefix_matcher(
            routes in proptest::collection::vec((net(), 0usize..8), 0..24),
            probes in proptest::collection::vec(net(), 1..32),
        ) {
            let mut table = AllowedIps::default();
            for (net, value) in &routes {
                table.insert(*net, *value);
            }
            // Probe the routes' own addresses too: the edges are where
            // matchers go wrong.
            let addrs = probes
                .iter()
                .chain(routes.iter().map(|(net, _)| net))
                .flat_map(|net| [net.addr(), net.network(), net.broadcast()]);
            for addr in addrs {
                proptest::prop_assert_eq!(table.lookup(addr).copied(), naive(&routes, addr), "{}", addr);
            }
        }
    }
}
