//! BOM reader, bounded by the file it reads: the paths of any pkg's BOM,
//! in the layout [`crate::bom`] writes and `mkbom` wrote before it.
//!
//! Written here because apple-bom 0.3's reader trusts what a BOM claims:
//! it reserves memory for whatever count a header or block gives (fuzzing
//! `verify` turned a 2 KB BOM into a 5 GB reservation), slices the file at
//! any offset it names (a panic), and follows the paths tree's links with
//! no bound (a loop). This one checks every offset and count against the
//! file, visits each block of the tree once, and caps what it builds by
//! the file's size. apple-bom stays the judge of our writer in its tests.

use std::collections::{HashMap, HashSet};

use crate::bom::BomKind;

/// One path of a BOM, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BomEntry {
    /// Relative to the install root, `/`-separated, without `./`; the root
    /// itself is the empty string.
    pub path: String,
    pub kind: BomKind,
    /// As recorded, the file-type bits included.
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    pub size: u32,
    /// POSIX `cksum` of a file's content or a symlink's target; none for a
    /// directory.
    pub checksum: Option<u32>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BomReadError {
    #[error("it does not start with `BOMStore`")]
    NotABom,
    #[error("its {0} lies outside the file")]
    OutOfBounds(&'static str),
    #[error("it names block {0}, which its block table does not hold")]
    NoSuchBlock(u32),
    #[error("it has no `Paths` variable")]
    NoPaths,
    #[error("block {0} is not a tree")]
    NotATree(u32),
    #[error("its paths tree comes back to block {0}")]
    Cycle(u32),
    #[error("block {block} is too short for a {what}")]
    Short { block: u32, what: &'static str },
    #[error(
        "path record in block {block} has type {kind}, which is not a file, directory or link"
    )]
    UnknownType { block: u32, kind: u8 },
    #[error("path {0} has a parent that is not in the BOM, or is its own ancestor")]
    BadParent(u32),
    #[error("it lists more paths, or longer ones, than a BOM of its size can hold")]
    TooMuch,
}

/// Offsets of the header's fields (big-endian `u32`s after the magic).
const MAGIC: &[u8] = b"BOMStore";
/// A path record: type, a byte, architecture, mode, uid, gid, mtime, size,
/// a byte, checksum, link name length (31 bytes), then a link's name.
const RECORD_LEN: usize = 31;
/// No path on macOS is longer (`PATH_MAX` is 1024; this allows for what a
/// package may carry that was never installed).
const LONGEST_PATH: usize = 4096;

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

/// `len` bytes at `offset` of `data`, or an error naming `what`.
fn slice<'a>(
    data: &'a [u8],
    offset: u32,
    len: u32,
    what: &'static str,
) -> Result<&'a [u8], BomReadError> {
    let start = offset as usize;
    start
        .checked_add(len as usize)
        .and_then(|end| data.get(start..end))
        .ok_or(BomReadError::OutOfBounds(what))
}

struct Bom<'a> {
    data: &'a [u8],
    /// The block table: a count, then (offset, length) pairs.
    table: &'a [u8],
    blocks: u32,
}

impl<'a> Bom<'a> {
    fn parse(data: &'a [u8]) -> Result<Self, BomReadError> {
        if !data.starts_with(MAGIC) {
            return Err(BomReadError::NotABom);
        }
        let field = |at| be32(data, at).ok_or(BomReadError::OutOfBounds("header"));
        let table = slice(data, field(16)?, field(20)?, "block table")?;
        let blocks = be32(table, 0).ok_or(BomReadError::OutOfBounds("block table"))?;
        if (blocks as usize)
            .checked_mul(8)
            .is_none_or(|len| len > table.len() - 4)
        {
            return Err(BomReadError::OutOfBounds("block table"));
        }
        Ok(Self {
            data,
            table,
            blocks,
        })
    }

    fn block(&self, index: u32) -> Result<&'a [u8], BomReadError> {
        if index == 0 || index >= self.blocks {
            return Err(BomReadError::NoSuchBlock(index));
        }
        let at = 4 + 8 * index as usize;
        let (Some(offset), Some(len)) = (be32(self.table, at), be32(self.table, at + 4)) else {
            return Err(BomReadError::NoSuchBlock(index));
        };
        slice(self.data, offset, len, "block")
    }

    /// The block the variable `name` names.
    fn variable(&self, name: &str) -> Result<u32, BomReadError> {
        let header = |at| be32(self.data, at).ok_or(BomReadError::OutOfBounds("header"));
        let vars = slice(self.data, header(24)?, header(28)?, "variables")?;
        let count = be32(vars, 0).ok_or(BomReadError::OutOfBounds("variables"))?;
        let mut at = 4;
        for _ in 0..count {
            let block = be32(vars, at).ok_or(BomReadError::OutOfBounds("variables"))?;
            let len = *vars
                .get(at + 4)
                .ok_or(BomReadError::OutOfBounds("variables"))? as usize;
            let found = vars
                .get(at + 5..at + 5 + len)
                .ok_or(BomReadError::OutOfBounds("variables"))?;
            if found == name.as_bytes() {
                return Ok(block);
            }
            at += 5 + len;
        }
        Err(BomReadError::NoPaths)
    }
}

