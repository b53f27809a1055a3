//! The update feed: `generate-update-key` and `appcast`, and the keys
//! build-pkg writes into the app. Judged by readers we did not write:
//! openssl derives the public key from the seed and checks each ed25519
//! signature over the pkg's bytes, Python's ElementTree reads the feed by
//! namespace as Sparkle does (`/rss/channel/item`), xmllint checks it is
//! well-formed, and bsdtar with plistlib read the app's Info.plist.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::Value;
use system_tests::{
    build_pkg, installer_tool, release_config_with, run_ok, stand_in_release, update_key,
};

const SPARKLE: &str = "http://www.andymatuschak.org/xml-namespaces/sparkle";
const PREFIX: &str = "https://updates.example.com/demovpn/";

fn tool(args: &[&str]) -> Output {
    Command::new(installer_tool())
        .args(args)
        .env_remove("INSTALLER_TOOL_UPDATE_KEY")
        .output()
        .expect("installer-tool runs")
}

fn succeeded(what: &str, output: Output) -> Output {
    assert!(
        output.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The demo built with stand-ins at `version`, its app trusting
/// `public_key`; the pkg.
fn release(dir: &Path, version: &str, public_key: Option<&str>) -> PathBuf {
    let updates = public_key
        .map(|key| format!("feed-url = \"{PREFIX}appcast.xml\"\npublic-ed-key = \"{key}\"\n"))
        .unwrap_or_default();
    stand_in_release(dir, &format!("release-{version}"), version, &updates)
}

fn appcast(pkg: &Path, key: &Path, feed: &Path, extra: &[&str]) -> Output {
    appcast_from(PREFIX, pkg, key, feed, extra)
}

/// `appcast` of `pkg` published under `prefix`.
fn appcast_from(prefix: &str, pkg: &Path, key: &Path, feed: &Path, extra: &[&str]) -> Output {
    system_tests::appcast(pkg, key, prefix, feed)
        .args(extra)
        .output()
        .expect("installer-tool runs")
}

/// openssl's answer to whether `signature` (base64) is `public_key`'s
/// (base64, raw) ed25519 signature of the file `data`.
fn openssl_verifies(public_key: &str, data: &Path, signature: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    // SubjectPublicKeyInfo of an Ed25519 key (RFC 8410): a fixed prefix,
    // then the 32 raw bytes.
    let mut der = hex::decode("302a300506032b6570032100").unwrap();
    der.extend(STANDARD.decode(public_key).unwrap());
    let public = dir.path().join("public.der");
    std::fs::write(&public, der).unwrap();
    let sig = dir.path().join("sig");
    std::fs::write(&sig, STANDARD.decode(signature).unwrap()).unwrap();
    Command::new("openssl")
        .args([
            "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-rawin", "-inkey",
        ])
        .arg(&public)
        .arg("-in")
        .arg(data)
        .arg("-sigfile")
        .arg(&sig)
        .output()
        .expect("openssl runs")
        .status
        .success()
}

/// The feed's items as ElementTree reads them, by namespace.
fn items(feed: &Path) -> Vec<Value> {
    let script = format!(
        "import json, sys, xml.etree.ElementTree as ET\n\
         S = '{{{SPARKLE}}}'\n\
         items = []\n\
         for item in ET.parse(sys.argv[1]).getroot().findall('./channel/item'):\n\
         \x20   e = item.find('enclosure')\n\
         \x20   d = item.find('description')\n\
         \x20   items.append({{\n\
         \x20       'title': item.findtext('title'),\n\
         \x20       'pubDate': item.findtext('pubDate'),\n\
         \x20       'minimumSystemVersion': item.findtext(S + 'minimumSystemVersion'),\n\
         \x20       'description': None if d is None else d.text,\n\
         \x20       'format': None if d is None else d.get(S + 'format'),\n\
         \x20       'url': e.get('url'), 'length': e.get('length'),\n\
         \x20       'version': e.get(S + 'version'),\n\
         \x20       'shortVersionString': e.get(S + 'shortVersionString'),\n\
         \x20       'installationType': e.get(S + 'installationType'),\n\
         \x20       'edSignature': e.get(S + 'edSignature')}})\n\
         print(json.dumps(items))\n"
    );
    let out = run_ok(
        "ElementTree",
        Command::new("python3").arg("-c").arg(script).arg(feed),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The app's Info.plist in `pkg`, read by bsdtar and plistlib.
fn app_info_plist(pkg: &Path) -> Value {
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        "bsdtar -x (pkg)",
        Command::new("bsdtar")
            .arg("-xf")
            .arg(pkg)
            .arg("-C")
            .arg(dir.path()),
    );
    let component = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pkg"))
        .expect("a component package");
    let out = run_ok(
        "bsdtar | plistlib",
        Command::new("sh").arg("-c").arg(format!(
            "bsdtar -xOf '{}' ./Applications/DemoVPN.app/Contents/Info.plist | python3 -c \
             'import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read()), default=str))'",
            component.join("Payload").display()
        )),
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_new_key_is_a_private_seed_whose_public_half_openssl_derives_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (path, public_key) = update_key(dir.path(), "update.key");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    let seed = STANDARD
        .decode(text.trim())
        .expect("base64, as Sparkle exports it");
    assert_eq!(
        seed.len(),
        32,
        "a 32-byte seed, as `generate_keys -x` writes"
    );

    // PKCS#8 of an Ed25519 private key (RFC 8410): a fixed prefix, then
    // the seed; openssl derives the public key.
    let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
    der.extend(&seed);
    let private = dir.path().join("private.der");
    std::fs::write(&private, der).unwrap();
    let public = run_ok(
        "openssl pkey -pubout",
        Command::new("openssl")
            .args([
                "pkey", "-inform", "DER", "-pubout", "-outform", "DER", "-in",
            ])
            .arg(&private),
    )
    .stdout;
    assert_eq!(STANDARD.encode(&public[public.len() - 32..]), public_key);

    // The seed is in the file only.
    let printed = succeeded(
        "generate-update-key (text)",
        tool(&[
            "generate-update-key",
            "--output",
            dir.path().join("second.key").to_str().unwrap(),
        ]),
    );
    let second = std::fs::read_to_string(dir.path().join("second.key")).unwrap();
    assert!(!String::from_utf8_lossy(&printed.stdout).contains(second.trim()));

    // A key is never overwritten.
    let again = tool(&["generate-update-key", "--output", path.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwritten"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn the_feed_offers_each_release_signed_newest_first_as_sparkle_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public_key) = update_key(dir.path(), "update.key");
    let first = release(dir.path(), "1.0.0", Some(&public_key));
    let second = release(dir.path(), "1.1.0", Some(&public_key));

    // build-pkg wrote the feed and the key into the app, under Sparkle's names.
    let plist = app_info_plist(&second);
    assert_eq!(plist["SUPublicEDKey"], public_key.as_str());
    assert_eq!(plist["SUFeedURL"], format!("{PREFIX}appcast.xml"));

    let feed = dir.path().join("appcast.xml");
    succeeded("appcast 1.0.0", appcast(&first, &key, &feed, &[]));
    let first_feed = std::fs::read_to_string(&feed).unwrap();
    let notes = dir.path().join("notes.md");
    std::fs::write(&notes, "# 1.1.0\n\n- Reconnects <faster> & quieter\n").unwrap();
    let out = succeeded(
        "appcast 1.1.0",
        appcast(
            &second,
            &key,
            &feed,
            &["--json", "--release-notes", notes.to_str().unwrap()],
        ),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["items"], 2);
    let seed = std::fs::read_to_string(&key).unwrap();
    for text in [
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read_to_string(&feed).unwrap(),
    ] {
        assert!(
            !text.contains(seed.trim()),
            "the update key's seed is printed or published"
        );
    }

    run_ok("xmllint", Command::new("xmllint").arg("--noout").arg(&feed));
    let second_feed = std::fs::read_to_string(&feed).unwrap();
    let first_item =
        &first_feed[first_feed.find("    <item>").unwrap()..first_feed.find("</item>").unwrap()];
    assert!(
        second_feed.contains(first_item),
        "the older item is kept as it was"
    );

    let items = items(&feed);
    assert_eq!(items.len(), 2);
    // RFC 822 dates with a two-digit day, as Sparkle's generate_appcast
    // writes them (`EEE, dd MMM yyyy HH:mm:ss ZZ`), read by Python's
    // email.utils.
    let rfc_822 =
        regex::Regex::new(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")
            .unwrap();
    for (item, pkg, version) in [(&items[0], &second, "1.1.0"), (&items[1], &first, "1.0.0")] {
        let name = pkg.file_name().unwrap().to_str().unwrap();
        assert_eq!(item["version"], version, "{item:#}");
        assert_eq!(item["shortVersionString"], version);
        assert_eq!(item["minimumSystemVersion"], "13.0");
        assert_eq!(item["installationType"], "package");
        assert_eq!(item["url"], format!("{PREFIX}{name}"));
        assert_eq!(
            item["length"],
            std::fs::metadata(pkg).unwrap().len().to_string()
        );
        let signature = item["edSignature"].as_str().unwrap();
        assert_eq!(signature.len(), 88, "64 bytes in padded base64");
        assert!(
            openssl_verifies(&public_key, pkg, signature),
            "openssl refuses the signature of {version}"
        );
        let date = item["pubDate"].as_str().unwrap();
        assert!(rfc_822.is_match(date), "{date}");
        run_ok(
            "email.utils.parsedate_to_datetime",
            Command::new("python3")
                .args([
                    "-c",
                    "import email.utils, sys; email.utils.parsedate_to_datetime(sys.argv[1])",
                ])
                .arg(date),
        );
    }
    assert_eq!(items[0]["format"], "markdown");
    assert_eq!(
        items[0]["description"],
        "# 1.1.0\n\n- Reconnects <faster> & quieter"
    );
    assert_eq!(items[1]["description"], Value::Null);
    // The signature is of these bytes: one changed byte and openssl refuses.
    let tampered = dir.path().join("tampered.pkg");
    let mut bytes = std::fs::read(&second).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&tampered, bytes).unwrap();
    assert!(!openssl_verifies(
        &public_key,
        &tampered,
        items[0]["edSignature"].as_str().unwrap()
    ));
}

#[test]
fn nothing_is_announced_that_a_mac_would_refuse_and_the_feed_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public_key) = update_key(dir.path(), "update.key");
    let (other_key, other_public) = update_key(dir.path(), "other.key");
    let older = release(dir.path(), "1.0.0", Some(&public_key));
    let newer = release(dir.path(), "1.1.0", Some(&public_key));
    let keyless = release(dir.path(), "1.2.0", None);
    let feed = dir.path().join("appcast.xml");
    succeeded("appcast 1.1.0", appcast(&newer, &key, &feed, &[]));
    let kept = std::fs::read_to_string(&feed).unwrap();

    let exposed = dir.path().join("exposed.key");
    std::fs::copy(&key, &exposed).unwrap();
    std::fs::set_permissions(&exposed, std::fs::Permissions::from_mode(0o644)).unwrap();
    let legacy = dir.path().join("legacy.key");
    std::fs::write(&legacy, STANDARD.encode([7u8; 96])).unwrap();
    std::fs::set_permissions(&legacy, std::fs::Permissions::from_mode(0o600)).unwrap();
    let damaged = dir.path().join("damaged.pkg");
    let mut bytes = std::fs::read(&newer).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&damaged, bytes).unwrap();

    let cases: [(&str, &str, &Path, &Path, &[&str]); 8] = [
        (
            "an app without a key",
            PREFIX,
            &keyless,
            &key,
            &["has no SUPublicEDKey", "help: set [updates]"],
        ),
        (
            "another key",
            PREFIX,
            &newer,
            &other_key,
            &[&public_key, &other_public, "help: sign with the key"],
        ),
        (
            "the same version",
            PREFIX,
            &newer,
            &key,
            &["already offers version 1.1.0"],
        ),
        (
            "an older version",
            PREFIX,
            &older,
            &key,
            &["offers 1.1.0, newer than 1.0.0"],
        ),
        (
            "a key others can read",
            PREFIX,
            &newer,
            &exposed,
            &["readable by others", "chmod 600"],
        ),
        (
            "Sparkle's legacy key",
            PREFIX,
            &newer,
            &legacy,
            &["legacy 96-byte key"],
        ),
        (
            "a damaged pkg",
            PREFIX,
            &damaged,
            &key,
            &[
                "verify finds errors",
                "help: fix what `installer-tool verify",
            ],
        ),
        (
            "plain http",
            "http://updates.example.com/",
            &newer,
            &key,
            &["is not https"],
        ),
    ];
    for (what, prefix, pkg, key, expected) in cases {
        let out = appcast_from(prefix, pkg, key, &feed, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what} was announced");
        for wanted in expected {
            assert!(
                stderr.contains(wanted),
                "{what}: no {wanted:?} in:\n{stderr}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(&feed).unwrap(),
            kept,
            "{what} changed the feed"
        );
    }

    let not_a_feed = dir.path().join("page.xml");
    std::fs::write(&not_a_feed, "<html><body/></html>").unwrap();
    let out = appcast(&newer, &key, &not_a_feed, &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an appcast"));
    assert_eq!(
        std::fs::read_to_string(&not_a_feed).unwrap(),
        "<html><body/></html>"
    );
}

#[test]
fn update_settings_are_both_or_neither_and_the_feed_is_https() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "feed-url = \"http://updates.example.com/appcast.xml\"\npublic-ed-key = \"tXs3tnUwwOt6RkD3xJ6y8HQpl2NvCLe3b0kG3WZYw2s=\"\n",
            "updates.feed-url",
        ),
        ("feed-url = \"https://updates.example.com/appcast.xml\"\n", "updates.public-ed-key"),
        ("public-ed-key = \"tXs3tnUwwOt6RkD3xJ6y8HQpl2NvCLe3b0kG3WZYw2s=\"\n", "updates.feed-url"),
        (
            "feed-url = \"https://updates.example.com/appcast.xml\"\npublic-ed-key = \"c2hvcnQ=\"\n",
            "updates.public-ed-key",
        ),
    ];
    for (index, (table, field)) in cases.into_iter().enumerate() {
        let project = dir.path().join(format!("case{index}"));
        let config = release_config_with(&project, "1.0.0", "updates", table);
        let out = build_pkg(&project.join("out"))
            .arg("--config")
            .arg(&config)
            .arg("--stand-ins")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {index} built");
        assert!(
            stderr.contains(field) && stderr.contains("help:"),
            "case {index}: {stderr}"
        );
    }
}
