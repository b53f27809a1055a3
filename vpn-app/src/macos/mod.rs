//! macOS: the host app's platform layer. [`system_extension`] activates
//! and deactivates the extension, [`vpn_configuration`] keeps the VPN
//! configuration and starts the tunnel; both are thin calls into Apple's
//! frameworks, driven by logic that is tested on Linux.

pub mod system_extension;
pub mod vpn_configuration;

use std::path::PathBuf;

use anyhow::{bail, Context};

/// What the app knows of its own bundle.
#[derive(Clone, Debug)]
pub struct AppBundle {
    /// `CFBundleIdentifier`: it names the folders of the app's data.
    pub id: String,
    /// `CFBundleName`: the name the VPN configuration is shown under.
    pub name: String,
    /// The embedded system extension's bundle id, also the provider's.
    pub extension_id: String,
}

fn bundle_string(plist: &PathBuf, key: &str) -> anyhow::Result<String> {
    let value = plist::Value::from_file(plist)
        .with_context(|| format!("cannot read {}", plist.display()))?;
    value
        .as_dictionary()
        .and_then(|d| d.get(key))
        .and_then(plist::Value::as_string)
        .map(str::to_string)
        .with_context(|| format!("{} has no {key}", plist.display()))
}

/// Reads `Name.app/Contents/Info.plist`, this program being
/// `Name.app/Contents/MacOS/<exe>`: the extension is the one its
/// `VPNExtensionBundleIdentifier` names, which must be embedded under
/// `Contents/Library/SystemExtensions`.
pub fn app_bundle() -> anyhow::Result<AppBundle> {
    use vpn_release::info_plist::APP_EXTENSION_ID;
    let exe = std::env::current_exe().context("cannot locate this program")?;
    let contents = exe
        .parent()
        .and_then(|macos| macos.parent())
        .context("this program is not inside an app bundle")?
        .to_path_buf();
    let info = contents.join("Info.plist");
    let extension_id = bundle_string(&info, APP_EXTENSION_ID)?;
    let extension = contents
        .join("Library/SystemExtensions")
        .join(format!("{extension_id}.systemextension"));
    if !extension.is_dir() {
        bail!(
            "{} names the extension {extension_id}, but {} is missing: reinstall the app",
            info.display(),
            extension.display()
        );
    }
    Ok(AppBundle {
        id: bundle_string(&info, "CFBundleIdentifier")?,
        name: bundle_string(&info, "CFBundleName")?,
        extension_id,
    })
}
