//! The outside tools the build drives, and how they are found: zig (the
//! Mach-O linker, C compiler and archiver for the Apple targets), the Rust
//! toolchain that builds for them, and the wrappers that let cargo,
//! rustc and cc-rs use zig as Apple's clang.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::Command,
};

/// A tool that could not run, or failed.
#[derive(Debug, thiserror::Error)]
#[error("`{command}` failed: {detail}")]
pub struct ToolError {
    pub command: String,
    pub detail: String,
    /// What to do about it, in one line.
    pub help: String,
}

/// A command for an outside tool, without our secrets in its environment.
/// cargo, rustc and zig run whatever a dependency's build script or a
/// compiler plugin says, with the environment they were given: none of it
/// may see the identities, their passwords or the notary key. So every
/// `INSTALLER_TOOL_*` variable goes, and so does any variable whose name
/// says it holds a secret (`CARGO_REGISTRY_TOKEN`, a CI's `*_PASSWORD`).
pub fn tool_command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if holds_a_secret(&name.to_string_lossy()) {
            command.env_remove(name);
        }
    }
    command
}

/// Whether an environment variable's name marks it as ours or as a secret.
fn holds_a_secret(name: &str) -> bool {
    const SECRET_WORDS: [&str; 7] = [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "PRIVATE_KEY",
        "API_KEY",
    ];
    let name = name.to_ascii_uppercase();
    name.starts_with("INSTALLER_TOOL_") || SECRET_WORDS.iter().any(|word| name.contains(word))
}

/// Runs `command`; a failure keeps the last lines of its stderr.
pub fn run(command: &mut Command, help: &str) -> Result<(), ToolError> {
    let shown = format!("{command:?}").replace('"', "");
    let output = command.output().map_err(|e| ToolError {
        command: shown.clone(),
        detail: e.to_string(),
        help: help.to_string(),
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(failure(
        shown,
        output.status,
        &String::from_utf8_lossy(&output.stderr),
        help,
    ))
}

/// A tool that exited with `status`, with the part of its stderr worth
/// showing.
pub fn failure(
    command: String,
    status: std::process::ExitStatus,
    stderr: &str,
    help: &str,
) -> ToolError {
    ToolError {
        command,
        detail: format!("{status}\n{}", what_went_wrong(stderr)),
        help: help.to_string(),
    }
}

/// The part of a tool's stderr worth showing: from its first error (a
/// compiler's first error is the one to fix, and cargo's summary lines
/// come after it), else its last lines.
fn what_went_wrong(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let shown = match lines.iter().position(|l| l.starts_with("error")) {
        Some(first) => &lines[first..lines.len().min(first + 30)],
        None => &lines[lines.len().saturating_sub(8)..],
    };
    shown.join("\n")
}

/// The zig front end as words: `$ZIG` (a command line), `zig` on PATH, or
/// the `ziglang` package from PyPI through `python3 -m ziglang`.
pub fn zig_invocation() -> Vec<String> {
    if let Ok(custom) = std::env::var("ZIG") {
        let words: Vec<String> = custom.split_whitespace().map(str::to_string).collect();
        if !words.is_empty() {
            return words;
        }
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("zig").is_file()))
        .unwrap_or(false);
    if on_path {
        vec!["zig".into()]
    } else {
        vec!["python3".into(), "-m".into(), "ziglang".into()]
    }
}

pub fn zig_command() -> Command {
    let words = zig_invocation();
    let mut command = tool_command(&words[0]);
    command.args(&words[1..]);
    command
}

/// The sysroot `rustc` prints, if it runs.
fn sysroot(rustc: &Path) -> Option<PathBuf> {
    tool_command(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
}

/// Where a toolchain's std for the Apple targets comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppleStd {
    /// Installed for every target (`rustup target add`): nothing of std is
    /// compiled, which saves a first build compiling it once per target.
    Prebuilt,
    /// Compiled from the toolchain's std source with `-Zbuild-std`, as
    /// Debian's toolchain (which ships no Apple std) must.
    FromSource,
}

impl std::fmt::Display for AppleStd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Prebuilt => "prebuilt std",
            Self::FromSource => "std built from source",
        })
    }
}

/// A Rust toolchain that can build for the Apple targets: one with their
/// std installed, or one whose std source `-Zbuild-std` compiles.
pub struct CrossToolchain {
    pub rustc: PathBuf,
    pub cargo: PathBuf,
    pub std: AppleStd,
}

