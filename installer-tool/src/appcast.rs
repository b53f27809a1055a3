//! `installer-tool appcast`: the update feed, in Sparkle's appcast format
//! (RSS 2.0 with the `sparkle` namespace), one `<item>` per release,
//! newest first. Each release's pkg is checked by `verify` first, and its
//! bytes signed with the update key, so a feed never offers a pkg a Mac
//! would refuse or one the installed app cannot check.
//!
//! Where Sparkle reads each field (Sparkle 2, `SUAppcastItem.m`): the
//! version and short version from the enclosure's attributes (which win
//! over item elements), `sparkle:edSignature` and `sparkle:installationType`
//! from the enclosure only, `sparkle:minimumSystemVersion` from an item
//! element only. Items are found at `/rss/channel/item` (`SUAppcast.m`), so
//! the root is a namespace-less `<rss>`.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use quick_xml::escape::escape;
use serde::Serialize;
use vpn_release::version_order::compare;

use crate::{
    doctor::Severity,
    output_file::{self, OutputError},
    updates::UpdateKey,
    verify::{verify, BundleInfo},
};

use vpn_release::update_feed::SPARKLE_NAMESPACE;

#[derive(Debug, thiserror::Error)]
pub enum AppcastError {
    #[error("the download URL prefix `{url}` is not https")]
    NotHttps { url: String },
    #[error("verify finds errors in {pkg}:\n{problems}")]
    PkgRejected { pkg: PathBuf, problems: String },
    #[error("{pkg} holds no app bundle to announce")]
    NoApp { pkg: PathBuf },
    #[error("the app in {pkg} has no {key}")]
    MissingKey { pkg: PathBuf, key: &'static str },
    #[error("the app in {pkg} has no SUPublicEDKey: once installed, it could never check another update")]
    NoPublicKey { pkg: PathBuf },
    #[error("the app in {pkg} trusts the update key {trusted}, not this key's {signing}")]
    WrongKey {
        pkg: PathBuf,
        trusted: String,
        signing: String,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an appcast: {problem}")]
    NotAnAppcast { path: PathBuf, problem: String },
    #[error("{path} already offers version {version}")]
    AlreadyListed { path: PathBuf, version: String },
    #[error("{path} offers {newest}, newer than {version}: no Mac would take this one")]
    NotNewest {
        path: PathBuf,
        version: String,
        newest: String,
    },
    #[error("{pkg} is not named like a pkg (NAME.pkg, in UTF-8)")]
    PkgName { pkg: PathBuf },
    #[error(transparent)]
    Write(#[from] OutputError),
}

impl AppcastError {
    pub fn help(&self) -> Option<String> {
        Some(match self {
            Self::NotHttps { .. } => "the app fetches updates over HTTPS only: pass --download-url-prefix https://...".into(),
            Self::PkgRejected { pkg, .. } => format!("fix what `installer-tool verify {}` reports, then run appcast again", pkg.display()),
            Self::WrongKey { .. } => "sign with the key whose public half is [updates] public-ed-key of the release, or rebuild the pkg with this key's".into(),
            Self::NotAnAppcast { .. } => "pass a feed appcast wrote (RSS with the sparkle namespace on <rss>), or a new file name".into(),
            Self::AlreadyListed { .. } => "raise the version in Cargo.toml and rebuild, or remove that <item> from the feed first".into(),
            Self::NotNewest { .. } => "announce only a version above every one the feed offers".into(),
            Self::MissingKey { .. } => "build the pkg with installer-tool, which writes both version keys".into(),
            Self::NoPublicKey { .. } => "set [updates] feed-url and public-ed-key in release.toml and rebuild the pkg".into(),
            Self::PkgName { .. } => "rename the file NAME.pkg: Sparkle and Installer go by the extension".into(),
            _ => return None,
        })
    }
}

pub struct AppcastRequest<'a> {
    pub pkg: &'a Path,
    pub key: &'a UpdateKey,
    /// The folder URL the pkg will be downloaded from.
    pub download_url_prefix: &'a url::Url,
    /// HTML, or Markdown (`.md`) or plain text (`.txt`), shown before the update.
    pub release_notes: Option<&'a Path>,
    /// Written if absent, extended if present.
    pub output: &'a Path,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct AppcastReport {
    pub appcast: PathBuf,
    pub pkg: PathBuf,
    pub url: String,
    pub version: String,
    pub short_version: String,
    pub minimum_system_version: Option<String>,
    pub length: u64,
    pub ed_signature: String,
    /// Items in the feed, this one included.
    pub items: usize,
    /// What verify warns of, not stopping the release.
    pub warnings: Vec<String>,
}

/// The new item, checked against the pkg and the key, added to the feed.
pub fn write_appcast(request: &AppcastRequest) -> Result<AppcastReport, AppcastError> {
    let pkg = request.pkg;
    if request.download_url_prefix.scheme() != "https" {
        return Err(AppcastError::NotHttps {
            url: request.download_url_prefix.to_string(),
        });
    }
    let verified = verify(pkg);
    let (errors, warnings): (Vec<_>, Vec<_>) = verified
        .findings
        .iter()
        .partition(|f| f.severity == Severity::Error);
    if !errors.is_empty() {
        return Err(AppcastError::PkgRejected {
            pkg: pkg.to_path_buf(),
            problems: errors
                .iter()
                .map(|f| format!("  {}: {}", f.id, f.problem))
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    let warnings: Vec<String> = warnings.iter().map(|f| f.problem.clone()).collect();
    let app = verified.app().ok_or_else(|| AppcastError::NoApp {
        pkg: pkg.to_path_buf(),
    })?;
    let required = |value: &Option<String>, key| {
        value.clone().ok_or(AppcastError::MissingKey {
            pkg: pkg.to_path_buf(),
            key,
        })
    };
    let version = required(&app.version, "CFBundleVersion")?;
    let short_version = required(&app.short_version, "CFBundleShortVersionString")?;
    check_key(app, request.key, pkg)?;

    let bytes = std::fs::read(pkg).map_err(|source| AppcastError::Read {
        path: pkg.to_path_buf(),
        source,
    })?;
    let ed_signature = request.key.sign(&bytes);
    let url = download_url(request.download_url_prefix, pkg)?;
    let notes = request
        .release_notes
        .map(|path| {
            std::fs::read_to_string(path)
                .map(|text| (notes_format(path), text.trim_end().to_string()))
                .map_err(|source| AppcastError::Read {
                    path: path.to_path_buf(),
                    source,
                })
        })
        .transpose()?;
    let item = Item {
        title: format!(
            "{} {short_version}",
            app.name.as_deref().unwrap_or("Version")
        ),
        // RFC 822 with a two-digit day, as Sparkle's generate_appcast
        // writes it (`EEE, dd MMM yyyy HH:mm:ss ZZ`).
        published: request.now.format("%a, %d %b %Y %H:%M:%S %z").to_string(),
        version: &version,
        short_version: &short_version,
        minimum_system_version: app.minimum_system_version.as_deref(),
        notes: notes
            .as_ref()
            .map(|(format, text)| (*format, text.as_str())),
        url: &url,
        length: bytes.len() as u64,
        ed_signature: &ed_signature,
    };

    let output = request.output;
    let (feed, items) = match std::fs::read_to_string(output) {
        Ok(existing) => add_item(&existing, &item, output)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let title = app.name.clone().unwrap_or_else(|| short_version.clone());
            (new_feed(&title, &item), 1)
        }
        Err(source) => {
            return Err(AppcastError::Read {
                path: output.to_path_buf(),
                source,
            })
        }
    };
    // Published as it is: readable by all, like any web page.
    output_file::replace(output, feed.as_bytes(), 0o644)?;
    Ok(AppcastReport {
        appcast: output.to_path_buf(),
        pkg: pkg.to_path_buf(),
        url,
        version,
        short_version,
        minimum_system_version: app.minimum_system_version.clone(),
        length: bytes.len() as u64,
        ed_signature,
        items,
        warnings,
    })
}

/// The installed app checks each update with the key it ships, the one
/// this pkg's app carries: signing with another means every Mac refuses
/// it, and an app without one can never take the update after this.
fn check_key(app: &BundleInfo, key: &UpdateKey, pkg: &Path) -> Result<(), AppcastError> {
    let signing = key.public_key();
    match &app.public_ed_key {
        Some(trusted) if trusted.trim() == signing => Ok(()),
        Some(trusted) => Err(AppcastError::WrongKey {
            pkg: pkg.to_path_buf(),
            trusted: trusted.clone(),
            signing,
        }),
        None => Err(AppcastError::NoPublicKey {
            pkg: pkg.to_path_buf(),
        }),
    }
}

/// Sparkle's `sparkle:format` of the notes, by file name (HTML if neither).
fn notes_format(path: &Path) -> Option<&'static str> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("md" | "markdown") => Some("markdown"),
        Some("txt") => Some("plain-text"),
        _ => None,
    }
}

struct Item<'a> {
    title: String,
    published: String,
    version: &'a str,
    short_version: &'a str,
    minimum_system_version: Option<&'a str>,
    notes: Option<(Option<&'static str>, &'a str)>,
    url: &'a str,
    length: u64,
    ed_signature: &'a str,
}

impl Item<'_> {
    /// The `<item>` element, its lines indented by `indent`.
    fn to_xml(&self, indent: &str) -> String {
        let inner = format!("{indent}  ");
        let mut lines = vec![
            format!("{indent}<item>"),
            format!("{inner}<title>{}</title>", escape(&self.title)),
            format!("{inner}<pubDate>{}</pubDate>", self.published),
        ];
        if let Some(minimum) = self.minimum_system_version {
            lines.push(format!(
                "{inner}<sparkle:minimumSystemVersion>{}</sparkle:minimumSystemVersion>",
                escape(minimum)
            ));
        }
        if let Some((format, text)) = self.notes {
            let format = format
                .map(|f| format!(" sparkle:format=\"{f}\""))
                .unwrap_or_default();
            lines.push(format!(
                "{inner}<description{format}>{}</description>",
                escape(text)
            ));
        }
        lines.push(format!(
            "{inner}<enclosure url=\"{}\" length=\"{}\" type=\"application/octet-stream\" \
             sparkle:version=\"{}\" sparkle:shortVersionString=\"{}\" \
             sparkle:installationType=\"package\" sparkle:edSignature=\"{}\"/>",
            escape(self.url),
            self.length,
            escape(self.version),
            escape(self.short_version),
            self.ed_signature
        ));
        lines.push(format!("{indent}</item>"));
        lines.join("\n")
    }
}

