//! Arbitrary names through every writer, read back by readers we did not
//! write: the payload by cpio-archive's odc reader, the BOM by apple-bom,
//! the xar by apple-xar. The payload and the BOM take any name; the xar
//! refuses names with control characters or white space at either end,
//! which its XML table of contents cannot carry, and takes every other. No writer may write an archive that
//! reads back differently.

use std::io::{Cursor, Read};

use apple_bom::ParsedBom;
use apple_xar::reader::XarReader;
use cpio_archive::{odc::OdcReader, CpioReader};
use flatpkg::{bom, payload, tree::TreeEntry, xar::XarWriter, NoProgress};
use proptest::prelude::*;

/// A file name: any characters but `/` and NUL, and not `.` or `..`.
fn name() -> impl Strategy<Value = String> {
    "[^/\u{0}]{1,40}".prop_filter("a name, not . or ..", |n| n != "." && n != "..")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn names_survive_the_payload_and_the_bom(
        names in proptest::collection::btree_set(name(), 1..8),
        data in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = vec![TreeEntry::directory(""), TreeEntry::directory("d")];
        entries.extend(names.iter().map(|n| TreeEntry::file(format!("d/{n}"), data.clone(), 0o644)));
        let mut settings = payload::ArchiveSettings::payload(1_700_000_000);
        settings.threads = 1;
        let archive = payload::write_archive(&entries, &settings, &dir.path().join("Payload"), &NoProgress).unwrap();

        let mut cpio = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(dir.path().join("Payload")).unwrap())
            .read_to_end(&mut cpio)
            .unwrap();
        let mut reader = OdcReader::new(Cursor::new(cpio));
        let mut in_payload = Vec::new();
        while let Some(header) = reader.read_next().unwrap() {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).unwrap();
            in_payload.push((header.name().to_string(), bytes));
        }
        let mut expected: Vec<(String, Vec<u8>)> = vec![(".".into(), vec![]), ("./d".into(), vec![])];
        expected.extend(names.iter().map(|n| (format!("./d/{n}"), data.clone())));
        prop_assert_eq!(in_payload, expected);

        let bom = bom::write_bom(&archive.bom_records).unwrap();
        let mut in_bom: Vec<String> = ParsedBom::parse(&bom)
            .unwrap()
            .paths()
            .unwrap()
            .iter()
            .map(|p| p.path().to_string())
            .collect();
        in_bom.sort();
        let mut expected: Vec<String> = vec![".".into(), "./d".into()];
        expected.extend(names.iter().map(|n| format!("./d/{n}")));
        expected.sort();
        prop_assert_eq!(in_bom, expected);
    }

    #[test]
    fn names_survive_the_xar(
        names in proptest::collection::btree_set(name(), 1..6),
    ) {
        let mut writer = XarWriter::new("2026-01-01T00:00:00");
        let mut kept = Vec::new();
        for name in &names {
            let added = writer.add_compressed(&format!("pkg/{name}"), name.as_bytes());
            let writable = !name.chars().any(char::is_control) && name.trim() == name;
            prop_assert_eq!(added.is_ok(), writable, "{:?}", name);
            if added.is_ok() {
                kept.push(name);
            }
        }
        // apple-xar reads no archive without a file.
        if kept.is_empty() {
            return Ok(());
        }
        let archive = writer.finish().unwrap();
        let mut bytes = Vec::new();
        archive.write_to(&mut bytes).unwrap();
        let mut reader = XarReader::new(Cursor::new(bytes)).expect("a xar we wrote reads");
        for name in kept {
            let path = format!("pkg/{name}");
            let data = reader.get_file_data_from_path(&path).unwrap();
            prop_assert_eq!(data.as_deref(), Some(name.as_bytes()), "{:?}", path);
        }
    }
}
