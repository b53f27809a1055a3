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
