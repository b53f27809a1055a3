//! The update feed as Sparkle reads it (Sparkle 2, `SUAppcast.m` and
//! `SUAppcastItem.m`): items at `/rss/channel/item`; the version and short
//! version from the enclosure's attributes first, then the item's
//! elements; the URL, length, signature and OS from the enclosure; the
//! minimum and maximum macOS from item elements. One malformed item makes
//! the whole feed unreadable, as in Sparkle.

use std::cmp::Ordering;

use vpn_release::version_order::compare;

use vpn_release::update_feed::SPARKLE_NAMESPACE;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FeedItem {
    pub title: Option<String>,
    /// `sparkle:version`: compared with the app's `CFBundleVersion`.
    pub version: String,
    pub short_version: String,
    pub url: String,
    pub length: Option<u64>,
    pub ed_signature: Option<String>,
    pub minimum_system_version: Option<String>,
    pub maximum_system_version: Option<String>,
    /// Release notes as written (HTML unless the feed says otherwise).
    pub notes: Option<String>,
    /// `sparkle:channel`: items on a named channel are not for everyone.
    #[serde(skip)]
    channel: Option<String>,
    /// `sparkle:os`: absent or `macos` for us.
    #[serde(skip)]
    os: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FeedError {
    #[error("the feed is not XML: {0}")]
    NotXml(String),
    #[error("the feed is not an RSS appcast (no /rss/channel)")]
    NotAppcast,
    #[error("item {index} of the feed {problem}")]
    Item { index: usize, problem: String },
}

pub fn parse(xml: &str) -> Result<Vec<FeedItem>, FeedError> {
    let document = roxmltree::Document::parse_with_options(
        xml,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            ..Default::default()
        },
    )
    .map_err(|e| FeedError::NotXml(e.to_string()))?;
    let root = document.root_element();
    if !root.has_tag_name("rss") || root.tag_name().namespace().is_some() {
        return Err(FeedError::NotAppcast);
    }
    let channel = root
        .children()
        .find(|n| n.has_tag_name("channel"))
        .ok_or(FeedError::NotAppcast)?;
    channel
        .children()
        .filter(|n| n.has_tag_name("item"))
        .enumerate()
        .map(|(index, item)| {
            read_item(item).map_err(|problem| FeedError::Item {
                index: index + 1,
                problem,
            })
        })
        .collect()
}

fn read_item(item: roxmltree::Node) -> Result<FeedItem, String> {
    let element = |name: &str| {
        item.children()
            .find(|n| n.has_tag_name((SPARKLE_NAMESPACE, name)))
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
    };
    let enclosure = item
        .children()
        .find(|n| n.has_tag_name("enclosure"))
        .ok_or("has no enclosure")?;
    let attribute = |name: &str| {
        enclosure
            .attribute((SPARKLE_NAMESPACE, name))
            .map(str::to_string)
    };
    let version = attribute("version")
        .or_else(|| element("version"))
        .ok_or("has no sparkle:version")?;
    let url = enclosure.attribute("url").ok_or("has no enclosure url")?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("links to `{url}`, not an http(s) URL"));
    }
    let length = enclosure
        .attribute("length")
        .map(|l| {
            l.trim()
                .parse::<u64>()
                .map_err(|_| format!("has length `{l}`, not a number"))
        })
        .transpose()?;
    Ok(FeedItem {
        title: item
            .children()
            .find(|n| n.has_tag_name("title"))
            .and_then(|n| n.text())
            .map(str::to_string),
        short_version: attribute("shortVersionString")
            .or_else(|| element("shortVersionString"))
            .unwrap_or_else(|| version.clone()),
        version,
        url: url.to_string(),
        length,
        ed_signature: attribute("edSignature"),
        minimum_system_version: element("minimumSystemVersion"),
        maximum_system_version: element("maximumSystemVersion"),
        notes: item
            .children()
            .find(|n| n.has_tag_name("description"))
            .and_then(|n| n.text())
            .map(str::to_string),
        channel: element("channel"),
        os: attribute("os"),
    })
}

