//! The extension as a Linux service process: `serve` runs the control
//! channel on a Unix socket and the tunnels it is asked for; `up` runs one
//! tunnel in the foreground.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use vpn_extension::{
    control::ControlService,
    engine::{Engine, TunnelConfig},
    log_ring::{install_logging, LogRing},
    platform::{
        linux::{LinuxDevices, LinuxTun},
        NetworkSettings,
    },
    profiles::ProfileStore,
};

/// Log lines the service keeps for `vpn-app logs`.
const LOG_LINES_KEPT: usize = 2000;
use vpn_ipc::{
    negotiation::SUPPORTED,
    session::ExtensionInfo,
    unix::{Server, ServerConfig},
};

#[derive(Debug, Parser)]
#[command(
    name = "vpn-extension",
    version,
    about = "The VPN extension (service process on Linux)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the control channel until killed.
    Serve {
        /// The control socket.
        #[arg(
            long,
            env = "VPN_CONTROL_SOCKET",
            default_value = vpn_release::paths::LINUX_CONTROL_SOCKET
        )]
        socket: PathBuf,
        /// Where profiles are kept (0700; files 0600).
        #[arg(long, env = "VPN_STATE_DIR", default_value = "/var/lib/vpn-extension")]
        state_dir: PathBuf,
        /// A uid allowed to connect (repeat; default: the uid running this).
        #[arg(long = "allow-uid")]
        allow_uids: Vec<u32>,
        /// Let every local user connect and read the tunnel's status,
        /// statistics and logs (the socket becomes 0666).
        #[arg(long)]
        allow_any_user: bool,
        /// A uid that may change the tunnel (import, start, stop) besides
        /// root (repeat; default: the uid running this).
        #[arg(long = "control-uid")]
        control_uids: Vec<u32>,
        /// Give the socket to this uid, so that user can reach a 0600 socket.
        #[arg(long)]
        socket_owner: Option<u32>,
        /// The TUN interface tunnels use.
        #[arg(long, env = "VPN_INTERFACE", default_value = "vpnkit0")]
        interface: String,
    },
    /// Bring one tunnel up from a wg-quick file and run it in the
    /// foreground until SIGINT or SIGTERM (Linux; needs root).
    Up {
        /// The wg-quick configuration.
        config: PathBuf,
        /// The TUN interface to create.
        #[arg(long, default_value = "vpnkit0")]
        interface: String,
    },
}

pub fn main() -> anyhow::Result<()> {
    // `VPN_LOG=debug` or `VPN_LOG=info,vpn_extension::engine=trace`. The
    // filter is `Targets`, not `EnvFilter`: no regex engine in a process
    // whose idle memory is a target.
    // Recent lines are also kept for `vpn-app logs`.
    let logs = install_logging(LOG_LINES_KEPT);
    match Cli::parse().command {
        Command::Serve {
            socket,
            state_dir,
            allow_uids,
            allow_any_user,
            control_uids,
            socket_owner,
            interface,
        } => serve(
            socket,
            state_dir,
            Access {
                allow_uids,
                allow_any_user,
                control_uids,
                socket_owner,
            },
            interface,
            logs,
        ),
        Command::Up { config, interface } => up(&config, &interface),
    }
}

/// Who may connect to the control socket, and who may change the tunnel.
struct Access {
    allow_uids: Vec<u32>,
    allow_any_user: bool,
    control_uids: Vec<u32>,
    socket_owner: Option<u32>,
}

fn serve(
    socket: PathBuf,
    state_dir: PathBuf,
    mut access: Access,
    interface: String,
    logs: LogRing,
) -> anyhow::Result<()> {
    let serving = nix::unistd::getuid().as_raw();
    for uids in [&mut access.allow_uids, &mut access.control_uids] {
        if uids.is_empty() {
            uids.push(serving);
        }
    }
    let profiles = ProfileStore::open(&state_dir.join("profiles")).with_context(|| {
        format!(
            "failed to open the profile store in {}",
            state_dir.display()
        )
    })?;
    let version = env!("CARGO_PKG_VERSION");
    let server = Server::bind(
        &ServerConfig {
            path: socket.clone(),
            allowed_uids: access.allow_uids,
            anyone_may_connect: access.allow_any_user,
            controllers: access.control_uids,
            socket_owner: access.socket_owner,
            max_connections: 64,
            idle_timeout: Duration::from_secs(60),
        },
        ExtensionInfo {
            protocols: SUPPORTED,
            version: version.into(),
            build: version.into(),
        },
        Arc::new(
            ControlService::new(profiles, LinuxDevices { interface }, logs)
                .context("cannot start the tunnel runtime")?,
        ),
    )
    .with_context(|| format!("failed to listen on {}", socket.display()))?;
    tracing::info!("vpn-extension {version}: serving {}", socket.display());
    server.run().context("the control listener failed")
}

fn up(config_path: &Path, interface: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let config: TunnelConfig = text
        .parse()
        .with_context(|| format!("{} is not a valid wg-quick file", config_path.display()))?;
    for (line, key) in &config.ignored {
        tracing::warn!(
            "{}:{line}: `{key}` is a wg-quick setting; ignored",
            config_path.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let settings = NetworkSettings::resolve(&config).await?;
        let tun = LinuxTun::open(interface, &settings)?;
        let engine = Engine::start(&config, &settings.endpoints, tun).await?;
        eprintln!(
            "vpn-extension: {interface} up, listening on UDP port {}",
            engine.status().listen_port
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let status = engine.stop().await;
        eprintln!("vpn-extension: {interface} down ({:?})", status.totals());
        Ok(())
    })
}
