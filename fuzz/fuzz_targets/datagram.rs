//! The datagram path of the tunnel (which peer, open it, may its source
//! send), with a fixed set of two peers, on any bytes from any address.
//! Half the inputs get a valid mac1 for our key, as anyone who knows it can
//! compute, so they reach the handshake code past the rate limiter.
//!
//! No panic; no input opens to a packet for the device (nothing the fuzzer
//! makes carries a session's authentication tag); and whatever the engine
//! answers goes back to the sender, never elsewhere.
#![no_main]

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::OnceLock,
};

use blake2::{digest::consts::U16, Blake2s256, Blake2sMac, Digest};
use hmac::Mac;
use libfuzzer_sys::fuzz_target;
use vpn_extension::engine::{peer_set::PeerSet, TunnelConfig};

const CONFIG: &str = "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n\
    [Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nAllowedIPs = 10.0.0.0/24\n\
    Endpoint = 192.0.2.1:51820\n\
    [Peer]\nPublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\nAllowedIPs = fd00::/64, 10.0.1.0/24\n";
/// Our public key (`wg pubkey` of the private key above).
const OURS: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";

fn peers() -> &'static PeerSet {
    static PEERS: OnceLock<PeerSet> = OnceLock::new();
    PEERS.get_or_init(|| {
        let config: TunnelConfig = CONFIG.parse().unwrap();
        PeerSet::new(&config, &[Some("192.0.2.1:51820".parse().unwrap()), None])
    })
}

/// HASH("mac1----" || our public key), computed once.
fn mac1_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        use base64::{engine::general_purpose::STANDARD, Engine as _};
        let ours = STANDARD.decode(OURS).unwrap();
        let mut hash = Blake2s256::new();
        hash.update(b"mac1----");
        hash.update(&ours);
        hash.finalize().into()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let from = match control & 3 {
        0 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 51820),
        1 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 4500),
        _ => SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2)),
            51820,
        ),
    };
    let mut datagram = rest.to_vec();
    // Sign mac1 over all but the last 32 bytes (mac1 and mac2).
    if control & 4 != 0 && datagram.len() >= 32 {
        let at = datagram.len() - 32;
        let mut mac = <Blake2sMac<U16> as Mac>::new_from_slice(mac1_key()).unwrap();
        mac.update(&datagram[..at]);
        datagram[at..at + 16].copy_from_slice(&mac.finalize().into_bytes());
    }
    let mut scratch = vec![0u8; 256];
    let mut out = vec![0u8; 65_536 + 32];
    let received = peers().receive(&datagram, from, &mut scratch, &mut out, &mut |_, to| {
        assert_eq!(to, from, "an answer went to {to}, not to the sender {from}");
    });
    assert!(
        received.is_none(),
        "unauthenticated bytes opened to a packet: {received:?}"
    );
});