/// The item to offer, as Sparkle picks it (`SUAppcastDriver.m`): for macOS,
/// on no named channel, within the item's macOS range when `os_version` is
/// known, the highest version (the first of equals), and only if newer
/// than `running`.
pub fn best<'a>(
    items: &'a [FeedItem],
    os_version: Option<&str>,
    running: &str,
) -> Option<&'a FeedItem> {
    items
        .iter()
        .filter(|i| i.channel.is_none())
        .filter(|i| i.os.as_deref().is_none_or(|os| os == "macos"))
        .filter(|i| match os_version {
            None => true,
            Some(os) => {
                i.minimum_system_version
                    .as_deref()
                    .is_none_or(|min| compare(os, min) != Ordering::Less)
                    && i.maximum_system_version
                        .as_deref()
                        .is_none_or(|max| compare(os, max) != Ordering::Greater)
            }
        })
        .fold(None, |best: Option<&FeedItem>, item| match best {
            Some(b) if compare(&item.version, &b.version) != Ordering::Greater => Some(b),
            _ => Some(item),
        })
        .filter(|item| compare(&item.version, running) == Ordering::Greater)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(items: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\" xmlns:sparkle=\"{SPARKLE_NAMESPACE}\">\
             <channel><title>Demo</title>{items}</channel></rss>"
        )
    }

    fn item(version: &str, extra: &str) -> String {
        format!(
            "<item><title>{version}</title>{extra}<enclosure url=\"https://example.com/Demo-{version}.pkg\" \
             length=\"10\" sparkle:version=\"{version}\" sparkle:edSignature=\"c2ln\"/></item>"
        )
    }

    #[test]
    fn the_highest_version_for_this_macos_is_offered_if_newer() {
        let items = parse(&feed(
            &[
                item("1.1.0", ""),
                item(
                    "1.3.0",
                    "<sparkle:minimumSystemVersion>15.0</sparkle:minimumSystemVersion>",
                ),
                item(
                    "1.2.0",
                    "<sparkle:minimumSystemVersion>13.0</sparkle:minimumSystemVersion>",
                ),
                item("1.4.0", "<sparkle:channel>beta</sparkle:channel>"),
            ]
            .concat(),
        ))
        .unwrap();
        let best_on = |os| best(&items, Some(os), "1.0.0").map(|i| i.version.as_str());
        assert_eq!(best_on("14.2"), Some("1.2.0"));
        assert_eq!(best_on("15.0"), Some("1.3.0"));
        assert_eq!(best(&items, Some("14.2"), "1.2.0"), None, "nothing newer");
        assert_eq!(items[1].minimum_system_version.as_deref(), Some("15.0"));
    }

    #[test]
    fn the_enclosures_version_wins_over_the_items_element() {
        let items = parse(&feed(
            "<item><sparkle:version>9.9</sparkle:version><enclosure url=\"https://e.com/a.pkg\" \
             sparkle:version=\"1.1\" sparkle:shortVersionString=\"1.1 (beta)\"/></item>",
        ))
        .unwrap();
        assert_eq!(items[0].version, "1.1");
        assert_eq!(items[0].short_version, "1.1 (beta)");
    }

    #[test]
    fn one_bad_item_makes_the_feed_unreadable() {
        for (bad, problem) in [
            (
                "<item><enclosure url=\"https://e.com/a.pkg\"/></item>",
                "has no sparkle:version",
            ),
            ("<item><title>x</title></item>", "has no enclosure"),
            (
                "<item><enclosure url=\"file:///etc/passwd\" sparkle:version=\"2\"/></item>",
                "not an http(s) URL",
            ),
        ] {
            let error = parse(&feed(&[item("1.1.0", ""), bad.to_string()].concat())).unwrap_err();
            assert!(
                matches!(&error, FeedError::Item { index: 2, problem: p } if p.contains(problem)),
                "{error}"
            );
        }
        assert_eq!(parse("<feed/>"), Err(FeedError::NotAppcast));
        assert!(matches!(parse("<rss"), Err(FeedError::NotXml(_))));
    }
}
