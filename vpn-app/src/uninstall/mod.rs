//! `uninstall`: the app's part of removing the product, which only the app
//! can do: the system deactivates a system extension only at the request
//! of the app that contains it (with SIP on, `systemextensionsctl
//! uninstall` refuses; shared/macos-reality §3h). Plain Rust over
//! [`UninstallPlatform`], as the upgrade is, so the simulated Mac under
//! `tests/` runs this same code.
//!
//! Steps, in this order, so that a deactivation refused leaves everything
//! but the session as it was:
//! 1. end the session (the tunnel);
//! 2. deactivate the extension, waiting (bounded) for an administrator's
//!    password when macOS asks;
//! 3. remove our VPN configurations (deactivation deletes them; this
//!    covers one it left) and the app's Launch at Login registration;
//! 4. remove this user's data;
//! 5. unless the uninstaller pkg runs this (`--leave-system-files`), run
//!    the uninstaller script the app carries as root, for the app, the
//!    system's folders, the launchd jobs and the receipt.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    report::{report, Report},
    upgrade::{RequestOutcome, UpgradePlatform},
};

/// What uninstalling needs beyond the upgrade's calls.
pub trait UninstallPlatform: UpgradePlatform {
    /// Removes every VPN configuration whose provider is our extension;
    /// how many there were.
    fn remove_configurations(&mut self) -> Result<usize, String>;
    /// Unregisters the app from Launch at Login; whether it was registered.
    fn unregister_login_item(&mut self) -> Result<bool, String>;
    /// Runs `script` with `args` as root: on macOS after the user gave an
    /// administrator's password.
    fn run_as_root(&mut self, script: &Path, args: &[OsString]) -> Result<(), String>;
}

/// The uninstaller script the app carries, and the volume it is installed
/// on, which the script is told: it removes `<volume>/Applications/<app>`
/// and the rest under that volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemFiles {
    pub script: PathBuf,
    pub volume: PathBuf,
}

impl SystemFiles {
    /// Those of the app bundle at `bundle`, which must sit in a volume's
    /// `Applications` folder, where the pkg installs it.
    pub fn of_bundle(bundle: &Path) -> Result<Self, String> {
        let volume = bundle
            .parent()
            .filter(|parent| parent.file_name().is_some_and(|n| n == "Applications"))
            .and_then(Path::parent)
            .ok_or_else(|| {
                format!(
                    "{} is not in an Applications folder: only an installed copy is uninstalled (the uninstaller pkg removes it from /Applications)",
                    bundle.display()
                )
            })?;
        Ok(Self {
            script: bundle.join(vpn_release::paths::APP_UNINSTALLER),
            volume: volume.to_path_buf(),
        })
    }
}

