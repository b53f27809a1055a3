//! Mach-O checks and universal-binary joining for the two executables.

use std::path::{Path, PathBuf};

use goblin::mach::{
    constants::cputype::{CPU_TYPE_ARM64, CPU_TYPE_X86_64},
    Mach,
};

/// The architectures every executable must carry: the Distribution declares
/// `hostArchitectures="arm64,x86_64"`.
pub const REQUIRED_ARCHITECTURES: [Architecture; 2] = [Architecture::Arm64, Architecture::X86_64];

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    Arm64,
    X86_64,
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Self::Arm64 => "arm64",
            Self::X86_64 => "x86_64",
        }
    }

    /// The Rust target triple that builds this slice.
    pub fn rust_target(self) -> &'static str {
        match self {
            Self::Arm64 => "aarch64-apple-darwin",
            Self::X86_64 => "x86_64-apple-darwin",
        }
    }

    /// The zig target that compiles a C stand-in for this slice; 11.0 is the
    /// first macOS with arm64.
    pub fn zig_target(self) -> &'static str {
        match self {
            Self::Arm64 => "aarch64-macos.11.0",
            Self::X86_64 => "x86_64-macos.11.0",
        }
    }

    fn from_cpu_type(cpu: u32) -> Option<Self> {
        match cpu {
            CPU_TYPE_ARM64 => Some(Self::Arm64),
            CPU_TYPE_X86_64 => Some(Self::X86_64),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MachOError {
    #[error("executable {path} does not exist")]
    Missing { path: PathBuf, help: String },
    #[error("cannot read executable {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a Mach-O executable ({reason})")]
    NotMachO { path: PathBuf, reason: String },
    #[error("{path} lacks the {missing} slice (it has: {present})")]
    MissingArchitecture {
        path: PathBuf,
        missing: &'static str,
        present: String,
    },
    #[error("cannot join {label} into a universal binary: {message}")]
    Join { label: String, message: String },
}

impl MachOError {
    /// What to change, in one line.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            Self::Missing { help, .. } => help.clone(),
            Self::NotMachO { .. } => "pass macOS builds (`file` should say Mach-O), not Linux ELF files or scripts".into(),
            Self::MissingArchitecture { .. } => "build both aarch64-apple-darwin and x86_64-apple-darwin and join them (`lipo -create`), or pass both thin files".into(),
            Self::Read { .. } | Self::Join { .. } => return None,
        })
    }
}

/// Architectures of a thin or universal Mach-O image.
pub fn architectures(path: &Path, data: &[u8]) -> Result<Vec<Architecture>, MachOError> {
    let not_macho = |reason: String| MachOError::NotMachO {
        path: path.to_path_buf(),
        reason,
    };
    match Mach::parse(data).map_err(|e| not_macho(e.to_string()))? {
        Mach::Binary(macho) => Ok(Architecture::from_cpu_type(macho.header.cputype)
            .into_iter()
            .collect()),
        Mach::Fat(fat) => {
            let arches = fat.arches().map_err(|e| not_macho(e.to_string()))?;
            Ok(arches
                .iter()
                .filter_map(|a| Architecture::from_cpu_type(a.cputype))
                .collect())
        }
    }
}

pub fn read(path: &Path, help: &str) -> Result<Vec<u8>, MachOError> {
    if !path.exists() {
        return Err(MachOError::Missing {
            path: path.to_path_buf(),
            help: help.to_string(),
        });
    }
    std::fs::read(path).map_err(|source| MachOError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Checks that `data` (read from `path`) carries every required slice.
pub fn require_universal(path: &Path, data: &[u8]) -> Result<(), MachOError> {
    let present = architectures(path, data)?;
    for arch in REQUIRED_ARCHITECTURES {
        if !present.contains(&arch) {
            return Err(MachOError::MissingArchitecture {
                path: path.to_path_buf(),
                missing: arch.name(),
                present: if present.is_empty() {
                    "none we know".into()
                } else {
                    present
                        .iter()
                        .map(|a| a.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            });
        }
    }
    Ok(())
}

fn join_error(label: &str, error: impl std::fmt::Display) -> MachOError {
    MachOError::Join {
        label: label.to_string(),
        message: error.to_string(),
    }
}

/// Joins thin (or universal) images into one universal binary.
pub fn join_universal(label: &str, slices: &[Vec<u8>]) -> Result<Vec<u8>, MachOError> {
    let mut builder = apple_codesign::UniversalBinaryBuilder::default();
    for slice in slices {
        builder
            .add_binary(slice)
            .map_err(|e| join_error(label, e))?;
    }
    let mut out = Vec::new();
    builder.write(&mut out).map_err(|e| join_error(label, e))?;
    Ok(out)
}
