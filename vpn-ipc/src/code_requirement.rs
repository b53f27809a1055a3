//! Which code may be on the other end of the XPC connection, in both
//! directions: the one peer bundle (the app for the extension, the
//! extension for the app), signed with a Developer ID Application
//! certificate of our own team. The team comes from the versioned Mach
//! service name both Info.plists carry, the peer's bundle id from the
//! Info.plist key that names it, so code and bundle cannot disagree.

use vpn_release::{BundleId, ServiceName};

/// The requirement on the peer of `service`: the bundle `peer`, signed by
/// the team that owns the service (its Developer ID designated requirement).
pub fn peer_requirement(service: &ServiceName, peer: &BundleId) -> String {
    vpn_release::code_requirement::developer_id(&service.team(), peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_is_one_bundle_of_the_services_team() {
        let service: ServiceName = "ABCDE12345.group.com.example.demovpn.tunnel.1.0.0"
            .parse()
            .unwrap();
        let app: BundleId = "com.example.demovpn".parse().unwrap();
        let requirement = peer_requirement(&service, &app);
        assert!(
            requirement.starts_with("identifier \"com.example.demovpn\" and anchor apple generic")
        );
        assert!(requirement.ends_with("certificate leaf[subject.OU] = \"ABCDE12345\""));
    }
}
