//! Network namespaces for tunnel tests: two hosts joined by veth, each able
//! to run processes (`ip netns exec`) and to run code of the test itself (a
//! thread that enters the namespace), and Debian's `wireguard-go` as the
//! peer nobody here wrote. Everything is removed on drop; addresses exist
//! only inside the namespaces.

use std::{
    fs::File,
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

/// A name unique to this test process and call, short enough for an
/// interface name (15 bytes).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}{}{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct Netns {
    pub name: String,
    children: Mutex<Vec<Child>>,
}

impl Netns {
    pub fn new() -> Self {
        let name = unique("vkns");
        crate::run_ok(
            "ip netns add",
            Command::new("ip").args(["netns", "add", &name]),
        );
        let ns = Self {
            name,
            children: Mutex::new(Vec::new()),
        };
        ns.ip("link set lo up");
        ns
    }

    /// `ip -n NS <args>`, which must succeed.
    pub fn ip(&self, args: &str) {
        crate::run_ok(
            &format!("ip {args}"),
            Command::new("ip")
                .args(["-n", &self.name])
                .args(args.split_whitespace()),
        );
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Starts `command` (from [`Netns::command`]) in the background, its
    /// output going to `log`; it is killed when the namespace is dropped,
    /// or earlier by [`Netns::kill`].
    pub fn spawn(&self, mut command: Command, log: &Path) -> u32 {
        let out = File::create(log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let pid = child.id();
        self.children.lock().unwrap().push(child);
        pid
    }

    /// Kills a process started by [`Netns::spawn`] and waits for it.
    pub fn kill(&self, pid: u32, signal: &str) {
        let mut children = self.children.lock().unwrap();
        if let Some(index) = children.iter().position(|c| c.id() == pid) {
            let mut child = children.remove(index);
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Runs `f` on a thread that has entered this namespace: sockets it
    /// opens live there.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = PathBuf::from("/var/run/netns").join(&self.name);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let ns = File::open(&path).unwrap();
                    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
                        .expect("setns into the test namespace");
                    f()
                })
                .join()
                .expect("namespace thread")
        })
    }
}

impl Default for Netns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for mut child in self.children.lock().unwrap().drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two namespaces joined by veth: `a` is 192.168.77.1 / fd77::1 on `va`,
/// `b` is 192.168.77.2 / fd77::2 on `vb`.
pub struct Lab {
    pub a: Netns,
    pub b: Netns,
}

pub const A_UNDERLAY: &str = "192.168.77.1";
pub const B_UNDERLAY: &str = "192.168.77.2";
pub const A_UNDERLAY6: &str = "fd77::1";
pub const B_UNDERLAY6: &str = "fd77::2";

impl Lab {
    pub fn new() -> Self {
        let (a, b) = (Netns::new(), Netns::new());
        crate::run_ok(
            "veth",
            Command::new("ip").args([
                "link", "add", "va", "netns", &a.name, "type", "veth", "peer", "name", "vb",
                "netns", &b.name,
            ]),
        );
        for (ns, dev, v4, v6) in [
            (&a, "va", A_UNDERLAY, A_UNDERLAY6),
            (&b, "vb", B_UNDERLAY, B_UNDERLAY6),
        ] {
            ns.ip(&format!("addr add {v4}/24 dev {dev}"));
            ns.ip(&format!("addr add {v6}/64 dev {dev} nodad"));
            ns.ip(&format!("link set {dev} up"));
        }
        Self { a, b }
    }
}

impl Default for Lab {
    fn default() -> Self {
        Self::new()
    }
}

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
    pid: std::sync::atomic::AtomicU32,
    log: PathBuf,
    key_file: PathBuf,
    listen_port: u16,
    addresses: Vec<String>,
    peer_args: Vec<String>,
}

/// The one peer of a test tunnel, for either implementation.
pub struct PeerSpec<'a> {
    pub public: &'a str,
    pub allowed_ips: &'a str,
    pub endpoint: Option<String>,
    pub keepalive: Option<u16>,
}

