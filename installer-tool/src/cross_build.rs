//! The real executables, built on Linux for both Apple targets.
//!
//! No Apple SDK is needed:
//! - **std:** Debian's Rust toolchain ships its standard library source, and
//!   `-Zbuild-std` builds std for the Apple targets with it.
//! - **Linker:** zig is the Mach-O linker. It carries libSystem's interface.
//! - **Frameworks:** the frameworks we link are described by the small
//!   text-based stubs (`.tbd`) in `installer-tool/apple-stubs`. They hold
//!   install names and the symbols we use, nothing of Apple's; dyld resolves
//!   the real frameworks on the Mac.
//!
//! The zig wrappers and the toolchain are [`crate::toolchain`]'s.

use std::{collections::HashMap, path::PathBuf};

use crate::{
    config::Release,
    executables::ExecutablesError,
    macho::{self, REQUIRED_ARCHITECTURES},
    toolchain::{run, CrossToolchain, ToolError},
};

/// Where the interface stubs live, relative to the workspace root.
pub const STUBS_DIR: &str = "installer-tool/apple-stubs";

/// The packages whose macOS code `check` type-checks.
pub const CHECKED_PACKAGES: [&str; 3] = ["vpn-ipc", "vpn-app", "vpn-extension"];

/// Builds `names` (binaries of the workspace) for both Apple targets and
/// joins each into a universal binary.
pub fn build(
    release: &Release,
    names: &[&str],
) -> Result<HashMap<String, Vec<u8>>, ExecutablesError> {
    let toolchain = CrossToolchain::find()?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| release.root.join("target"))
        .join("apple-cross");
    // Beside the build, at a stable path: cargo fingerprints the linker and
    // the C compiler by path, and a new path would rebuild everything.
    let wrappers = target_dir.join("wrappers");
    let stubs = release.root.join(STUBS_DIR);
    let mut slices: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for arch in REQUIRED_ARCHITECTURES {
        let target = arch.rust_target();
        let mut command = toolchain.cargo_for_apple(
            "build",
            target,
            &release.minimum_macos,
            &wrappers,
            Some(&stubs),
        )?;
        command
            .current_dir(&release.root)
            .args(["--release", "--workspace", "--target-dir"])
            .arg(&target_dir)
            .args(names.iter().flat_map(|name| ["--bin", name]))
            // rustc strips through rust-objcopy, which Debian does not ship;
            // signing does not need stripped binaries.
            .env("CARGO_PROFILE_RELEASE_STRIP", "false");
        run(
            &mut command,
            "see docs/build-pkg.md, \"Built on Linux\"; --stand-ins packages stand-in executables instead",
        )?;
        for name in names {
            let path = target_dir.join(target).join("release").join(name);
            let data = macho::read(&path, "cargo did not write the binary where expected")?;
            slices.entry(name.to_string()).or_default().push(data);
        }
    }
    slices
        .into_iter()
        .map(|(name, slices)| {
            let universal = macho::join_universal(&name, &slices)?;
            Ok((name, universal))
        })
        .collect()
}

/// Type-checks the macOS code of [`CHECKED_PACKAGES`] for both Apple
/// targets, with the toolchain and C compiler a cross build uses; nothing is
/// linked, so no framework stubs are involved. The compiler's messages go
/// straight to stderr: they are what the person running it reads.
pub fn check(release: &Release, target_dir: &std::path::Path) -> Result<(), ExecutablesError> {
    let toolchain = CrossToolchain::find()?;
    for arch in REQUIRED_ARCHITECTURES {
        let target = arch.rust_target();
        let mut command = toolchain.cargo_for_apple(
            "check",
            target,
            &release.minimum_macos,
            &target_dir.join("wrappers"),
            None,
        )?;
        command
            .current_dir(&release.root)
            // Code only the Mac compiles is held to the lints the rest is.
            .env("RUSTFLAGS", "-D warnings")
            .args(["-q", "--target-dir"])
            .arg(target_dir)
            .args(CHECKED_PACKAGES.iter().flat_map(|name| ["-p", name]));
        let status = command.status().map_err(|e| ToolError {
            command: format!("cargo check --target {target}"),
            detail: e.to_string(),
            help: "run .ci/setup-debian".into(),
        })?;
        if !status.success() {
            return Err(ToolError {
                command: format!("cargo check --target {target}"),
                detail: status.to_string(),
                help: "fix the errors above; they are in code only the Mac compiles".into(),
            }
            .into());
        }
    }
    Ok(())
}
