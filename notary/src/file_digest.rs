//! The SHA-256 of a file, streamed: the report's pkg digest and the
//! notary submission's both come from here.

use std::{io, path::Path};

use sha2::{Digest, Sha256};

/// The file's size and its SHA-256, hex.
pub fn sha256_file(path: &Path) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let size = io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok((size, hex::encode(hasher.finalize())))
}
