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

/// Reads `Name.app/Contents/Info.plist` and the one extension under
/// `Contents/Library/SystemExtensions`, this program being
/// `Name.app/Contents/MacOS/<exe>`.
pub fn app_bundle() -> anyhow::Result<AppBundle> {
    let exe = std::env::current_exe().context("cannot locate this program")?;
    let contents = exe
        .parent()
        .and_then(|macos| macos.parent())
        .context("this program is not inside an app bundle")?
        .to_path_buf();
    let extensions = contents.join("Library/SystemExtensions");
    let extension = std::fs::read_dir(&extensions)
        .with_context(|| format!("cannot list {}", extensions.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "systemextension"));
    let Some(extension) = extension else {
        bail!("no .systemextension in {}", extensions.display());
    };
    Ok(AppBundle {
        name: bundle_string(&contents.join("Info.plist"), "CFBundleName")?,
        extension_id: bundle_string(&extension.join("Contents/Info.plist"), "CFBundleIdentifier")?,
    })
}
