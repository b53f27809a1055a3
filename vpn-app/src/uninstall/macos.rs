//! Uninstalling on macOS: `NETunnelProviderManager.removeFromPreferences`
//! for the VPN configurations, `SMAppService` for Launch at Login, and the
//! uninstaller script run as root by AppleScript's `do shell script ...
//! with administrator privileges`, which asks for an administrator's
//! password (Apple, Technical Note TN2065).

use std::{ffi::OsString, path::Path, process::Command};

use objc2_service_management::{SMAppService, SMAppServiceStatus};

use super::{privileged_applescript, UninstallPlatform};
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

    fn unregister_login_item(&mut self) -> Result<bool, String> {
        // SAFETY: class method, property getter and method of
        // ServiceManagement (macOS 13, our minimum); errors are NSErrors.
        unsafe {
            let service = SMAppService::mainAppService();
            if service.status() == SMAppServiceStatus::NotRegistered {
                return Ok(false);
            }
            service
                .unregisterAndReturnError()
                .map(|()| true)
                .map_err(|e| e.localizedDescription().to_string())
        }
    }

    fn run_as_root(&mut self, script: &Path, args: &[OsString]) -> Result<(), String> {
        let mut command = if nix::unistd::geteuid().is_root() {
            let mut command = Command::new("/bin/sh");
            command.arg(script).args(args);
            command
        } else {
            let prompt = format!(
                "{} wants to remove its app and system files.",
                self.bundle.name
            );
            let mut command = Command::new("/usr/bin/osascript");
            command
                .arg("-e")
                .arg(privileged_applescript(script, args, &prompt));
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
