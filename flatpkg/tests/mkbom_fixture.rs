//! Our BOM writer against the classic `mkbom` pipeline: for the tree inside
//! `flatpkg/tests/fixtures/classic-mkbom-xar.pkg` (built by bomutils' mkbom, not by
//! us), our BOM must list identically through apple-bom's reader, and its
//! other variables (BomInfo, VIndex, HLIndex, Size64) must hold what mkbom's
//! hold, block by block (block numbers aside, which depend on layout).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use apple_bom::ParsedBom;
use flatpkg::{bom, payload, tree, NoProgress};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classic-mkbom-xar.pkg")
}

/// Runs a shell line and insists it succeeds.
fn sh(line: &str, args: &[&Path]) {
    let status = Command::new("sh")
        .args(["-c", line, "sh"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "`{line}` failed: {status}");
}

/// Unpacks the product archive with bsdtar and its payload with GNU cpio,
/// readers we did not write.
fn unpack_xar(pkg: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    sh("bsdtar -xf \"$1\" -C \"$2\"", &[pkg, into]);
}

fn unpack_cpio_gz(archive: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    sh(
        "cd \"$2\" && gzip -dc \"$1\" | cpio -idm --quiet",
        &[archive, into],
    );
}

/// (path, mode, uid, gid, size, checksum, link target) as `lsbom` prints them.
type Listing = Vec<(String, u16, u32, u32, usize, Option<u32>, Option<String>)>;

/// A tree block (`tree`, version, block size, path count, the unknown
/// byte) and the root paths block it points to (leaf flag, count, forward
/// and backward links, its length in bytes), without block numbers.
type TreeSummary = ([u8; 4], u32, u32, u32, u8, (u16, u16, u32, u32, usize));

fn tree_summary(bom: &ParsedBom, block: u32) -> TreeSummary {
    let tree = bom.block_as_tree(block as usize).unwrap();
    let root = tree.paths(bom).unwrap();
    (
        tree.tree,
        tree.version,
        tree.block_size,
        tree.path_count,
        tree.a,
        (
            root.is_path_info,
            root.count,
            root.next_paths_block_index,
            root.previous_paths_block_index,
            bom.block_data(tree.block_paths_index as usize)
                .unwrap()
                .len(),
        ),
    )
}

/// The variables besides Paths, as comparable values.
#[derive(Debug, PartialEq)]
struct OtherVariables {
    /// The BomInfo block's bytes: version, number of paths, info entries.
    bom_info: Vec<u8>,
    /// The VIndex block's bytes with its tree's block number zeroed, and
    /// that tree.
    vindex: (Vec<u8>, TreeSummary),
    hl_index: TreeSummary,
    size64: TreeSummary,
}

fn other_variables(data: &[u8]) -> OtherVariables {
    let bom = ParsedBom::parse(data).unwrap();
    let block = |name: &str| bom.find_variable(name).unwrap().block_index;
    let vindex = bom.block_as_vindex(block("VIndex") as usize).unwrap();
    let mut vindex_bytes = bom.block_data(block("VIndex") as usize).unwrap().to_vec();
    vindex_bytes[4..8].fill(0);
    OtherVariables {
        bom_info: bom.block_data(block("BomInfo") as usize).unwrap().to_vec(),
        vindex: (vindex_bytes, tree_summary(&bom, vindex.tree_block_index)),
        hl_index: tree_summary(&bom, block("HLIndex")),
        size64: tree_summary(&bom, block("Size64")),
    }
}

fn listing(bom: &[u8]) -> Listing {
    let mut rows: Listing = ParsedBom::parse(bom)
        .unwrap()
        .paths()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p.path().to_string(),
                p.file_mode(),
                p.user_id(),
                p.group_id(),
                p.size(),
                p.crc32(),
                p.link_name().map(str::to_string),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn our_bom_lists_like_mkbom_for_the_same_tree() {
    let dir = tempfile::tempdir().unwrap();
    let extracted = dir.path().join("pkg");
    unpack_xar(&fixture(), &extracted);
    let tree_root = dir.path().join("tree");
    unpack_cpio_gz(&extracted.join("classic.pkg/Payload"), &tree_root);

    let entries = tree::scan(&tree_root).unwrap();
    let mut settings = payload::ArchiveSettings::payload(1_700_000_000);
    settings.threads = 1;
    let archive = payload::write_archive(
        &entries,
        &settings,
        &dir.path().join("Payload"),
        &NoProgress,
    )
    .unwrap();
    let ours = bom::write_bom(&archive.bom_records).unwrap();
    let theirs = std::fs::read(extracted.join("classic.pkg/Bom")).unwrap();

    // BomInfo, VIndex, HLIndex and Size64: what mkbom wrote for this tree.
    let theirs_other = other_variables(&theirs);
    assert_eq!(
        theirs_other.bom_info[..8],
        [0, 0, 0, 1, 0, 0, 0, 11],
        "mkbom's BomInfo: version 1, the 10 paths plus one"
    );
    assert_eq!(other_variables(&ours), theirs_other);

    let (ours, theirs) = (listing(&ours), listing(&theirs));
    assert_eq!(ours, theirs);
    // The fixture's README, as lsbom prints it: the symlink's checksum is
    // the CRC of its target name.
    let link = theirs.iter().find(|r| r.0.ends_with("link.txt")).unwrap();
    assert_eq!(
        (link.1, link.4, link.5, link.6.as_deref()),
        (0o120777, 10, Some(3131464386), Some("readme.txt"))
    );
    let exe = theirs
        .iter()
        .find(|r| r.0.ends_with("MacOS/Classic"))
        .unwrap();
    assert_eq!(
        (exe.1, exe.2, exe.3, exe.4, exe.5),
        (0o100755, 0, 80, 49960, Some(2041907882))
    );
    assert_eq!(theirs.len(), 10);
}

#[test]
fn our_reader_reads_mkboms_bom_as_apple_bom_does() {
    let dir = tempfile::tempdir().unwrap();
    let extracted = dir.path().join("pkg");
    unpack_xar(&fixture(), &extracted);
    let theirs = std::fs::read(extracted.join("classic.pkg/Bom")).unwrap();
    let mut ours: Listing = flatpkg::bom_reader::read_bom(&theirs)
        .unwrap()
        .into_iter()
        .map(|e| {
            let link = match e.kind {
                bom::BomKind::Symlink { target } => Some(target),
                _ => None,
            };
            // apple-bom names paths from the root, `.`.
            let path = if e.path.is_empty() {
                ".".to_string()
            } else {
                format!("./{}", e.path)
            };
            (
                path,
                e.mode,
                e.uid,
                e.gid,
                e.size as usize,
                e.checksum,
                link,
            )
        })
        .collect();
    ours.sort();
    assert_eq!(ours, listing(&theirs));
}
