//! The real executables, built on Linux for both Apple targets.
//!
//! No Apple SDK is needed:
//! - **std:** rustup's std for both Apple targets when it is installed;
//!   otherwise Debian's Rust toolchain, which ships std's source, and
//!   `-Zbuild-std` builds std for the Apple targets with it.
//! - **Linker:** zig is the Mach-O linker. It carries libSystem's interface.
//! - **Frameworks:** the frameworks we link are described by the small
//!   text-based stubs (`.tbd`) in `installer-tool/apple-stubs`. They hold
//!   install names and the symbols we use, nothing of Apple's; dyld resolves
//!   the real frameworks on the Mac.
//!
//! The zig wrappers and the toolchain are [`crate::toolchain`]'s.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Command, Stdio},
    time::Instant,
};

use crate::{
    config::Release,
    executables::ExecutablesError,
    macho::{self, REQUIRED_ARCHITECTURES},
    toolchain::{failure, CrossToolchain, ToolError},
};

/// Where the interface stubs live, relative to the workspace root.
pub const STUBS_DIR: &str = "installer-tool/apple-stubs";

/// The packages whose macOS code `check` type-checks.
pub const CHECKED_PACKAGES: [&str; 3] = ["vpn-ipc", "vpn-app", "vpn-extension"];

const BUILD_HELP: &str =
    "see docs/build-pkg.md, \"Built on Linux\"; --stand-ins packages stand-in executables instead";

fn apple_targets() -> Vec<&'static str> {
    REQUIRED_ARCHITECTURES
        .iter()
        .map(|arch| arch.rust_target())
        .collect()
}

