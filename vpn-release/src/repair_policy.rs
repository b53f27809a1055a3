use std::fmt;

use serde::{Deserialize, Serialize};

/// When `upgrade finish` cycles the extension (deactivate + reactivate):
/// `[upgrade] repair-policy` in release.toml, which the postinstall script
/// hands to the app as `--policy`, spelled the same.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum RepairPolicy {
    /// Only when the handshake fails: deactivation deletes the VPN
    /// configuration and may prompt the user.
    #[default]
    OnFailure,
    /// On every upgrade, for vendors who want the old extension gone.
    Always,
    Never,
}

impl fmt::Display for RepairPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OnFailure => "on-failure",
            Self::Always => "always",
            Self::Never => "never",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::RepairPolicy;

    #[test]
    fn display_and_serde_spell_each_policy_the_same() {
        for policy in [
            RepairPolicy::OnFailure,
            RepairPolicy::Always,
            RepairPolicy::Never,
        ] {
            let json = serde_json::to_string(&policy).unwrap();
            assert_eq!(json, format!("\"{policy}\""));
            assert_eq!(serde_json::from_str::<RepairPolicy>(&json).unwrap(), policy);
        }
    }
}
