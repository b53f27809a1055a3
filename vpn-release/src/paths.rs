//! Where the product keeps its data on macOS, all named by the app's
//! bundle id: root's under `/Library/Application Support/<app id>` (the
//! upgrade state the pkg scripts write, the extension's profiles), each
//! user's under `~/Library/Application Support/<app id>` (the upgrades that
//! user's app finished), and the login agent the postinstall script may
//! leave. Paths are relative: to a volume's root for root's, to a home for
//! a user's, so that an install on another volume and the tests can place
//! them.

use std::path::PathBuf;

use crate::BundleId;

/// The Linux service's control socket, where the app finds the extension
/// (on macOS the channel is XPC on the versioned service name).
pub const LINUX_CONTROL_SOCKET: &str = "/run/vpn-extension/control.sock";

/// Where a system extension sits inside its app, relative to the app
/// bundle: macOS activates only one under `Contents/Library/SystemExtensions`,
/// named `<bundle id>.systemextension` (Apple, "Installing System
/// Extensions and Drivers").
pub fn embedded_extension(extension_id: &BundleId) -> PathBuf {
    PathBuf::from("Contents/Library/SystemExtensions")
        .join(format!("{extension_id}.systemextension"))
}

/// Where the app carries the uninstaller's script (with the library it
/// sources next to it), relative to the app bundle: `vpn-app uninstall`
/// runs it as root to remove what the user cannot.
/// What follows an upgrade id in a finished-record line written by a run of
/// that upgrade which found the tunnel up, then stopped for the user
/// (build-pkg renders it into preinstall).
pub const TUNNEL_WAS_UP_MARK: &str = "tunnel-was-up";

/// The finished record's line saying that an unfinished run of upgrade `id`
/// found the tunnel up, which the state file did not say.
pub fn tunnel_was_up_line(id: &str) -> String {
    format!("{id} {TUNNEL_WAS_UP_MARK}")
}

pub const APP_UNINSTALLER: &str = "Contents/Resources/Uninstaller/uninstall";

pub struct DataPaths<'a> {
    app_id: &'a str,
}

impl<'a> DataPaths<'a> {
    pub fn new(app_id: &'a BundleId) -> Self {
        Self {
            app_id: app_id.as_str(),
        }
    }

    /// For a bundle id read back from an Info.plist, which build-pkg
    /// checked when it wrote it.
    pub fn of_installed(app_id: &'a str) -> Self {
        Self { app_id }
    }

    /// Root-owned, under the volume: `Library/Application Support/<app id>`.
    pub fn system_dir(&self) -> PathBuf {
        PathBuf::from("Library/Application Support").join(self.app_id)
    }

    /// Where preinstall records the state for the new app's `upgrade
    /// finish` (`state.json`, then `last-upgrade.json` once finished).
    pub fn upgrade_state_dir(&self) -> PathBuf {
        self.system_dir().join("Upgrade")
    }

    /// The extension's profiles (wg-quick files, 0600).
    pub fn profile_dir(&self) -> PathBuf {
        self.system_dir().join("Profiles")
    }

    /// Under a user's home: all of that user's data of the app.
    pub fn user_dir(&self) -> PathBuf {
        PathBuf::from("Library/Application Support").join(self.app_id)
    }

    /// Under a user's home: the upgrade ids that user's app finished, one
    /// per line, and [`tunnel_was_up_line`]s. The next install's
    /// preinstall reads it, as root.
    pub fn finished_record(&self) -> PathBuf {
        self.user_dir().join("finished-upgrades")
    }

    /// The launchd label of the agent that runs `upgrade finish` at login
    /// (its plist: `Library/LaunchAgents/<label>.plist` under the volume).
    pub fn login_agent_label(&self) -> String {
        format!("{}.upgrade-finish", self.app_id)
    }

    /// The launchd label of the login agent and the launch daemon of an
    /// uninstall that waits for a login (their plists:
    /// `Library/LaunchAgents/<label>.plist`, `Library/LaunchDaemons/<label>.plist`).
    pub fn uninstall_label(&self) -> String {
        format!("{}.uninstall", self.app_id)
    }
}

#[cfg(test)]
mod tests {
    use super::DataPaths;
    use crate::BundleId;

    #[test]
    fn every_folder_is_named_by_the_app_id() {
        let id: BundleId = "com.example.demovpn".parse().unwrap();
        let paths = DataPaths::new(&id);
        for path in [
            paths.upgrade_state_dir(),
            paths.profile_dir(),
            paths.finished_record(),
        ] {
            assert!(
                path.starts_with("Library/Application Support/com.example.demovpn/"),
                "{}",
                path.display()
            );
        }
        assert_eq!(
            paths.login_agent_label(),
            "com.example.demovpn.upgrade-finish"
        );
        assert_eq!(paths.uninstall_label(), "com.example.demovpn.uninstall");
    }
}
