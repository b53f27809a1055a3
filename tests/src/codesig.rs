//! An independent reader of Mach-O code signatures, written from Apple's
//! `cs_blobs.h` layout with goblin (load commands) and sha2 (hashes) only:
//! none of apple-codesign, the library that signs, is involved. It finds
//! `LC_CODE_SIGNATURE` in each slice, walks the embedded-signature
//! SuperBlob and reads the CodeDirectories and the entitlements blob.

use goblin::mach::{load_command::CommandVariant, Mach, MachO};
use sha2::{Digest, Sha256};

/// `CSMAGIC_EMBEDDED_SIGNATURE`.
pub const SUPERBLOB_MAGIC: u32 = 0xfade_0cc0;
/// `CSMAGIC_CODEDIRECTORY`.
pub const CODE_DIRECTORY_MAGIC: u32 = 0xfade_0c02;
/// `CSMAGIC_EMBEDDED_ENTITLEMENTS`: an XML property list follows the header.
pub const ENTITLEMENTS_MAGIC: u32 = 0xfade_7171;
/// `CSSLOT_ENTITLEMENTS`: the special slot holding the entitlements blob's hash.
pub const ENTITLEMENTS_SLOT: u32 = 5;
/// `CS_HASHTYPE_SHA1`.
pub const HASH_SHA1: u8 = 1;
/// `CS_HASHTYPE_SHA256`.
pub const HASH_SHA256: u8 = 2;
/// `CSSLOT_SIGNATURESLOT`: the CMS signature's BlobWrapper (magic
/// `0xfade0b01`); an ad-hoc signature has none, or an empty one.
pub const SIGNATURE_SLOT: u32 = 0x10000;
/// `CS_ADHOC` in a CodeDirectory's flags.
pub const FLAG_ADHOC: u32 = 0x2;

fn be32(data: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(data[at..at + 4].try_into().unwrap())
}

fn be64(data: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(data[at..at + 8].try_into().unwrap())
}

/// One architecture slice of a (possibly universal) Mach-O file and the
/// signature found through its `LC_CODE_SIGNATURE`.
pub struct SignedSlice<'a> {
    /// The slice's bytes: offsets in its signature are relative to these.
    pub bytes: &'a [u8],
    /// The SuperBlob `LC_CODE_SIGNATURE` points at.
    pub superblob: &'a [u8],
    /// Its index: (slot type, the blob at that slot, header included).
    pub blobs: Vec<(u32, &'a [u8])>,
}

/// A parsed CodeDirectory (`struct CS_CodeDirectory`), the fields page
/// hashing needs.
#[derive(Debug)]
pub struct CodeDirectory<'a> {
    pub version: u32,
    /// `CS_ADHOC` (0x2), `CS_RUNTIME` (0x10000), ...
    pub flags: u32,
    pub hash_size: usize,
    pub hash_type: u8,
    pub page_size: usize,
    pub code_limit: u64,
    pub identifier: String,
    /// The signer's team (`teamOffset`, version 0x20200 and later); none
    /// when ad-hoc.
    pub team_id: Option<String>,
    /// `code_slots[i]` is the recorded hash of page `i`.
    pub code_slots: Vec<&'a [u8]>,
    /// `special_slot(n)` is the hash recorded for special slot `n` (1 = Info.plist,
    /// 5 = entitlements, ...).
    special: Vec<&'a [u8]>,
}

impl CodeDirectory<'_> {
    pub fn special_slot(&self, slot: u32) -> Option<&[u8]> {
        self.special.get(slot as usize - 1).copied()
    }
}

/// The slices of `data`, each with its signature. Panics on anything that is
/// not a signed Mach-O.
pub fn signed_slices(data: &[u8]) -> Vec<SignedSlice<'_>> {
    let slices: Vec<&[u8]> = match Mach::parse(data).expect("Mach-O") {
        Mach::Binary(_) => vec![data],
        Mach::Fat(fat) => fat
            .iter_arches()
            .map(|arch| arch.expect("fat arch").slice(data))
            .collect(),
    };
    slices
        .into_iter()
        .map(|bytes| {
            let macho = MachO::parse(bytes, 0).expect("a Mach-O slice");
            let (offset, size) = macho
                .load_commands
                .iter()
                .find_map(|lc| match lc.command {
                    CommandVariant::CodeSignature(cs) => Some((cs.dataoff, cs.datasize)),
                    _ => None,
                })
                .expect("LC_CODE_SIGNATURE");
            let superblob = &bytes[offset as usize..(offset + size) as usize];
            assert_eq!(be32(superblob, 0), SUPERBLOB_MAGIC, "embedded signature");
            let length = be32(superblob, 4) as usize;
            assert!(length <= superblob.len(), "SuperBlob length {length}");
            let count = be32(superblob, 8) as usize;
            let blobs = (0..count)
                .map(|i| {
                    let slot = be32(superblob, 12 + 8 * i);
                    let at = be32(superblob, 16 + 8 * i) as usize;
                    let blob_len = be32(superblob, at + 4) as usize;
                    (slot, &superblob[at..at + blob_len])
                })
                .collect();
            SignedSlice {
                bytes,
                superblob,
                blobs,
            }
        })
        .collect()
}

