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

use crate::{
    doctor::{newer, Severity},
    updates::UpdateKey,
    verify::{verify, BundleInfo},
};

pub const SPARKLE_NAMESPACE: &str = "http://www.andymatuschak.org/xml-namespaces/sparkle";

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
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    /// What verify or the app's keys warn of, not stopping the release.
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
    let mut warnings: Vec<String> = warnings.iter().map(|f| f.problem.clone()).collect();
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
    check_key(app, request.key, pkg, &mut warnings)?;

    let bytes = std::fs::read(pkg).map_err(|source| AppcastError::Read {
        path: pkg.to_path_buf(),
        source,
    })?;
    let ed_signature = request.key.sign(&bytes);
    let file_name = pkg.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let mut folder = request.download_url_prefix.clone();
    if !folder.path().ends_with('/') {
        folder.set_path(&format!("{}/", folder.path()));
    }
    let url = folder
        .join(file_name)
        .map_err(|_| AppcastError::NotHttps {
            url: request.download_url_prefix.to_string(),
        })?
        .to_string();
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
        published: request.now.to_rfc2822(),
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
        Ok(existing) => (
            add_item(&existing, &item, output)?,
            1 + count_items(&existing),
        ),
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
    write_replacing(output, feed.as_bytes())?;
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
/// this pkg's app carries: signing with another means every Mac refuses it.
fn check_key(
    app: &BundleInfo,
    key: &UpdateKey,
    pkg: &Path,
    warnings: &mut Vec<String>,
) -> Result<(), AppcastError> {
    let signing = key.public_key();
    match &app.public_ed_key {
        Some(trusted) if trusted.trim() != signing => Err(AppcastError::WrongKey {
            pkg: pkg.to_path_buf(),
            trusted: trusted.clone(),
            signing,
        }),
        Some(_) => Ok(()),
        None => {
            warnings.push(format!(
                "{} has no SUPublicEDKey: once installed it cannot check the update after this one \
                 (set [updates] in release.toml)",
                app.path
            ));
            Ok(())
        }
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

fn new_feed(title: &str, item: &Item) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <rss version=\"2.0\" xmlns:sparkle=\"{SPARKLE_NAMESPACE}\">\n  \
         <channel>\n    <title>{}</title>\n{}\n  </channel>\n</rss>\n",
        escape(title),
        item.to_xml("    ")
    )
}

fn count_items(feed: &str) -> usize {
    roxmltree::Document::parse(feed)
        .map(|d| d.descendants().filter(|n| n.has_tag_name("item")).count())
        .unwrap_or_default()
}

/// `feed` with `item` as its first item; everything else kept byte for
/// byte.
fn add_item(feed: &str, item: &Item, path: &Path) -> Result<String, AppcastError> {
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
        if !newer(item.version, version) && !newer(version, item.version) {
            return Err(AppcastError::AlreadyListed {
                path: path.to_path_buf(),
                version: item.version.to_string(),
            });
        }
        if newer(version, item.version) {
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
    Ok(format!(
        "{}{}\n{line_indent}{}",
        &feed[..at],
        &xml[line_indent.len()..],
        &feed[at..]
    ))
}

/// Replaces `path` in one step: a failure leaves the old feed whole.
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), AppcastError> {
    use std::os::unix::fs::PermissionsExt;
    let write_error = |source| AppcastError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(write_error)?;
    // Published as it is: readable by all, like any web page.
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(write_error)?;
    std::io::Write::write_all(&mut file, bytes).map_err(write_error)?;
    file.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
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
        let one = add_item(&empty, &item("1.0.0"), path).unwrap();
        assert!(
            one.contains(
                "    <title>Demo</title>\n    <item>\n      <title>Demo VPN 1.0.0</title>"
            ),
            "{one}"
        );
        assert!(one.contains("    </item>\n  </channel>"), "{one}");
        let two = add_item(&one, &item("1.1.0"), path).unwrap();
        let (first, second) = (two.find("1.1.0").unwrap(), two.find("1.0.0").unwrap());
        assert!(first < second, "{two}");
        assert!(two.contains("    </item>\n    <item>\n"), "{two}");
        assert_eq!(count_items(&two), 2);
        assert!(roxmltree::Document::parse(&two).is_ok());
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
