//! Which code may be on the other end of the XPC connection, in both
//! directions: anything signed with a Developer ID (or Apple Development /
//! Distribution) certificate of our own team. The team comes from the
//! versioned Mach service name both Info.plists carry
//! (`<TEAM>.<extension bundle id>.<version>`), so code and bundle cannot
//! disagree about it.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    #[error("`{0}` is not a team identifier (10 capital letters and digits)")]
    BadTeam(String),
    #[error("`{0}` is not a versioned service name `<TEAM>.<bundle id>.<version>`")]
    BadServiceName(String),
}

fn check_team(team: &str) -> Result<(), RequirementError> {
    let valid = team.len() == 10
        && team
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(RequirementError::BadTeam(team.to_string()))
    }
}

/// The team a versioned service name belongs to.
pub fn team_of_service(service_name: &str) -> Result<&str, RequirementError> {
    let bad = || RequirementError::BadServiceName(service_name.to_string());
    let (team, rest) = service_name.split_once('.').ok_or_else(bad)?;
    if !rest.contains('.') {
        return Err(bad());
    }
    check_team(team).map_err(|_| bad())?;
    Ok(team)
}

/// A code-signing requirement (the language of `csreq`) that holds for code
/// signed by `team` with an Apple-issued certificate. The team is checked
/// first, so nothing but ten capitals and digits reaches the quoted string.
pub fn team_requirement(team: &str) -> Result<String, RequirementError> {
    check_team(team)?;
    Ok(format!(
        "anchor apple generic and certificate leaf[subject.OU] = \"{team}\""
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_team_comes_from_the_service_name() {
        assert_eq!(
            team_of_service("ABCDE12345.group.com.example.demovpn.tunnel.1.0.0"),
            Ok("ABCDE12345")
        );
        for bad in [
            "com.example.tunnel",
            "abcde12345.com.x.1",
            "ABCDE12345",
            "ABCDE1234.x.y",
        ] {
            assert!(team_of_service(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn requirements_name_only_a_checked_team() {
        assert_eq!(
            team_requirement("ABCDE12345").unwrap(),
            "anchor apple generic and certificate leaf[subject.OU] = \"ABCDE12345\""
        );
        for bad in ["ABCDE\"1234", "ABCDE12345\" or true", "abcde12345", ""] {
            assert!(team_requirement(bad).is_err(), "{bad}");
        }
    }
}
