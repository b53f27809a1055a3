//! Our BOM writer against the classic `mkbom` pipeline: for the tree inside
//! `tests/fixtures/classic-mkbom-xar.pkg` (built by bomutils' mkbom, not by
//! us), our BOM must list identically through apple-bom's reader.

use std::path::PathBuf;

use apple_bom::ParsedBom;
use installer_tool::{
    pkg::{bom, payload, tree},
    progress::NoProgress,
};
use system_tests::{unpack_cpio_gz, unpack_xar, workspace_root};

fn fixture() -> PathBuf {
    workspace_root().join("tests/fixtures/classic-mkbom-xar.pkg")
}

/// (path, mode, uid, gid, size, checksum, link target) as `lsbom` prints them.
type Listing = Vec<(String, u16, u32, u32, usize, Option<u32>, Option<String>)>;

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
