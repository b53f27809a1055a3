//! The `upgrade` commands as the command line runs them, over whatever
//! control client and platform it is given: the real binary and the
//! simulated Mac under `tests/` run this same code, handshake and report
//! included.

use std::path::PathBuf;

use vpn_ipc::transport::ControlClient;

use super::{
    finish_command, prepare, Attendance, FinishOptions, Limits, UpgradePlatform, VpnSession,
};
use crate::{
    channel::require_current,
    cli::UpgradeCommand,
    report::{report, Report},
};

/// `upgrade prepare` on a client just opened: the handshake first (an
/// extension of another build is refused, as for every command), then
/// [`prepare`]. Its JSON is what the preinstall script records.
pub fn prepare_report(
    client: &mut dyn ControlClient,
    session: &mut dyn VpnSession,
    app_build: &str,
) -> anyhow::Result<Report> {
    require_current(client, app_build)?;
    let prepared = prepare(client, session)?;
    let text = format!(
        "prepared: tunnel was {}{}; the extension is quiesced",
        if prepared.tunnel_was_up { "up" } else { "down" },
        prepared
            .profile
            .as_ref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default()
    );
    Ok(report(&prepared, text))
}

/// What `upgrade finish`'s arguments ask for; `None` for another command.
pub fn finish_options(
    command: &UpgradeCommand,
    finished_record: PathBuf,
    limits: Limits,
) -> Option<FinishOptions> {
    let UpgradeCommand::Finish {
        state,
        policy,
        report,
        once,
        upgrade_id,
        unattended,
        stay: _,
    } = command
    else {
        return None;
    };
    Some(FinishOptions {
        state: state.clone(),
        policy: *policy,
        report: report.clone(),
        once: *once,
        upgrade_id: upgrade_id.clone(),
        attendance: if *unattended {
            Attendance::Unattended
        } else {
            Attendance::Attended
        },
        finished_record,
        limits,
    })
}

/// `upgrade finish`: see [`finish_command`]; fails unless healthy.
pub fn finish_report(
    platform: &mut impl UpgradePlatform,
    options: &FinishOptions,
) -> anyhow::Result<Report> {
    let result = finish_command(platform, options)?;
    let text = std::iter::once(format!("{:?}", result.outcome))
        .chain(result.steps.iter().map(|s| format!("  {s}")))
        .collect::<Vec<_>>()
        .join("\n");
    let mut report = report(&result, text);
    report.failed = !result.outcome.is_success();
    Ok(report)
}
