//! What Installer.app shows, in the demo pkg: the pages, backgrounds and
//! localized title of `release.toml`'s `[installer]`, judged by bsdtar
//! (the layout), xmllint and apple-flat-package (the Distribution), and an
//! independent parse that every `file=` names a file the archive ships.

use std::{collections::BTreeSet, process::Command};

use system_tests::{demo_pkg, run_ok, workspace_root};

/// The pages every language folder holds, and the images at the top.
const PAGES: [&str; 4] = [
    "welcome.html",
    "readme.html",
    "license.txt",
    "conclusion.html",
];
const IMAGES: [&str; 2] = ["background.png", "background-dark.png"];
const LANGUAGES: [&str; 2] = ["en.lproj", "fr.lproj"];

#[test]
fn the_demo_pkg_ships_its_pages_backgrounds_and_titles_where_the_distribution_says() {
    let built = demo_pkg();
    let listing = String::from_utf8(
        run_ok(
            "bsdtar -tf",
            Command::new("bsdtar").arg("-tf").arg(&built.pkg),
        )
        .stdout,
    )
    .unwrap();
    let listed: BTreeSet<&str> = listing.lines().collect();
    let mut expected: Vec<String> = IMAGES.iter().map(|i| format!("Resources/{i}")).collect();
    for language in LANGUAGES {
        for file in PAGES.iter().chain(&["Localizable.strings"]) {
            expected.push(format!("Resources/{language}/{file}"));
        }
    }
    for path in &expected {
        assert!(
            listed.contains(path.as_str()),
            "bsdtar does not list {path}: {listed:?}"
        );
    }

    let extracted = built.dir.path().join("installer-pages");
    std::fs::create_dir_all(&extracted).unwrap();
    run_ok(
        "bsdtar -xf",
        Command::new("bsdtar")
            .arg("-xf")
            .arg(&built.pkg)
            .arg("-C")
            .arg(&extracted),
    );
    // The resources are the vendor's bytes.
    let source = workspace_root().join("installer");
    for path in [
        "background.png",
        "en.lproj/welcome.html",
        "fr.lproj/license.txt",
    ] {
        assert_eq!(
            std::fs::read(extracted.join("Resources").join(path)).unwrap(),
            std::fs::read(source.join(path)).unwrap(),
            "{path}"
        );
    }

    let distribution_path = extracted.join("Distribution");
    run_ok(
        "xmllint --noout",
        Command::new("xmllint")
            .arg("--noout")
            .arg(&distribution_path),
    );
    let text = std::fs::read_to_string(&distribution_path).unwrap();

    // apple-flat-package reads the same elements.
    let parsed = apple_flat_package::distribution::Distribution::from_xml(&text)
        .expect("apple-flat-package parses the Distribution");
    assert_eq!(parsed.welcome.unwrap().file, "welcome.html");
    assert_eq!(parsed.readme.unwrap().file, "readme.html");
    assert_eq!(parsed.license.unwrap().file, "license.txt");
    assert_eq!(parsed.conclusion.unwrap().file, "conclusion.html");
    let background = parsed.background.unwrap();
    assert_eq!(background.file, "background.png");
    assert_eq!(background.alignment.as_deref(), Some("bottomleft"));
    assert_eq!(background.scaling.as_deref(), Some("none"));
    assert_eq!(parsed.title.unwrap().title, "SU_TITLE");

    // Independently: each element's file ships, in every language folder
    // for a page, at the top for an image, with the type its bytes have.
    let document = roxmltree::Document::parse(&text).unwrap();
    let mut named = Vec::new();
    for node in document.descendants().filter(|n| n.has_attribute("file")) {
        let file = node.attribute("file").unwrap();
        let mime = node.attribute("mime-type").unwrap_or_default();
        named.push(node.tag_name().name().to_string());
        if node.tag_name().name().starts_with("background") {
            let bytes = std::fs::read(extracted.join("Resources").join(file)).unwrap();
            assert_eq!(mime, "image/png", "{file}");
            assert!(bytes.starts_with(b"\x89PNG"), "{file} is not a PNG");
        } else {
            for language in LANGUAGES {
                let shipped = extracted.join("Resources").join(language).join(file);
                assert!(shipped.is_file(), "{} is missing", shipped.display());
            }
            let expected_mime = if file.ends_with(".txt") {
                "text/plain"
            } else {
                "text/html"
            };
            assert_eq!(mime, expected_mime, "{file}");
        }
    }
    named.sort();
    assert_eq!(
        named,
        [
            "background",
            "background-darkAqua",
            "conclusion",
            "license",
            "readme",
            "welcome"
        ]
    );

    // The title, per language: ours in English, the vendor's in French.
    let strings = |language: &str| {
        std::fs::read_to_string(
            extracted
                .join("Resources")
                .join(language)
                .join("Localizable.strings"),
        )
        .unwrap()
    };
    assert!(
        strings("en.lproj").contains("\"SU_TITLE\" = \"Demo VPN\";"),
        "{}",
        strings("en.lproj")
    );
    assert!(
        strings("fr.lproj").contains("\"SU_TITLE\" = \"Démo VPN\";"),
        "{}",
        strings("fr.lproj")
    );

    // The conclusion says what comes next: the approval, and the menu bar.
    let conclusion =
        std::fs::read_to_string(extracted.join("Resources/en.lproj/conclusion.html")).unwrap();
    assert!(
        conclusion.contains("allow") && conclusion.contains("menu bar"),
        "{conclusion}"
    );
}
