//! The two Info.plists: the templates' fixed keys, with what the release
//! decides written over them as `vpn-release`'s typed plists, the same
//! types the app and the extension read back.

use plist::{Dictionary, Value};
use vpn_release::info_plist::{
    AppInfoPlist, BundleKeys, ExtensionInfoPlist, NetworkExtensionKeys, UpdateKeys,
    PACKET_TUNNEL_PROVIDER,
};

use crate::{config::Release, templates::TemplateId};

fn template(id: TemplateId) -> Dictionary {
    Value::from_reader_xml(id.text().as_bytes())
        .ok()
        .and_then(Value::into_dictionary)
        .expect("embedded Info.plist templates are dictionaries (checked by templates tests)")
}

/// The template with `keys` written over it.
fn over_template(id: TemplateId, keys: &impl serde::Serialize) -> Dictionary {
    let mut dict = template(id);
    let keys = plist::to_value(keys)
        .ok()
        .and_then(Value::into_dictionary)
        .expect("the typed Info.plists serialise to dictionaries");
    dict.extend(keys);
    dict
}

fn bundle_keys(
    release: &Release,
    id: &vpn_release::BundleId,
    name: &str,
    executable: &str,
) -> BundleKeys {
    BundleKeys {
        bundle_id: id.clone(),
        name: name.to_string(),
        executable: executable.to_string(),
        short_version: release.version.clone(),
        version: release.version.clone(),
        minimum_macos: release.minimum_macos.clone(),
    }
}

pub fn app_info_plist(release: &Release) -> Dictionary {
    let keys = AppInfoPlist {
        bundle: bundle_keys(
            release,
            &release.app.bundle_id,
            &release.name,
            &release.app.executable,
        ),
        display_name: release.name.clone(),
        service_name: release.service_name.clone(),
        extension_id: release.extension.bundle_id.clone(),
        updates: UpdateKeys {
            feed_url: release.updates.feed_url.as_ref().map(url::Url::to_string),
            public_ed_key: release.updates.public_ed_key.clone(),
        },
    };
    over_template(TemplateId::AppInfoPlist, &keys)
}

pub fn extension_info_plist(release: &Release) -> Dictionary {
    let keys = ExtensionInfoPlist {
        bundle: bundle_keys(
            release,
            &release.extension.bundle_id,
            &release.extension.executable,
            &release.extension.executable,
        ),
        app_id: release.app.bundle_id.clone(),
        network_extension: NetworkExtensionKeys {
            mach_service_name: release.service_name.clone(),
            provider_classes: [(
                PACKET_TUNNEL_PROVIDER.to_string(),
                release.provider_class.clone(),
            )]
            .into(),
        },
    };
    over_template(TemplateId::ExtensionInfoPlist, &keys)
}

pub fn to_xml(dict: &Dictionary) -> Vec<u8> {
    let mut out = Vec::new();
    Value::Dictionary(dict.clone())
        .to_writer_xml(&mut out)
        .expect("writing a plist to memory cannot fail");
    out
}
