//! The two Info.plists, from the templates plus what the release decides.
//!
//! Both `CFBundleVersion` and `CFBundleShortVersionString` carry the release
//! version (macOS keeps the old extension unless both change), and both
//! bundles name the same versioned XPC service.

use plist::{Dictionary, Value};

use crate::{config::Release, templates::TemplateId};

/// Key in the app's Info.plist naming the extension's versioned Mach service,
/// which the app reads instead of hard-coding it.
pub const APP_SERVICE_NAME_KEY: &str = "VPNExtensionMachServiceName";
/// Key in the app's Info.plist naming the extension bundle to activate.
pub const APP_EXTENSION_ID_KEY: &str = "VPNExtensionBundleIdentifier";
pub const PACKET_TUNNEL_PROVIDER_KEY: &str = "com.apple.networkextension.packet-tunnel";

fn template(id: TemplateId) -> Dictionary {
    Value::from_reader_xml(id.text().as_bytes())
        .ok()
        .and_then(Value::into_dictionary)
        .expect("embedded Info.plist templates are dictionaries (checked by templates tests)")
}

fn common(dict: &mut Dictionary, release: &Release, id: &str, name: &str, executable: &str) {
    let version = release.version.as_str();
    dict.insert("CFBundleIdentifier".into(), id.into());
    dict.insert("CFBundleName".into(), name.into());
    dict.insert("CFBundleExecutable".into(), executable.into());
    dict.insert("CFBundleShortVersionString".into(), version.into());
    dict.insert("CFBundleVersion".into(), version.into());
    dict.insert(
        "LSMinimumSystemVersion".into(),
        release.minimum_macos.as_str().into(),
    );
}

pub fn app_info_plist(release: &Release) -> Dictionary {
    let mut dict = template(TemplateId::AppInfoPlist);
    common(
        &mut dict,
        release,
        release.app.bundle_id.as_str(),
        &release.name,
        &release.app.executable,
    );
    dict.insert("CFBundleDisplayName".into(), release.name.as_str().into());
    dict.insert(
        APP_SERVICE_NAME_KEY.into(),
        release.service_name.as_str().into(),
    );
    dict.insert(
        APP_EXTENSION_ID_KEY.into(),
        release.extension.bundle_id.as_str().into(),
    );
    dict
}

pub fn extension_info_plist(release: &Release) -> Dictionary {
    let mut dict = template(TemplateId::ExtensionInfoPlist);
    common(
        &mut dict,
        release,
        release.extension.bundle_id.as_str(),
        &release.extension.executable,
        &release.extension.executable,
    );
    let mut providers = Dictionary::new();
    providers.insert(
        PACKET_TUNNEL_PROVIDER_KEY.into(),
        release.provider_class.as_str().into(),
    );
    let mut network_extension = Dictionary::new();
    network_extension.insert(
        "NEMachServiceName".into(),
        release.service_name.as_str().into(),
    );
    network_extension.insert("NEProviderClasses".into(), Value::Dictionary(providers));
    dict.insert(
        "NetworkExtension".into(),
        Value::Dictionary(network_extension),
    );
    dict
}

pub fn to_xml(dict: &Dictionary) -> Vec<u8> {
    let mut out = Vec::new();
    Value::Dictionary(dict.clone())
        .to_writer_xml(&mut out)
        .expect("writing a plist to memory cannot fail");
    out
}
