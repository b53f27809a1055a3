//! The command line's commands, one module per group; each returns the
//! [`Report`](vpn_app::report::Report) that `main` prints.

pub mod doctor;
pub mod extension;
pub mod tunnel;
pub mod uninstall;
pub mod update;
pub mod upgrade;

use vpn_app::{channel::ready_at, cli::Cli};
use vpn_ipc::transport::ControlClient;

/// A client to an extension of this very build.
pub(crate) fn ready(cli: &Cli) -> anyhow::Result<Box<dyn ControlClient>> {
    ready_at(&cli.socket)
}

/// [`ready`], first starting the extension where the app is the one to do
/// it (Linux), unless `--no-start`.
fn ready_starting(cli: &Cli) -> anyhow::Result<Box<dyn ControlClient>> {
    #[cfg(target_os = "linux")]
    if !cli.no_start {
        use vpn_app::extension_process::{ensure_running, Started};
        let started = ensure_running(&cli.socket)?;
        if started != Started::AlreadyRunning {
            eprintln!("started the extension ({started:?})");
        }
    }
    ready(cli)
}
