//! The upgrade's state and report, as the pkg scripts and the app exchange
//! them: the state file preinstall writes (root-owned) with what the old
//! app's `upgrade prepare` printed inside it, and the report `upgrade
//! finish` writes for postinstall. JSON, with a schema version.

use serde::{Deserialize, Serialize};

/// The state file's `schema_version`: preinstall writes it (build-pkg
/// renders it into the script). Bumped when a field changes meaning or
/// goes; a new build reads every earlier schema (fixtures under
/// `tests/fixtures/upgrade-state/`).
pub const STATE_SCHEMA_VERSION: u32 = 1;

/// The state file the preinstall script writes (root-owned) for the new
/// app: what it saw before the replacement, and what the old app's
/// `upgrade prepare` printed when it had that command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeState {
    /// Names this upgrade, so that `finish --once` runs it once.
    #[serde(default)]
    pub upgrade_id: Option<String>,
    #[serde(default)]
    pub previous_version: Option<String>,
    /// What `scutil` showed before the script stopped the tunnel.
    #[serde(default)]
    pub tunnel_was_up: bool,
    /// `null` when the old app had no `upgrade prepare` or nobody was
    /// logged in to run it.
    #[serde(default)]
    pub prepared: Option<Prepared>,
}

/// What `upgrade finish --state` may be given: the preinstall script's
/// state file, or what `upgrade prepare` printed (Linux has no pkg
/// scripts: `prepare > state.json`).
#[derive(Deserialize)]
#[serde(untagged)]
enum StateFile {
    Prepared(Prepared),
    Script(UpgradeState),
}

impl UpgradeState {
    /// Reads either form of state file. The bytes are untrusted (a file on
    /// disk): anything that is not one of the two forms is an error.
    pub fn from_state_file(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(match serde_json::from_slice(bytes)? {
            StateFile::Script(state) => state,
            StateFile::Prepared(prepared) => UpgradeState {
                tunnel_was_up: prepared.tunnel_was_up,
                previous_version: Some(prepared.version.clone()),
                prepared: Some(prepared),
                upgrade_id: None,
            },
        })
    }

    pub fn tunnel_was_up(&self) -> bool {
        self.tunnel_was_up || self.prepared.as_ref().is_some_and(|p| p.tunnel_was_up)
    }

    pub fn profile(&self) -> Option<&str> {
        self.prepared.as_ref()?.profile.as_deref()
    }

    /// The VPN configuration the old app recorded before the replacement.
    pub fn configuration(&self) -> Option<&SavedConfiguration> {
        self.prepared.as_ref()?.configuration.as_ref()
    }
}

/// What `upgrade prepare` (the old app) prints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepared {
    pub tunnel_was_up: bool,
    pub profile: Option<String>,
    pub version: String,
    /// Our VPN configuration as it was, On Demand included: a repair's
    /// deactivation deletes it, and the new app saves it again from this.
    /// Absent from the output of versions before 1.0.0's.
    #[serde(default)]
    pub configuration: Option<SavedConfiguration>,
}

/// What recreates our VPN configuration (`NETunnelProviderManager`) as the
/// user had it: deactivating the extension deletes it, and the system keeps
/// no copy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedConfiguration {
    /// `localizedDescription`: what System Settings and `scutil` show.
    pub name: String,
    /// `serverAddress` of the provider protocol.
    pub server: String,
    /// The profile its provider configuration starts.
    pub profile: Option<String>,
    /// `isOnDemandEnabled`.
    #[serde(default)]
    pub on_demand: bool,
    /// `onDemandRules`, as the platform archives them (on macOS, an
    /// `NSKeyedArchiver` archive in base64): kept whole, never read here.
    #[serde(default)]
    pub on_demand_rules: Option<String>,
}

/// How the upgrade ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The app reaches the current extension; the tunnel is as it was.
    Healthy,
    /// macOS finishes the replacement at the next restart.
    RebootRequired,
    /// The user has not approved the extension (yet).
    ApprovalPending,
    /// Still broken after everything the policy allows; `reason` says what.
    Unhealthy { reason: String },
    /// `--once`, and this upgrade was finished before (a login agent runs
    /// at every login until the next install removes it).
    AlreadyFinished,
}

impl Outcome {
    /// Whether `upgrade finish` exits 0.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Healthy | Self::AlreadyFinished)
    }
}

/// The JSON report `upgrade finish` prints: the outcome and every step
/// (read back by the menu bar app the same process becomes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeReport {
    #[serde(flatten)]
    pub outcome: Outcome,
    pub repaired: bool,
    pub tunnel_restored: bool,
    pub steps: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The menu bar app reads back what `upgrade finish --json` printed,
    /// schema version and all.
    #[test]
    fn a_printed_report_reads_back() {
        for outcome in [
            Outcome::Healthy,
            Outcome::ApprovalPending,
            Outcome::Unhealthy {
                reason: "no answer".into(),
            },
        ] {
            let report = UpgradeReport {
                outcome,
                repaired: true,
                tunnel_restored: false,
                steps: vec!["activated".into()],
            };
            let mut json = serde_json::to_value(&report).unwrap();
            json["schema_version"] = 1.into();
            assert_eq!(
                serde_json::from_value::<UpgradeReport>(json).unwrap(),
                report
            );
        }
    }
}
