//! `uninstall` on this platform: the steps are the library's
//! (`vpn_app::uninstall`), which the simulated Mac under `tests/` runs too.

use std::time::Duration;

use vpn_app::{
    cli::Cli,
    report::Report,
    uninstall::{self, UninstallOptions},
    upgrade::Limits,
};

/// How long the session may take to end.
const STOP_LIMIT: Duration = Duration::from_secs(10);

fn options(system_files: Option<uninstall::SystemFiles>) -> anyhow::Result<UninstallOptions> {
    Ok(UninstallOptions {
        user_data: uninstall::default_user_data()?,
        system_files,
        approval: Limits::default().approval,
        stop: STOP_LIMIT,
    })
}

#[cfg(target_os = "linux")]
pub fn run(cli: &Cli, _leave_system_files: bool) -> anyhow::Result<Report> {
    // The package manager owns the installed files here.
    let mut platform = vpn_app::upgrade::linux::LinuxUpgrade {
        socket: &cli.socket,
    };
    Ok(uninstall::uninstall_report(&mut platform, &options(None)?))
}

#[cfg(target_os = "macos")]
pub fn run(cli: &Cli, leave_system_files: bool) -> anyhow::Result<Report> {
    let bundle = vpn_app::macos::app_bundle()?;
    let system_files = if leave_system_files {
        None
    } else {
        Some(uninstall::SystemFiles::of_bundle(&bundle.path).map_err(anyhow::Error::msg)?)
    };
    let options = options(system_files)?;
    let mut platform = vpn_app::upgrade::macos::MacUpgrade::new(bundle, &cli.socket);
    Ok(uninstall::uninstall_report(&mut platform, &options))
}
