//! Our engine (`vpn-extension up`) against Debian's `wireguard-go`, in two
//! network namespaces joined by veth: handshakes both ways, ping, TCP and
//! UDP through the tunnel over IPv4 and IPv6, and the faults a real network
//! brings (a peer restarting, a wrong key, roaming, packet loss).
//! Needs root, /dev/net/tun, wireguard-go, wireguard-tools and iproute2.

use std::{net::IpAddr, time::Duration};

use system_tests::netns::{
    ping_until_reply, tcp_transfer, tcp_transfer_with, udp_echo, wait_until, Initiator, TunnelPair,
    WgKeys, A_UNDERLAY, A_UNDERLAY6, B_UNDERLAY, GO_PORT, GO_TUNNEL, GO_TUNNEL6, OURS_PORT,
    OURS_TUNNEL, OURS_TUNNEL6,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const HANDSHAKE_LIMIT: Duration = Duration::from_secs(20);

fn assert_transfers(pair: &TunnelPair, port: u16) {
    let (lab, mb) = (&pair.lab, 1 << 20);
    let (sent, got) = tcp_transfer(&lab.a, &lab.b, ip(GO_TUNNEL), port, 16 * mb);
    assert_eq!(sent, got, "TCP ours -> wireguard-go corrupted");
    let (sent, got) = tcp_transfer(&lab.b, &lab.a, ip(OURS_TUNNEL), port + 1, 16 * mb);
    assert_eq!(sent, got, "TCP wireguard-go -> ours corrupted");
    let (sent, got) = tcp_transfer(&lab.a, &lab.b, ip(GO_TUNNEL6), port + 2, 4 * mb);
    assert_eq!(sent, got, "TCP over IPv6 corrupted");
    assert_eq!(udp_echo(&lab.a, &lab.b, ip(GO_TUNNEL), port + 3, 200), 200);
    assert_eq!(
        udp_echo(&lab.b, &lab.a, ip(OURS_TUNNEL6), port + 4, 200),
        200
    );
}

#[test]
fn ours_initiates_to_wireguard_go() {
    let pair = TunnelPair::builder().tunnel_ipv6().start();
    let lab = &pair.lab;
    ping_until_reply(&lab.b, GO_TUNNEL, HANDSHAKE_LIMIT);
    ping_until_reply(&lab.a, OURS_TUNNEL, HANDSHAKE_LIMIT);
    ping_until_reply(&lab.b, GO_TUNNEL6, HANDSHAKE_LIMIT);
    ping_until_reply(&lab.a, OURS_TUNNEL6, HANDSHAKE_LIMIT);
    assert!(pair.go.latest_handshake(&lab.a) > 0);
    assert_eq!(
        pair.go.endpoint(&lab.a),
        format!("{B_UNDERLAY}:{OURS_PORT}")
    );
    assert_transfers(&pair, 7000);
    assert!(
        pair.ours.log().contains("to=connected"),
        "{}",
        pair.ours.log()
    );
}

#[test]
fn wireguard_go_initiates_to_ours_over_ipv6() {
    let pair = TunnelPair::builder()
        .initiator(Initiator::WireguardGo)
        .tunnel_ipv6()
        .underlay_ipv6()
        .start();
    let lab = &pair.lab;
    ping_until_reply(&lab.a, OURS_TUNNEL, HANDSHAKE_LIMIT);
    ping_until_reply(&lab.b, GO_TUNNEL, HANDSHAKE_LIMIT);
    // We learnt wireguard-go's IPv6 endpoint from its handshake.
    assert!(
        pair.ours
            .log()
            .contains(&format!("from=[{A_UNDERLAY6}]:{GO_PORT}")),
        "{}",
        pair.ours.log()
    );
    assert_transfers(&pair, 7100);
}

#[test]
fn a_wrong_peer_key_gets_no_session() {
    // Not wireguard-go's key: our handshakes are for someone else.
    let stranger = WgKeys::generate();
    let pair = TunnelPair::builder().our_peer_key(stranger.public).start();
    let lab = &pair.lab;
    let ping = lab
        .b
        .command("ping")
        .args(["-c", "6", "-i", "1", "-W", "1", GO_TUNNEL])
        .output()
        .unwrap();
    assert!(
        !ping.status.success(),
        "a ping went through with the wrong key"
    );
    assert_eq!(pair.go.latest_handshake(&lab.a), 0);
    let log = pair.ours.log();
    assert!(
        log.contains("tunnel starting") && !log.contains("to=connected"),
        "{log}"
    );
}

#[test]
fn a_restarted_peer_mid_transfer_is_recovered() {
    let pair = TunnelPair::builder().tunnel_ipv6().start();
    let lab = &pair.lab;
    ping_until_reply(&lab.b, GO_TUNNEL, HANDSHAKE_LIMIT);
    // wireguard-go dies mid-transfer and comes back with the same key and
    // address but no memory of the session. It does not know where we are,
    // so the recovery is ours to make.
    let (sent, got) = tcp_transfer_with(&lab.a, &lab.b, ip(GO_TUNNEL), 7200, 48 << 20, || {
        lab.a.kill(pair.go.pid(), "-KILL");
        std::thread::sleep(Duration::from_millis(500));
        pair.go.restart(&lab.a);
    });
    assert_eq!(sent, got, "the transfer across the restart was corrupted");
    assert!(pair.go.latest_handshake(&lab.a) > 0);
}

#[test]
fn endpoints_roam_both_ways() {
    let pair = TunnelPair::builder().tunnel_ipv6().start();
    let lab = &pair.lab;
    ping_until_reply(&lab.b, GO_TUNNEL, HANDSHAKE_LIMIT);

    // Our host moves to a new address: wireguard-go follows us. (The old
    // address goes first: deleting a primary address takes its secondaries.)
    lab.b.ip(&format!("addr del {B_UNDERLAY}/24 dev vb"));
    lab.b.ip("addr add 192.168.77.3/24 dev vb");
    ping_until_reply(&lab.b, GO_TUNNEL, HANDSHAKE_LIMIT);
    assert_eq!(
        pair.go.endpoint(&lab.a),
        format!("192.168.77.3:{OURS_PORT}")
    );
    ping_until_reply(&lab.a, OURS_TUNNEL, HANDSHAKE_LIMIT);

    // wireguard-go's host moves: we follow it (our configured endpoint is gone).
    lab.a.ip(&format!("addr del {A_UNDERLAY}/24 dev va"));
    lab.a.ip("addr add 192.168.77.4/24 dev va");
    ping_until_reply(&lab.a, OURS_TUNNEL, HANDSHAKE_LIMIT);
    wait_until(
        "our engine to log the new endpoint",
        Duration::from_secs(5),
        || {
            pair.ours
                .log()
                .contains(&format!("from=192.168.77.4:{GO_PORT}"))
        },
    );
    ping_until_reply(&lab.b, GO_TUNNEL, HANDSHAKE_LIMIT);
}

#[test]
fn packet_loss_is_survived() {
    let pair = TunnelPair::builder().tunnel_ipv6().start();
    let lab = &pair.lab;
    // 5% of the datagrams arriving on each side are lost. (`tc netem` would
    // do the same, but this kernel has no sch_netem; nftables' random
    // number generator drops in the same place, on input from the wire.)
    for (ns, dev) in [(&lab.a, "va"), (&lab.b, "vb")] {
        for rule in [
            "add table inet loss".to_string(),
            "add chain inet loss input { type filter hook input priority 0; }".to_string(),
            format!("add rule inet loss input iifname {dev} numgen random mod 100 < 5 drop"),
        ] {
            system_tests::run_ok("nft", ns.command("nft").args(rule.split_whitespace()));
        }
    }
    ping_until_reply(&lab.b, GO_TUNNEL, HANDSHAKE_LIMIT);
    let (sent, got) = tcp_transfer(&lab.a, &lab.b, ip(GO_TUNNEL), 7300, 4 << 20);
    assert_eq!(sent, got);
    let (sent, got) = tcp_transfer(&lab.b, &lab.a, ip(OURS_TUNNEL), 7301, 4 << 20);
    assert_eq!(sent, got);
}