#[derive(Clone, Debug)]
pub struct UninstallOptions {
    /// This user's data of the app, removed.
    pub user_data: PathBuf,
    /// `None` leaves the app and the system's files (the uninstaller pkg
    /// removes them itself).
    pub system_files: Option<SystemFiles>,
    /// How long to wait for an administrator's password.
    pub approval: Duration,
    /// How long to wait for the session to end.
    pub stop: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UninstallOutcome {
    Removed,
    /// Removed; macOS removes the extension itself at the next restart.
    RestartToFinish,
    /// The deactivation waits for an administrator's password: nothing
    /// else was removed.
    ApprovalPending,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UninstallReport {
    pub outcome: UninstallOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub steps: Vec<String>,
}

impl UninstallReport {
    pub fn is_success(&self) -> bool {
        matches!(
            self.outcome,
            UninstallOutcome::Removed | UninstallOutcome::RestartToFinish
        )
    }
}

/// Runs the steps of the module's documentation.
pub fn uninstall(
    platform: &mut impl UninstallPlatform,
    options: &UninstallOptions,
) -> UninstallReport {
    let mut steps = Vec::new();
    let mut log = |step: String| {
        tracing::info!("{step}");
        steps.push(step);
    };
    match platform.stop(options.stop) {
        Ok(()) => log("the tunnel is down".into()),
        Err(e) => log(format!("the tunnel did not stop: {e}")),
    }
    let mut deactivation = platform.deactivate();
    if deactivation == RequestOutcome::NeedsApproval {
        log(format!(
            "deactivate: waiting up to {:?} for an administrator's password",
            options.approval
        ));
        deactivation = platform.wait_for_approval(options.approval);
    }
    log(format!("deactivate: {deactivation:?}"));
    let finish = |outcome, reason: Option<String>, steps| UninstallReport {
        outcome,
        reason,
        steps,
    };
    let restart = match deactivation {
        RequestOutcome::Done => false,
        RequestOutcome::WillCompleteAfterReboot => true,
        RequestOutcome::NeedsApproval => {
            return finish(
                UninstallOutcome::ApprovalPending,
                Some("the extension's deactivation waits for an administrator's password: nothing else was removed; uninstall again to finish".into()),
                steps,
            )
        }
        RequestOutcome::Failed(e) => {
            return finish(
                UninstallOutcome::Failed,
                Some(format!(
                    "the extension was not deactivated ({e}): nothing else was removed"
                )),
                steps,
            )
        }
    };
    match platform.remove_configurations() {
        Ok(count) => log(format!("VPN configurations removed: {count}")),
        Err(e) => log(format!("VPN configurations not removed: {e}")),
    }
    match platform.unregister_login_item() {
        Ok(true) => log("Launch at Login turned off".into()),
        Ok(false) => {}
        Err(e) => log(format!("Launch at Login not turned off: {e}")),
    }
    match std::fs::remove_dir_all(&options.user_data) {
        Ok(()) => log(format!("removed {}", options.user_data.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log(format!("{} not removed: {e}", options.user_data.display())),
    }
    if let Some(files) = &options.system_files {
        let args = [OsString::from("--from-app"), files.volume.clone().into()];
        if let Err(e) = platform.run_as_root(&files.script, &args) {
            let reason = format!(
                "the extension is deactivated, but the app and its system files are still there ({e}): run the uninstaller pkg, or `sudo /bin/sh '{}' --from-app '{}'`",
                files.script.display(),
                files.volume.display()
            );
            return finish(UninstallOutcome::Failed, Some(reason), steps);
        }
        log("removed the app, its system folders, launchd jobs and receipt".into());
    }
    let outcome = if restart {
        log("macOS removes the extension at the next restart".into());
        UninstallOutcome::RestartToFinish
    } else {
        UninstallOutcome::Removed
    };
    finish(outcome, None, steps)
}

/// `uninstall` as a command: the report, failed unless removed.
pub fn uninstall_report(
    platform: &mut impl UninstallPlatform,
    options: &UninstallOptions,
) -> Report {
    let result = uninstall(platform, options);
    let text = std::iter::once(match &result.reason {
        Some(reason) => format!("{:?}: {reason}", result.outcome),
        None => format!("{:?}", result.outcome),
    })
    .chain(result.steps.iter().map(|s| format!("  {s}")))
    .collect::<Vec<_>>()
    .join("\n");
    let mut report = report(&result, text);
    report.failed = !result.is_success();
    report
}

/// The AppleScript that runs `script` with `args` as root, asking for an
/// administrator's password with `prompt` (`do shell script`, Technical
/// Note TN2065): each word single-quoted for /bin/sh, then the line
/// escaped for an AppleScript string (backslash and double quote).
pub fn privileged_applescript(script: &Path, args: &[OsString], prompt: &str) -> String {
    use std::os::unix::ffi::OsStrExt;
    let shell_word =
        |word: &[u8]| format!("'{}'", String::from_utf8_lossy(word).replace('\'', "'\\''"));
    let line = std::iter::once(script.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(|word| shell_word(word.as_bytes()))
        .collect::<Vec<_>>()
        .join(" ");
    let quoted = |text: &str| text.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "do shell script \"/bin/sh {}\" with prompt \"{}\" with administrator privileges",
        quoted(&line),
        quoted(prompt)
    )
}

/// This user's data of the app: on macOS the app's folder in the user's
/// Application Support, elsewhere the state folder.
pub fn default_user_data() -> anyhow::Result<PathBuf> {
    let record = crate::upgrade::default_finished_record()?;
    Ok(record.parent().map(Path::to_path_buf).unwrap_or(record))
}

#[cfg(test)]
mod tests {
    use super::{privileged_applescript, SystemFiles};
    use std::{ffi::OsString, path::Path, process::Command};

    #[test]
    fn the_applescript_gives_sh_each_word_as_it_is() {
        let script = Path::new("/Volumes/Jo's \"HD\" \\ 2/App.app/uninstall");
        let args = [
            OsString::from("--from-app"),
            OsString::from("/Volumes/Jo's \"HD\" \\ 2"),
        ];
        let applescript = privileged_applescript(script, &args, "Demo \"VPN\" wants to finish");
        assert!(
            applescript.ends_with(
                "with prompt \"Demo \\\"VPN\\\" wants to finish\" with administrator privileges"
            ),
            "{applescript}"
        );
        // Undo AppleScript's string escaping, as its parser does, and let
        // sh split the line: the words come back unchanged.
        let literal = applescript
            .strip_prefix("do shell script \"")
            .and_then(|rest| rest.split_once("\" with prompt"))
            .unwrap()
            .0;
        let mut line = String::new();
        let mut chars = literal.chars();
        while let Some(c) = chars.next() {
            line.push(if c == '\\' { chars.next().unwrap() } else { c });
        }
        let line = line.strip_prefix("/bin/sh ").unwrap();
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\n' {line}"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            format!(
                "{}\n--from-app\n{}\n",
                script.display(),
                args[1].to_string_lossy()
            )
        );
    }

    #[test]
    fn the_script_and_volume_come_from_an_installed_bundle() {
        let files =
            SystemFiles::of_bundle(Path::new("/Volumes/Data HD/Applications/DemoVPN.app")).unwrap();
        assert_eq!(files.volume, Path::new("/Volumes/Data HD"));
        assert_eq!(
            files.script,
            Path::new(
                "/Volumes/Data HD/Applications/DemoVPN.app/Contents/Resources/Uninstaller/uninstall"
            )
        );
        let error = SystemFiles::of_bundle(Path::new("/Users/me/build/DemoVPN.app")).unwrap_err();
        assert!(error.contains("not in an Applications folder"), "{error}");
    }
}
