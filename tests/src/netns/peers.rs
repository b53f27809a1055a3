//! The two WireGuard implementations a tunnel test runs: Debian's
//! `wireguard-go` and our engine, each with its key pair and its one peer.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use super::{unique, wait_until, Netns};

/// A key pair from `wg genkey | wg pubkey`.
pub struct WgKeys {
    pub private: String,
    pub public: String,
}

impl WgKeys {
    pub fn generate() -> Self {
        let private = crate::run_ok("wg genkey", Command::new("wg").arg("genkey"));
        let private = String::from_utf8(private.stdout)
            .unwrap()
            .trim()
            .to_string();
        let output = Command::new("sh")
            .args(["-c", &format!("echo {private} | wg pubkey")])
            .output()
            .unwrap();
        assert!(output.status.success());
        Self {
            private,
            public: String::from_utf8(output.stdout).unwrap().trim().to_string(),
        }
    }
}

/// `wireguard-go -f` in a namespace, configured with `wg set` and given
/// tunnel addresses.
pub struct WireguardGo {
    pub interface: String,
    pid: AtomicU32,
    log: PathBuf,
    key_file: PathBuf,
    listen_port: u16,
    addresses: Vec<String>,
    peer_args: Vec<String>,
}

/// One end of a test tunnel, for either implementation.
pub struct EndSpec<'a> {
    pub ns: &'a Netns,
    /// Where its key, configuration and log are written.
    pub dir: &'a Path,
    pub keys: &'a WgKeys,
    pub listen_port: u16,
    /// Tunnel addresses with their prefix lengths.
    pub addresses: Vec<String>,
    pub peer: PeerSpec<'a>,
}

/// The one peer of a test tunnel, for either implementation.
pub struct PeerSpec<'a> {
    pub public: &'a str,
    pub allowed_ips: Vec<String>,
    pub endpoint: Option<String>,
}

impl WireguardGo {
    pub fn start(end: &EndSpec) -> Self {
        let interface = unique("wgo");
        let key_file = end.dir.join(format!("{interface}.key"));
        std::fs::write(&key_file, &end.keys.private).unwrap();
        let peer = &end.peer;
        let mut peer_args: Vec<String> = vec![
            "peer".into(),
            peer.public.into(),
            "allowed-ips".into(),
            peer.allowed_ips.join(","),
        ];
        if let Some(endpoint) = &peer.endpoint {
            peer_args.extend(["endpoint".into(), endpoint.clone()]);
        }
        let go = Self {
            log: end.dir.join(format!("{interface}.log")),
            interface,
            pid: 0.into(),
            key_file,
            listen_port: end.listen_port,
            addresses: end.addresses.clone(),
            peer_args,
        };
        go.restart(end.ns);
        go
    }

    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }

    /// Starts (again, after a kill) with the same interface, key, port,
    /// peer and addresses, and no memory of earlier sessions.
    pub fn restart(&self, ns: &Netns) {
        let mut command = ns.command("wireguard-go");
        command.args(["-f", &self.interface]);
        self.pid
            .store(ns.spawn(command, &self.log), Ordering::Relaxed);
        // Its UAPI socket appears when it is ready for `wg set`.
        let socket = PathBuf::from(format!("/var/run/wireguard/{}.sock", self.interface));
        wait_until(
            "wireguard-go's control socket",
            Duration::from_secs(10),
            || std::os::unix::net::UnixStream::connect(&socket).is_ok(),
        );
        crate::run_ok(
            "wg set",
            ns.command("wg")
                .args(["set", &self.interface, "private-key"])
                .arg(&self.key_file)
                .args(["listen-port", &self.listen_port.to_string()])
                .args(&self.peer_args),
        );
        for address in &self.addresses {
            ns.ip(&format!("addr add {address} dev {}", self.interface));
        }
        ns.ip(&format!("link set {} up", self.interface));
    }

    /// `wg show IF FIELD` for the one peer: the value after its key.
    fn show(&self, ns: &Netns, field: &str) -> String {
        let output = crate::run_ok(
            &format!("wg show {field}"),
            ns.command("wg").args(["show", &self.interface, field]),
        );
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string()
    }

    /// Seconds since the Unix epoch of the peer's last handshake (0: none).
    pub fn latest_handshake(&self, ns: &Netns) -> u64 {
        self.show(ns, "latest-handshakes").parse().unwrap_or(0)
    }

    /// The peer's endpoint as wireguard-go last saw it.
    pub fn endpoint(&self, ns: &Netns) -> String {
        self.show(ns, "endpoints")
    }
}

impl Drop for WireguardGo {
    /// The namespace kills the process; its control socket lives outside
    /// any namespace and would outlive it.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", self.interface));
    }
}

/// Our engine, `vpn-extension up`, in a namespace.
pub struct OurEngine {
    pub interface: String,
    pub pid: u32,
    pub log: PathBuf,
}

impl OurEngine {
    pub fn start(end: &EndSpec) -> Self {
        Self::start_binary(crate::binary("vpn-extension"), end)
    }

    /// [`OurEngine::start`] with another build of `vpn-extension` (the
    /// benchmark runs the release build).
    pub fn start_binary(binary: &Path, end: &EndSpec) -> Self {
        let interface = unique("vk");
        let peer = &end.peer;
        let mut config = format!(
            "[Interface]\nPrivateKey = {}\nAddress = {}\nListenPort = {}\n\
             [Peer]\nPublicKey = {}\nAllowedIPs = {}\n",
            end.keys.private,
            end.addresses.join(", "),
            end.listen_port,
            peer.public,
            peer.allowed_ips.join(", ")
        );
        if let Some(endpoint) = &peer.endpoint {
            config += &format!("Endpoint = {endpoint}\n");
        }
        let config_path = end.dir.join(format!("{interface}.conf"));
        std::fs::write(&config_path, config).unwrap();
        let log = end.dir.join(format!("{interface}.log"));
        let mut command = end.ns.command(binary);
        command
            .arg("up")
            .arg(&config_path)
            .args(["--interface", &interface])
            .env("VPN_LOG", "info");
        let pid = end.ns.spawn(command, &log);
        wait_until(
            "vpn-extension to bring its interface up",
            Duration::from_secs(10),
            || std::fs::read_to_string(&log).is_ok_and(|l| l.contains(" up, listening")),
        );
        Self {
            interface,
            pid,
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
