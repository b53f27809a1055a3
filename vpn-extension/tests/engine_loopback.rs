//! The engine between engines over loopback UDP, with channels for tunnel
//! devices: routing, source filtering, handshakes, restarts and roaming,
//! without root. (Interoperability with wireguard-go is proven by the
//! system tests in network namespaces.)

use std::time::Duration;

use boringtun::x25519;
use vpn_extension::engine::{ChannelTun, ChannelTunEnd, Engine, TunnelConfig, TunnelState};

struct Keys {
    private: String,
    public: String,
}

fn keys() -> Keys {
    use base64::{engine::general_purpose::STANDARD, Engine as _};
    let secret = x25519::StaticSecret::random_from_rng(rand::rngs::OsRng);
    Keys {
        private: STANDARD.encode(secret.to_bytes()),
        public: STANDARD.encode(x25519::PublicKey::from(&secret).to_bytes()),
    }
}

fn config(keys: &Keys, listen: Option<u16>, peers: &[(&Keys, &str, Option<u16>)]) -> TunnelConfig {
    let mut text = format!("[Interface]\nPrivateKey = {}\n", keys.private);
    if let Some(port) = listen {
        text += &format!("ListenPort = {port}\n");
    }
    for (peer, allowed, endpoint) in peers {
        text += &format!(
            "[Peer]\nPublicKey = {}\nAllowedIPs = {allowed}\n",
            peer.public
        );
        if let Some(port) = endpoint {
            text += &format!("Endpoint = 127.0.0.1:{port}\n");
        }
    }
    text.parse().unwrap()
}

/// A minimal IPv4 packet: enough header for boringtun's checks and ours.
fn ipv4(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0,
        0,
        64,
        17,
        0,
        0,
    ];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

async fn start(config: &TunnelConfig) -> (Engine, ChannelTunEnd) {
    let (tun, end) = ChannelTun::pair(64);
    let endpoints = vpn_extension::engine::resolve_endpoints(config)
        .await
        .unwrap();
    (Engine::start(config, &endpoints, tun).await.unwrap(), end)
}

async fn expect_packet(end: &mut ChannelTunEnd, wanted: &[u8]) {
    let got = tokio::time::timeout(Duration::from_secs(10), end.from_engine.recv())
        .await
        .expect("a packet within 10 s")
        .expect("channel open");
    assert_eq!(got, wanted);
}

async fn expect_silence(end: &mut ChannelTunEnd) {
    let got = tokio::time::timeout(Duration::from_millis(500), end.from_engine.recv()).await;
    assert!(got.is_err(), "unexpected packet {got:?}");
}

