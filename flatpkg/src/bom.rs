//! BOM ("bill of materials") writer, in the layout of Apple's `mkbom`.
//!
//! Written here because `apple-bom` 0.3's builder panics on ordinary trees and
//! writes a layout its own reader rejects; its reader is what our tests judge
//! this writer with. The layout follows what the classic `mkbom` writes (and
//! macOS Installer reads), see `flatpkg/tests/fixtures/classic-mkbom-xar.pkg`:
//!
//! ```text
//! header (512 bytes: "BOMStore", version 1, block count, index and vars locations)
//! vars    BomInfo, Paths, HLIndex, VIndex, Size64 -> block numbers
//! blocks  BomInfo, then per path (breadth first): record, path-info, file name;
//!         leaf "paths" blocks of at most 256 entries chained forward/backward,
//!         an inner root block when there is more than one leaf, then the trees
//! index   block table (offset, length) and an empty free list
//! ```
//! All integers are big-endian.

use std::collections::BTreeMap;

/// Entries per leaf block of the paths tree, as `mkbom` writes them.
const PATHS_PER_LEAF: usize = 256;
const HEADER_SIZE: usize = 512;
const TREE_BLOCK_SIZE: u32 = 4096;
const VINDEX_TREE_BLOCK_SIZE: u32 = 128;
/// Value seen in every `mkbom` record's architecture field.
const ARCHITECTURE_ANY: u16 = 3;

/// What a path is, with what the BOM stores for each kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BomKind {
    Directory,
    File,
    Symlink { target: String },
}

/// One path of the tree the BOM describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BomRecord {
    /// Path relative to the install root, `/`-separated, without `./`; the
    /// root itself is the empty string.
    pub path: String,
    pub kind: BomKind,
    /// Permission bits (`0o7777` at most); the file-type bits are derived from `kind`.
    pub permissions: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    /// File size, or the length of a symlink's target; 0 for directories.
    pub size: u32,
    /// POSIX `cksum` of the content (of the target name for symlinks); 0 for directories.
    pub checksum: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum BomError {
    #[error("the BOM has no root entry (the empty path)")]
    NoRoot,
    #[error("BOM path `{0}` has no parent directory entry")]
    MissingParent(String),
    #[error("BOM path `{0}` appears twice")]
    Duplicate(String),
    #[error("the BOM is over 4 GiB, which its 32-bit offsets cannot address")]
    TooLarge,
}

impl BomRecord {
    fn mode(&self) -> u16 {
        let file_type = match self.kind {
            BomKind::Directory => 0o040000,
            BomKind::File => 0o100000,
            BomKind::Symlink { .. } => 0o120000,
        };
        file_type | (self.permissions & 0o7777)
    }

    fn encode(&self) -> Vec<u8> {
        let (path_type, link) = match &self.kind {
            BomKind::File => (1u8, None),
            BomKind::Directory => (2u8, None),
            BomKind::Symlink { target } => (3u8, Some(target.as_bytes())),
        };
        let mut out = Vec::with_capacity(31 + link.map_or(0, |l| l.len() + 1));
        out.push(path_type);
        out.push(1);
        out.extend_from_slice(&ARCHITECTURE_ANY.to_be_bytes());
        out.extend_from_slice(&self.mode().to_be_bytes());
        out.extend_from_slice(&self.uid.to_be_bytes());
        out.extend_from_slice(&self.gid.to_be_bytes());
        out.extend_from_slice(&self.mtime.to_be_bytes());
        out.extend_from_slice(&self.size.to_be_bytes());
        out.push(1);
        out.extend_from_slice(&self.checksum.to_be_bytes());
        match link {
            Some(link) => {
                out.extend_from_slice(&(link.len() as u32 + 1).to_be_bytes());
                out.extend_from_slice(link);
                out.push(0);
            }
            None => out.extend_from_slice(&0u32.to_be_bytes()),
        }
        out
    }
}

/// Blocks in the order they are added; block 0 is the null block.
struct BlockStore {
    blocks: Vec<Vec<u8>>,
}

