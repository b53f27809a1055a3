//! The SHA-1 and SHA-256 of a bundle's resources, from the payload's read.
//!
//! A resource is sealed in `CodeResources` by its digests. The payload
//! archiver reads every resource anyway, while signing runs: it hashes each
//! one on the way ([`ResourceDigester`]) and publishes the digests here, and
//! the signer waits for a file's digests instead of reading it again. Files
//! the archiver does not read early (what signing writes) are hashed by the
//! signer itself.
//!
//! The hashes come from the `sha1` and `sha2` crates, which use the CPU's SHA
//! instructions where it has them: apple-codesign's own (ring) hash SHA-1 at
//! about a quarter of that speed here.

use std::{
    collections::{HashMap, HashSet},
    fs::File,
    io::{self, Read},
    path::{Path, PathBuf},
    sync::{Condvar, Mutex},
};

use apple_codesign::cryptography::MultiDigest;
use flatpkg::{
    payload::ContentObserver,
    tree::{EntryKind, FileSource, TreeEntry},
};
use sha1::{Digest, Sha1};
use sha2::Sha256;

/// A file's SHA-1 and SHA-256, as `CodeResources` seals it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileDigests {
    pub sha1: [u8; 20],
    pub sha256: [u8; 32],
}

impl FileDigests {
    /// In apple-codesign's type, to seal with.
    pub fn to_multi(self) -> MultiDigest {
        MultiDigest {
            sha1: self.sha1.to_vec().into(),
            sha256: self.sha256.to_vec().into(),
        }
    }
}

/// Both digests of one stream of bytes.
#[derive(Clone, Default)]
pub struct DualHasher {
    sha1: Sha1,
    sha256: Sha256,
}

impl DualHasher {
    pub fn update(&mut self, data: &[u8]) {
        self.sha1.update(data);
        self.sha256.update(data);
    }

    pub fn finish(self) -> FileDigests {
        FileDigests {
            sha1: self.sha1.finalize().into(),
            sha256: self.sha256.finalize().into(),
        }
    }

    pub fn of(data: &[u8]) -> FileDigests {
        let mut hasher = Self::default();
        hasher.update(data);
        hasher.finish()
    }

    pub fn of_file(path: &Path) -> io::Result<FileDigests> {
        let mut file = File::open(path)?;
        let mut hasher = Self::default();
        let mut buffer = vec![0; 1 << 16];
        loop {
            match file.read(&mut buffer)? {
                0 => return Ok(hasher.finish()),
                n => hasher.update(&buffer[..n]),
            }
        }
    }
}

/// Digests published by the archiver, keyed by absolute path, for the
/// signer to wait on.
pub struct ResourceDigests {
    /// The files the archiver will publish; the signer hashes any other.
    expected: HashSet<PathBuf>,
    state: Mutex<Published>,
    changed: Condvar,
}

#[derive(Default)]
struct Published {
    digests: HashMap<PathBuf, FileDigests>,
    /// The archiver is done (or failed): nothing more will come.
    closed: bool,
}

impl ResourceDigests {
    /// Digests of the regular files among `entries`, to be published by the
    /// archiver that reads them.
    pub fn expecting(entries: &[TreeEntry]) -> Self {
        let expected = entries
            .iter()
            .filter_map(|entry| match &entry.kind {
                EntryKind::File(FileSource::Path(path)) => Some(path.clone()),
                _ => None,
            })
            .collect();
        Self {
            expected,
            state: Mutex::default(),
            changed: Condvar::new(),
        }
    }

    /// None expected: the signer hashes every file itself.
    pub fn none() -> Self {
        Self::expecting(&[])
    }

    fn publish(&self, path: PathBuf, digests: FileDigests) {
        self.lock().digests.insert(path, digests);
        self.changed.notify_all();
    }

    /// Nothing more will be published; waiters hash what is missing.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Published> {
        // The state stays consistent across a panic (each update is one
        // insert or one flag), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The digests of the file at `path`: the archiver's, once it has read
    /// the file, or hashed here when the archiver does not read it (or
    /// stopped before it).
    pub fn of(&self, path: &Path) -> io::Result<FileDigests> {
        if self.expected.contains(path) {
            let mut state = self.lock();
            loop {
                if let Some(digests) = state.digests.get(path) {
                    return Ok(*digests);
                }
                if state.closed {
                    break;
                }
                state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        }
        DualHasher::of_file(path)
    }
}

/// Hashes each file the archiver reads, as it reads it, and publishes the
/// digests. Dropping it closes the digests, whatever happened.
pub struct ResourceDigester<'a> {
    digests: &'a ResourceDigests,
    current: Option<(PathBuf, DualHasher)>,
}

impl<'a> ResourceDigester<'a> {
    pub fn new(digests: &'a ResourceDigests) -> Self {
        Self {
            digests,
            current: None,
        }
    }
}

impl ContentObserver for ResourceDigester<'_> {
    fn begin(&mut self, entry: &TreeEntry) {
        self.current = match &entry.kind {
            EntryKind::File(FileSource::Path(path)) => Some((path.clone(), DualHasher::default())),
            _ => None,
        };
    }

    fn update(&mut self, data: &[u8]) {
        if let Some((_, hasher)) = &mut self.current {
            hasher.update(data);
        }
    }

    fn end(&mut self) {
        if let Some((path, hasher)) = self.current.take() {
            self.digests.publish(path, hasher.finish());
        }
    }
}

impl Drop for ResourceDigester<'_> {
    fn drop(&mut self) {
        self.digests.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha1_and_sha256() {
        let digests = DualHasher::of(b"abc");
        assert_eq!(
            hex::encode(digests.sha1),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(digests.sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_signer_waits_for_the_archiver_and_hashes_what_it_never_reads() {
        let dir = tempfile::tempdir().unwrap();
        let early = dir.path().join("early");
        let late = dir.path().join("late");
        std::fs::write(&early, b"on disk").unwrap();
        std::fs::write(&late, b"late").unwrap();
        let entry = TreeEntry {
            path: "early".into(),
            kind: EntryKind::File(FileSource::Path(early.clone())),
            permissions: 0o644,
            size: 7,
            modified: None,
        };
        let digests = ResourceDigests::expecting(std::slice::from_ref(&entry));
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| digests.of(&early).unwrap());
            std::thread::sleep(std::time::Duration::from_millis(50));
            let mut digester = ResourceDigester::new(&digests);
            digester.begin(&entry);
            // What the archiver read, not what is on disk now.
            digester.update(b"as archived");
            digester.end();
            assert_eq!(waiter.join().unwrap(), DualHasher::of(b"as archived"));
        });
        assert_eq!(digests.of(&late).unwrap(), DualHasher::of(b"late"));
    }

    #[test]
    fn a_closed_archiver_leaves_the_signer_to_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        std::fs::write(&path, b"contents").unwrap();
        let entry = TreeEntry {
            path: "file".into(),
            kind: EntryKind::File(FileSource::Path(path.clone())),
            permissions: 0o644,
            size: 8,
            modified: None,
        };
        let digests = ResourceDigests::expecting(&[entry]);
        drop(ResourceDigester::new(&digests));
        assert_eq!(digests.of(&path).unwrap(), DualHasher::of(b"contents"));
    }
}
