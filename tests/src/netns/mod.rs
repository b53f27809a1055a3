//! Network namespaces for tunnel tests: two hosts joined by veth, each able
//! to run processes (`ip netns exec`) and to run code of the test itself (a
//! thread that enters the namespace), and Debian's `wireguard-go` as the
//! peer nobody here wrote. Everything is removed on drop; addresses exist
//! only inside the namespaces.

use std::time::{Duration, Instant};

mod attacker;
mod lab;
mod peers;
mod traffic;
mod tunnel_pair;

pub use attacker::{
    forged_initiation, Attacker, FloodReport, ATTACKER_UNDERLAY, COOKIE_REPLY, INITIATION,
    VICTIM_UNDERLAY,
};
pub use lab::{unique, Lab, Netns, A_UNDERLAY, A_UNDERLAY6, B_UNDERLAY, B_UNDERLAY6};
pub use peers::{EndSpec, OurEngine, PeerSpec, WgKeys, WireguardGo};
pub use traffic::{
    ping_until_reply, tcp_transfer, tcp_transfer_with, udp_echo, udp_stream, StreamReport,
};
pub use tunnel_pair::{
    Initiator, TunnelPair, TunnelPairBuilder, GO_PORT, GO_TUNNEL, GO_TUNNEL6, OURS_PORT,
    OURS_TUNNEL, OURS_TUNNEL6,
};

/// Polls `done` until it holds or `limit` passes (then panics naming `what`).
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
