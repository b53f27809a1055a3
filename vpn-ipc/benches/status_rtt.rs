//! Round-trip time of `Status` over the Unix-socket transport: 10,000
//! requests on one connection after a warm-up, p50/p99/max printed.
//! Target: p99 under 1 ms. In the same run, the round trip of a bare
//! Unix-socket echo of a frame the same size (the floor any transport over
//! this socket pays on this machine), and the ratio of the two: what the
//! framing, JSON and session rules cost, whatever the machine's speed.
//!
//! `cargo bench -p vpn-ipc --bench status_rtt`

use std::{
    io::{Read, Write},
    os::unix::net::{UnixListener, UnixStream},
    sync::Arc,
    time::{Duration, Instant},
};

use vpn_ipc::{
    message::{Request, RequestEnvelope, Response, TunnelState, TunnelStatus},
    negotiation::SUPPORTED,
    session::{ExtensionInfo, Service},
    transport::ControlClient,
    unix::{Client, Server, ServerConfig},
};

const REQUESTS: usize = 10_000;

struct Idle;

impl Service for Idle {
    fn handle(&self, _: &Request) -> Response {
        Response::Status(TunnelStatus {
            state: TunnelState::Connected,
            profile: Some("home".into()),
            last_handshake: Some(1_700_000_000),
            ..TunnelStatus::default()
        })
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.sock");
    let server = Server::bind(
        &ServerConfig {
            path: path.clone(),
            allowed_uids: vec![nix::unistd::geteuid().as_raw()],
            anyone_may_connect: false,
            controllers: Vec::new(),
            socket_owner: None,
            max_connections: 8,
            idle_timeout: Duration::from_secs(30),
        },
        ExtensionInfo {
            protocols: SUPPORTED,
            version: "1.0.0".into(),
            build: "1.0.0".into(),
        },
        Arc::new(Idle),
    )
    .unwrap();
    std::thread::spawn(move || server.run());

    let mut client = Client::connect(&path, Duration::from_secs(5)).unwrap();
    client.hello("1.0.0", "1.0.0").unwrap();
    for _ in 0..1_000 {
        client.request(Request::Status).unwrap();
    }
    let mut times = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let start = Instant::now();
        let reply = client.request(Request::Status).unwrap();
        times.push(start.elapsed());
        assert!(matches!(reply, Response::Status(_)));
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "Status round trip over the Unix socket, {REQUESTS} requests: p50 {:?}, p99 {:?}, max {:?} (target p99 < 1 ms)",
        at(0.50),
        at(0.99),
        times[times.len() - 1]
    );

    let frame_len = RequestEnvelope {
        id: 1,
        request: Request::Status,
    }
    .to_json()
    .len();
    let echo = raw_echo_times(&dir.path().join("echo.sock"), frame_len);
    let echo_at = |q: f64| echo[((echo.len() as f64 * q) as usize).min(echo.len() - 1)];
    println!(
        "Bare Unix-socket echo of a {frame_len}-byte frame, {REQUESTS} round trips: p50 {:?}, p99 {:?}, max {:?}",
        echo_at(0.50),
        echo_at(0.99),
        echo[echo.len() - 1]
    );
    println!(
        "Status / bare echo: p50 {:.1}x, p99 {:.1}x",
        at(0.50).as_secs_f64() / echo_at(0.50).as_secs_f64(),
        at(0.99).as_secs_f64() / echo_at(0.99).as_secs_f64()
    );
}

/// Round trips of a length-prefixed frame of `frame_len` bytes through a
/// thread that reads it and writes it back: the socket and scheduler cost
/// alone, measured like the requests above (warm-up, then sorted times).
fn raw_echo_times(path: &std::path::Path, frame_len: usize) -> Vec<Duration> {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = vec![0u8; 4 + frame_len];
        while stream.read_exact(&mut buffer).is_ok() {
            stream.write_all(&buffer).unwrap();
        }
    });
    let mut stream = UnixStream::connect(path).unwrap();
    let mut frame = (frame_len as u32).to_be_bytes().to_vec();
    frame.resize(4 + frame_len, b'x');
    let mut reply = vec![0u8; frame.len()];
    let mut round_trip = || {
        stream.write_all(&frame).unwrap();
        stream.read_exact(&mut reply).unwrap();
        assert_eq!(reply, frame);
    };
    for _ in 0..1_000 {
        round_trip();
    }
    let mut times = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let start = Instant::now();
        round_trip();
        times.push(start.elapsed());
    }
    times.sort();
    times
}
