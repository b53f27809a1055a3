//! The tunnel most tests set up: wireguard-go in the lab's `a`, our engine
//! in its `b`, each the other's one peer.

use super::{
    EndSpec, Lab, OurEngine, PeerSpec, WgKeys, WireguardGo, A_UNDERLAY, A_UNDERLAY6, B_UNDERLAY,
    B_UNDERLAY6,
};

pub const GO_TUNNEL: &str = "10.77.0.1";
pub const OURS_TUNNEL: &str = "10.77.0.2";
pub const GO_TUNNEL6: &str = "fd10::1";
pub const OURS_TUNNEL6: &str = "fd10::2";
pub const GO_PORT: u16 = 51820;
pub const OURS_PORT: u16 = 51821;

/// The end that is told where the other is. The responder learns the
/// initiator's endpoint from its handshake.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Initiator {
    #[default]
    Ours,
    WireguardGo,
}

/// wireguard-go (`go`, in `lab.a`) and our engine (`ours`, in `lab.b`), up
/// and configured as each other's peer.
pub struct TunnelPair {
    // Fields drop in order: the lab's namespaces kill the tunnel processes
    // before the rest removes their files.
    pub lab: Lab,
    pub go: WireguardGo,
    pub ours: OurEngine,
    /// The public keys of both ends, as `wg` prints them.
    pub go_public: String,
    pub ours_public: String,
    /// Keys, configurations and logs of both ends.
    pub dir: tempfile::TempDir,
}

impl TunnelPair {
    pub fn builder() -> TunnelPairBuilder {
        TunnelPairBuilder::default()
    }
}

/// How a [`TunnelPair`] is set up. Unless told otherwise our engine
/// initiates over the IPv4 underlay, the tunnel carries IPv4 only, and each
/// end has the other's key.
#[derive(Default)]
pub struct TunnelPairBuilder {
    initiator: Initiator,
    tunnel_ipv6: bool,
    underlay_ipv6: bool,
    our_peer_key: Option<String>,
}

impl TunnelPairBuilder {
    pub fn initiator(mut self, initiator: Initiator) -> Self {
        self.initiator = initiator;
        self
    }

    /// The tunnel carries IPv6 too: [`GO_TUNNEL6`] and [`OURS_TUNNEL6`]
    /// beside the IPv4 addresses.
    pub fn tunnel_ipv6(mut self) -> Self {
        self.tunnel_ipv6 = true;
        self
    }

    /// The initiator reaches the responder at its IPv6 underlay address.
    pub fn underlay_ipv6(mut self) -> Self {
        self.underlay_ipv6 = true;
        self
    }

    /// Our engine's peer key is `public` instead of wireguard-go's.
    pub fn our_peer_key(mut self, public: String) -> Self {
        self.our_peer_key = Some(public);
        self
    }

    pub fn start(self) -> TunnelPair {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::new();
        let (go_keys, our_keys) = (WgKeys::generate(), WgKeys::generate());
        let (go_host, our_host) = if self.underlay_ipv6 {
            (format!("[{A_UNDERLAY6}]"), format!("[{B_UNDERLAY6}]"))
        } else {
            (A_UNDERLAY.to_string(), B_UNDERLAY.to_string())
        };
        let go = WireguardGo::start(&EndSpec {
            ns: &lab.a,
            dir: dir.path(),
            keys: &go_keys,
            listen_port: GO_PORT,
            addresses: self.tunnel_addresses(GO_TUNNEL, GO_TUNNEL6, 24, 64),
            peer: PeerSpec {
                public: &our_keys.public,
                allowed_ips: self.tunnel_addresses(OURS_TUNNEL, OURS_TUNNEL6, 32, 128),
                endpoint: (self.initiator == Initiator::WireguardGo)
                    .then(|| format!("{our_host}:{OURS_PORT}")),
            },
        });
        let ours = OurEngine::start(&EndSpec {
            ns: &lab.b,
            dir: dir.path(),
            keys: &our_keys,
            listen_port: OURS_PORT,
            addresses: self.tunnel_addresses(OURS_TUNNEL, OURS_TUNNEL6, 24, 64),
            peer: PeerSpec {
                public: self.our_peer_key.as_deref().unwrap_or(&go_keys.public),
                allowed_ips: self.tunnel_addresses(GO_TUNNEL, GO_TUNNEL6, 32, 128),
                endpoint: (self.initiator == Initiator::Ours)
                    .then(|| format!("{go_host}:{GO_PORT}")),
            },
        });
        TunnelPair {
            lab,
            go,
            ours,
            go_public: go_keys.public,
            ours_public: our_keys.public,
            dir,
        }
    }

    /// `v4/prefix4`, and `v6/prefix6` when the tunnel carries IPv6.
    fn tunnel_addresses(&self, v4: &str, v6: &str, prefix4: u8, prefix6: u8) -> Vec<String> {
        let mut addresses = vec![format!("{v4}/{prefix4}")];
        if self.tunnel_ipv6 {
            addresses.push(format!("{v6}/{prefix6}"));
        }
        addresses
    }
}
