//! The configuration profile an MDM server pushes with the pkg, so that a
//! managed Mac never shows the user a prompt: the system extension is
//! pre-approved, the VPN configuration installed, the login agent and the
//! app's notifications allowed.
//!
//! Every key and type follows Apple's schemas of the payloads
//! (`apple/device-management`, `mdm/profiles/*.yaml`); the tests check the
//! profile against a copy of them. Where a schema leaves a key optional
//! that its own text requires (`VPNSubType` for VPNType `VPN`,
//! `ProviderDesignatedRequirement` for a system extension), it is written.

use std::path::{Path, PathBuf};

use plist::{Dictionary, Value};
use serde::{Deserialize, Serialize};

use crate::{
    config::{ConfigError, Release},
    output_file::{self, OutputError},
    signing::{self, IdentitySummary, Purpose, SigningError, SigningIdentity},
};

/// `[mdm]`: how the profile's VPN configuration behaves.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MdmConfig {
    /// The organisation System Settings names as the profile's source.
    #[serde(default)]
    pub organization: Option<String>,
    /// The server System Settings shows for the VPN (`VPN.RemoteAddress`);
    /// by default the first peer's endpoint of `--tunnel`.
    #[serde(default)]
    pub remote_address: Option<String>,
    #[serde(default)]
    pub on_demand: OnDemand,
    /// Wi-Fi networks where the tunnel stays down (`outside-trusted-wifi`).
    #[serde(default)]
    pub trusted_ssids: Vec<String>,
}

/// When macOS brings the tunnel up by itself.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnDemand {
    /// Only when the user or the app connects.
    #[default]
    Off,
    /// Whenever the Mac has a network.
    Always,
    /// Except on the Wi-Fi networks of `trusted-ssids`.
    OutsideTrustedWifi,
}

