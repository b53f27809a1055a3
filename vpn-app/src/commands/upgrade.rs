//! `upgrade prepare` and `upgrade finish` on this platform: the commands
//! themselves are the library's (`vpn_app::upgrade::command`), which the
//! simulated Mac under `tests/` runs too.

use vpn_app::{
    channel,
    cli::{Cli, UpgradeCommand},
    report::Report,
    upgrade, VERSION,
};

pub fn run(cli: &Cli, command: &UpgradeCommand) -> anyhow::Result<Report> {
    if let UpgradeCommand::Prepare = command {
        return upgrade::command::prepare_report(
            channel::open(&cli.socket)?.as_mut(),
            vpn_session()?.as_mut(),
            VERSION,
        );
    }
    let options = upgrade::command::finish_options(
        command,
        upgrade::default_finished_record()?,
        upgrade::Limits::default(),
    )
    .expect("prepare is handled above");
    finish_on_this_platform(cli, &options)
}

#[cfg(target_os = "linux")]
fn vpn_session() -> anyhow::Result<Box<dyn upgrade::VpnSession>> {
    Ok(Box::new(upgrade::linux::LinuxSession))
}

#[cfg(target_os = "macos")]
fn vpn_session() -> anyhow::Result<Box<dyn upgrade::VpnSession>> {
    Ok(Box::new(upgrade::macos::MacSession {
        extension_id: vpn_app::macos::app_bundle()?.extension_id,
    }))
}

#[cfg(target_os = "linux")]
fn finish_on_this_platform(cli: &Cli, options: &upgrade::FinishOptions) -> anyhow::Result<Report> {
    let mut platform = upgrade::linux::LinuxUpgrade {
        socket: &cli.socket,
    };
    upgrade::command::finish_report(&mut platform, options)
}

#[cfg(target_os = "macos")]
fn finish_on_this_platform(cli: &Cli, options: &upgrade::FinishOptions) -> anyhow::Result<Report> {
    let mut platform = upgrade::macos::MacUpgrade::new(vpn_app::macos::app_bundle()?, &cli.socket);
    upgrade::command::finish_report(&mut platform, options)
}
