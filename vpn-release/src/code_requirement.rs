//! The designated requirement of Developer ID code: what the XPC peers
//! demand of each other and what an MDM profile pins the extension to
//! (`ProviderDesignatedRequirement`), written once so they cannot differ.

use crate::{BundleId, TeamId};

/// Marks a Developer ID Certification Authority (the intermediate).
const DEVELOPER_ID_CA: &str = "1.2.840.113635.100.6.2.6";
/// Marks a Developer ID Application certificate (the leaf).
const DEVELOPER_ID_APPLICATION: &str = "1.2.840.113635.100.6.1.13";

/// The bundle `bundle`, signed by `team` with a Developer ID Application
/// certificate under Apple's Developer ID CA. This is the designated
/// requirement `codesign -d -r-` prints for Developer ID code (Apple, "Code
/// Signing Requirement Language": an OID alone tests that the field
/// exists). A `TeamId` is ten capitals and digits and a `BundleId` letters,
/// digits, dots and hyphens, so nothing else reaches the quoted strings.
pub fn developer_id(team: &TeamId, bundle: &BundleId) -> String {
    format!(
        "identifier \"{bundle}\" and anchor apple generic \
         and certificate 1[field.{DEVELOPER_ID_CA}] \
         and certificate leaf[field.{DEVELOPER_ID_APPLICATION}] \
         and certificate leaf[subject.OU] = \"{team}\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requirement_pins_one_bundle_of_one_team_signed_with_developer_id() {
        let team: TeamId = "ABCDE12345".parse().unwrap();
        let app: BundleId = "com.example.demovpn".parse().unwrap();
        assert_eq!(
            developer_id(&team, &app),
            "identifier \"com.example.demovpn\" and anchor apple generic \
             and certificate 1[field.1.2.840.113635.100.6.2.6] \
             and certificate leaf[field.1.2.840.113635.100.6.1.13] \
             and certificate leaf[subject.OU] = \"ABCDE12345\""
        );
    }
}