impl WireguardGo {
    pub fn start(
        ns: &Netns,
        dir: &Path,
        keys: &WgKeys,
        listen_port: u16,
        addresses: &[&str],
        peer: &PeerSpec,
    ) -> Self {
        let interface = unique("wgo");
        let key_file = dir.join(format!("{interface}.key"));
        std::fs::write(&key_file, &keys.private).unwrap();
        let mut peer_args: Vec<String> = ["peer", peer.public, "allowed-ips", peer.allowed_ips]
            .map(String::from)
            .into();
        if let Some(endpoint) = &peer.endpoint {
            peer_args.extend(["endpoint".into(), endpoint.clone()]);
        }
        if let Some(keepalive) = peer.keepalive {
            peer_args.extend(["persistent-keepalive".into(), keepalive.to_string()]);
        }
        let go = Self {
            log: dir.join(format!("{interface}.log")),
            interface,
            pid: 0.into(),
            key_file,
            listen_port,
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            peer_args,
        };
        go.restart(ns);
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

/// Pings `target` from `ns` until one reply comes (handshakes are retried
/// only every 5 s, so a single ping is not a test).
pub fn ping_until_reply(ns: &Netns, target: &str, limit: Duration) {
    wait_until(
        &format!("a ping reply from {target} in {}", ns.name),
        limit,
        || {
            ns.command("ping")
                .args(["-c", "1", "-W", "1", target])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap()
                .success()
        },
    );
}

/// Deterministic bytes that TCP must deliver intact.
fn pattern(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Sends `len` bytes over TCP from `client` to a listener in `server` on
/// `addr:port`; returns the SHA-256 of what was sent and of what arrived.
pub fn tcp_transfer(
    server: &Netns,
    client: &Netns,
    addr: IpAddr,
    port: u16,
    len: usize,
) -> (String, String) {
    tcp_transfer_with(server, client, addr, port, len, || {})
}

/// [`tcp_transfer`], running `during` once the connection is up and data
/// flows (to break something mid-transfer).
pub fn tcp_transfer_with(
    server: &Netns,
    client: &Netns,
    addr: IpAddr,
    port: u16,
    len: usize,
    during: impl FnOnce() + Send,
) -> (String, String) {
    let data = pattern(len);
    let sent = hex::encode(Sha256::digest(&data));
    let listener = server.run(|| TcpListener::bind(SocketAddr::new(addr, port)).expect("listen"));
    std::thread::scope(|scope| {
        let receiver = scope.spawn(|| {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            let mut hash = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut n = stream.read(&mut buf).expect("the first bytes within 60 s");
            scope.spawn(during);
            while n > 0 {
                hash.update(&buf[..n]);
                n = stream.read(&mut buf).expect("read within 60 s");
            }
            hex::encode(hash.finalize())
        });
        client.run(|| {
            let mut stream =
                TcpStream::connect_timeout(&SocketAddr::new(addr, port), Duration::from_secs(20))
                    .expect("connect through the tunnel");
            stream.write_all(&data).unwrap();
        });
        (sent, receiver.join().unwrap())
    })
}

/// Sends back every datagram `socket` receives until `stop` is set (the
/// socket has a read timeout, so the flag is seen).
fn echo_until(socket: &UdpSocket, stop: &std::sync::atomic::AtomicBool) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..n], from);
        }
    }
}

/// Sends `count` numbered UDP datagrams from `client` to an echo server in
/// `server`, one at a time with retries; returns how many came back intact.
pub fn udp_echo(server: &Netns, client: &Netns, addr: IpAddr, port: u16, count: u32) -> u32 {
    let socket = server.run(|| UdpSocket::bind(SocketAddr::new(addr, port)).expect("bind"));
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| echo_until(&socket, &stop));
        let echoed = client.run(|| {
            let bind = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let socket = UdpSocket::bind(bind).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut echoed = 0;
            for i in 0..count {
                let message = pattern(100 + (i as usize % 1000));
                let message = [&i.to_be_bytes()[..], &message].concat();
                for _attempt in 0..5 {
                    socket
                        .send_to(&message, SocketAddr::new(addr, port))
                        .unwrap();
                    let mut buf = [0u8; 2048];
                    if let Ok(n) = socket.recv(&mut buf) {
                        if buf[..n] == message[..] {
                            echoed += 1;
                            break;
                        }
                    }
                }
            }
            echoed
        });
        stop.store(true, Ordering::Relaxed);
        echoed
    })
}