impl BlockStore {
    fn new() -> Self {
        Self {
            blocks: vec![Vec::new()],
        }
    }

    fn add(&mut self, data: Vec<u8>) -> u32 {
        self.blocks.push(data);
        (self.blocks.len() - 1) as u32
    }
}

/// A leaf or inner block of a paths tree: (key block, file block) pairs.
struct PathsBlock {
    is_leaf: bool,
    next: u32,
    previous: u32,
    entries: Vec<(u32, u32)>,
}

impl PathsBlock {
    fn leaf(previous: u32) -> Self {
        Self {
            is_leaf: true,
            next: 0,
            previous,
            entries: Vec::new(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + 8 * self.entries.len());
        out.extend_from_slice(&u16::from(self.is_leaf).to_be_bytes());
        out.extend_from_slice(&(self.entries.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.next.to_be_bytes());
        out.extend_from_slice(&self.previous.to_be_bytes());
        for (a, b) in &self.entries {
            out.extend_from_slice(&a.to_be_bytes());
            out.extend_from_slice(&b.to_be_bytes());
        }
        out
    }
}

fn tree_block(child: u32, block_size: u32, path_count: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(21);
    out.extend_from_slice(b"tree");
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&child.to_be_bytes());
    out.extend_from_slice(&block_size.to_be_bytes());
    out.extend_from_slice(&path_count.to_be_bytes());
    out.push(0);
    out
}

fn pair(a: u32, b: u32) -> Vec<u8> {
    let mut out = a.to_be_bytes().to_vec();
    out.extend_from_slice(&b.to_be_bytes());
    out
}

/// Orders records breadth first with siblings by name, as `mkbom` numbers
/// paths, and returns (record, parent path id) with ids counting from 1.
fn breadth_first(records: &[BomRecord]) -> Result<Vec<(&BomRecord, u32)>, BomError> {
    let mut children: BTreeMap<&str, Vec<&BomRecord>> = BTreeMap::new();
    let mut root = None;
    let mut seen = std::collections::HashSet::new();
    for record in records {
        if !seen.insert(record.path.as_str()) {
            return Err(BomError::Duplicate(record.path.clone()));
        }
        if record.path.is_empty() {
            root = Some(record);
        } else {
            let parent = record.path.rsplit_once('/').map_or("", |(p, _)| p);
            children.entry(parent).or_default().push(record);
        }
    }
    let root = root.ok_or(BomError::NoRoot)?;
    for parent in children.keys() {
        if !seen.contains(parent) {
            return Err(BomError::MissingParent((*parent).to_string()));
        }
    }
    for siblings in children.values_mut() {
        siblings.sort_by(|a, b| a.path.cmp(&b.path));
    }

    let mut ordered = vec![(root, 0u32)];
    let mut next = 0;
    while next < ordered.len() {
        let (record, _) = ordered[next];
        let id = next as u32 + 1;
        if let Some(kids) = children.get(record.path.as_str()) {
            ordered.extend(kids.iter().map(|kid| (*kid, id)));
        }
        next += 1;
    }
    Ok(ordered)
}

fn file_name(record: &BomRecord) -> &str {
    if record.path.is_empty() {
        "."
    } else {
        record.path.rsplit('/').next().unwrap_or(&record.path)
    }
}

/// Writes the BOM describing `records`, which must include the root (empty
/// path) and every parent directory.
pub fn write_bom(records: &[BomRecord]) -> Result<Vec<u8>, BomError> {
    let ordered = breadth_first(records)?;
    let count = ordered.len() as u32;
    let mut store = BlockStore::new();

    let mut info = Vec::new();
    info.extend_from_slice(&1u32.to_be_bytes());
    info.extend_from_slice(&(count + 1).to_be_bytes());
    info.extend_from_slice(&1u32.to_be_bytes());
    info.extend_from_slice(&[0u8; 16]);
    let bom_info = store.add(info);

    // Leaves are written when they fill (so records precede the leaf that
    // lists them) and chained; the inner root lists each leaf with its last
    // file block as the key.
    let mut leaves: Vec<(u32, u32)> = Vec::new();
    let mut leaf = PathsBlock::leaf(0);
    let mut last_leaf_block = 0u32;
    for (index, (record, parent)) in ordered.iter().enumerate() {
        if index > 0 && index % PATHS_PER_LEAF == 0 {
            let last_file = leaf.entries.last().map_or(0, |e| e.1);
            let block = store.add(leaf.encode());
            link_previous(&mut store, last_leaf_block, block);
            leaves.push((block, last_file));
            last_leaf_block = block;
            leaf = PathsBlock::leaf(block);
        }
        let record_block = store.add(record.encode());
        let info_block = store.add(pair(index as u32 + 1, record_block));
        let mut file = parent.to_be_bytes().to_vec();
        file.extend_from_slice(file_name(record).as_bytes());
        file.push(0);
        let file_block = store.add(file);
        leaf.entries.push((info_block, file_block));
    }
    let last_file = leaf.entries.last().map_or(0, |e| e.1);
    let final_leaf = store.add(leaf.encode());
    link_previous(&mut store, last_leaf_block, final_leaf);
    leaves.push((final_leaf, last_file));
    let paths_root = if leaves.len() == 1 {
        final_leaf
    } else {
        let root = PathsBlock {
            is_leaf: false,
            next: 0,
            previous: 0,
            entries: leaves,
        };
        store.add(root.encode())
    };
    let paths = store.add(tree_block(paths_root, TREE_BLOCK_SIZE, count));

    let empty = PathsBlock::leaf(0).encode();
    let hl_leaf = store.add(empty.clone());
    let hl_index = store.add(tree_block(hl_leaf, TREE_BLOCK_SIZE, 0));
    let v_leaf = store.add(empty.clone());
    let v_tree = store.add(tree_block(v_leaf, VINDEX_TREE_BLOCK_SIZE, 0));
    let mut vindex = 1u32.to_be_bytes().to_vec();
    vindex.extend_from_slice(&v_tree.to_be_bytes());
    vindex.extend_from_slice(&0u32.to_be_bytes());
    vindex.push(0);
    let v_index = store.add(vindex);
    let size64_leaf = store.add(empty);
    let size64 = store.add(tree_block(size64_leaf, TREE_BLOCK_SIZE, 0));

    serialize(
        &store,
        &[
            ("BomInfo", bom_info),
            ("Paths", paths),
            ("HLIndex", hl_index),
            ("VIndex", v_index),
            ("Size64", size64),
        ],
    )
}

/// Points the previous leaf's forward link at `next` (its backward link was
/// set when `next` was created).
fn link_previous(store: &mut BlockStore, previous: u32, next: u32) {
    if previous != 0 {
        store.blocks[previous as usize][4..8].copy_from_slice(&next.to_be_bytes());
    }
}

fn serialize(store: &BlockStore, vars: &[(&str, u32)]) -> Result<Vec<u8>, BomError> {
    let mut vars_data = (vars.len() as u32).to_be_bytes().to_vec();
    for (name, block) in vars {
        vars_data.extend_from_slice(&block.to_be_bytes());
        vars_data.push(name.len() as u8);
        vars_data.extend_from_slice(name.as_bytes());
    }
    let data_start = HEADER_SIZE + vars_data.len();
    let data_len: usize = store.blocks.iter().map(Vec::len).sum();
    let index_offset = data_start + data_len;
    let table_len = 4 + 8 * store.blocks.len();
    // An empty free list with room for two entries, as mkbom writes it.
    let free_list_len = 4 + 2 * 8;
    if index_offset + table_len + free_list_len > u32::MAX as usize {
        return Err(BomError::TooLarge);
    }

    let mut out = Vec::with_capacity(index_offset + table_len + free_list_len);
    out.extend_from_slice(b"BOMStore");
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&(store.blocks.len() as u32 - 1).to_be_bytes());
    out.extend_from_slice(&(index_offset as u32).to_be_bytes());
    out.extend_from_slice(&((table_len + free_list_len) as u32).to_be_bytes());
    out.extend_from_slice(&(HEADER_SIZE as u32).to_be_bytes());
    out.extend_from_slice(&(vars_data.len() as u32).to_be_bytes());
    out.resize(HEADER_SIZE, 0);
    out.extend_from_slice(&vars_data);

