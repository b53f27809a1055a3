//! Five minutes of continuous traffic between our engine and wireguard-go,
//! across two rekeys (WireGuard rekeys every 120 s and its timers are fixed
//! by the protocol, so this cannot be shortened honestly). Catches sessions
//! that go deaf after a handshake, as boringtun issue #495 reports for 0.7.1.
//! `SOAK_SECONDS` shortens it for a quick local run; CI runs the full time.

use std::{io::Write, time::Duration};

use system_tests::netns::{
    ping_until_reply, udp_stream, Initiator, TunnelPair, GO_TUNNEL, OURS_TUNNEL,
};

/// The shortest soak that spans a rekey (WireGuard rekeys every 120 s).
const REKEY_CHECK_SECONDS: u64 = 130;

/// One soak: wireguard-go in `a`, ours in `b`; `initiator` knows the
/// other's endpoint (and so starts the handshakes).
fn soak(seconds: u64, initiator: Initiator) {
    let TunnelPair { lab, go, ours, .. } = &TunnelPair::builder().initiator(initiator).start();
    let ours_initiates = initiator == Initiator::Ours;
    let (client, server) = if ours_initiates {
        (&lab.b, &lab.a)
    } else {
        (&lab.a, &lab.b)
    };
    let target = if ours_initiates {
        GO_TUNNEL
    } else {
        OURS_TUNNEL
    };
    ping_until_reply(client, target, Duration::from_secs(20));
    let first_handshake = go.latest_handshake(&lab.a);

    let report = udp_stream(
        server,
        client,
        target.parse().unwrap(),
        9000,
        Duration::from_secs(seconds),
        Duration::from_millis(20),
    );
    let who = if ours_initiates {
        "ours"
    } else {
        "wireguard-go"
    };
    eprintln!("soak over {seconds} s, {who} initiating: {report:?}");
    let log = ours.log();
    assert!(
        report.max_gap < Duration::from_secs(1),
        "{who} initiating: the tunnel stalled for {:?} at {:?}:\n{log}",
        report.max_gap,
        report.max_gap_at
    );
    assert!(
        report.echoed * 100 >= report.sent * 99,
        "{who} initiating: {report:?}"
    );
    if seconds >= REKEY_CHECK_SECONDS {
        let last_handshake = go.latest_handshake(&lab.a);
        assert!(
            last_handshake >= first_handshake + 100,
            "{who} initiating: no rekey in {seconds} s (handshakes at {first_handshake} and {last_handshake})"
        );
    } else {
        // Straight to the process's stderr, past libtest's capture, so the
        // line shows even when the test passes.
        let _ = writeln!(
            std::io::stderr(),
            "tunnel_soak: REKEY CHECK SKIPPED ({who} initiating): SOAK_SECONDS={seconds} is under \
             {REKEY_CHECK_SECONDS} s, before WireGuard's 120 s rekey; this run checked traffic only, \
             not that the tunnel survives a rekey"
        );
    }
    assert!(!log.contains("to=reconnecting"), "{log}");
}

/// Both roles at once: boringtun as the initiator of every rekey, and as
/// the responder to wireguard-go's.
#[test]
fn five_minutes_across_rekeys_without_a_stall() {
    let seconds: u64 = match std::env::var("SOAK_SECONDS") {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("SOAK_SECONDS={s:?} is not a number of seconds")),
        Err(_) => 300,
    };
    std::thread::scope(|scope| {
        let ours = scope.spawn(|| soak(seconds, Initiator::Ours));
        let theirs = scope.spawn(|| soak(seconds, Initiator::WireguardGo));
        let (ours, theirs) = (ours.join(), theirs.join());
        if let Err(panic) = ours.and(theirs) {
            std::panic::resume_unwind(panic);
        }
    });
}