/// Our engine, `vpn-extension up`, in a namespace.
pub struct OurEngine {
    pub interface: String,
    pub pid: u32,
    pub log: PathBuf,
}

impl OurEngine {
    pub fn start(
        ns: &Netns,
        dir: &Path,
        keys: &WgKeys,
        listen_port: u16,
        addresses: &str,
        peer: &PeerSpec,
    ) -> Self {
        Self::start_binary(
            crate::binary("vpn-extension"),
            ns,
            dir,
            keys,
            listen_port,
            addresses,
            peer,
        )
    }

    /// [`OurEngine::start`] with another build of `vpn-extension` (the
    /// benchmark runs the release build).
    pub fn start_binary(
        binary: &Path,
        ns: &Netns,
        dir: &Path,
        keys: &WgKeys,
        listen_port: u16,
        addresses: &str,
        peer: &PeerSpec,
    ) -> Self {
        let interface = unique("vk");
        let mut config = format!(
            "[Interface]\nPrivateKey = {}\nAddress = {addresses}\nListenPort = {listen_port}\n\
             [Peer]\nPublicKey = {}\nAllowedIPs = {}\n",
            keys.private, peer.public, peer.allowed_ips
        );
        if let Some(endpoint) = &peer.endpoint {
            config += &format!("Endpoint = {endpoint}\n");
        }
        if let Some(keepalive) = peer.keepalive {
            config += &format!("PersistentKeepalive = {keepalive}\n");
        }
        let config_path = dir.join(format!("{interface}.conf"));
        std::fs::write(&config_path, config).unwrap();
        let log = dir.join(format!("{interface}.log"));
        let mut command = ns.command(binary);
        command
            .arg("up")
            .arg(&config_path)
            .args(["--interface", &interface])
            .env("VPN_LOG", "info");
        let pid = ns.spawn(command, &log);
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

/// What a steady stream through the tunnel saw.
#[derive(Debug)]
pub struct StreamReport {
    pub sent: u64,
    pub echoed: u64,
    /// The longest time without an echo, from the first echo to the end.
    pub max_gap: Duration,
    /// When, from the start, the longest gap began.
    pub max_gap_at: Duration,
}

/// Sends a datagram every `interval` for `duration` from `client` to an echo
/// server in `server`, and measures the longest silence in the echoes.
pub fn udp_stream(
    server: &Netns,
    client: &Netns,
    addr: IpAddr,
    port: u16,
    duration: Duration,
    interval: Duration,
) -> StreamReport {
    let echo = server.run(|| UdpSocket::bind(SocketAddr::new(addr, port)).expect("bind"));
    echo.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let socket = client.run(|| {
        let socket = UdpSocket::bind(if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })
        .unwrap();
        socket.connect(SocketAddr::new(addr, port)).unwrap();
        socket
    });
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| echo_until(&echo, &done));
        let receiver = scope.spawn(|| {
            let (mut echoed, mut last, mut max_gap, mut max_gap_at) =
                (0u64, None::<Instant>, Duration::ZERO, Duration::ZERO);
            let mut buf = [0u8; 2048];
            while !done.load(Ordering::Relaxed) {
                if socket.recv(&mut buf).is_ok() {
                    let now = Instant::now();
                    if let Some(last) = last {
                        if now - last > max_gap {
                            max_gap = now - last;
                            max_gap_at = last - start;
                        }
                    }
                    last = Some(now);
                    echoed += 1;
                }
            }
            (echoed, max_gap, max_gap_at)
        });
        let mut sent = 0u64;
        let mut next = Instant::now();
        while start.elapsed() < duration {
            let _ = socket.send(&sent.to_be_bytes());
            sent += 1;
            next += interval;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        std::thread::sleep(Duration::from_millis(500));
        done.store(true, Ordering::Relaxed);
        let (echoed, max_gap, max_gap_at) = receiver.join().unwrap();
        StreamReport {
            sent,
            echoed,
            max_gap,
            max_gap_at,
        }
    })
}
