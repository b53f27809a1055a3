//! The programs an update runs, the same on macOS and in the Linux tests
//! (where stand-ins play pkgutil, open and installer): curl over HTTPS
//! with the system's trust store (https only, redirects included),
//! `pkgutil --check-signature` and `--expand`, and Installer.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context};
use serde::Serialize;

/// Who got the pkg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HandedTo {
    /// `open -a Installer`: the user sees Installer's pages (run as a user).
    InstallerApp,
    /// `installer -pkg ... -target /` (run as root).
    Installer,
}

fn curl(limit: u64) -> Command {
    let mut command = Command::new("curl");
    command
        .args(["--fail", "--location", "--show-error"])
        .args(["--proto", "=https", "--proto-redir", "=https"])
        .args(["--connect-timeout", "30", "--max-filesize"])
        .arg(limit.to_string());
    command
}

fn failed(what: &str, output: &std::process::Output) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )
}

/// The body at `url`, at most `limit` bytes.
pub fn fetch(url: &str, limit: u64) -> anyhow::Result<String> {
    let output = curl(limit)
        .arg("--silent")
        .arg(url)
        .output()
        .context("cannot run curl")?;
    if !output.status.success() {
        return Err(failed(&format!("fetching {url}"), &output));
    }
    String::from_utf8(output.stdout).with_context(|| format!("{url} is not UTF-8 text"))
}

/// Downloads `url` into a folder of this app's own under the temporary
/// directory (Installer reads the pkg after this program ends); its path.
pub fn download(
    url: &str,
    app_id: &impl std::fmt::Display,
    limit: u64,
    progress: bool,
) -> anyhow::Result<PathBuf> {
    let name = url
        .rsplit('/')
        .next()
        .filter(|n| {
            n.ends_with(".pkg")
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        .unwrap_or("update.pkg");
    let dir = std::env::temp_dir().join(format!("{app_id}.update"));
    std::fs::DirBuilder::new()
        .recursive(true)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    // Only its owner may swap the pkg between the checks and Installer.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", dir.display()))?;
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    let output = curl(limit)
        .arg(if progress {
            "--progress-bar"
        } else {
            "--silent"
        })
        .arg("--output")
        .arg(&path)
        .arg(url)
        .stderr(if progress {
            std::process::Stdio::inherit()
        } else {
            std::process::Stdio::piped()
        })
        .output()
        .context("cannot run curl")?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&path);
        return Err(failed(&format!("downloading {url}"), &output));
    }
    Ok(path)
}

/// What `pkgutil --check-signature` prints (it exits 1 for an unsigned
/// pkg, which the output says too).
pub fn check_signature(pkg: &Path) -> anyhow::Result<String> {
    let output = Command::new("pkgutil")
        .arg("--check-signature")
        .arg(pkg)
        .output()
        .context("cannot run pkgutil")?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The pkg's PackageInfo, from `pkgutil --expand` (a product archive
/// holds it in its component's folder).
pub fn package_info(pkg: &Path) -> anyhow::Result<String> {
    let dir = pkg.with_extension("expanded");
    let _ = std::fs::remove_dir_all(&dir);
    let output = Command::new("pkgutil")
        .arg("--expand")
        .arg(pkg)
        .arg(&dir)
        .output()
        .context("cannot run pkgutil")?;
    if !output.status.success() {
        return Err(failed(
            &format!("pkgutil --expand {}", pkg.display()),
            &output,
        ));
    }
    let found = std::iter::once(dir.join("PackageInfo"))
        .chain(
            std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path().join("PackageInfo")),
        )
        .find(|path| path.is_file());
    let info = found.map(std::fs::read_to_string).transpose();
    let _ = std::fs::remove_dir_all(&dir);
    info.with_context(|| format!("cannot read the PackageInfo of {}", pkg.display()))?
        .with_context(|| format!("{} has no PackageInfo", pkg.display()))
}

/// Installer takes it from here: Installer.app for a user, `installer`
/// when running as root.
pub fn hand_to_installer(pkg: &Path) -> anyhow::Result<HandedTo> {
    let (mut command, handed_to) = if nix::unistd::geteuid().is_root() {
        let mut command = Command::new("installer");
        command.arg("-pkg").arg(pkg).args(["-target", "/"]);
        (command, HandedTo::Installer)
    } else {
        let mut command = Command::new("open");
        command.args(["-a", "Installer"]).arg(pkg);
        (command, HandedTo::InstallerApp)
    };
    let output = command.output().context("cannot start Installer")?;
    if !output.status.success() {
        bail!("{}", failed(&format!("{command:?}"), &output));
    }
    Ok(handed_to)
}

/// This Mac's version (`ProductVersion` of SystemVersion.plist, the file
/// `sw_vers` reads).
#[cfg(target_os = "macos")]
pub fn os_version() -> Option<String> {
    let plist: plist::Dictionary =
        plist::from_file("/System/Library/CoreServices/SystemVersion.plist").ok()?;
    plist.get("ProductVersion")?.as_string().map(str::to_string)
}

/// Not a Mac: no macOS version to hold items to.
#[cfg(not(target_os = "macos"))]
pub fn os_version() -> Option<String> {
    None
}
