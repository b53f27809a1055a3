//! Entitlements from `signing/`, with the checks that catch the classic
//! Developer ID network-extension mistakes before anything is signed.
//!
//! Files may use Xcode's `$(TeamIdentifierPrefix)` / `$(AppIdentifierPrefix)`
//! (replaced by `<TEAMID>.`) and `$(DEVELOPMENT_TEAM)` (by `<TEAMID>`), so one
//! file serves every team.

use std::path::{Path, PathBuf};

use plist::{Dictionary, Value};

use vpn_release::{BundleId, TeamId};

pub const NETWORK_EXTENSION: &str = "com.apple.developer.networking.networkextension";
pub const SYSTEM_EXTENSION_INSTALL: &str = "com.apple.developer.system-extension.install";
pub const APP_GROUPS: &str = "com.apple.security.application-groups";
pub const TEAM_IDENTIFIER: &str = "com.apple.developer.team-identifier";
pub const APPLICATION_IDENTIFIER: &str = "com.apple.application-identifier";
/// The only packet-tunnel value a Developer ID system extension may carry;
/// Xcode's export writes `packet-tunnel-provider`, which macOS rejects.
pub const PACKET_TUNNEL_SYSTEM_EXTENSION: &str = "packet-tunnel-provider-systemextension";

#[derive(Debug, thiserror::Error)]
pub enum EntitlementsError {
    #[error("cannot read entitlements {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("entitlements {path} is not a valid property list: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error("entitlements {path}: `{key}` {problem}")]
    Invalid {
        path: PathBuf,
        key: String,
        problem: String,
        help: String,
    },
}

impl EntitlementsError {
    /// What to change, in one line.
    pub fn help(&self) -> Option<String> {
        match self {
            Self::Read { .. } => None,
            Self::Malformed { .. } => {
                Some("fix the XML; `plutil -lint` on a Mac or `xmllint --noout` shows where".into())
            }
            Self::Invalid { help, .. } => Some(help.clone()),
        }
    }
}

/// Which bundle an entitlements file is for; each has its own rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    App,
    Extension,
}

/// A checked entitlements dictionary, ready to embed in a signature.
#[derive(Clone, Debug)]
pub struct Entitlements {
    pub path: PathBuf,
    pub dict: Dictionary,
}

impl Entitlements {
    pub fn to_xml(&self) -> String {
        let mut out = Vec::new();
        Value::Dictionary(self.dict.clone())
            .to_writer_xml(&mut out)
            .expect("writing a plist to memory cannot fail");
        String::from_utf8(out).expect("plist XML is UTF-8")
    }

