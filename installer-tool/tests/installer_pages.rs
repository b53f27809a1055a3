//! `[installer]` of `release.toml`: what Installer.app shows, checked when
//! the config loads. Each bad input is refused naming the key, the file
//! and the fix.

mod common;

use std::path::Path;

use common::{write, GOOD};
use installer_tool::{
    config::{ConfigError, Release},
    installer_pages::Contents,
};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
const PAGES: &str = r#"
[installer]
resources = "installer"
welcome = "welcome.html"
license = "license.txt"
background = { file = "background.png", alignment = "bottomleft", scaling = "none" }
"#;

/// A resources folder with `en.lproj` and `fr.lproj`, each with both
/// pages, and the background.
fn resources(dir: &Path) {
    for language in ["en.lproj", "fr.lproj"] {
        let folder = dir.join("installer").join(language);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("welcome.html"), "<p>Hello</p>").unwrap();
        std::fs::write(folder.join("license.txt"), "MIT").unwrap();
    }
    std::fs::write(dir.join("installer/background.png"), PNG).unwrap();
}

fn load_in(dir: &Path, installer: &str) -> Result<Release, ConfigError> {
    Release::load(&write(dir, &format!("{GOOD}{installer}"), "1.0.0"))
}

/// The error's text and its help, for one assertion.
fn refusal(dir: &Path, installer: &str) -> String {
    let error = load_in(dir, installer).unwrap_err();
    format!("{error} | help: {}", error.help().unwrap_or_default())
}

#[test]
fn pages_in_every_language_with_a_title_each() {
    let dir = tempfile::tempdir().unwrap();
    resources(dir.path());
    let release = load_in(dir.path(), PAGES).unwrap();
    let pages = &release.installer;
    assert_eq!(pages.languages, ["en.lproj", "fr.lproj"]);
    assert_eq!(pages.title, "Demo VPN", "product.name by default");
    assert_eq!(pages.title_element(), "SU_TITLE");
    let names: Vec<&str> = pages.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "background.png",
            "en.lproj/Localizable.strings",
            "en.lproj/license.txt",
            "en.lproj/welcome.html",
            "fr.lproj/Localizable.strings",
            "fr.lproj/license.txt",
            "fr.lproj/welcome.html",
        ]
    );
    let Contents::Text(strings) = &pages.files[1].contents else {
        panic!("the English title is ours")
    };
    assert_eq!(
        strings,
        "/* The installer window's title. */\n\"SU_TITLE\" = \"Demo VPN\";\n"
    );
    assert_eq!(
        pages.distribution_elements(),
        "  <background file=\"background.png\" mime-type=\"image/png\" alignment=\"bottomleft\" scaling=\"none\"/>\n  \
         <welcome file=\"welcome.html\" mime-type=\"text/html\"/>\n  \
         <license file=\"license.txt\" mime-type=\"text/plain\"/>\n"
    );
}

#[test]
fn without_languages_the_pages_sit_at_the_top_and_the_title_is_plain() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("installer")).unwrap();
    std::fs::write(dir.path().join("installer/welcome.html"), "<p>Hi</p>").unwrap();
    let release = load_in(
        dir.path(),
        "\n[installer]\ntitle = \"Fish & Chips\"\nresources = \"installer\"\nwelcome = \"welcome.html\"\n",
    )
    .unwrap();
    assert!(release.installer.languages.is_empty());
    assert_eq!(release.installer.title_element(), "Fish & Chips");
    let names: Vec<&str> = release
        .installer
        .files
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["welcome.html"]);
}

#[test]
fn a_page_missing_from_one_language_is_named() {
    let dir = tempfile::tempdir().unwrap();
    resources(dir.path());
    std::fs::remove_file(dir.path().join("installer/fr.lproj/welcome.html")).unwrap();
    let message = refusal(dir.path(), PAGES);
    assert!(
        message.contains("installer.welcome")
            && message.contains("fr.lproj/welcome.html is missing")
            && message.contains("every language folder"),
        "{message}"
    );
}

