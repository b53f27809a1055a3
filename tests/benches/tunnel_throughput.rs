//! Tunnel throughput and CPU cost, every figure measured in this run on the
//! same namespaces: iperf3 TCP through the tunnel (10 s each way, 3 rounds,
//! the order of the pairs alternating between rounds) for
//! - wireguard-go <-> wireguard-go (the reference),
//! - our engine <-> wireguard-go,
//! - our engine <-> our engine;
//!
//! and CPU seconds per GB of both tunnel processes (utime + stime from
//! /proc/PID/stat), and each process's resident memory when idle with one
//! peer after its handshake.
//!
//! `cargo bench -p system-tests --bench tunnel_throughput` (root; wireguard-go,
//! wireguard-tools, iperf3, iproute2). `BENCH_SECONDS` and `BENCH_ROUNDS`
//! shorten it.

use std::{path::Path, time::Duration};

use system_tests::netns::{
    ping_until_reply, EndSpec, Lab, Netns, OurEngine, PeerSpec, WgKeys, WireguardGo, A_UNDERLAY,
    B_UNDERLAY,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Side {
    Go,
    Ours,
}

#[derive(Clone, Copy, Debug)]
struct PairKind {
    name: &'static str,
    a: Side,
    b: Side,
}

const PAIRS: [PairKind; 3] = [
    PairKind {
        name: "wireguard-go <-> wireguard-go",
        a: Side::Go,
        b: Side::Go,
    },
    PairKind {
        name: "ours <-> wireguard-go",
        a: Side::Go,
        b: Side::Ours,
    },
    PairKind {
        name: "ours <-> ours",
        a: Side::Ours,
        b: Side::Ours,
    },
];

/// One tunnel process: its pid and what keeps it alive.
enum Running {
    Go(WireguardGo),
    Ours(OurEngine),
}

impl Running {
    fn pid(&self) -> u32 {
        match self {
            Running::Go(go) => go.pid(),
            Running::Ours(ours) => ours.pid,
        }
    }
}

struct Setup {
    lab: Lab,
    a: Running,
    b: Running,
    _dir: tempfile::TempDir,
}

/// One side of a pair: where it runs and what it is called.
struct Host<'a> {
    ns: &'a Netns,
    keys: WgKeys,
    tunnel: &'static str,
    underlay: &'static str,
}

fn start(side: Side, ours: &Path, dir: &Path, me: &Host, them: &Host) -> Running {
    let end = EndSpec {
        ns: me.ns,
        dir,
        keys: &me.keys,
        listen_port: 51820,
        addresses: vec![format!("{}/24", me.tunnel)],
        peer: PeerSpec {
            public: &them.keys.public,
            allowed_ips: vec![format!("{}/32", them.tunnel)],
            endpoint: Some(format!("{}:51820", them.underlay)),
        },
    };
    match side {
        Side::Go => Running::Go(WireguardGo::start(&end)),
        Side::Ours => Running::Ours(OurEngine::start_binary(ours, &end)),
    }
}

fn setup(kind: PairKind, ours: &Path) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::new();
    let a = Host {
        ns: &lab.a,
        keys: WgKeys::generate(),
        tunnel: "10.77.0.1",
        underlay: A_UNDERLAY,
    };
    let b = Host {
        ns: &lab.b,
        keys: WgKeys::generate(),
        tunnel: "10.77.0.2",
        underlay: B_UNDERLAY,
    };
    let a_running = start(kind.a, ours, dir.path(), &a, &b);
    let b_running = start(kind.b, ours, dir.path(), &b, &a);
    ping_until_reply(&lab.b, "10.77.0.1", Duration::from_secs(20));
    Setup {
        lab,
        a: a_running,
        b: b_running,
        _dir: dir,
    }
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64
        / nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .unwrap()
            .unwrap() as f64
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Adds each tunnel process's resident memory to its implementation's list.
fn record_rss(setup: &Setup, go: &mut Vec<u64>, ours: &mut Vec<u64>) {
    for running in [&setup.a, &setup.b] {
        let list = match running {
            Running::Go(_) => &mut *go,
            Running::Ours(_) => &mut *ours,
        };
        list.push(rss_kib(running.pid()));
    }
}