    pub fn app_groups(&self) -> Vec<String> {
        self.dict
            .get(APP_GROUPS)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_string)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Loads `path`, expands the team prefixes and checks it for `role`.
    pub fn load(
        path: &Path,
        role: Role,
        team: &TeamId,
        bundle_id: &BundleId,
    ) -> Result<Self, EntitlementsError> {
        let text = std::fs::read_to_string(path).map_err(|source| EntitlementsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let prefix = format!("{team}.");
        let text = text
            .replace("$(TeamIdentifierPrefix)", &prefix)
            .replace("$(AppIdentifierPrefix)", &prefix)
            .replace("$(DEVELOPMENT_TEAM)", team.as_str());
        let dict = Value::from_reader_xml(text.as_bytes())
            .map_err(|e| EntitlementsError::Malformed {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?
            .into_dictionary()
            .ok_or_else(|| EntitlementsError::Malformed {
                path: path.to_path_buf(),
                message: "the top-level value is not a <dict>".into(),
            })?;
        let entitlements = Self {
            path: path.to_path_buf(),
            dict,
        };
        entitlements.check(role, team, bundle_id)?;
        Ok(entitlements)
    }

    fn invalid(&self, key: &str, problem: String, help: String) -> EntitlementsError {
        EntitlementsError::Invalid {
            path: self.path.clone(),
            key: key.to_string(),
            problem,
            help,
        }
    }

    fn check(
        &self,
        role: Role,
        team: &TeamId,
        bundle_id: &BundleId,
    ) -> Result<(), EntitlementsError> {
        let values: Vec<&str> = match self.dict.get(NETWORK_EXTENSION) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_string).collect(),
            Some(_) => {
                return Err(self.invalid(
                    NETWORK_EXTENSION,
                    "is not an array of strings".into(),
                    format!(
                        "write <array><string>{PACKET_TUNNEL_SYSTEM_EXTENSION}</string></array>"
                    ),
                ))
            }
            None => Vec::new(),
        };
        if values.contains(&"packet-tunnel-provider") {
            return Err(self.invalid(
                NETWORK_EXTENSION,
                "has `packet-tunnel-provider`, the App Store value".into(),
                format!("Developer ID system extensions need `{PACKET_TUNNEL_SYSTEM_EXTENSION}` (Xcode's export gets this wrong)"),
            ));
        }
        if !values.contains(&PACKET_TUNNEL_SYSTEM_EXTENSION) {
            return Err(self.invalid(
                NETWORK_EXTENSION,
                format!("does not list `{PACKET_TUNNEL_SYSTEM_EXTENSION}`"),
                "both the app (to configure the VPN) and the extension (to provide it) need it"
                    .into(),
            ));
        }
        if role == Role::App
            && self
                .dict
                .get(SYSTEM_EXTENSION_INSTALL)
                .and_then(Value::as_boolean)
                != Some(true)
        {
            return Err(self.invalid(
                SYSTEM_EXTENSION_INSTALL,
                "is missing or not <true/>".into(),
                "the app cannot activate its extension without it: add <key>com.apple.developer.system-extension.install</key><true/>".into(),
            ));
        }
        if role == Role::Extension && self.dict.contains_key(SYSTEM_EXTENSION_INSTALL) {
            return Err(self.invalid(
                SYSTEM_EXTENSION_INSTALL,
                "is set on the extension".into(),
                "only the host app installs system extensions: remove it from the extension's file"
                    .into(),
            ));
        }
        if let Some(value) = self.dict.get(TEAM_IDENTIFIER) {
            if value.as_string() != Some(team.as_str()) {
                return Err(self.invalid(
                    TEAM_IDENTIFIER,
                    format!("is {value:?}, not the release team `{team}`"),
                    "use `$(TeamIdentifierPrefix)` style values or fix product.team-id in release.toml".into(),
                ));
            }
        }
        if let Some(value) = self.dict.get(APPLICATION_IDENTIFIER) {
            let expected = format!("{team}.{bundle_id}");
            if value.as_string() != Some(expected.as_str()) {
                return Err(self.invalid(
                    APPLICATION_IDENTIFIER,
                    format!("is {value:?}, expected `{expected}`"),
                    "write `$(AppIdentifierPrefix)<bundle id>`".into(),
                ));
            }
        }
        for group in self.app_groups() {
            if !group.starts_with(&format!("{team}.")) {
                return Err(self.invalid(
                    APP_GROUPS,
                    format!("has `{group}`, which is not prefixed by the team id `{team}.`"),
                    "macOS app groups shared by a Developer ID app and its extension must start with the team id: write `$(TeamIdentifierPrefix)group.<name>`".into(),
                ));
            }
        }
        Ok(())
    }
}

/// The app and its extension must share at least one app group when either
/// declares any, or their shared container is two different places.
pub fn check_shared_groups(
    app: &Entitlements,
    extension: &Entitlements,
) -> Result<(), EntitlementsError> {
    let (a, e) = (app.app_groups(), extension.app_groups());
    if (a.is_empty() && e.is_empty()) || a.iter().any(|g| e.contains(g)) {
        return Ok(());
    }
    Err(extension.invalid(
        APP_GROUPS,
        format!(
            "shares no group with the app ({} has {:?}, this file {:?})",
            app.path.display(),
            a,
            e
        ),
        "list the same `$(TeamIdentifierPrefix)group.<name>` in both files".into(),
    ))
}

/// The app group the extension's Mach service name goes under: the first
/// of the extension's groups that the app shares, else its first. sysextd
/// refuses an `NEMachServiceName` outside every group the extension is
/// entitled to (OSSystemExtensionErrorDomain code 9, "extension category
/// returned error"; Apple DTS, forums.developer.apple.com thread 708017).
pub fn mach_service_group(
    app: &Entitlements,
    extension: &Entitlements,
) -> Result<String, EntitlementsError> {
    let (shared, own) = (app.app_groups(), extension.app_groups());
    own.iter()
        .find(|g| shared.contains(g))
        .or(own.first())
        .cloned()
        .ok_or_else(|| {
            extension.invalid(
                APP_GROUPS,
                "lists no app group, and the extension's NEMachServiceName must sit under one".into(),
                "add <key>com.apple.security.application-groups</key><array><string>$(TeamIdentifierPrefix)group.<app id></string></array> to both files (sysextd refuses the extension otherwise: OSSystemExtensionErrorDomain code 9)".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>com.apple.developer.networking.networkextension</key><array><string>packet-tunnel-provider-systemextension</string></array>
<key>com.apple.developer.system-extension.install</key><true/>
<key>com.apple.developer.team-identifier</key><string>ABCDE12345</string>
<key>com.apple.security.application-groups</key><array><string>$(TeamIdentifierPrefix)group.vpn</string></array>
</dict></plist>"#;

    fn load(text: &str, role: Role) -> Result<Entitlements, EntitlementsError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.entitlements");
        std::fs::write(&path, text).unwrap();
        Entitlements::load(
            &path,
            role,
            &"ABCDE12345".parse().unwrap(),
            &"com.example.vpn".parse().unwrap(),
        )
    }

    #[test]
    fn good_app_file_expands_the_team_prefix() {
        let e = load(APP, Role::App).unwrap();
        assert_eq!(e.app_groups(), ["ABCDE12345.group.vpn"]);
        assert!(e.to_xml().contains("ABCDE12345.group.vpn"));
    }

    /// The fix an error offers, which its message leaves to the caller.
    fn fix_of(err: &EntitlementsError) -> String {
        let help = err
            .help()
            .unwrap_or_else(|| panic!("no fix offered for: {err}"));
        assert!(!help.is_empty() && !err.to_string().contains("help:"));
        help
    }

    #[test]
    fn app_store_value_is_refused_with_the_fix() {
        let text = APP.replace(
            "packet-tunnel-provider-systemextension",
            "packet-tunnel-provider",
        );
        let err = load(&text, Role::App).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("App Store value"), "{msg}");
        assert!(fix_of(&err).contains("packet-tunnel-provider-systemextension"));
    }

    #[test]
    fn install_entitlement_belongs_to_the_app_only() {
        assert!(load(APP, Role::Extension)
            .unwrap_err()
            .to_string()
            .contains("set on the extension"));
        let text = APP.replace(
            "<key>com.apple.developer.system-extension.install</key><true/>",
            "",
        );
        assert!(load(&text, Role::App)
            .unwrap_err()
            .to_string()
            .contains("missing"));
    }

    #[test]
    fn mismatched_team_is_refused() {
        let text = APP.replace("<string>ABCDE12345</string>", "<string>ZZZZZ99999</string>");
        assert!(load(&text, Role::App)
            .unwrap_err()
            .to_string()
            .contains("ZZZZZ99999"));
        let text = APP.replace("$(TeamIdentifierPrefix)group.vpn", "group.vpn");
        assert!(load(&text, Role::App)
            .unwrap_err()
            .to_string()
            .contains("not prefixed by the team id"));
    }

    #[test]
    fn malformed_file_names_itself() {
        let msg = load("<plist><dict><key>a</key>", Role::App)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("x.entitlements") && msg.contains("not a valid property list"),
            "{msg}"
        );
    }

    /// The extension's entitlements: the app's without the install
    /// entitlement, with `groups` (plist `<string>`s) as its app groups.
    fn extension_with_groups(groups: &str) -> Entitlements {
        load(
            &APP.replace(
                "<key>com.apple.developer.system-extension.install</key><true/>",
                "",
            )
            .replace("<string>$(TeamIdentifierPrefix)group.vpn</string>", groups),
            Role::Extension,
        )
        .unwrap()
    }

    #[test]
    fn groups_must_overlap() {
        // Distinct files for the app and the extension, each loaded for its
        // own role; only the extension's groups vary.
        let app = load(APP, Role::App).unwrap();
        // No group in common: refused, naming both lists and the fix.
        let other = extension_with_groups("<string>$(TeamIdentifierPrefix)group.other</string>");
        assert_eq!(other.app_groups(), ["ABCDE12345.group.other"]);
        let err = check_shared_groups(&app, &other).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("shares no group with the app")
                && msg.contains("ABCDE12345.group.vpn")
                && msg.contains("ABCDE12345.group.other"),
            "{msg}"
        );
        fix_of(&err);
        // The app has a group and the extension none: refused too.
        let none = extension_with_groups("");
        assert!(none.app_groups().is_empty());
        assert!(check_shared_groups(&app, &none).is_err());
        assert!(check_shared_groups(&none, &app).is_err());
        // One group shared among others: accepted, in either order of listing.
        let overlapping = extension_with_groups(
            "<string>$(TeamIdentifierPrefix)group.own</string><string>$(TeamIdentifierPrefix)group.vpn</string>",
        );
        assert_ne!(overlapping.app_groups(), app.app_groups());
        assert!(check_shared_groups(&app, &overlapping).is_ok());
        // Neither declares any group: nothing to share, accepted.
        let app_without = load(
            &APP.replace("<string>$(TeamIdentifierPrefix)group.vpn</string>", ""),
            Role::App,
        )
        .unwrap();
        assert!(check_shared_groups(&app_without, &none).is_ok());
    }

    #[test]
    fn the_service_group_is_one_the_extension_has_and_the_app_shares() {
        let app = load(APP, Role::App).unwrap();
        let both = extension_with_groups("<string>$(TeamIdentifierPrefix)group.own</string><string>$(TeamIdentifierPrefix)group.vpn</string>");
        assert_eq!(
            mach_service_group(&app, &both).unwrap(),
            "ABCDE12345.group.vpn"
        );
        let err = mach_service_group(&app, &extension_with_groups("")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(APP_GROUPS) && msg.contains("NEMachServiceName"),
            "{msg}"
        );
        fix_of(&err);
    }
}
