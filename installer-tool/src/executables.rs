//! Where the app and extension executables come from.
//!
//! - `Prebuilt`: a directory from a macOS build job (`--prebuilt DIR`), each
//!   executable universal, or two thin files `<name>-arm64` and `<name>-x86_64`.
//! - `Cargo`: `cargo build --release` of `vpn-app` and `vpn-extension` for both
//!   Apple targets, joined into universal binaries (the default on macOS).
//! - `CrossCompiled`: the same on Linux, linked by zig against interface
//!   stubs ([`crate::cross_build`]; the default elsewhere).
//! - `StandIns`: small C programs compiled to Mach-O with zig, for tests that
//!   need a signed pkg in seconds; the report says plainly that they are
//!   stand-ins.

use std::path::{Path, PathBuf};

use crate::{
    config::{BundleSpec, Release},
    cross_build,
    macho::{self, MachOError, REQUIRED_ARCHITECTURES},
    toolchain::{run, tool_command, zig_command, ToolError},
};

const STAND_IN_SOURCE: &str = include_str!("../stand-ins/stand-in.c");

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecutableSource {
    Prebuilt(PathBuf),
    Cargo,
    CrossCompiled,
    StandIns,
}

impl ExecutableSource {
    /// The default when no `--prebuilt` is given: build natively on a Mac,
    /// cross-compile elsewhere.
    pub fn default_for_host() -> Self {
        if cfg!(target_os = "macos") {
            Self::Cargo
        } else {
            Self::CrossCompiled
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Prebuilt(dir) => format!("prebuilt from {}", dir.display()),
            Self::Cargo => "built by cargo for aarch64- and x86_64-apple-darwin".into(),
            Self::CrossCompiled => "built on Linux for aarch64- and x86_64-apple-darwin, linked by zig against interface stubs (check them on a Mac: docs/build-pkg.md, \"Built on Linux\")".into(),
            Self::StandIns => {
                "STAND-INS: small C programs compiled by zig, not the real VPN (build on a Mac or pass --prebuilt for the real one)".into()
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecutablesError {
    #[error(transparent)]
    MachO(#[from] MachOError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("cannot write the files the executables are built with")]
    Io(#[from] std::io::Error),
}

impl ExecutablesError {
    /// What to change, in one line.
    pub fn help(&self) -> Option<String> {
        match self {
            Self::MachO(error) => error.help(),
            Self::Tool(error) => Some(error.help.clone()),
            Self::Io(_) => None,
        }
    }
}

/// The two universal executables, ready to place in the bundle.
pub struct Executables {
    pub app: Vec<u8>,
    pub extension: Vec<u8>,
}

impl Executables {
    pub fn total_size(&self) -> u64 {
        (self.app.len() + self.extension.len()) as u64
    }
}

pub fn provide(
    source: &ExecutableSource,
    release: &Release,
    work: &Path,
) -> Result<Executables, ExecutablesError> {
    // Both at once: one cargo run builds the two binaries for both targets.
    let mut cross = match source {
        ExecutableSource::CrossCompiled => cross_build::build(
            release,
            &[&release.app.executable, &release.extension.executable],
        )?,
        _ => Default::default(),
    };
    let mut get = |spec: &BundleSpec| -> Result<Vec<u8>, ExecutablesError> {
        let data = match source {
            ExecutableSource::Prebuilt(dir) => prebuilt(dir, &spec.executable)?,
            ExecutableSource::Cargo => cargo_build(release, &spec.executable)?,
            ExecutableSource::CrossCompiled => cross
                .remove(&spec.executable)
                .expect("cross_build returns every name asked for"),
            ExecutableSource::StandIns => stand_in(release, &spec.executable, work)?,
        };
        macho::require_universal(Path::new(&spec.executable), &data)?;
        Ok(data)
    };
    Ok(Executables {
        app: get(&release.app)?,
        extension: get(&release.extension)?,
    })
}

fn prebuilt(dir: &Path, name: &str) -> Result<Vec<u8>, ExecutablesError> {
    let universal = dir.join(name);
    let thin: Vec<PathBuf> = REQUIRED_ARCHITECTURES
        .iter()
        .map(|a| dir.join(format!("{name}-{}", a.name())))
        .collect();
    if !universal.exists() && thin.iter().all(|p| p.exists()) {
        let slices = thin
            .iter()
            .map(|p| macho::read(p, "").and_then(|d| macho::architectures(p, &d).map(|_| d)))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(macho::join_universal(name, &slices)?);
    }
    let help = format!(
        "put the macOS build of `{name}` in {} (universal), or `{name}-arm64` and `{name}-x86_64` beside each other",
        dir.display()
    );
    let data = macho::read(&universal, &help)?;
    macho::architectures(&universal, &data)?;
    Ok(data)
}

fn cargo_build(release: &Release, name: &str) -> Result<Vec<u8>, ExecutablesError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| release.root.join("target"));
    let mut slices = Vec::new();
    for arch in REQUIRED_ARCHITECTURES {
        run(
            tool_command(&cargo).current_dir(&release.root).args([
                "build",
                "--release",
                "--bin",
                name,
                "--target",
                arch.rust_target(),
            ]),
            &format!(
                "install the target with `rustup target add {}`, or pass --prebuilt DIR",
                arch.rust_target()
            ),
        )?;
        let path = target_dir
            .join(arch.rust_target())
            .join("release")
            .join(name);
        slices.push(macho::read(
            &path,
            "cargo did not write the binary where expected",
        )?);
    }
    Ok(macho::join_universal(name, &slices)?)
}

fn stand_in(release: &Release, name: &str, work: &Path) -> Result<Vec<u8>, ExecutablesError> {
    let dir = work.join("stand-ins");
    std::fs::create_dir_all(&dir)?;
    let source = dir.join("stand-in.c");
    std::fs::write(&source, STAND_IN_SOURCE)?;
    let mut slices = Vec::new();
    for arch in REQUIRED_ARCHITECTURES {
        let out = dir.join(format!("{name}-{}", arch.name()));
        run(
            zig_command()
                .arg("cc")
                .args(["-target", arch.zig_target(), "-Os"])
                .arg(format!("-DSTAND_IN_NAME=\"{name}\""))
                .arg(format!("-DSTAND_IN_VERSION=\"{}\"", release.version))
                .arg(&source)
                .arg("-o")
                .arg(&out),
            "install zig (`pip install ziglang`, or set ZIG to a zig command), or pass --prebuilt DIR with real macOS builds",
        )?;
        slices.push(macho::read(&out, "zig did not write the stand-in")?);
    }
    Ok(macho::join_universal(name, &slices)?)
}
