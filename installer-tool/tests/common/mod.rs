//! What the installer-tool integration tests share: a release project like
//! the workspace's, written to a scratch folder.

use std::path::{Path, PathBuf};

/// `release.toml` as the workspace writes it.
pub const GOOD: &str = r#"
[product]
name = "Demo VPN"
team-id = "ABCDE12345"
minimum-macos = "13.0"

[app]
bundle-id = "com.example.demovpn"
bundle-name = "DemoVPN"
executable = "vpn-app"
entitlements = "signing/app.entitlements"

[extension]
bundle-id = "com.example.demovpn.tunnel"
executable = "vpn-extension"
provider-class = "PacketTunnelProvider"
entitlements = "signing/extension.entitlements"

[package]
identifier = "com.example.demovpn.pkg"
output-dir = "dist"
"#;

/// Writes `release` as `dir/release.toml`, the workspace's entitlements
/// under `dir/signing` and a `Cargo.toml` at `version`; the config's path.
pub fn write(dir: &Path, release: &str, version: &str) -> PathBuf {
    let signing = Path::new(env!("CARGO_MANIFEST_DIR")).join("../signing");
    std::fs::create_dir_all(dir.join("signing")).unwrap();
    for file in ["app.entitlements", "extension.entitlements"] {
        std::fs::copy(signing.join(file), dir.join("signing").join(file)).unwrap();
    }
    std::fs::write(
        dir.join("Cargo.toml"),
        format!("[workspace]\n[workspace.package]\nversion = \"{version}\"\n"),
    )
    .unwrap();
    let path = dir.join("release.toml");
    std::fs::write(&path, release).unwrap();
    path
}
