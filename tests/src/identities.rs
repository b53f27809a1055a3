//! Throw-away signing identities made by openssl the way a vendor's p12 is
//! made (certificate + key, password protected).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::run_ok;

pub const TEAM_ID: &str = "ABCDE12345";
pub const P12_PASSWORD: &str = "correct horse battery staple";

/// Which Developer ID certificate to make.
#[derive(Clone, Copy, Debug)]
pub enum CertKind {
    Application,
    Installer,
}

/// Makes a p12 holding a self-signed certificate shaped like Apple's
/// Developer ID certificates (team id in OU, the Developer ID extension and
/// EKU), with openssl.
pub fn make_p12(dir: &Path, kind: CertKind, team: &str) -> PathBuf {
    let (label, name, extensions) = match kind {
        CertKind::Application => (
            "application",
            "Developer ID Application",
            "extendedKeyUsage = critical, codeSigning\n1.2.840.113635.100.6.1.13 = critical, DER:0500\n",
        ),
        CertKind::Installer => (
            "installer",
            "Developer ID Installer",
            "extendedKeyUsage = critical, 1.2.840.113635.100.4.13\n1.2.840.113635.100.6.1.14 = critical, DER:0500\n",
        ),
    };
    let config = dir.join(format!("{label}-{team}.cnf"));
    std::fs::write(
        &config,
        format!(
            "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n\
             [dn]\nCN = {name}: System Tests ({team})\nOU = {team}\nO = System Tests\nC = US\n\
             [ext]\nbasicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature\n{extensions}"
        ),
    )
    .unwrap();
    let key = dir.join(format!("{label}-{team}.key"));
    let cert = dir.join(format!("{label}-{team}.crt"));
    let p12 = dir.join(format!("{label}-{team}.p12"));
    run_ok(
        "openssl req (test identity)",
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-config",
            ])
            .arg(&config)
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    run_ok(
        "openssl pkcs12 (test identity)",
        Command::new("openssl")
            .args([
                "pkcs12",
                "-export",
                "-passout",
                &format!("pass:{P12_PASSWORD}"),
                "-inkey",
            ])
            .arg(&key)
            .arg("-in")
            .arg(&cert)
            .arg("-out")
            .arg(&p12),
    );
    p12
}
