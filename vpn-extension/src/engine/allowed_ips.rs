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
}
