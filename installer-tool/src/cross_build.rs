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
//! rustc speaks to its linker as to Apple's clang; a generated wrapper drops
//! the flags zig spells differently (`-arch`, `-mmacosx-version-min`) and
//! states the target and minimum macOS as zig wants them.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    config::Release,
    executables::{run, zig_invocation, ExecutablesError},
    macho::{self, REQUIRED_ARCHITECTURES},
};

/// Where the interface stubs live, relative to the workspace root.
pub const STUBS_DIR: &str = "installer-tool/apple-stubs";

/// Debian's toolchain (`rustc-web`, `cargo-web`, `rust-web-src`) unless
/// `INSTALLER_TOOL_CROSS_RUSTC` / `INSTALLER_TOOL_CROSS_CARGO` say otherwise.
fn toolchain() -> Result<(PathBuf, PathBuf), ExecutablesError> {
    let pick = |env: &str, default: &str| {
        std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from)
    };
    let rustc = pick("INSTALLER_TOOL_CROSS_RUSTC", "/usr/bin/rustc");
    let cargo = pick("INSTALLER_TOOL_CROSS_CARGO", "/usr/bin/cargo");
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let has_source = sysroot
        .as_ref()
        .is_some_and(|s| s.join("lib/rustlib/src/rust/library/std").is_dir());
    if !has_source || !cargo.is_file() {
        return Err(ExecutablesError::Tool {
            command: format!("{} --print sysroot", rustc.display()),
            detail: format!(
                "no Rust toolchain with its std source at {} (cargo at {})",
                rustc.display(),
                cargo.display()
            ),
            help: "run .ci/setup-debian (apt-get install rustc-web cargo-web rust-web-src), set INSTALLER_TOOL_CROSS_RUSTC/INSTALLER_TOOL_CROSS_CARGO to a toolchain with rust-src, or pass --stand-ins".into(),
        });
    }
    Ok((rustc, cargo))
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Writes the linker, C compiler and archiver wrappers for one target.
fn write_wrappers(
    dir: &Path,
    zig_arch: &str,
    minimum_macos: &str,
    stubs: &Path,
) -> std::io::Result<(PathBuf, PathBuf, PathBuf)> {
    let zig: Vec<String> = zig_invocation().iter().map(|w| shell_quote(w)).collect();
    let zig = zig.join(" ");
    let target = format!("{zig_arch}-macos.{minimum_macos}");
    let stubs = shell_quote(&stubs.to_string_lossy());
    // One filter for both: rustc and cc-rs pass clang's Apple spellings.
    let filter = r#"skip=
for arg in "$@"; do
    shift
    if [ -n "$skip" ]; then skip=; continue; fi
    case "$arg" in
        -arch) skip=1 ;;
        --target=*|-mmacosx-version-min=*|-nodefaultlibs) ;;
        *) set -- "$@" "$arg" ;;
    esac
done"#;
    let write = |name: &str, body: String| -> std::io::Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(format!("{name}-{zig_arch}"));
        std::fs::write(&path, body)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(path)
    };
    let linker = write(
        "ld",
        format!("#!/bin/sh\n# rustc's linker for {target}: zig, with our framework stubs.\n{filter}\nexec {zig} cc -target {target} -L {stubs} -F {stubs} \"$@\"\n"),
    )?;
    let cc = write(
        "cc",
        format!("#!/bin/sh\n# The C compiler build scripts use for {target}.\n{filter}\nexec {zig} cc -target {target} \"$@\"\n"),
    )?;
    let ar = write("ar", format!("#!/bin/sh\nexec {zig} ar \"$@\"\n"))?;
    Ok((linker, cc, ar))
}

/// Builds `names` (binaries of the workspace) for both Apple targets and
/// joins each into a universal binary.
pub fn build(
    release: &Release,
    names: &[&str],
) -> Result<HashMap<String, Vec<u8>>, ExecutablesError> {
    let (rustc, cargo) = toolchain()?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| release.root.join("target"))
        .join("apple-cross");
    // Beside the build, at a stable path: cargo fingerprints the linker and
    // the C compiler by path, and a new path would rebuild everything.
    let wrappers = target_dir.join("wrappers");
    std::fs::create_dir_all(&wrappers)?;
    let stubs = release.root.join(STUBS_DIR);
    let mut slices: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for arch in REQUIRED_ARCHITECTURES {
        let target = arch.rust_target();
        let zig_arch = target.split('-').next().expect("a triple");
        let (linker, cc, ar) = write_wrappers(&wrappers, zig_arch, &release.minimum_macos, &stubs)?;
        let underscored = target.replace('-', "_");
        let mut command = Command::new(&cargo);
        // Variables a surrounding `cargo run` sets would leak into this build.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("CARGO_") && key != "CARGO_HOME" {
                command.env_remove(key);
            }
        }
        command
            .current_dir(&release.root)
            .args([
                "build",
                "--release",
                "--workspace",
                "-Zbuild-std=std,panic_abort",
                "--target",
                target,
            ])
            .arg("--target-dir")
            .arg(&target_dir)
            .args(names.iter().flat_map(|name| ["--bin", name]))
            .env("RUSTC", &rustc)
            .env("RUSTC_BOOTSTRAP", "1")
            .env("MACOSX_DEPLOYMENT_TARGET", &release.minimum_macos)
            // rustc strips through rust-objcopy, which Debian does not ship;
            // signing does not need stripped binaries.
            .env("CARGO_PROFILE_RELEASE_STRIP", "false")
            .env(
                format!("CARGO_TARGET_{}_LINKER", underscored.to_uppercase()),
                &linker,
            )
            .env(format!("CC_{underscored}"), &cc)
            .env(format!("AR_{underscored}"), &ar);
        run(
            &mut command,
            "see README \"Built on Linux\"; --stand-ins packages stand-in executables instead",
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