    let mut table = (store.blocks.len() as u32).to_be_bytes().to_vec();
    let mut offset = data_start as u32;
    for block in &store.blocks {
        let address = if block.is_empty() { 0 } else { offset };
        table.extend_from_slice(&pair(address, block.len() as u32));
        out.extend_from_slice(block);
        offset += block.len() as u32;
    }
    out.extend_from_slice(&table);
    out.extend_from_slice(&[0u8; 20]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use apple_bom::{BomPath, ParsedBom};

    fn dir(path: &str) -> BomRecord {
        BomRecord {
            path: path.into(),
            kind: BomKind::Directory,
            permissions: 0o755,
            uid: 0,
            gid: 80,
            mtime: 1_700_000_000,
            size: 0,
            checksum: 0,
        }
    }

    fn file(path: &str, content: &[u8]) -> BomRecord {
        BomRecord {
            kind: BomKind::File,
            permissions: 0o644,
            size: content.len() as u32,
            checksum: crate::cksum::PosixCksum::of(content),
            ..dir(path)
        }
    }

    fn read_back(bom: &[u8]) -> Vec<BomPath> {
        ParsedBom::parse(bom).unwrap().paths().unwrap()
    }

    #[test]
    fn small_tree_round_trips_through_apple_bom_reader() {
        let records = vec![
            dir(""),
            dir("Applications"),
            file("Applications/a.txt", b"alpha"),
            BomRecord {
                kind: BomKind::Symlink {
                    target: "a.txt".into(),
                },
                permissions: 0o755,
                size: 5,
                checksum: crate::cksum::PosixCksum::of(b"a.txt"),
                ..dir("Applications/link")
            },
        ];
        let bom = write_bom(&records).unwrap();
        let paths = read_back(&bom);
        let listed: Vec<_> = paths.iter().map(|p| p.path().to_string()).collect();
        assert_eq!(
            listed,
            [
                ".",
                "./Applications",
                "./Applications/a.txt",
                "./Applications/link"
            ]
        );
        let a = &paths[2];
        assert_eq!(a.symbolic_mode(), "-rw-r--r--");
        assert_eq!((a.user_id(), a.group_id(), a.size()), (0, 80, 5));
        assert_eq!(a.crc32(), Some(crate::cksum::PosixCksum::of(b"alpha")));
        assert_eq!(paths[3].link_name(), Some("a.txt"));
        let parsed = ParsedBom::parse(&bom).unwrap();
        assert_eq!(parsed.bom_info().unwrap().number_of_paths, 5);
        assert!(parsed.hl_index().unwrap().is_empty());
        assert!(parsed.vindex().unwrap().is_empty());
        assert!(parsed.size64().unwrap().is_empty());
    }

    #[test]
    fn many_paths_span_several_chained_leaves() {
        let mut records = vec![dir(""), dir("d")];
        for i in 0..700 {
            records.push(file(&format!("d/f{i:04}"), format!("{i}").as_bytes()));
        }
        let paths = read_back(&write_bom(&records).unwrap());
        assert_eq!(paths.len(), 702);
        assert_eq!(paths[701].path(), "./d/f0699");
        assert_eq!(paths[400].path(), "./d/f0398");
        assert_eq!(paths[400].size(), "398".len());
    }

    #[test]
    fn rejects_orphans_and_duplicates() {
        assert!(matches!(
            write_bom(&[dir(""), dir("a/b")]),
            Err(BomError::MissingParent(p)) if p == "a"
        ));
        assert!(matches!(
            write_bom(&[dir(""), dir("a"), dir("a")]),
            Err(BomError::Duplicate(_))
        ));
        assert!(matches!(write_bom(&[dir("a")]), Err(BomError::NoRoot)));
    }
}
