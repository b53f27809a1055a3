//! The two Info.plists as types: `installer-tool` writes them (over the
//! templates' fixed keys) and the app and the extension read their own
//! back, through the same serde names, so a key cannot be spelled two
//! ways. Unknown keys are ignored when reading: the templates carry many
//! that only macOS reads.

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};

use crate::{BundleId, ServiceName, Version};

/// In the app's Info.plist: the extension's versioned Mach service, which
/// the app connects to instead of hard-coding it ([`AppInfoPlist`]'s
/// `service_name`; serde needs the name spelled out there too).
pub const APP_SERVICE_NAME: &str = "VPNExtensionMachServiceName";
/// In the extension's `NetworkExtension` dictionary: the packet tunnel
/// provider's type, the key of its class in `NEProviderClasses`.
pub const PACKET_TUNNEL_PROVIDER: &str = "com.apple.networkextension.packet-tunnel";

#[derive(Debug, thiserror::Error)]
#[error("cannot read {path} as this release's Info.plist: {message}")]
pub struct InfoPlistError {
    pub path: String,
    pub message: String,
}

/// What both bundles say of themselves. Both version keys carry the
/// release version: macOS keeps the old extension unless both change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleKeys {
    #[serde(rename = "CFBundleIdentifier")]
    pub bundle_id: BundleId,
    #[serde(rename = "CFBundleName")]
    pub name: String,
    #[serde(rename = "CFBundleExecutable")]
    pub executable: String,
    #[serde(rename = "CFBundleShortVersionString")]
    pub short_version: Version,
    #[serde(rename = "CFBundleVersion")]
    pub version: Version,
    #[serde(rename = "LSMinimumSystemVersion")]
    pub minimum_macos: String,
}

/// The app's Info.plist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfoPlist {
    #[serde(flatten)]
    pub bundle: BundleKeys,
    #[serde(rename = "CFBundleDisplayName")]
    pub display_name: String,
    #[serde(rename = "VPNExtensionMachServiceName")]
    pub service_name: ServiceName,
    /// The bundle id of the extension to activate.
    #[serde(rename = "VPNExtensionBundleIdentifier")]
    pub extension_id: BundleId,
    /// Where `vpn-app update` looks for releases, and the base64 ed25519
    /// public key they must be signed with: Sparkle's own keys, so a
    /// Sparkle-based app reads the same feed.
    #[serde(flatten)]
    pub updates: UpdateKeys,
}

/// The app's update keys ([`AppInfoPlist::updates`]); absent when the
/// release configures no updates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateKeys {
    #[serde(
        rename = "SUFeedURL",
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "present"
    )]
    pub feed_url: Option<String>,
    #[serde(
        rename = "SUPublicEDKey",
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "present"
    )]
    pub public_ed_key: Option<String>,
}

/// A present optional key as its plain value. Flattened into the app's
/// plist, these fields are written as map entries, where the plist crate
/// would write an option as a `{Some: value}` dictionary.
fn present<S: serde::Serializer>(value: &Option<String>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.serialize_str(value),
        None => serializer.serialize_none(),
    }
}

/// The extension's Info.plist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionInfoPlist {
    #[serde(flatten)]
    pub bundle: BundleKeys,
    /// The app it belongs to, which names the folder of the extension's
    /// data ([`crate::paths`]).
    #[serde(rename = "VPNAppBundleIdentifier")]
    pub app_id: BundleId,
    #[serde(rename = "NetworkExtension")]
    pub network_extension: NetworkExtensionKeys,
}

/// The `NetworkExtension` dictionary NetworkExtension reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkExtensionKeys {
    #[serde(rename = "NEMachServiceName")]
    pub mach_service_name: ServiceName,
    /// Provider type to Objective-C class.
    #[serde(rename = "NEProviderClasses")]
    pub provider_classes: BTreeMap<String, String>,
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, InfoPlistError> {
    plist::from_file(path).map_err(|e| InfoPlistError {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

impl AppInfoPlist {
    pub fn read(path: &Path) -> Result<Self, InfoPlistError> {
        read(path)
    }
}

impl ExtensionInfoPlist {
    pub fn read(path: &Path) -> Result<Self, InfoPlistError> {
        read(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(id: &str) -> BundleKeys {
        BundleKeys {
            bundle_id: id.parse().unwrap(),
            name: "DemoVPN".into(),
            executable: "vpn-app".into(),
            short_version: "1.2.3".parse().unwrap(),
            version: "1.2.3".parse().unwrap(),
            minimum_macos: "13.0".into(),
        }
    }

    #[test]
    fn what_is_written_reads_back_under_apples_keys() {
        let service: ServiceName = "ABCDE12345.group.com.example.vpn.tunnel.1.2.3"
            .parse()
            .unwrap();
        let extension = ExtensionInfoPlist {
            bundle: bundle("com.example.vpn.tunnel"),
            app_id: "com.example.vpn".parse().unwrap(),
            network_extension: NetworkExtensionKeys {
                mach_service_name: service,
                provider_classes: [(PACKET_TUNNEL_PROVIDER.to_string(), "Provider".into())].into(),
            },
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Info.plist");
        plist::to_file_xml(&path, &extension).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for key in [
            "<key>CFBundleVersion</key>",
            "<key>VPNAppBundleIdentifier</key>",
            "<key>NEMachServiceName</key>",
            "<key>com.apple.networkextension.packet-tunnel</key>",
        ] {
            assert!(text.contains(key), "{key} in {text}");
        }
        assert_eq!(ExtensionInfoPlist::read(&path).unwrap(), extension);
        // The app's plist is not the extension's: a read of the wrong one
        // names the file.
        let error = AppInfoPlist::read(&path).unwrap_err();
        assert!(error.to_string().contains("Info.plist"), "{error}");

        let app = AppInfoPlist {
            bundle: bundle("com.example.vpn"),
            display_name: "DemoVPN".into(),
            service_name: extension.network_extension.mach_service_name.clone(),
            extension_id: extension.bundle.bundle_id.clone(),
            updates: UpdateKeys {
                feed_url: Some("https://updates.example.com/appcast.xml".into()),
                public_ed_key: Some("tXs3tnUwwOt6RkD3xJ6y8HQpl2NvCLe3b0kG3WZYw2s=".into()),
            },
        };
        plist::to_file_xml(&path, &app).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&format!("<key>{APP_SERVICE_NAME}</key>")),
            "{text}"
        );
        assert!(
            text.contains(
                "<key>SUPublicEDKey</key>\n\t<string>tXs3tnUwwOt6RkD3xJ6y8HQpl2NvCLe3b0kG3WZYw2s=</string>"
            ),
            "{text}"
        );
        assert_eq!(AppInfoPlist::read(&path).unwrap(), app);
    }
}
