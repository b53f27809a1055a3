//! Uninstalling on macOS: `NETunnelProviderManager.removeFromPreferences`
//! for the VPN configurations, and the uninstaller script run as root by
//! AppleScript's `do shell script ... with administrator privileges`,
//! which asks for an administrator's password (Apple, Technical Note
//! TN2065).

use std::{ffi::OsString, os::unix::ffi::OsStrExt, path::Path, process::Command};

use super::UninstallPlatform;
use crate::{macos::vpn_configuration::VpnConfiguration, upgrade::macos::MacUpgrade};

/// More configurations than any install makes: a removal that does not
/// take cannot loop.
const MOST_CONFIGURATIONS: usize = 32;

impl UninstallPlatform for MacUpgrade<'_> {
    fn remove_configurations(&mut self) -> Result<usize, String> {
        let mut removed = 0;
        while let Some(configuration) = VpnConfiguration::find(&self.bundle.extension_id)? {
            if removed == MOST_CONFIGURATIONS {
                return Err(format!("still there after {removed} removals"));
            }
            configuration.remove()?;
            removed += 1;
        }
        Ok(removed)
    }

    fn run_as_root(&mut self, script: &Path, args: &[OsString]) -> Result<(), String> {
        let mut command = if nix::unistd::geteuid().is_root() {
            let mut command = Command::new("/bin/sh");
            command.arg(script).args(args);
            command
        } else {
            let line = std::iter::once(script.as_os_str())
                .chain(args.iter().map(OsString::as_os_str))
                .map(|word| shell_quoted(word.as_bytes()))
                .collect::<Vec<_>>()
                .join(" ");
            let mut command = Command::new("/usr/bin/osascript");
            command.arg("-e").arg(format!(
                "do shell script \"/bin/sh {}\" with administrator privileges",
                applescript_escaped(&line)
            ));
            command
        };
        let output = command
            .output()
            .map_err(|e| format!("cannot run the uninstaller: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            // A cancelled password dialog: "User canceled. (-128)".
            Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
        }
    }
}

/// One word for /bin/sh: in single quotes, each quote closed, escaped and
/// reopened.
fn shell_quoted(word: &[u8]) -> String {
    format!("'{}'", String::from_utf8_lossy(word).replace('\'', "'\\''"))
}

/// The inside of an AppleScript string literal: backslash and double
/// quote escaped (AppleScript Language Guide, "text").
fn applescript_escaped(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
