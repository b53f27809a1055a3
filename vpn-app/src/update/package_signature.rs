//! Who signed a downloaded pkg, as the Mac itself judges it: `pkgutil
//! --check-signature`, whose verdict covers Apple's trust chain and the
//! notarization the Mac knows of. Its output is parsed by the rules of
//! published real output (pkgutil indents with 3, 4, 7 and 11 spaces;
//! `Notarization:` appears only for notarized pkgs; an unsigned pkg says
//! `Status: no signature` and exits 1).

use vpn_release::TeamId;

/// The `Status:` of a pkg signed with a Developer ID Installer certificate
/// Apple issued (pkgutil's own wording; a Mac Installer Distribution
/// certificate says "signed by a certificate trusted by ...").
pub const DEVELOPER_ID_STATUS: &str =
    "signed by a developer certificate issued by Apple for distribution";
const DEVELOPER_ID_INSTALLER: &str = "Developer ID Installer: ";

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PackageSignature {
    pub status: Option<String>,
    pub notarized: bool,
    /// The first certificate of the chain, e.g. `Developer ID Installer:
    /// Example Inc. (ABCDE12345)`.
    pub signer: Option<String>,
}

impl PackageSignature {
    pub fn parse(output: &str) -> Self {
        let mut signature = Self::default();
        let mut in_chain = false;
        for line in output.lines().map(str::trim) {
            if let Some(status) = line.strip_prefix("Status:") {
                signature.status = Some(status.trim().to_string());
            } else if line.starts_with("Notarization:") {
                signature.notarized = true;
            } else if line == "Certificate Chain:" {
                in_chain = true;
            } else if in_chain && signature.signer.is_none() {
                if let Some(subject) = line.strip_prefix("1. ") {
                    signature.signer = Some(subject.trim().to_string());
                }
            }
        }
        signature
    }

    /// The team in the signer's name: the last parenthesised word.
    fn signer_team(&self) -> Option<&str> {
        let signer = self.signer.as_deref()?;
        let open = signer.rfind('(')?;
        signer[open + 1..].strip_suffix(')')
    }

    /// Why the pkg is not one `team` signed for distribution, if it is not.
    pub fn refusal(&self, team: &TeamId) -> Option<String> {
        let status = self.status.as_deref().unwrap_or("no Status line");
        if status != DEVELOPER_ID_STATUS {
            return Some(format!(
                "pkgutil says `{status}`, not `{DEVELOPER_ID_STATUS}`"
            ));
        }
        let signer = self.signer.as_deref().unwrap_or("nobody");
        if !signer.starts_with(DEVELOPER_ID_INSTALLER) {
            return Some(format!(
                "it is signed by `{signer}`, not a Developer ID Installer certificate"
            ));
        }
        match self.signer_team() {
            Some(found) if found == team.as_str() => None,
            found => Some(format!(
                "it is signed by team {}, this app's team is {team}",
                found.unwrap_or("(none)")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verbatim, from https://github.com/macadmins/nudge/issues/410
    /// (2022-10-07), the first certificate complete.
    const NOTARIZED: &str = "Package \"Nudge_Suite-1.1.9.81436.pkg\":
   Status: signed by a developer certificate issued by Apple for distribution
   Notarization: trusted by the Apple notary service
   Signed with a trusted timestamp on: 2022-09-12 12:12:09 +0000
   Certificate Chain:
    1. Developer ID Installer: Clever DevOps Co. (9GQZ7KUFR6)
       Expires: 2025-06-20 13:15:02 +0000
       SHA256 Fingerprint:
           B8 67 9C 5B 91 E8 62 E4 A2 E6 EC 4C DE 0A 0B 18 7E 70 49 F5 39 5C
           6B 58 35 BF 9F 18 E4 DF A8 D5
       ------------------------------------------------------------------------
    2. Developer ID Certification Authority
       Expires: 2027-02-01 22:12:15 +0000
";

    /// Verbatim, from https://github.com/firstlookmedia/flock-agent/pull/80.
    const UNSIGNED: &str = "Package \"FlockAgent-0.0.12.pkg\":\n   Status: no signature\n";

    fn team(id: &str) -> TeamId {
        id.parse().unwrap()
    }

    #[test]
    fn a_developer_id_installer_pkg_of_the_team_passes() {
        let signature = PackageSignature::parse(NOTARIZED);
        assert_eq!(
            signature.signer.as_deref(),
            Some("Developer ID Installer: Clever DevOps Co. (9GQZ7KUFR6)")
        );
        assert!(signature.notarized);
        assert_eq!(signature.refusal(&team("9GQZ7KUFR6")), None);
        let other = signature.refusal(&team("ABCDE12345")).unwrap();
        assert!(
            other.contains("team 9GQZ7KUFR6") && other.contains("ABCDE12345"),
            "{other}"
        );
    }

    #[test]
    fn unsigned_or_untrusted_pkgs_are_refused_with_what_pkgutil_said() {
        let refusal = PackageSignature::parse(UNSIGNED)
            .refusal(&team("9GQZ7KUFR6"))
            .unwrap();
        assert!(refusal.contains("`no signature`"), "{refusal}");
        let app_store = NOTARIZED.replace(
            DEVELOPER_ID_STATUS,
            "signed by a certificate trusted by macOS",
        );
        assert!(PackageSignature::parse(&app_store)
            .refusal(&team("9GQZ7KUFR6"))
            .is_some());
        let application = NOTARIZED.replace("Developer ID Installer", "Developer ID Application");
        let refusal = PackageSignature::parse(&application)
            .refusal(&team("9GQZ7KUFR6"))
            .unwrap();
        assert!(
            refusal.contains("not a Developer ID Installer"),
            "{refusal}"
        );
    }
}