async fn wait_for(engine: &Engine, state: TunnelState) {
    for _ in 0..100 {
        if engine.status().state == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never reached {state:?}: {:?}", engine.status());
}

const A_NET: [u8; 4] = [10, 0, 0, 1];
const B_NET: [u8; 4] = [10, 0, 0, 2];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_cross_both_ways_and_are_counted() {
    let (a, b) = (keys(), keys());
    let (responder, mut responder_end) =
        start(&config(&b, None, &[(&a, "10.0.0.1/32", None)])).await;
    let port = responder.status().listen_port;
    let (initiator, mut initiator_end) =
        start(&config(&a, None, &[(&b, "10.0.0.0/24", Some(port))])).await;
    wait_for(&initiator, TunnelState::Connected).await;
    wait_for(&responder, TunnelState::Connected).await;

    let there = ipv4(A_NET, B_NET, b"ping");
    initiator_end.to_engine.send(there.clone()).await.unwrap();
    expect_packet(&mut responder_end, &there).await;
    let back = ipv4(B_NET, A_NET, b"pong!");
    responder_end.to_engine.send(back.clone()).await.unwrap();
    expect_packet(&mut initiator_end, &back).await;

    let status = initiator.status();
    assert!(status.last_handshake().is_some());
    let totals = status.totals();
    assert_eq!((totals.tx_packets, totals.rx_packets), (1, 1));
    assert_eq!(
        (totals.tx_bytes, totals.rx_bytes),
        (there.len() as u64, back.len() as u64)
    );
    // The responder learnt where the initiator is from its handshake.
    assert_eq!(
        responder.status().peers[0].endpoint.unwrap().port(),
        initiator.status().listen_port
    );

    let stopped = initiator.stop().await;
    assert_eq!(stopped.state, TunnelState::Disconnected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_may_only_send_from_its_allowed_ips() {
    let (a, b) = (keys(), keys());
    let (responder, mut responder_end) =
        start(&config(&b, None, &[(&a, "10.0.0.1/32", None)])).await;
    let port = responder.status().listen_port;
    let (initiator, initiator_end) =
        start(&config(&a, None, &[(&b, "10.0.0.0/24", Some(port))])).await;
    wait_for(&initiator, TunnelState::Connected).await;

    let spoofed = ipv4([10, 0, 0, 99], B_NET, b"spoofed");
    initiator_end.to_engine.send(spoofed).await.unwrap();
    expect_silence(&mut responder_end).await;
    assert_eq!(responder.status().totals().rx_packets, 0);
    let genuine = ipv4(A_NET, B_NET, b"genuine");
    initiator_end.to_engine.send(genuine.clone()).await.unwrap();
    expect_packet(&mut responder_end, &genuine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_go_to_the_peer_with_the_longest_matching_prefix() {
    let (hub, wide, narrow) = (keys(), keys(), keys());
    let (wide_engine, mut wide_end) =
        start(&config(&wide, None, &[(&hub, "10.0.0.1/32", None)])).await;
    let (narrow_engine, mut narrow_end) =
        start(&config(&narrow, None, &[(&hub, "10.0.0.1/32", None)])).await;
    let (hub_engine, hub_end) = start(&config(
        &hub,
        None,
        &[
            (&wide, "10.0.0.0/16", Some(wide_engine.status().listen_port)),
            (
                &narrow,
                "10.0.5.0/24",
                Some(narrow_engine.status().listen_port),
            ),
        ],
    ))
    .await;
    wait_for(&wide_engine, TunnelState::Connected).await;
    wait_for(&narrow_engine, TunnelState::Connected).await;

    let to_narrow = ipv4(A_NET, [10, 0, 5, 9], b"narrow");
    let to_wide = ipv4(A_NET, [10, 0, 6, 9], b"wide");
    hub_end.to_engine.send(to_narrow.clone()).await.unwrap();
    hub_end.to_engine.send(to_wide.clone()).await.unwrap();
    expect_packet(&mut narrow_end, &to_narrow).await;
    expect_packet(&mut wide_end, &to_wide).await;
    // Nowhere to go: dropped, not sent to a default peer.
    hub_end
        .to_engine
        .send(ipv4(A_NET, [192, 0, 2, 1], b"x"))
        .await
        .unwrap();
    expect_silence(&mut wide_end).await;
    expect_silence(&mut narrow_end).await;
    assert_eq!(hub_engine.status().peers.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_gets_no_session() {
    let (a, b, stranger) = (keys(), keys(), keys());
    let (responder, _end) = start(&config(&b, None, &[(&stranger, "10.0.0.1/32", None)])).await;
    let port = responder.status().listen_port;
    let (initiator, _initiator_end) =
        start(&config(&a, None, &[(&b, "10.0.0.0/24", Some(port))])).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = initiator.status();
    assert_eq!(status.state, TunnelState::Connecting);
    assert_eq!(status.last_handshake(), None);
    assert_eq!(responder.status().state, TunnelState::Connecting);
    assert_eq!(responder.status().peers[0].endpoint, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_on_a_new_port_is_followed() {
    let (a, b) = (keys(), keys());
    let (responder, mut responder_end) =
        start(&config(&b, None, &[(&a, "10.0.0.1/32", None)])).await;
    let port = responder.status().listen_port;
    let initiator_config = config(&a, None, &[(&b, "10.0.0.0/24", Some(port))]);
    let (first, _first_end) = start(&initiator_config).await;
    wait_for(&responder, TunnelState::Connected).await;
    let first_port = first.status().listen_port;
    first.stop().await;

    // Same keys, new process, new source port: the responder roams with it.
    let (second, mut second_end) = start(&initiator_config).await;
    let second_port = second.status().listen_port;
    assert_ne!(first_port, second_port);
    wait_for(&second, TunnelState::Connected).await;
    let packet = ipv4(B_NET, A_NET, b"after restart");
    for _ in 0..50 {
        if responder.status().peers[0].endpoint.map(|e| e.port()) == Some(second_port) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    responder_end.to_engine.send(packet.clone()).await.unwrap();
    expect_packet(&mut second_end, &packet).await;
    let hello = ipv4(A_NET, B_NET, b"hello again");
    second_end.to_engine.send(hello.clone()).await.unwrap();
    expect_packet(&mut responder_end, &hello).await;
}
