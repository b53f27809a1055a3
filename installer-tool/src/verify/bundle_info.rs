//! What each bundle of a payload says of itself: the keys of its
//! Info.plist that releases and updates turn on (the versions Installer
//! and Sparkle compare, the minimum macOS, the update feed and key).

use plist::{Dictionary, Value};
use serde::Serialize;

/// An Info.plist is a few kilobytes; a larger one is not read.
pub const INFO_PLIST_LIMIT: u64 = 1 << 20;

#[derive(Clone, Debug, Serialize)]
pub struct BundleInfo {
    /// The bundle's folder in the payload, e.g. `Applications/DemoVPN.app`.
    pub path: String,
    pub identifier: Option<String>,
    /// `CFBundleDisplayName`, else `CFBundleName`.
    pub name: Option<String>,
    /// `CFBundleVersion`: what macOS and Sparkle compare.
    pub version: Option<String>,
    /// `CFBundleShortVersionString`: what people read.
    pub short_version: Option<String>,
    /// `LSMinimumSystemVersion`.
    pub minimum_system_version: Option<String>,
    /// `SUFeedURL`.
    pub feed_url: Option<String>,
    /// `SUPublicEDKey`.
    pub public_ed_key: Option<String>,
    /// The extension's XPC service: the app's `VPNExtensionMachServiceName`,
    /// the extension's `NetworkExtension` > `NEMachServiceName`.
    pub service_name: Option<String>,
}

/// The bundle folder whose Info.plist `path` is: `X.app/Contents/Info.plist`
/// and the like, for every bundle kind that has a `Contents` folder.
pub fn bundle_of(path: &str) -> Option<&str> {
    let bundle = path.strip_suffix("/Contents/Info.plist")?;
    let name = bundle.rsplit('/').next()?;
    let extension = name.rsplit_once('.')?.1;
    matches!(
        extension,
        "app" | "appex" | "systemextension" | "framework" | "bundle"
    )
    .then_some(bundle)
}

/// Reads the keys of `data`, the Info.plist of the bundle at `bundle`.
pub fn read(bundle: &str, data: &[u8]) -> Result<BundleInfo, String> {
    let dict: Dictionary = Value::from_reader(std::io::Cursor::new(data))
        .map_err(|e| format!("is not a property list: {e}"))?
        .into_dictionary()
        .ok_or("is not a dictionary")?;
    let text = |key: &str| dict.get(key).and_then(Value::as_string).map(str::to_string);
    Ok(BundleInfo {
        path: bundle.to_string(),
        identifier: text("CFBundleIdentifier"),
        name: text("CFBundleDisplayName").or_else(|| text("CFBundleName")),
        version: text("CFBundleVersion"),
        short_version: text("CFBundleShortVersionString"),
        minimum_system_version: text("LSMinimumSystemVersion"),
        feed_url: text("SUFeedURL"),
        public_ed_key: text("SUPublicEDKey"),
        service_name: text(vpn_release::info_plist::APP_SERVICE_NAME).or_else(|| {
            dict.get("NetworkExtension")
                .and_then(Value::as_dictionary)
                .and_then(|n| n.get("NEMachServiceName"))
                .and_then(Value::as_string)
                .map(str::to_string)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bundles_own_info_plist_counts() {
        assert_eq!(
            bundle_of("Applications/DemoVPN.app/Contents/Info.plist"),
            Some("Applications/DemoVPN.app")
        );
        assert_eq!(
            bundle_of(
                "A.app/Contents/Library/SystemExtensions/x.y.systemextension/Contents/Info.plist"
            ),
            Some("A.app/Contents/Library/SystemExtensions/x.y.systemextension")
        );
        assert_eq!(bundle_of("A.app/Contents/Resources/Info.plist"), None);
        assert_eq!(bundle_of("Contents/Info.plist"), None);
    }
}