impl CrossToolchain {
    /// `INSTALLER_TOOL_CROSS_RUSTC` / `INSTALLER_TOOL_CROSS_CARGO` when set.
    /// Otherwise the first that can build for `targets` of: the toolchain
    /// `rustc` on PATH names (rustup's, used by its own path so that a
    /// surrounding `cargo run` cannot switch it), and Debian's (`rustc-web`,
    /// `cargo-web`, `rust-web-src`).
    pub fn find(targets: &[&str]) -> Result<Self, ToolError> {
        let candidates = match (
            std::env::var_os("INSTALLER_TOOL_CROSS_RUSTC"),
            std::env::var_os("INSTALLER_TOOL_CROSS_CARGO"),
        ) {
            (None, None) => {
                let on_path = sysroot(Path::new("rustc"))
                    .map(|root| (root.join("bin/rustc"), root.join("bin/cargo")));
                on_path
                    .into_iter()
                    .chain([("/usr/bin/rustc".into(), "/usr/bin/cargo".into())])
                    .collect()
            }
            (rustc, cargo) => vec![(
                rustc.map_or_else(|| "/usr/bin/rustc".into(), PathBuf::from),
                cargo.map_or_else(|| "/usr/bin/cargo".into(), PathBuf::from),
            )],
        };
        Self::first_usable(candidates, targets)
    }

    /// The first (rustc, cargo) pair that runs and has std for `targets`,
    /// prebuilt or as source.
    fn first_usable(
        candidates: Vec<(PathBuf, PathBuf)>,
        targets: &[&str],
    ) -> Result<Self, ToolError> {
        let tried: Vec<String> = candidates
            .iter()
            .map(|(rustc, _)| rustc.display().to_string())
            .collect();
        candidates
            .into_iter()
            .find_map(|(rustc, cargo)| {
                let root = sysroot(&rustc).filter(|_| cargo.is_file())?;
                let rustlib = root.join("lib/rustlib");
                let std = if targets.iter().all(|t| rustlib.join(t).join("lib").is_dir()) {
                    AppleStd::Prebuilt
                } else if rustlib.join("src/rust/library/std").is_dir() {
                    AppleStd::FromSource
                } else {
                    return None;
                };
                Some(Self { rustc, cargo, std })
            })
            .ok_or_else(|| ToolError {
                command: format!("rustc --print sysroot ({})", tried.join(", ")),
                detail: format!(
                    "no Rust toolchain with std for {} or with std's source",
                    targets.join(" and ")
                ),
                help: format!(
                    "run .ci/setup-debian (rustup target add {}, or apt-get install rustc-web cargo-web rust-web-src), set INSTALLER_TOOL_CROSS_RUSTC/INSTALLER_TOOL_CROSS_CARGO to such a toolchain, or pass --stand-ins",
                    targets.join(" ")
                ),
            })
    }

    /// `cargo <subcommand>` for Apple `targets` (Rust triples) at once,
    /// building std from source when it is not prebuilt, with zig as the C
    /// compiler and archiver and, when `stubs` is given, as the linker
    /// against those framework stubs. One cargo for every target builds the host's proc macros and
    /// build scripts once and keeps both cores busy while one target links.
    /// Nothing of a surrounding `cargo run` leaks in, and no secret.
    pub fn cargo_for_apple(
        &self,
        subcommand: &str,
        targets: &[&str],
        minimum_macos: &str,
        wrappers: &Path,
        stubs: Option<&Path>,
    ) -> std::io::Result<Command> {
        let mut command = tool_command(&self.cargo);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("CARGO_") && key != "CARGO_HOME" {
                command.env_remove(key);
            }
        }
        command
            .arg(subcommand)
            .args((self.std == AppleStd::FromSource).then_some("-Zbuild-std=std,panic_abort"))
            .env("RUSTC", &self.rustc)
            // -Zbuild-std, and the unit graph the progress counts, are
            // unstable options.
            .env("RUSTC_BOOTSTRAP", "1")
            .env("MACOSX_DEPLOYMENT_TARGET", minimum_macos);
        for target in targets {
            let zig_arch = target.split('-').next().expect("a triple");
            let wrapper = AppleWrappers::write(wrappers, zig_arch, minimum_macos, stubs)?;
            let underscored = target.replace('-', "_");
            command
                .args(["--target", target])
                .env(format!("CC_{underscored}"), &wrapper.cc)
                .env(format!("AR_{underscored}"), &wrapper.ar);
            if let Some(linker) = &wrapper.linker {
                command.env(
                    format!("CARGO_TARGET_{}_LINKER", underscored.to_uppercase()),
                    linker,
                );
            }
        }
        Ok(command)
    }
}

