//! The two Info.plists, from the templates plus what the release decides.
//!
//! Both `CFBundleVersion` and `CFBundleShortVersionString` carry the release
//! version (macOS keeps the old extension unless both change), and both
//! bundles name the same versioned XPC service.

use plist::{Dictionary, Value};
use vpn_release::info_plist::{
    APP_EXTENSION_ID, APP_SERVICE_NAME, EXTENSION_APP_ID, MACH_SERVICE_NAME, NETWORK_EXTENSION,
    PACKET_TUNNEL_PROVIDER, PROVIDER_CLASSES,
};

use crate::{config::Release, templates::TemplateId};

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
        APP_SERVICE_NAME.into(),
        release.service_name.as_str().into(),
    );
    dict.insert(
        APP_EXTENSION_ID.into(),
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
    dict.insert(
        EXTENSION_APP_ID.into(),
        release.app.bundle_id.as_str().into(),
    );
    let mut providers = Dictionary::new();
    providers.insert(
        PACKET_TUNNEL_PROVIDER.into(),
        release.provider_class.as_str().into(),
    );
    let mut network_extension = Dictionary::new();
    network_extension.insert(
        MACH_SERVICE_NAME.into(),
        release.service_name.as_str().into(),
    );
    network_extension.insert(PROVIDER_CLASSES.into(), Value::Dictionary(providers));
    dict.insert(
        NETWORK_EXTENSION.into(),
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
