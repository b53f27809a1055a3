//! Traffic through a tunnel, judged at the other end: pings, TCP transfers
//! checked by hash, and UDP echoes.

use std::{
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    process::Stdio,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

use super::{wait_until, Netns};

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
fn echo_until(socket: &UdpSocket, stop: &AtomicBool) {
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
    let stop = AtomicBool::new(false);
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
    let done = AtomicBool::new(false);
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