/// Builds `names` (binaries of the workspace) for both Apple targets in one
/// cargo run, reporting its progress, and joins each into a universal binary.
pub fn build(
    release: &Release,
    names: &[&str],
) -> Result<HashMap<String, Vec<u8>>, ExecutablesError> {
    let targets = apple_targets();
    let toolchain = CrossToolchain::find(&targets)?;
    tracing::info!(
        "cross build with {} ({})",
        toolchain.rustc.display(),
        toolchain.std
    );
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| release.root.join("target"))
        .join("apple-cross");
    // Beside the build, at a stable path: cargo fingerprints the linker and
    // the C compiler by path, and a new path would rebuild everything.
    let wrappers = target_dir.join("wrappers");
    let stubs = release.root.join(STUBS_DIR);
    let cargo = |extra: &[&str]| -> Result<Command, ExecutablesError> {
        let mut command = toolchain.cargo_for_apple(
            "build",
            &targets,
            &release.minimum_macos,
            &wrappers,
            Some(&stubs),
        )?;
        command
            .current_dir(&release.root)
            .args(["--release", "--target-dir"])
            .arg(&target_dir)
            // Each binary is its package's. Selecting only those packages
            // (not `--workspace`) keeps the features other members ask of a
            // shared dependency (installer-tool's regex-based log filter)
            // out of the Apple build.
            .args(names.iter().flat_map(|name| ["-p", name, "--bin", name]))
            .args(extra)
            // rustc strips through rust-objcopy, which Debian does not ship;
            // signing does not need stripped binaries.
            .env("CARGO_PROFILE_RELEASE_STRIP", "false");
        Ok(command)
    };
    let units = unit_count(&mut cargo(&["-Zunstable-options", "--unit-graph"])?);
    run_reporting_progress(
        &mut cargo(&["--message-format=json-render-diagnostics"])?,
        units,
        &targets,
    )?;
    let mut slices: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for target in &targets {
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

/// How many units (compilations and build-script runs) the build has, from
/// cargo's unit graph; `None` when cargo cannot say.
fn unit_count(command: &mut Command) -> Option<usize> {
    let output = command.stderr(Stdio::null()).output().ok()?;
    let graph: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    graph["units"].as_array().map(Vec::len)
}

/// The name in a cargo package id: `registry+https://…#name@1.0.0`,
/// `path+file:///…/name#1.0.0` (the directory is the name), or `name 1.0.0
/// (…)` from older cargo.
fn package_name(id: &str) -> &str {
    match id.rsplit_once('#') {
        Some((source, fragment)) => match fragment.split_once('@') {
            Some((name, _)) => name,
            None => source.rsplit('/').next().unwrap_or(fragment),
        },
        None => id.split(' ').next().unwrap_or(id),
    }
}

/// Runs a cargo build whose stdout is `--message-format json`, logging each
/// tenth of its units as they finish: a first build runs for minutes, and
/// a person (or a CI log) should see it move.
fn run_reporting_progress(
    command: &mut Command,
    units: Option<usize>,
    targets: &[&str],
) -> Result<(), ToolError> {
    let shown = format!("{command:?}").replace('"', "");
    let spawn_error = |e: std::io::Error| ToolError {
        command: shown.clone(),
        detail: e.to_string(),
        help: BUILD_HELP.into(),
    };
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let mut stderr = child.stderr.take().expect("piped");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    tracing::info!(
        "cross-building for {}: {} units (the first build takes minutes; later ones reuse it)",
        targets.join(" and "),
        units.map_or("an unknown number of".into(), |n| n.to_string()),
    );
    let step = units.map_or(50, |n| (n / 10).max(1));
    let mut done = 0usize;
    let mut compiled = false;
    let stdout = child.stdout.take().expect("piped");
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let (name, path) = match message["reason"].as_str() {
            Some("compiler-artifact") => (
                message["target"]["name"].as_str(),
                message["filenames"][0].as_str(),
            ),
            Some("build-script-executed") => (
                message["package_id"].as_str().map(package_name),
                message["out_dir"].as_str(),
            ),
            _ => continue,
        };
        done += 1;
        // An up-to-date build reports every unit fresh within a second:
        // nothing worth a line until something is compiled.
        compiled |= message["fresh"] == false;
        if compiled && done.is_multiple_of(step) {
            let target = path
                .and_then(|path| targets.iter().find(|t| path.contains(&format!("/{t}/"))))
                .copied()
                .unwrap_or("the build machine");
            tracing::info!(
                "cross build: {done}/{} units after {} s ({} for {target})",
                units.map_or("?".into(), |n| n.to_string()),
                started.elapsed().as_secs(),
                name.unwrap_or("?"),
            );
        }
    }
    let status = child.wait().map_err(spawn_error)?;
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(failure(shown, status, &stderr, BUILD_HELP));
    }
    tracing::info!(
        "cross build done: {done} units in {} s",
        started.elapsed().as_secs()
    );
    Ok(())
}

/// Type-checks the macOS code of [`CHECKED_PACKAGES`] for both Apple
/// targets, with the toolchain and C compiler a cross build uses; nothing is
/// linked, so no framework stubs are involved. The compiler's messages go
/// straight to stderr: they are what the person running it reads.
pub fn check(release: &Release, target_dir: &std::path::Path) -> Result<(), ExecutablesError> {
    let targets = apple_targets();
    let toolchain = CrossToolchain::find(&targets)?;
    let mut command = toolchain.cargo_for_apple(
        "check",
        &targets,
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
    let shown = format!("cargo check --target {}", targets.join(" --target "));
    let status = command.status().map_err(|e| ToolError {
        command: shown.clone(),
        detail: e.to_string(),
        help: "run .ci/setup-debian".into(),
    })?;
    if !status.success() {
        return Err(ToolError {
            command: shown,
            detail: status.to_string(),
            help: "fix the errors above; they are in code only the Mac compiles".into(),
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn package_ids_read_as_names() {
        for (id, name) in [
            (
                "registry+https://github.com/rust-lang/crates.io-index#parking_lot_core@0.9.12",
                "parking_lot_core",
            ),
            ("path+file:///work/main/vpn-app#1.0.0", "vpn-app"),
            (
                "ring 0.17.14 (registry+https://github.com/rust-lang/crates.io-index)",
                "ring",
            ),
        ] {
            assert_eq!(super::package_name(id), name);
        }
    }
}
