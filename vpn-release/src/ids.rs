//! Newtypes for the names that must never be mixed up: a team id where a
//! bundle id belongs is exactly the kind of mistake that ships a broken pkg.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("`{0}` is not a team id: Apple team ids are 10 upper-case letters or digits (e.g. `ABCDE12345`)")]
    TeamId(String),
    #[error("`{0}` is not a bundle id: use reverse-DNS of letters, digits, `-` and `.` (e.g. `com.example.vpn`)")]
    BundleId(String),
    #[error(
        "`{0}` is not a release version: use MAJOR.MINOR.PATCH with numbers only (e.g. `1.4.2`)"
    )]
    Version(String),
    #[error("`{0}` is not a versioned service name: `<TEAM>.group.<app id>.<extension>.<MAJOR.MINOR.PATCH>`")]
    ServiceName(String),
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

/// An Apple Developer team identifier, e.g. `ABCDE12345`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TeamId(String);
string_newtype!(TeamId);

impl std::str::FromStr for TeamId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.len() == 10
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            Ok(Self(s.to_string()))
        } else {
            Err(IdError::TeamId(s.to_string()))
        }
    }
}

/// A `CFBundleIdentifier`, e.g. `com.example.vpn.tunnel`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BundleId(String);
string_newtype!(BundleId);

impl std::str::FromStr for BundleId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let valid = s.split('.').count() >= 2
            && s.split('.').all(|part| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if valid {
            Ok(Self(s.to_string()))
        } else {
            Err(IdError::BundleId(s.to_string()))
        }
    }
}

impl BundleId {
    /// True when `self` is `parent` followed by at least one more component,
    /// the relation macOS requires between an app and its system extension.
    pub fn is_strictly_under(&self, parent: &BundleId) -> bool {
        self.0
            .strip_prefix(&parent.0)
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('.'))
    }
}

/// A release version `MAJOR.MINOR.PATCH`, written to both
/// `CFBundleShortVersionString` and `CFBundleVersion` (macOS keeps the old
/// extension unless both change).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Version(String);
string_newtype!(Version);

impl std::str::FromStr for Version {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let parts: Vec<&str> = s.split('.').collect();
        let valid = parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()));
        if valid {
            Ok(Self(s.to_string()))
        } else {
            Err(IdError::Version(s.to_string()))
        }
    }
}

/// The XPC Mach service name of the extension's control listener:
/// `<app group>.<extension id below the app's>.<version>`, e.g.
/// `ABCDE12345.group.com.example.vpn.tunnel.1.4.2`.
///
/// - Under an app group the extension is entitled to: sysextd checks that
///   `NEMachServiceName` starts with `<group>.` and fails activation with
///   OSSystemExtensionErrorDomain code 9 otherwise (Apple DTS,
///   forums.developer.apple.com thread 708017).
/// - Versioned: a new name per release makes a stale lookup of the previous
///   extension's service impossible, which is what kills the
///   invalidated-XPC-after-upgrade bug.
///
/// Parsed back (the extension and the app read it from an Info.plist), it
/// yields the team that owns it: our groups are team-prefixed, which the
/// installer's entitlement checks insist on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceName(String);
string_newtype!(ServiceName);

impl std::str::FromStr for ServiceName {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::ServiceName(s.to_string());
        let (team, rest) = s.split_once('.').ok_or_else(bad)?;
        team.parse::<TeamId>().map_err(|_| bad())?;
        let mut parts = rest.rsplitn(4, '.');
        let (patch, minor, major) = (parts.next(), parts.next(), parts.next());
        let group_and_extension = parts.next().filter(|p| !p.is_empty()).ok_or_else(bad)?;
        let version = format!(
            "{}.{}.{}",
            major.unwrap_or_default(),
            minor.unwrap_or_default(),
            patch.unwrap_or_default()
        );
        if group_and_extension.contains('.') && version.parse::<Version>().is_ok() {
            Ok(Self(s.to_string()))
        } else {
            Err(bad())
        }
    }
}

impl ServiceName {
    /// `extension` must be strictly under `app` (the config checks it).
    pub fn versioned(group: &str, app: &BundleId, extension: &BundleId, version: &Version) -> Self {
        let below = extension
            .as_str()
            .strip_prefix(app.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or(extension.as_str());
        Self(format!("{group}.{below}.{version}"))
    }

    /// The release version the name ends with.
    pub fn version(&self) -> String {
        let mut parts = self.0.rsplitn(4, '.');
        let (patch, minor, major) = (parts.next(), parts.next(), parts.next());
        format!(
            "{}.{}.{}",
            major.unwrap_or_default(),
            minor.unwrap_or_default(),
            patch.unwrap_or_default()
        )
    }

    /// The team whose app group the name lives under.
    pub fn team(&self) -> TeamId {
        let (team, _) = self.0.split_once('.').expect("a parsed name has a team");
        TeamId(team.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert!("ABCDE12345".parse::<TeamId>().is_ok());
        assert!("abcde12345".parse::<TeamId>().is_err());
        assert!("ABCDE1234".parse::<TeamId>().is_err());
        assert!("com.example.vpn".parse::<BundleId>().is_ok());
        assert!("com..vpn".parse::<BundleId>().is_err());
        assert!("vpn".parse::<BundleId>().is_err());
        assert!("com.example/vpn".parse::<BundleId>().is_err());
        assert!("1.4.2".parse::<Version>().is_ok());
        assert!("1.4".parse::<Version>().is_err());
        assert!("1.4.2-beta".parse::<Version>().is_err());
        let name: ServiceName = "ABCDE12345.group.com.example.vpn.tunnel.1.4.2"
            .parse()
            .unwrap();
        assert_eq!(name.version(), "1.4.2");
        assert_eq!(name.team().as_str(), "ABCDE12345");
    }

    #[test]
    fn extension_must_sit_under_the_app() {
        let app: BundleId = "com.example.vpn".parse().unwrap();
        let ext: BundleId = "com.example.vpn.tunnel".parse().unwrap();
        let sibling: BundleId = "com.example.vpnx".parse().unwrap();
        assert!(ext.is_strictly_under(&app));
        assert!(!sibling.is_strictly_under(&app));
        assert!(!app.is_strictly_under(&app));
    }

    #[test]
    fn service_name_is_the_group_the_extension_and_the_version() {
        let group = "ABCDE12345.group.com.example.vpn";
        let name = ServiceName::versioned(
            group,
            &"com.example.vpn".parse().unwrap(),
            &"com.example.vpn.tunnel".parse().unwrap(),
            &"1.4.2".parse().unwrap(),
        );
        assert_eq!(
            name.as_str(),
            "ABCDE12345.group.com.example.vpn.tunnel.1.4.2"
        );
        let parsed: ServiceName = name.as_str().parse().unwrap();
        assert_eq!(parsed, name);
        assert_eq!(parsed.team().as_str(), "ABCDE12345");
    }

    #[test]
    fn only_team_prefixed_versioned_names_parse() {
        for bad in [
            "com.example.tunnel",
            "abcde12345.group.x.tunnel.1.0.0",
            "ABCDE12345",
            "ABCDE1234.group.x.tunnel.1.0.0",
            "ABCDE12345.tunnel.1.0.0",
            "ABCDE12345.group.x.tunnel.1.0",
            "ABCDE12345.group.x.tunnel.1.0.x",
            "ABCDE12345..1.0.0",
        ] {
            assert!(bad.parse::<ServiceName>().is_err(), "{bad}");
        }
    }
}
