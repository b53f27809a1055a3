//! What a pkg holds, gathered while `verify` reads it, for `inspect`: a
//! person debugging a release sees the product, each component with its
//! scripts and payload, the bundles' keys, the executables' signatures and
//! whether a ticket is stapled, without unpacking anything.

use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Inventory {
    /// The common name of the pkg's signing certificate.
    pub signer: Option<String>,
    /// Whether the signature carries a time-stamp that verifies.
    pub timestamped: bool,
    pub ticket_stapled: bool,
    /// The Distribution's `<title>`, `hostArchitectures` and minimum macOS.
    pub title: Option<String>,
    pub host_architectures: Option<String>,
    pub minimum_macos: Option<String>,
    pub components: Vec<Component>,
    pub executables: Vec<Executable>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Component {
    /// Its folder in the archive (empty for a component package alone).
    pub path: String,
    /// PackageInfo's `identifier`, `version` and `install-location`.
    pub identifier: Option<String>,
    pub version: Option<String>,
    pub install_location: Option<String>,
    pub scripts: Vec<Entry>,
    pub payload: Vec<Entry>,
}

/// One entry of a Scripts or Payload archive.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub path: String,
    /// `ls -l`'s notation, e.g. `-rwxr-xr-x`.
    pub mode: String,
    pub size: u64,
}

impl Entry {
    pub fn new(path: String, mode: u32, size: u64) -> Self {
        Self {
            path,
            mode: symbolic(mode),
            size,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Executable {
    pub path: String,
    pub architectures: Vec<String>,
    pub team: Option<String>,
    pub hardened_runtime: bool,
    /// The entitlements' keys.
    pub entitlements: Vec<String>,
}

/// `mode` as `ls -l` shows it.
fn symbolic(mode: u32) -> String {
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o100000 => '-',
        _ => '?',
    };
    let mut text = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 0o7;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        text.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    text
}

#[cfg(test)]
mod tests {
    use super::symbolic;

    #[test]
    fn modes_read_as_ls_shows_them() {
        assert_eq!(symbolic(0o100755), "-rwxr-xr-x");
        assert_eq!(symbolic(0o040700), "drwx------");
        assert_eq!(symbolic(0o120777), "lrwxrwxrwx");
        assert_eq!(symbolic(0o100644), "-rw-r--r--");
    }
}
