//! macOS: the host app's platform layer. [`system_extension`] activates
//! and deactivates the extension, [`vpn_configuration`] keeps the VPN
//! configuration and starts the tunnel; both are thin calls into Apple's
//! frameworks, driven by logic that is tested on Linux.

pub mod system_extension;
pub mod vpn_configuration;

use anyhow::{bail, Context};

/// What the app knows of its own bundle.
#[derive(Clone, Debug)]
pub struct AppBundle {
    /// `Name.app`.
    pub path: std::path::PathBuf,
    /// `CFBundleIdentifier`: it names the folders of the app's data.
    pub id: String,
    /// `CFBundleName`: the name the VPN configuration is shown under.
    pub name: String,
    /// The embedded system extension's bundle id, also the provider's.
    pub extension_id: String,
    /// `VPNExtensionMachServiceName`: the extension's versioned XPC service.
    pub service_name: String,
}

/// Reads `Name.app/Contents/Info.plist`, this program being
/// `Name.app/Contents/MacOS/<exe>`: the extension is the one its
/// `VPNExtensionBundleIdentifier` names, which must be embedded under
/// `Contents/Library/SystemExtensions`.
pub fn app_bundle() -> anyhow::Result<AppBundle> {
    let exe = std::env::current_exe().context("cannot locate this program")?;
    let contents = exe
        .parent()
        .and_then(|macos| macos.parent())
        .context("this program is not inside an app bundle")?
        .to_path_buf();
    let info = contents.join("Info.plist");
    let plist = vpn_release::info_plist::AppInfoPlist::read(&info)?;
    let extension_id = plist.extension_id.to_string();
    let app = contents.parent().context("the app bundle has no parent")?;
    let extension = app.join(vpn_release::paths::embedded_extension(&plist.extension_id));
    if !extension.is_dir() {
        bail!(
            "{} names the extension {extension_id}, but {} is missing: reinstall the app",
            info.display(),
            extension.display()
        );
    }
    Ok(AppBundle {
        path: app.to_path_buf(),
        id: plist.bundle.bundle_id.to_string(),
        name: plist.bundle.name,
        extension_id,
        service_name: plist.service_name.to_string(),
    })
}