#[test]
fn a_background_that_is_not_png_or_tiff_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    resources(dir.path());
    std::fs::write(
        dir.path().join("installer/background.png"),
        b"\xff\xd8\xff\xe0\0\x10JFIF",
    )
    .unwrap();
    let message = refusal(dir.path(), PAGES);
    assert!(
        message.contains("installer.background")
            && message.contains("neither PNG nor TIFF")
            && message.contains("save the background as PNG or TIFF"),
        "{message}"
    );
}

#[test]
fn languages_without_english_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    resources(dir.path());
    std::fs::rename(
        dir.path().join("installer/en.lproj"),
        dir.path().join("installer/de.lproj"),
    )
    .unwrap();
    let message = refusal(dir.path(), PAGES);
    assert!(
        message.contains("installer.resources")
            && message.contains("de.lproj, fr.lproj")
            && message.contains("no en.lproj"),
        "{message}"
    );
}

#[test]
fn html_that_refers_to_files_not_shipped_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    resources(dir.path());
    let page = dir.path().join("installer/en.lproj/welcome.html");
    // Shipped beside it, at the top, or elsewhere on the web: fine.
    std::fs::write(dir.path().join("installer/en.lproj/logo.png"), PNG).unwrap();
    std::fs::write(
        &page,
        r##"<img src="logo.png"><img src="../background.png"><a href="https://example.com/help">help</a><a href="#top">top</a>"##,
    )
    .unwrap();
    load_in(dir.path(), PAGES).unwrap();
    for (html, reference) in [
        (r#"<img src="missing.png">"#, "missing.png"),
        // Outside the resources, even if the file exists there.
        (
            r#"<a href='../../release.toml'>x</a>"#,
            "../../release.toml",
        ),
    ] {
        std::fs::write(&page, html).unwrap();
        let message = refusal(dir.path(), PAGES);
        assert!(
            message.contains("installer.welcome")
                && message.contains(&format!("refers to `{reference}`"))
                && message.contains("ship every file"),
            "{message}"
        );
    }
}

#[test]
fn an_unknown_alignment_or_scaling_lists_the_words_installer_knows() {
    let dir = tempfile::tempdir().unwrap();
    resources(dir.path());
    let message = refusal(dir.path(), &PAGES.replace("bottomleft", "middle"));
    assert!(
        message.contains("alignment `middle`") && message.contains("bottomright"),
        "{message}"
    );
    let message = refusal(dir.path(), &PAGES.replace("\"none\"", "\"stretch\""));
    assert!(
        message.contains("scaling `stretch`") && message.contains("proportional"),
        "{message}"
    );
}

#[test]
fn a_translation_must_give_the_title() {
    let dir = tempfile::tempdir().unwrap();
    resources(dir.path());
    let strings = dir.path().join("installer/fr.lproj/Localizable.strings");
    std::fs::write(
        &strings,
        "/* \"SU_TITLE\" = \"Démo\"; */\n\"OTHER\" = \"x\";\n",
    )
    .unwrap();
    let message = refusal(dir.path(), PAGES);
    assert!(
        message.contains("fr.lproj/Localizable.strings does not define \"SU_TITLE\""),
        "{message}"
    );
    // UTF-16, as Xcode writes strings files, with the key.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            "\"SU_TITLE\" = \"Démo VPN\";\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    std::fs::write(&strings, utf16).unwrap();
    let release = load_in(dir.path(), PAGES).unwrap();
    let french = release
        .installer
        .files
        .iter()
        .find(|f| f.name == "fr.lproj/Localizable.strings")
        .unwrap();
    assert_eq!(
        french.contents,
        Contents::File(strings.clone()),
        "the vendor's file, as it is"
    );
}

#[test]
fn pages_need_their_folder_and_a_known_type() {
    let dir = tempfile::tempdir().unwrap();
    resources(dir.path());
    let message = refusal(
        dir.path(),
        &PAGES.replace("resources = \"installer\"\n", ""),
    );
    assert!(
        message.contains("installer.resources") && message.contains("is missing"),
        "{message}"
    );
    let message = refusal(dir.path(), &PAGES.replace("license.txt", "license.pdf"));
    assert!(
        message.contains("installer.license") && message.contains("not HTML, RTF or plain text"),
        "{message}"
    );
    let message = refusal(
        dir.path(),
        &PAGES.replace("\"welcome.html\"", "\"../welcome.html\""),
    );
    assert!(message.contains("not a plain file name"), "{message}");
}