impl MdmConfig {
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field, problem: &str, help: &str| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            problem: problem.into(),
            help: help.into(),
        };
        match (self.on_demand, self.trusted_ssids.is_empty()) {
            (OnDemand::OutsideTrustedWifi, true) => return Err(invalid(
                "mdm.trusted-ssids",
                "is empty, so `outside-trusted-wifi` would connect everywhere",
                "list the Wi-Fi names where the tunnel stays down, or use on-demand = \"always\"",
            )),
            (OnDemand::Off | OnDemand::Always, false) => {
                return Err(invalid(
                    "mdm.trusted-ssids",
                    "is only read with on-demand = \"outside-trusted-wifi\"",
                    "set on-demand = \"outside-trusted-wifi\", or remove trusted-ssids",
                ))
            }
            _ => {}
        }
        if self.trusted_ssids.iter().any(String::is_empty) {
            return Err(invalid(
                "mdm.trusted-ssids",
                "holds an empty name",
                "remove the empty entry",
            ));
        }
        if self.remote_address.as_deref() == Some("") {
            return Err(invalid(
                "mdm.remote-address",
                "is empty",
                "name the VPN server (host or host:port), or remove the key",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MdmError {
    #[error("cannot read the tunnel {path}")]
    ReadTunnel {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {problem}")]
    Tunnel {
        path: PathBuf,
        problem: String,
        help: String,
    },
    #[error("no server for the VPN configuration (`mdm.remote-address` of {config})")]
    NoRemoteAddress { config: PathBuf },
    #[error(transparent)]
    Sign(#[from] SigningError),
    #[error(transparent)]
    Write(#[from] OutputError),
}

impl MdmError {
    pub fn help(&self) -> Option<String> {
        match self {
            Self::Tunnel { help, .. } => Some(help.clone()),
            Self::NoRemoteAddress { .. } => Some(
                "set [mdm] remote-address = \"vpn.example.com\", or pass --tunnel FILE whose \
                 [Peer] has an Endpoint"
                    .into(),
            ),
            Self::Sign(error) => error.help(),
            Self::ReadTunnel { .. } | Self::Write(_) => None,
        }
    }
}

/// A wg-quick file the profile carries to every Mac, as WireGuard's own
/// app takes one (`VendorConfig` -> `WgQuickConfig`, wireguard-apple's
/// MOBILECONFIG.md); the extension reads it from its provider
/// configuration. The extension parses it fully when it starts; here only
/// what the profile needs is read.
pub struct TunnelFile {
    /// The profile name the extension stores it under: the file's stem, as
    /// `vpn-app import` names it.
    pub name: String,
    pub text: String,
    /// The first peer's `Endpoint`.
    pub endpoint: Option<String>,
}

/// The text holds the tunnel's private key: never in a debug print.
impl std::fmt::Debug for TunnelFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelFile")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl TunnelFile {
    pub fn read(path: &Path) -> Result<Self, MdmError> {
        let text = std::fs::read_to_string(path).map_err(|source| MdmError::ReadTunnel {
            path: path.to_path_buf(),
            source,
        })?;
        let tunnel_error = |problem: &str, help: &str| MdmError::Tunnel {
            path: path.to_path_buf(),
            problem: problem.into(),
            help: help.into(),
        };
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| vpn_release::provider_configuration::is_profile_name(s))
            .ok_or_else(|| {
                tunnel_error(
                    "is not named like a profile: the extension stores it under the file's name",
                    "name the file with 1 to 64 letters, digits, `-` or `_`, e.g. office.conf",
                )
            })?
            .to_string();
        let mut section = String::new();
        let mut has_interface_key = false;
        let mut endpoint = None;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.starts_with('[') {
                section = line.to_ascii_lowercase();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            match (section.as_str(), key.as_str()) {
                ("[interface]", "privatekey") => has_interface_key = true,
                ("[peer]", "endpoint") if endpoint.is_none() => {
                    endpoint = Some(value.trim().to_string());
                }
                _ => {}
            }
        }
        if !has_interface_key {
            return Err(tunnel_error(
                "has no [Interface] PrivateKey, so it is not a wg-quick tunnel",
                "pass the tunnel's .conf as wg-quick writes it",
            ));
        }
        Ok(Self {
            name,
            text,
            endpoint,
        })
    }
}

/// The payload types, in the profile's order.
const SYSTEM_EXTENSION_POLICY: &str = "com.apple.system-extension-policy";
const VPN: &str = "com.apple.vpn.managed";
const LOGIN_ITEMS: &str = "com.apple.servicemanagement";
const NOTIFICATIONS: &str = "com.apple.notificationsettings";

/// What the profile is made of, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct PayloadSummary {
    #[serde(rename = "type")]
    pub payload_type: &'static str,
    pub identifier: String,
    pub uuid: String,
}

/// The profile: stable identifiers under the app's bundle id (a later
/// profile with the same identifiers replaces this one), fresh UUIDs.
fn configuration_profile(
    release: &Release,
    config_path: &Path,
    tunnel: Option<&TunnelFile>,
) -> Result<(Dictionary, Vec<PayloadSummary>), MdmError> {
    let team = release.team_id.to_string();
    let app = release.app.bundle_id.to_string();
    let extension = release.extension.bundle_id.to_string();
    let remote_address = release
        .mdm
        .remote_address
        .clone()
        .or_else(|| tunnel.and_then(|t| t.endpoint.clone()))
        .ok_or_else(|| MdmError::NoRemoteAddress {
            config: config_path.to_path_buf(),
        })?;
    let by_team = |ids: Vec<Value>| {
        Value::Dictionary(Dictionary::from_iter([(team.clone(), Value::Array(ids))]))
    };
    let string = |s: &str| Value::String(s.to_string());

    let extension_policy = Dictionary::from_iter([
        ("AllowedSystemExtensions", by_team(vec![string(&extension)])),
        (
            "AllowedSystemExtensionTypes",
            by_team(vec![string("NetworkExtension")]),
        ),
        // Lets the app deactivate the extension (repair, uninstall)
        // without an administrator's password (macOS 12 on).
        (
            "RemovableSystemExtensions",
            by_team(vec![string(&extension)]),
        ),
    ]);

    let mut vpn = Dictionary::from_iter([
        ("ProviderBundleIdentifier", string(&extension)),
        ("ProviderType", string("packet-tunnel")),
        (
            "ProviderDesignatedRequirement",
            Value::String(vpn_release::code_requirement::developer_id(
                &release.team_id,
                &release.extension.bundle_id,
            )),
        ),
        // Not in Apple's schema of the VPN dictionary, yet NEVPNProtocol's
        // serverAddress, which every published profile (WireGuard's
        // MOBILECONFIG.md among them) sets here.
        ("RemoteAddress", string(&remote_address)),
        ("AuthenticationMethod", string("Password")),
        // The schema types the VPN dictionary's switches as integers 0/1.
        (
            "OnDemandEnabled",
            Value::Integer(i64::from(release.mdm.on_demand != OnDemand::Off).into()),
        ),
    ]);
    let rules = match release.mdm.on_demand {
        OnDemand::Off => None,
        OnDemand::Always => Some(vec![rule([("Action", string("Connect"))])]),
        OnDemand::OutsideTrustedWifi => Some(vec![
            rule([
                ("Action", string("Disconnect")),
                ("InterfaceTypeMatch", string("WiFi")),
                (
                    "SSIDMatch",
                    Value::Array(
                        release
                            .mdm
                            .trusted_ssids
                            .iter()
                            .map(|s| string(s))
                            .collect(),
                    ),
                ),
            ]),
            rule([("Action", string("Connect"))]),
        ]),
    };
    if let Some(rules) = rules {
        vpn.insert("OnDemandRules".into(), Value::Array(rules));
    }
    let mut vpn_payload = Dictionary::from_iter([
        ("UserDefinedName", string(&release.name)),
        ("VPNType", string("VPN")),
        // The app that contains the provider, not the provider.
        ("VPNSubType", string(&app)),
        ("VPN", Value::Dictionary(vpn)),
    ]);
    if let Some(tunnel) = tunnel {
        vpn_payload.insert(
            "VendorConfig".into(),
            Value::Dictionary(Dictionary::from_iter([
                (
                    vpn_release::provider_configuration::PROFILE,
                    string(&tunnel.name),
                ),
                (
                    vpn_release::provider_configuration::WG_QUICK,
                    string(&tunnel.text),
                ),
            ])),
        );
    }

    let login_items = Dictionary::from_iter([(
        "Rules",
        Value::Array(vec![rule([
            ("RuleType", string("TeamIdentifier")),
            ("RuleValue", string(&team)),
            (
                "Comment",
                Value::String(format!("{}: the app and its login agent", release.name)),
            ),
        ])]),
    )]);

    let notifications = Dictionary::from_iter([(
        "NotificationSettings",
        Value::Array(vec![rule([
            ("BundleIdentifier", string(&app)),
            ("NotificationsEnabled", Value::Boolean(true)),
            ("ShowInNotificationCenter", Value::Boolean(true)),
            ("ShowInLockScreen", Value::Boolean(true)),
            // A temporary banner (the schema's 1).
            ("AlertType", Value::Integer(1.into())),
        ])]),
    )]);

    let profile_id = profile_identifier(release);
    let payloads = [
        (
            SYSTEM_EXTENSION_POLICY,
            "system-extension-policy",
            "System extension",
            extension_policy,
        ),
        (VPN, "vpn", "VPN", vpn_payload),
        (LOGIN_ITEMS, "login-items", "Login items", login_items),
        (
            NOTIFICATIONS,
            "notifications",
            "Notifications",
            notifications,
        ),
    ];
    let mut summaries = Vec::new();
    let mut content = Vec::new();
    for (payload_type, suffix, display_name, mut payload) in payloads {
        let identifier = format!("{profile_id}.{suffix}");
        let payload_uuid = fresh_uuid();
        for (key, value) in [
            ("PayloadType", string(payload_type)),
            ("PayloadIdentifier", string(&identifier)),
            ("PayloadUUID", string(&payload_uuid)),
            ("PayloadVersion", Value::Integer(1.into())),
            ("PayloadDisplayName", string(display_name)),
        ] {
            payload.insert(key.into(), value);
        }
        content.push(Value::Dictionary(payload));
        summaries.push(PayloadSummary {
            payload_type,
            identifier,
            uuid: payload_uuid,
        });
    }

    let mut profile = Dictionary::from_iter([
        ("PayloadType", string("Configuration")),
        ("PayloadVersion", Value::Integer(1.into())),
        ("PayloadIdentifier", string(&profile_id)),
        ("PayloadUUID", Value::String(fresh_uuid())),
        ("PayloadDisplayName", string(&release.name)),
        (
            "PayloadDescription",
            Value::String(format!(
                "Approves the {} system extension and its notifications, allows its login \
                 items and installs its VPN configuration.",
                release.name
            )),
        ),
        // The extension policy and login items are device payloads.
        ("PayloadScope", string("System")),
        ("PayloadContent", Value::Array(content)),
    ]);
    if let Some(organization) = &release.mdm.organization {
        profile.insert("PayloadOrganization".into(), string(organization));
    }
    Ok((profile, summaries))
}

/// Stable across releases, so a new profile replaces the old one.
fn profile_identifier(release: &Release) -> String {
    format!("{}.profile", release.app.bundle_id)
}

fn rule<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Dictionary(Dictionary::from_iter(entries))
}

/// A fresh UUID in the upper case Apple's tools write.
fn fresh_uuid() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

/// What `installer-tool mdm-profile` was asked for.
pub struct MdmRequest<'a> {
    pub release: &'a Release,
    pub config_path: &'a Path,
    pub tunnel: Option<&'a Path>,
    /// Signs the profile; unsigned without (MDM servers often sign what
    /// they push themselves).
    pub signer: Option<&'a SigningIdentity>,
    pub output: &'a Path,
}

/// What was written, for the report (never the tunnel's text).
#[derive(Debug, Serialize)]
pub struct MdmReport {
    pub profile: PathBuf,
    pub identifier: String,
    pub payloads: Vec<PayloadSummary>,
    pub signed_by: Option<IdentitySummary>,
    /// Then the file is readable by its owner only, and must travel only
    /// to the Macs it is for.
    pub carries_private_key: bool,
}

/// Builds, signs and writes the profile. The file is replaced in one step,
/// so a failure leaves the previous one as it was.
pub fn write_profile(request: &MdmRequest) -> Result<MdmReport, MdmError> {
    let tunnel = request.tunnel.map(TunnelFile::read).transpose()?;
    let (profile, payloads) =
        configuration_profile(request.release, request.config_path, tunnel.as_ref())?;
    let xml = crate::info_plist::to_xml(&profile);
    let bytes = match request.signer {
        Some(identity) => signing::sign_profile(&xml, identity)?,
        None => xml,
    };
    // A tunnel's private key is for its owner's eyes only.
    let mode = if tunnel.is_some() { 0o600 } else { 0o644 };
    output_file::replace(request.output, &bytes, mode)?;
    Ok(MdmReport {
        profile: request.output.to_path_buf(),
        identifier: profile_identifier(request.release),
        payloads,
        signed_by: request
            .signer
            .map(|identity| identity.summary(Purpose::Application, false)),
        carries_private_key: tunnel.is_some(),
    })
}
