//! Round-trip time of `Status` over the Unix-socket transport: 10,000
//! requests on one connection after a warm-up, p50/p99/max printed.
//! Target: p99 under 1 ms.
//!
//! `cargo bench -p vpn-ipc --bench status_rtt`

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use vpn_ipc::{
    message::{Request, Response, TunnelState, TunnelStatus},
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
}