impl<'a> SignedSlice<'a> {
    /// The blob with `magic`, if the index has one.
    pub fn blob(&self, magic: u32) -> Option<&'a [u8]> {
        self.blobs
            .iter()
            .map(|(_, blob)| *blob)
            .find(|blob| be32(blob, 0) == magic)
    }

    /// The entitlements signed into this slice, parsed from the
    /// `0xfade7171` blob.
    pub fn entitlements(&self) -> plist::Dictionary {
        let blob = self.blob(ENTITLEMENTS_MAGIC).expect("an entitlements blob");
        plist::Value::from_reader_xml(&blob[8..])
            .expect("the entitlements blob is an XML plist")
            .into_dictionary()
            .expect("the entitlements are a dictionary")
    }

    /// Every CodeDirectory in the index (the primary one and alternates).
    pub fn code_directories(&self) -> Vec<CodeDirectory<'a>> {
        self.blobs
            .iter()
            .filter(|(_, blob)| be32(blob, 0) == CODE_DIRECTORY_MAGIC)
            .map(|(_, blob)| parse_code_directory(blob))
            .collect()
    }
}

fn parse_code_directory(cd: &[u8]) -> CodeDirectory<'_> {
    let version = be32(cd, 8);
    let flags = be32(cd, 12);
    let hash_offset = be32(cd, 16) as usize;
    let ident_offset = be32(cd, 20) as usize;
    let special_slots = be32(cd, 24) as usize;
    let code_slots = be32(cd, 28) as usize;
    let code_limit32 = be32(cd, 32);
    let hash_size = cd[36] as usize;
    let hash_type = cd[37];
    let page_size = match cd[39] {
        0 => 0,
        log2 => 1usize << log2,
    };
    // codeLimit64 (version 0x20300 and later) replaces a zero codeLimit.
    let code_limit = if version >= 0x20300 && code_limit32 == 0 {
        be64(cd, 56)
    } else {
        u64::from(code_limit32)
    };
    let string_at = |offset: usize| {
        cd[offset..]
            .split(|&b| b == 0)
            .next()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap()
    };
    let identifier = string_at(ident_offset);
    let team_id = match be32(cd, 48) as usize {
        offset if version >= 0x20200 && offset != 0 => Some(string_at(offset)),
        _ => None,
    };
    let slot = |i: usize| &cd[i..i + hash_size];
    CodeDirectory {
        version,
        flags,
        hash_size,
        hash_type,
        page_size,
        code_limit,
        identifier,
        team_id,
        code_slots: (0..code_slots)
            .map(|i| slot(hash_offset + i * hash_size))
            .collect(),
        special: (1..=special_slots)
            .map(|n| slot(hash_offset - n * hash_size))
            .collect(),
    }
}

/// Recomputes every page hash of every CodeDirectory of every slice from
/// the file's bytes and compares it with the recorded slot; also checks
/// that the entitlements blob is the one the CodeDirectory binds (special
/// slot 5). Panics, naming the slice and page, on the first mismatch.
pub fn assert_page_hashes_match(name: &str, data: &[u8]) {
    for (index, slice) in signed_slices(data).iter().enumerate() {
        let directories = slice.code_directories();
        assert!(
            !directories.is_empty(),
            "{name} slice {index}: no CodeDirectory"
        );
        for cd in directories {
            assert_eq!(
                cd.hash_type, HASH_SHA256,
                "{name} slice {index}: a CodeDirectory hashed with type {} (only SHA-256 is expected for macOS 13+)",
                cd.hash_type
            );
            assert_eq!(cd.hash_size, 32, "{name} slice {index}: SHA-256 slot size");
            assert!(cd.page_size > 0, "{name} slice {index}: paged signature");
            let limit = usize::try_from(cd.code_limit).unwrap();
            assert!(
                limit <= slice.bytes.len(),
                "{name} slice {index}: codeLimit {limit} past the slice ({})",
                slice.bytes.len()
            );
            // The signature itself starts at codeLimit: everything before it
            // is hashed.
            let signature_at = slice.superblob.as_ptr() as usize - slice.bytes.as_ptr() as usize;
            assert_eq!(limit, signature_at, "{name} slice {index}: codeLimit");
            let pages: Vec<&[u8]> = slice.bytes[..limit].chunks(cd.page_size).collect();
            assert_eq!(
                pages.len(),
                cd.code_slots.len(),
                "{name} slice {index}: one code slot per {}-byte page up to codeLimit",
                cd.page_size
            );
            for (page, (bytes, recorded)) in pages.iter().zip(&cd.code_slots).enumerate() {
                assert_eq!(
                    Sha256::digest(bytes).as_slice(),
                    *recorded,
                    "{name} slice {index}: page {page} (at {:#x}) does not hash to its slot",
                    page * cd.page_size
                );
            }
            if let Some(entitlements) = slice.blob(ENTITLEMENTS_MAGIC) {
                assert_eq!(
                    cd.special_slot(ENTITLEMENTS_SLOT),
                    Some(Sha256::digest(entitlements).as_slice()),
                    "{name} slice {index}: the entitlements blob is the one the CodeDirectory binds"
                );
            }
        }
    }
}