/// Where the pkg is downloaded from: the folder URL and its file name, as
/// one path segment (a `#` or `?` in the name stays part of it).
fn download_url(prefix: &url::Url, pkg: &Path) -> Result<String, AppcastError> {
    let name = pkg
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.len() > 4 && n.ends_with(".pkg"))
        .ok_or_else(|| AppcastError::PkgName {
            pkg: pkg.to_path_buf(),
        })?;
    let mut url = prefix.clone();
    url.path_segments_mut()
        .map_err(|()| AppcastError::NotHttps {
            url: prefix.to_string(),
        })?
        .pop_if_empty()
        .push(name);
    Ok(url.to_string())
}

fn new_feed(title: &str, item: &Item) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <rss version=\"2.0\" xmlns:sparkle=\"{SPARKLE_NAMESPACE}\">\n  \
         <channel>\n    <title>{}</title>\n{}\n  </channel>\n</rss>\n",
        escape(title),
        item.to_xml("    ")
    )
}

/// `feed` with `item` as its first item, everything else kept byte for
/// byte; and how many items it then has.
fn add_item(feed: &str, item: &Item, path: &Path) -> Result<(String, usize), AppcastError> {
    let not_appcast = |problem: String| AppcastError::NotAnAppcast {
        path: path.to_path_buf(),
        problem,
    };
    let document = roxmltree::Document::parse(feed).map_err(|e| not_appcast(e.to_string()))?;
    let root = document.root_element();
    if root.tag_name().name() != "rss" || root.tag_name().namespace().is_some() {
        return Err(not_appcast("its root is not a namespace-less <rss>".into()));
    }
    if root.lookup_namespace_uri(Some("sparkle")) != Some(SPARKLE_NAMESPACE) {
        return Err(not_appcast(format!(
            "<rss> does not bind the prefix `sparkle` to {SPARKLE_NAMESPACE}"
        )));
    }
    let channel = root
        .children()
        .find(|n| n.has_tag_name("channel"))
        .ok_or_else(|| not_appcast("it has no <channel>".into()))?;
    let items: Vec<_> = channel
        .children()
        .filter(|n| n.has_tag_name("item"))
        .collect();
    for existing in &items {
        let version = existing
            .children()
            .find(|n| n.has_tag_name("enclosure"))
            .and_then(|e| e.attribute((SPARKLE_NAMESPACE, "version")))
            .or_else(|| {
                existing
                    .children()
                    .find(|n| n.has_tag_name((SPARKLE_NAMESPACE, "version")))
                    .and_then(|n| n.text())
            })
            .map(str::trim);
        let Some(version) = version else { continue };
        let order = compare(item.version, version);
        if order.is_eq() {
            return Err(AppcastError::AlreadyListed {
                path: path.to_path_buf(),
                version: item.version.to_string(),
            });
        }
        if order.is_lt() {
            return Err(AppcastError::NotNewest {
                path: path.to_path_buf(),
                version: item.version.to_string(),
                newest: version.to_string(),
            });
        }
    }
    // Before the first item, or before </channel> when there is none,
    // indented like the line it goes on.
    let (at, nested) = match items.first() {
        Some(first) => (first.range().start, ""),
        None => {
            let end = channel.range().end;
            let close = feed[..end]
                .rfind("</channel>")
                .ok_or_else(|| not_appcast("its <channel> is written as an empty tag".into()))?;
            (close, "  ")
        }
    };
    let line_start = feed[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_indent = Some(&feed[line_start..at])
        .filter(|prefix| prefix.trim().is_empty())
        .unwrap_or_default();
    let xml = item.to_xml(&format!("{line_indent}{nested}"));
    let feed = format!(
        "{}{}\n{line_indent}{}",
        &feed[..at],
        &xml[line_indent.len()..],
        &feed[at..]
    );
    Ok((feed, items.len() + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(version: &str) -> Item<'_> {
        Item {
            title: format!("Demo VPN {version}"),
            published: "Mon, 30 Nov 2026 22:00:00 +0000".into(),
            version,
            short_version: version,
            minimum_system_version: Some("13.0"),
            notes: None,
            url: "https://example.com/a.pkg",
            length: 1,
            ed_signature: "c2ln",
        }
    }

    const HEAD: &str = "<?xml version=\"1.0\"?>\n<rss version=\"2.0\" \
        xmlns:sparkle=\"http://www.andymatuschak.org/xml-namespaces/sparkle\">\n";

    #[test]
    fn a_release_goes_first_indented_like_its_neighbours() {
        let path = Path::new("appcast.xml");
        let empty = format!("{HEAD}  <channel>\n    <title>Demo</title>\n  </channel>\n</rss>\n");
        let (one, count) = add_item(&empty, &item("1.0.0"), path).unwrap();
        assert_eq!(count, 1);
        assert!(
            one.contains(
                "    <title>Demo</title>\n    <item>\n      <title>Demo VPN 1.0.0</title>"
            ),
            "{one}"
        );
        assert!(one.contains("    </item>\n  </channel>"), "{one}");
        let (two, count) = add_item(&one, &item("1.1.0"), path).unwrap();
        let (first, second) = (two.find("1.1.0").unwrap(), two.find("1.0.0").unwrap());
        assert!(first < second, "{two}");
        assert!(two.contains("    </item>\n    <item>\n"), "{two}");
        assert_eq!(count, 2);
        assert!(roxmltree::Document::parse(&two).is_ok());
    }

    #[test]
    fn the_download_url_is_the_folder_and_the_name_as_one_segment() {
        let pkg = Path::new("/out/Demo VPN#2.pkg");
        for prefix in ["https://e.com/vpn", "https://e.com/vpn/"] {
            let url = download_url(&url::Url::parse(prefix).unwrap(), pkg).unwrap();
            assert_eq!(url, "https://e.com/vpn/Demo%20VPN%232.pkg");
        }
        let error = download_url(
            &url::Url::parse("https://e.com/").unwrap(),
            Path::new("a.zip"),
        );
        assert!(matches!(error, Err(AppcastError::PkgName { .. })));
    }

    #[test]
    fn a_feed_without_the_sparkle_prefix_or_channel_is_refused() {
        let path = Path::new("appcast.xml");
        for feed in [
            "<rss version=\"2.0\"><channel/></rss>",
            "<rss xmlns:s=\"http://www.andymatuschak.org/xml-namespaces/sparkle\"><channel/></rss>",
            &format!("{HEAD}</rss>"),
            &format!("{HEAD}<channel/></rss>"),
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"/>",
        ] {
            let error = add_item(feed, &item("1.0.0"), path).unwrap_err();
            assert!(
                matches!(error, AppcastError::NotAnAppcast { .. }),
                "{feed}: {error}"
            );
        }
    }
}