/// A paths block: leaf or not, its (key, value) entries, the next leaf.
struct PathsBlock<'a> {
    is_leaf: bool,
    next: u32,
    entries: &'a [u8],
}

fn paths_block<'a>(bom: &Bom<'a>, index: u32) -> Result<PathsBlock<'a>, BomReadError> {
    let data = bom.block(index)?;
    let short = BomReadError::Short {
        block: index,
        what: "paths block",
    };
    let (Some(is_leaf), Some(count), Some(next)) = (be16(data, 0), be16(data, 2), be32(data, 4))
    else {
        return Err(short);
    };
    let entries = data.get(12..12 + 8 * count as usize).ok_or(short)?;
    Ok(PathsBlock {
        is_leaf: is_leaf != 0,
        next,
        entries,
    })
}

/// One leaf entry, resolved: its path id, its parent's and its name, and
/// what its record says.
struct Leaf {
    id: u32,
    parent: u32,
    name: String,
    entry: BomEntry,
}

fn leaf_entry(bom: &Bom, pointer: u32, file: u32) -> Result<Leaf, BomReadError> {
    let short = |block, what| BomReadError::Short { block, what };
    let pointer_data = bom.block(pointer)?;
    let (Some(id), Some(record_block)) = (be32(pointer_data, 0), be32(pointer_data, 4)) else {
        return Err(short(pointer, "path pointer"));
    };
    let record = bom.block(record_block)?;
    if record.len() < RECORD_LEN {
        return Err(short(record_block, "path record"));
    }
    let field = |at| be32(record, at).expect("within the record's length");
    let mode = be16(record, 4).expect("within the record's length");
    let (kind, checksum) = match record[0] {
        1 => (BomKind::File, Some(field(23))),
        2 => (BomKind::Directory, None),
        3 => {
            let len = field(27) as usize;
            let name = record
                .get(RECORD_LEN..RECORD_LEN + len)
                .ok_or(short(record_block, "link name"))?;
            let target = name.strip_suffix(&[0]).unwrap_or(name);
            (
                BomKind::Symlink {
                    target: String::from_utf8_lossy(target).into_owned(),
                },
                Some(field(23)),
            )
        }
        kind => {
            return Err(BomReadError::UnknownType {
                block: record_block,
                kind,
            })
        }
    };
    let file_data = bom.block(file)?;
    let parent = be32(file_data, 0).ok_or(short(file, "file name"))?;
    let name = file_data[4..].split(|&b| b == 0).next().unwrap_or_default();
    Ok(Leaf {
        id,
        parent,
        name: String::from_utf8_lossy(name).into_owned(),
        entry: BomEntry {
            path: String::new(),
            kind,
            mode,
            uid: field(6),
            gid: field(10),
            mtime: field(14),
            size: field(18),
            checksum,
        },
    })
}