/// The scripts that stand in for Apple's clang and ar for one target.
struct AppleWrappers {
    linker: Option<PathBuf>,
    cc: PathBuf,
    ar: PathBuf,
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

impl AppleWrappers {
    /// rustc and cc-rs speak to zig as to Apple's clang; the wrappers drop
    /// the flags zig spells differently (`-arch`, `--target=`,
    /// `-mmacosx-version-min`) and state the target as zig wants it.
    fn write(
        dir: &Path,
        zig_arch: &str,
        minimum_macos: &str,
        stubs: Option<&Path>,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let zig: Vec<String> = zig_invocation().iter().map(|w| shell_quote(w)).collect();
        let zig = zig.join(" ");
        let target = format!("{zig_arch}-macos.{minimum_macos}");
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
        let linker = stubs
            .map(|stubs| {
                let stubs = shell_quote(&stubs.to_string_lossy());
                write(
                    "ld",
                    format!("#!/bin/sh\n# rustc's linker for {target}: zig, with our framework stubs.\n{filter}\nexec {zig} cc -target {target} -L {stubs} -F {stubs} \"$@\"\n"),
                )
            })
            .transpose()?;
        let cc = write(
            "cc",
            format!("#!/bin/sh\n# The C compiler build scripts use for {target}.\n{filter}\nexec {zig} cc -target {target} \"$@\"\n"),
        )?;
        let ar = write("ar", format!("#!/bin/sh\nexec {zig} ar \"$@\"\n"))?;
        Ok(Self { linker, cc, ar })
    }
}

#[cfg(test)]
mod tests {
    use std::{os::unix::fs::PermissionsExt, path::PathBuf};

    use super::{holds_a_secret, what_went_wrong, AppleStd, CrossToolchain};

    #[test]
    fn a_failure_shows_its_first_error_not_only_the_summary() {
        let stderr = "   Compiling a\nerror[E0432]: unresolved import `x`\n --> a.rs:1:5\n\nwarning: build failed\nerror: could not compile `a`";
        let shown = what_went_wrong(stderr);
        assert!(
            shown.starts_with("error[E0432]: unresolved import `x`\n --> a.rs:1:5"),
            "{shown}"
        );
        let quiet: String = (1..=20).map(|n| format!("line {n}\n")).collect();
        assert_eq!(what_went_wrong(&quiet).lines().count(), 8);
    }

    #[test]
    fn our_variables_and_named_secrets_are_held_back() {
        for name in [
            "INSTALLER_TOOL_APP_P12_PASSWORD",
            "INSTALLER_TOOL_API_KEY",
            "INSTALLER_TOOL_CONFIG",
            "CARGO_REGISTRY_TOKEN",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "signing_password",
            "NOTARY_PRIVATE_KEY",
        ] {
            assert!(holds_a_secret(name), "{name}");
        }
        for name in [
            "PATH",
            "HOME",
            "CARGO_HOME",
            "RUSTFLAGS",
            "ZIG",
            "SSH_AUTH_SOCK",
        ] {
            assert!(!holds_a_secret(name), "{name}");
        }
    }

    /// A toolchain under `dir`: a `rustc` that prints its sysroot, a
    /// `cargo`, std prebuilt for `targets`, and std's source if `source`.
    fn toolchain(dir: &std::path::Path, targets: &[&str], source: bool) -> (PathBuf, PathBuf) {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let rustc = bin.join("rustc");
        std::fs::write(&rustc, format!("#!/bin/sh\necho {}\n", dir.display())).unwrap();
        std::fs::set_permissions(&rustc, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("cargo"), "").unwrap();
        for target in targets {
            std::fs::create_dir_all(dir.join("lib/rustlib").join(target).join("lib")).unwrap();
        }
        if source {
            std::fs::create_dir_all(dir.join("lib/rustlib/src/rust/library/std")).unwrap();
        }
        (rustc, bin.join("cargo"))
    }

    #[test]
    fn a_toolchain_with_std_for_both_targets_is_used_without_building_std() {
        const TARGETS: [&str; 2] = ["aarch64-apple-darwin", "x86_64-apple-darwin"];
        let dir = tempfile::tempdir().unwrap();
        let one_target = toolchain(&dir.path().join("one"), &TARGETS[..1], false);
        let source = toolchain(&dir.path().join("source"), &[], true);
        let both = toolchain(&dir.path().join("both"), &TARGETS, false);
        let missing = (dir.path().join("none/rustc"), dir.path().join("none/cargo"));

        let found = CrossToolchain::first_usable(
            vec![
                missing.clone(),
                one_target.clone(),
                both.clone(),
                source.clone(),
            ],
            &TARGETS,
        )
        .unwrap();
        assert_eq!((found.rustc, found.std), (both.0, AppleStd::Prebuilt));
        // std for one target only is no use: the next with std's source is.
        let found =
            CrossToolchain::first_usable(vec![one_target.clone(), source.clone()], &TARGETS)
                .unwrap();
        assert_eq!((found.rustc, found.std), (source.0, AppleStd::FromSource));
        let Err(error) = CrossToolchain::first_usable(vec![missing, one_target], &TARGETS) else {
            panic!("no toolchain can build both targets");
        };
        assert!(
            error
                .help
                .contains("rustup target add aarch64-apple-darwin x86_64-apple-darwin"),
            "{}",
            error.help
        );
        assert!(error.command.contains("none/rustc"), "{}", error.command);
    }
}
