//! The Info.plist keys `installer-tool` writes and the app and extension
//! read at run time.

/// In the app's Info.plist: the extension's versioned Mach service, which
/// the app connects to instead of hard-coding it.
pub const APP_SERVICE_NAME: &str = "VPNExtensionMachServiceName";
/// In the app's Info.plist: the bundle id of the extension to activate.
pub const APP_EXTENSION_ID: &str = "VPNExtensionBundleIdentifier";
/// In the extension's Info.plist: the bundle id of the app it belongs to,
/// which names the folder of the extension's data ([`crate::paths`]).
pub const EXTENSION_APP_ID: &str = "VPNAppBundleIdentifier";
/// In the extension's Info.plist: the dictionary NetworkExtension reads.
pub const NETWORK_EXTENSION: &str = "NetworkExtension";
/// In [`NETWORK_EXTENSION`]: the Mach service the extension listens on.
pub const MACH_SERVICE_NAME: &str = "NEMachServiceName";
/// In [`NETWORK_EXTENSION`]: provider type to Objective-C class.
pub const PROVIDER_CLASSES: &str = "NEProviderClasses";
/// In [`PROVIDER_CLASSES`]: the packet tunnel provider's type.
pub const PACKET_TUNNEL_PROVIDER: &str = "com.apple.networkextension.packet-tunnel";
