//! Command-line types.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Clone, Debug, Parser)]
#[command(
    name = "vpn-app",
    version,
    about = "Control the VPN",
    long_about = "Control the VPN. Without a command, on macOS, the app runs in the menu bar."
)]
pub struct Cli {
    /// The extension's control socket (Linux).
    #[arg(
        long,
        global = true,
        env = "VPN_CONTROL_SOCKET",
        default_value = vpn_release::paths::LINUX_CONTROL_SOCKET
    )]
    pub socket: PathBuf,
    /// Print JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Never start the extension; fail if it is not running.
    #[arg(long, global = true)]
    pub no_start: bool,
    /// None: the menu bar app (macOS).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Show the tunnel's state.
    Status,
    /// Store a wg-quick file as a profile in the extension.
    Import {
        file: PathBuf,
        /// Profile name (default: the file name without its extension).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the stored profiles.
    Profiles,
    /// Bring the tunnel up with a profile.
    Connect { profile: String },
    /// Bring the tunnel down.
    Disconnect,
    /// The extension's recent log lines.
    Logs {
        /// How many (at most 1000).
        #[arg(long, default_value_t = 100)]
        lines: u32,
    },
    /// Check the installed VPN and say what is wrong (exit 1 if anything
    /// fails).
    Doctor,
    /// What the pkg scripts run around an upgrade.
    Upgrade {
        #[command(subcommand)]
        command: UpgradeCommand,
    },
    /// New releases from the app's update feed (SUFeedURL), checked before
    /// Installer sees them.
    Update {
        #[command(subcommand)]
        command: UpdateCommand,
    },
    /// Remove the VPN: stop the tunnel, remove its VPN configurations,
    /// deactivate the extension (macOS may ask for an administrator's
    /// password), remove your data, then, as root after an administrator's
    /// password, the app and its system files.
    Uninstall {
        /// Leave the app and the system's files: the uninstaller pkg, which
        /// runs this as the console user, removes them itself.
        #[arg(long)]
        leave_system_files: bool,
    },
    /// The extension itself.
    Extension {
        #[command(subcommand)]
        command: ExtensionCommand,
    },
}

#[derive(Clone, Debug, Subcommand)]
pub enum UpdateCommand {
    /// Whether the feed offers a newer version for this Mac.
    Check {
        /// Another https feed than the app's SUFeedURL.
        #[arg(long, value_name = "URL")]
        feed: Option<String>,
    },
    /// Download the newest version, check its signatures and version, and
    /// hand it to Installer.
    Install {
        /// Another https feed than the app's SUFeedURL.
        #[arg(long, value_name = "URL")]
        feed: Option<String>,
    },
}

#[derive(Clone, Debug, Subcommand)]
pub enum ExtensionCommand {
    /// Handshake with the running extension: its version, build and protocol.
    Status,
    /// Start the extension (Linux: with systemd or as a child process).
    Activate,
    /// Bring the tunnel down and stop the extension.
    Deactivate,
}

#[derive(Clone, Debug, Subcommand)]
pub enum UpgradeCommand {
    /// Old app, before the replacement: record the tunnel's state, bring it
    /// down, quiesce the extension; prints the state (`--json` for the
    /// preinstall script).
    Prepare,
    /// New app, after: activate (replace), check the connection, repair,
    /// restore the tunnel; prints a report (exit 1 unless healthy).
    Finish {
        /// The state `upgrade prepare` printed (none: a fresh install).
        #[arg(long)]
        state: Option<PathBuf>,
        /// When to deactivate and reactivate the extension.
        #[arg(long, value_enum, default_value_t = crate::upgrade::RepairPolicy::OnFailure)]
        policy: crate::upgrade::RepairPolicy,
        /// Also write the JSON report to this file.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Do nothing if this user finished the upgrade in the state file
        /// before (the login agent of an install nobody was logged in for).
        #[arg(long)]
        once: bool,
        /// Do nothing unless the state file is still that of this upgrade
        /// (a login agent expires with the upgrade it was installed for).
        #[arg(long, value_name = "ID")]
        upgrade_id: Option<String>,
        /// Nobody asked for this run (a login agent after an install at the
        /// login window): no repair, which can prompt and deletes the VPN
        /// configuration.
        #[arg(long)]
        unattended: bool,
        /// Then stay in the menu bar, telling the user the outcome in a
        /// notification (macOS; the postinstall and the login agent ask
        /// for it).
        #[arg(long)]
        stay: bool,
    },
}