struct Sample {
    bits_per_second: f64,
    bytes: f64,
    cpu: f64,
}

/// One iperf3 run from b to a (`reverse`: a to b), with the CPU both tunnel
/// processes spent meanwhile.
fn iperf(setup: &Setup, seconds: u64, reverse: bool) -> Sample {
    let mut server = setup.lab.a.command("iperf3");
    server.args(["-s", "-1", "-p", "5201"]);
    let server_pid = setup
        .lab
        .a
        .spawn(server, &std::env::temp_dir().join("iperf3-server.log"));
    std::thread::sleep(Duration::from_millis(300));
    let cpu_before = cpu_seconds(setup.a.pid()) + cpu_seconds(setup.b.pid());
    let mut client = setup.lab.b.command("iperf3");
    client.args([
        "-c",
        "10.77.0.1",
        "-p",
        "5201",
        "-J",
        "-t",
        &seconds.to_string(),
    ]);
    if reverse {
        client.arg("-R");
    }
    let output = system_tests::run_ok("iperf3", &mut client);
    let cpu = cpu_seconds(setup.a.pid()) + cpu_seconds(setup.b.pid()) - cpu_before;
    setup.lab.a.kill(server_pid, "-TERM");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let received = &report["end"]["sum_received"];
    Sample {
        bits_per_second: received["bits_per_second"].as_f64().unwrap(),
        bytes: received["bytes"].as_f64().unwrap(),
        cpu,
    }
}

#[derive(Default)]
struct Totals {
    bits_per_second: Vec<f64>,
    bytes: f64,
    cpu: f64,
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let ours = system_tests::release_binary("vpn-extension");
    let mut totals: Vec<Totals> = PAIRS.iter().map(|_| Totals::default()).collect();
    // Resident memory of each implementation: idle with one peer (after the
    // handshake and a ping), and after the transfers.
    let (mut go_rss, mut ours_rss) = (Vec::new(), Vec::new());
    let (mut go_busy_rss, mut ours_busy_rss) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1, 2]
        } else {
            vec![2, 1, 0]
        };
        for index in order {
            let kind = PAIRS[index];
            let setup = setup(kind, &ours);
            std::thread::sleep(Duration::from_secs(1));
            let t = &mut totals[index];
            record_rss(&setup, &mut go_rss, &mut ours_rss);
            for reverse in [false, true] {
                let sample = iperf(&setup, seconds, reverse);
                eprintln!(
                    "round {} {:<30} {}: {:6.0} Mbit/s, {:5.2} CPU s/GB",
                    round + 1,
                    kind.name,
                    if reverse { "a->b" } else { "b->a" },
                    sample.bits_per_second / 1e6,
                    sample.cpu / (sample.bytes / 1e9)
                );
                t.bits_per_second.push(sample.bits_per_second);
                t.bytes += sample.bytes;
                t.cpu += sample.cpu;
            }
            record_rss(&setup, &mut go_busy_rss, &mut ours_busy_rss);
        }
    }

    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let reference = mean(&totals[0].bits_per_second);
    let reference_cpu = totals[0].cpu / (totals[0].bytes / 1e9);
    println!(
        "\n{:<30} {:>10} {:>8} {:>10} {:>8}",
        "pair", "Mbit/s", "x ref", "CPU s/GB", "x ref"
    );
    for (kind, t) in PAIRS.iter().zip(&totals) {
        let throughput = mean(&t.bits_per_second);
        let cpu_per_gb = t.cpu / (t.bytes / 1e9);
        println!(
            "{:<30} {:>10.0} {:>8.2} {:>10.2} {:>8.2}",
            kind.name,
            throughput / 1e6,
            throughput / reference,
            cpu_per_gb,
            cpu_per_gb / reference_cpu,
        );
    }
    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    println!(
        "resident memory, median: idle with one peer: wireguard-go {} KiB, ours {} KiB; \
         after the transfers: wireguard-go {} KiB, ours {} KiB",
        median(&mut go_rss),
        median(&mut ours_rss),
        median(&mut go_busy_rss),
        median(&mut ours_busy_rss)
    );
}
