//! Which code may be on the other end of the XPC connection, in both
//! directions: the one peer bundle (the app for the extension, the
//! extension for the app), signed with a Developer ID Application
//! certificate of our own team. The team comes from the versioned Mach
//! service name both Info.plists carry, the peer's bundle id from the
//! Info.plist key that names it, so code and bundle cannot disagree.

use vpn_release::{BundleId, ServiceName};

/// Marks a Developer ID Certification Authority (the intermediate).
const DEVELOPER_ID_CA: &str = "1.2.840.113635.100.6.2.6";
/// Marks a Developer ID Application certificate (the leaf).
const DEVELOPER_ID_APPLICATION: &str = "1.2.840.113635.100.6.1.13";

/// The requirement on the peer of `service`: the bundle `peer`, signed by
/// the team that owns the service with a Developer ID Application
/// certificate under Apple's Developer ID CA. This is the designated
/// requirement `codesign -d -r-` prints for Developer ID code (Apple, "Code
/// Signing Requirement Language": an OID alone tests that the field
/// exists), with the bundle pinned. A `TeamId` is ten capitals and digits
/// and a `BundleId` letters, digits, dots and hyphens, so nothing else
/// reaches the quoted strings.
pub fn peer_requirement(service: &ServiceName, peer: &BundleId) -> String {
    format!(
        "identifier \"{peer}\" and anchor apple generic \
         and certificate 1[field.{DEVELOPER_ID_CA}] \
         and certificate leaf[field.{DEVELOPER_ID_APPLICATION}] \
         and certificate leaf[subject.OU] = \"{}\"",
        service.team()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_is_one_bundle_of_the_services_team_signed_with_developer_id() {
        let service: ServiceName = "ABCDE12345.group.com.example.demovpn.tunnel.1.0.0"
            .parse()
            .unwrap();
        let app: BundleId = "com.example.demovpn".parse().unwrap();
        assert_eq!(
            peer_requirement(&service, &app),
            "identifier \"com.example.demovpn\" and anchor apple generic \
             and certificate 1[field.1.2.840.113635.100.6.2.6] \
             and certificate leaf[field.1.2.840.113635.100.6.1.13] \
             and certificate leaf[subject.OU] = \"ABCDE12345\""
        );
    }
}