/// Every path the BOM's `Paths` tree lists, in its order.
pub fn read_bom(data: &[u8]) -> Result<Vec<BomEntry>, BomReadError> {
    let bom = Bom::parse(data)?;
    let tree_block = bom.variable("Paths")?;
    let tree = bom.block(tree_block)?;
    if !tree.starts_with(b"tree") {
        return Err(BomReadError::NotATree(tree_block));
    }
    let mut block = be32(tree, 8).ok_or(BomReadError::NotATree(tree_block))?;
    let mut visited = HashSet::new();
    // Down the first children to the first leaf, then along the leaves.
    let mut paths = loop {
        if !visited.insert(block) {
            return Err(BomReadError::Cycle(block));
        }
        let paths = paths_block(&bom, block)?;
        if paths.is_leaf {
            break paths;
        }
        block = be32(paths.entries, 0).ok_or(BomReadError::Short {
            block,
            what: "paths block",
        })?;
    };
    // Each listed path takes at least its 8-byte leaf entry, its pointer
    // and its record: a longer list repeats blocks.
    let most_paths = data.len() / 16;
    let mut most_bytes = 16 * data.len();
    let mut leaves = Vec::new();
    loop {
        for pair in paths.entries.chunks_exact(8) {
            let (pointer, file) = (be32(pair, 0).unwrap_or(0), be32(pair, 4).unwrap_or(0));
            if leaves.len() == most_paths {
                return Err(BomReadError::TooMuch);
            }
            leaves.push(leaf_entry(&bom, pointer, file)?);
        }
        if paths.next == 0 {
            break;
        }
        if !visited.insert(paths.next) {
            return Err(BomReadError::Cycle(paths.next));
        }
        paths = paths_block(&bom, paths.next)?;
    }
    // Full paths, through each one's parents; the root is named `.`.
    let by_id: HashMap<u32, usize> = leaves.iter().enumerate().map(|(i, l)| (l.id, i)).collect();
    let mut entries = Vec::with_capacity(leaves.len());
    for leaf in &leaves {
        let mut names = vec![leaf.name.as_str()];
        let mut parent = leaf.parent;
        while parent != 0 {
            let up = *by_id.get(&parent).ok_or(BomReadError::BadParent(leaf.id))?;
            if names.len() > leaves.len() {
                return Err(BomReadError::BadParent(leaf.id));
            }
            names.push(leaves[up].name.as_str());
            parent = leaves[up].parent;
        }
        let path = names
            .iter()
            .rev()
            .filter(|name| **name != ".")
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        if path.len() > LONGEST_PATH || path.len() > most_bytes {
            return Err(BomReadError::TooMuch);
        }
        most_bytes -= path.len();
        entries.push(BomEntry {
            path,
            ..leaf.entry.clone()
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bom::{write_bom, BomRecord};

    fn record(path: &str, kind: BomKind, permissions: u16, checksum: u32) -> BomRecord {
        BomRecord {
            path: path.into(),
            kind,
            permissions,
            uid: 0,
            gid: 80,
            mtime: 1_700_000_000,
            size: 5,
            checksum,
        }
    }

    #[test]
    fn reads_back_what_the_writer_wrote_across_chained_leaves() {
        let mut records = vec![
            record("", BomKind::Directory, 0o755, 0),
            record("Applications", BomKind::Directory, 0o775, 0),
        ];
        for i in 0..600 {
            records.push(record(
                &format!("Applications/file-{i:03}"),
                BomKind::File,
                0o644,
                i,
            ));
        }
        records.push(record(
            "Applications/link",
            BomKind::Symlink {
                target: "file-001".into(),
            },
            0o755,
            42,
        ));
        let read = read_bom(&write_bom(&records).unwrap()).unwrap();
        assert_eq!(read.len(), records.len());
        for entry in &read {
            let written = records.iter().find(|r| r.path == entry.path).unwrap();
            assert_eq!(entry.kind, written.kind);
            assert_eq!(entry.mode & 0o7777, written.permissions);
            assert_eq!((entry.uid, entry.gid, entry.mtime), (0, 80, 1_700_000_000));
            let checksum = (written.kind != BomKind::Directory).then_some(written.checksum);
            assert_eq!(entry.checksum, checksum, "{}", entry.path);
        }
        let link = read.iter().find(|e| e.path == "Applications/link").unwrap();
        assert_eq!(link.mode & 0o170000, 0o120000);
    }

    #[test]
    fn a_bom_that_claims_more_than_it_holds_is_an_error() {
        let good = write_bom(&[
            record("", BomKind::Directory, 0o755, 0),
            record("a", BomKind::File, 0o644, 1),
        ])
        .unwrap();
        assert_eq!(read_bom(b"BOMStor"), Err(BomReadError::NotABom));
        // A block table longer than the file.
        let mut bad = good.clone();
        bad[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            read_bom(&bad),
            Err(BomReadError::OutOfBounds("block table"))
        );
        // A block count the table cannot hold.
        let mut bad = good.clone();
        let table = u32::from_be_bytes(good[16..20].try_into().unwrap()) as usize;
        bad[table..table + 4].copy_from_slice(&0x4000_0000u32.to_be_bytes());
        assert_eq!(
            read_bom(&bad),
            Err(BomReadError::OutOfBounds("block table"))
        );
        // A leaf whose next leaf is itself.
        let bom = Bom::parse(&good).unwrap();
        let tree = bom.block(bom.variable("Paths").unwrap()).unwrap();
        let leaf = u32::from_be_bytes(tree[8..12].try_into().unwrap());
        let at = 4 + 8 * leaf as usize;
        let offset = u32::from_be_bytes(good[table + at..table + at + 4].try_into().unwrap());
        let mut bad = good.clone();
        bad[offset as usize + 4..offset as usize + 8].copy_from_slice(&leaf.to_be_bytes());
        assert_eq!(read_bom(&bad), Err(BomReadError::Cycle(leaf)));
    }
}
