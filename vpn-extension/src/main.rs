//! The system extension. On Linux it runs as a service process and serves
//! the control channel on a Unix socket; the packet tunnel provider for
//! macOS and the WireGuard engine are separate work.

mod control;
mod profiles;

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand};
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
            default_value = "/run/vpn-extension/control.sock"
        )]
        socket: PathBuf,
        /// Where profiles are kept (0700; files 0600).
        #[arg(long, env = "VPN_STATE_DIR", default_value = "/var/lib/vpn-extension")]
        state_dir: PathBuf,
        /// A uid allowed to connect (repeat; default: the uid running this).
        #[arg(long = "allow-uid")]
        allow_uids: Vec<u32>,
        /// Give the socket to this uid, so that user can reach a 0600 socket.
        #[arg(long)]
        socket_owner: Option<u32>,
    },
}

fn main() -> anyhow::Result<()> {
    let Command::Serve {
        socket,
        state_dir,
        mut allow_uids,
        socket_owner,
    } = Cli::parse().command;
    if allow_uids.is_empty() {
        allow_uids.push(nix::unistd::getuid().as_raw());
    }
    let profiles =
        profiles::ProfileStore::open(&state_dir.join("profiles")).with_context(|| {
            format!(
                "failed to open the profile store in {}",
                state_dir.display()
            )
        })?;
    let version = env!("CARGO_PKG_VERSION");
    let server = Server::bind(
        &ServerConfig {
            path: socket.clone(),
            allowed_uids: allow_uids,
            socket_owner,
            max_connections: 64,
            idle_timeout: Duration::from_secs(60),
        },
        ExtensionInfo {
            protocols: SUPPORTED,
            version: version.into(),
            build: version.into(),
        },
        Arc::new(control::ControlService::new(profiles)),
    )
    .with_context(|| format!("failed to listen on {}", socket.display()))?;
    eprintln!("vpn-extension {version}: serving {}", socket.display());
    server.run().context("the control listener failed")
}
