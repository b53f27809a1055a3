//! Which code may be on the other end of the XPC connection, in both
//! directions: anything signed with a Developer ID (or Apple Development /
//! Distribution) certificate of our own team. The team comes from the
//! versioned Mach service name both Info.plists carry, so code and bundle
//! cannot disagree about it.

use vpn_release::{ServiceName, TeamId};

/// A code-signing requirement (the language of `csreq`) that holds for code
/// signed by `team` with an Apple-issued certificate. A `TeamId` is ten
/// capitals and digits, so nothing else reaches the quoted string.
pub fn team_requirement(team: &TeamId) -> String {
    format!("anchor apple generic and certificate leaf[subject.OU] = \"{team}\"")
}

/// The requirement on the peer of `service`: the team that owns it.
pub fn peer_requirement(service: &ServiceName) -> String {
    team_requirement(&service.team())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_must_be_of_the_team_that_owns_the_service() {
        let service: ServiceName = "ABCDE12345.group.com.example.demovpn.tunnel.1.0.0"
            .parse()
            .unwrap();
        assert_eq!(
            peer_requirement(&service),
            "anchor apple generic and certificate leaf[subject.OU] = \"ABCDE12345\""
        );
    }
}
