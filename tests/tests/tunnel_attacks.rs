//! Our engine under attack from a third host that knows only public keys,
//! with Debian's `wireguard-go` as the real peer. Needs root, as the other
//! namespace tests do.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use system_tests::netns::{
    ping_until_reply, tcp_transfer, udp_stream, Attacker, TunnelPair, ATTACKER_UNDERLAY, GO_TUNNEL,
    OURS_PORT, VICTIM_UNDERLAY,
};

fn key(public: &str) -> [u8; 32] {
    STANDARD.decode(public).unwrap().try_into().unwrap()
}

/// A flood of initiations that name wireguard-go, from an address that is
/// not its own, while traffic flows. Beyond the rate limit they are answered
/// with cookies; none of them may move wireguard-go's endpoint to the
/// attacker, which a cookie reply sent from inside boringtun once did about
/// once a second.
#[test]
fn forged_initiations_never_move_the_peer_to_the_attacker() {
    let pair = TunnelPair::builder().start();
    let lab = &pair.lab;
    ping_until_reply(&lab.b, GO_TUNNEL, Duration::from_secs(20));
    let attacker = Attacker::beside(&lab.b);
    let target = SocketAddr::new(VICTIM_UNDERLAY.parse().unwrap(), OURS_PORT);
    let go: IpAddr = GO_TUNNEL.parse().unwrap();

    let (flood, stream, transfer) = std::thread::scope(|scope| {
        let flood = scope.spawn(|| {
            attacker.flood_initiations(
                target,
                &key(&pair.ours_public),
                &key(&pair.go_public),
                Duration::from_secs(6),
                1_000,
            )
        });
        let transfer = scope.spawn(|| tcp_transfer(&lab.a, &lab.b, go, 7400, 64 << 20));
        let stream = udp_stream(
            &lab.a,
            &lab.b,
            go,
            7401,
            Duration::from_secs(5),
            Duration::from_millis(5),
        );
        (flood.join().unwrap(), stream, transfer.join().unwrap())
    });

    let log = pair.ours.log();
    assert!(
        flood.cookie_replies > 0,
        "the flood never reached the rate limit, so it proves nothing: {flood:?}"
    );
    assert!(
        flood.other.is_empty(),
        "the engine sent the attacker {} datagrams as if it were the peer (type, length): {:?}",
        flood.other.len(),
        &flood.other[..flood.other.len().min(10)]
    );
    assert!(
        !log.contains(&format!("from={ATTACKER_UNDERLAY}")),
        "the peer's endpoint moved to the attacker:\n{log}"
    );
    assert_eq!(transfer.0, transfer.1, "the transfer was corrupted");
    // Datagrams beside a bulk TCP transfer may be dropped; an outage may not.
    assert!(
        stream.echoed * 10 >= stream.sent * 9 && stream.max_gap < Duration::from_millis(500),
        "the tunnel stalled during the flood: {stream:?}"
    );
}
