//! `vpn-app update check|install`: new releases from the app's update
//! feed (`SUFeedURL`, a Sparkle appcast, over HTTPS only). A pkg is handed
//! to Installer only after three checks, in this order, each refusing
//! with its reason: the ed25519 signature of its bytes against the app's
//! `SUPublicEDKey`; its own signature, a Developer ID Installer of this
//! app's team as the Mac judges it (`pkgutil --check-signature`); and a
//! version, read from the pkg itself, strictly above the running app's.
//! The last check is of the pkg, not of the feed's claim: a signed older
//! pkg announced as newer is a downgrade, and is refused.

pub mod feed;
pub mod package_signature;
mod system;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde::Serialize;
use vpn_release::{info_plist::AppInfoPlist, version_order::is_newer, BundleId, TeamId};

pub use system::HandedTo;

use feed::FeedItem;
use package_signature::PackageSignature;

/// A feed is a few kilobytes per release.
const FEED_LIMIT: u64 = 8 << 20;
/// The pkg's announced length may be missing or wrong; nothing larger
/// than this is downloaded.
const PKG_LIMIT: u64 = 4 << 30;

/// What the app that runs knows of itself, from its Info.plist.
#[derive(Clone, Debug)]
pub struct InstalledApp {
    pub bundle_id: BundleId,
    pub version: String,
    pub team: TeamId,
    pub feed_url: Option<String>,
    pub public_ed_key: Option<String>,
}

impl InstalledApp {
    /// The app bundle this program runs in (`Name.app/Contents/MacOS/`).
    pub fn running() -> anyhow::Result<Self> {
        let executable = std::env::current_exe().context("cannot locate this program")?;
        let info = executable
            .parent()
            .and_then(Path::parent)
            .map(|contents| contents.join("Info.plist"))
            .filter(|info| info.is_file())
            .context(
                "this program does not run from an app bundle: updates need the app's Info.plist \
                 (SUFeedURL, SUPublicEDKey); run the vpn-app inside the installed app",
            )?;
        Self::from_info_plist(&info)
    }

    pub fn from_info_plist(path: &Path) -> anyhow::Result<Self> {
        let plist = AppInfoPlist::read(path)?;
        Ok(Self {
            bundle_id: plist.bundle.bundle_id,
            version: plist.bundle.version.to_string(),
            team: plist.service_name.team(),
            feed_url: plist.updates.feed_url,
            public_ed_key: plist.updates.public_ed_key,
        })
    }

    fn feed_url<'a>(&'a self, wanted: Option<&'a str>) -> anyhow::Result<&'a str> {
        let url = wanted.or(self.feed_url.as_deref()).context(
            "this app names no update feed (SUFeedURL): pass --feed URL, or build it with \
             [updates] in release.toml",
        )?;
        if !url.starts_with("https://") {
            bail!("the feed `{url}` is not https: updates are fetched over HTTPS only");
        }
        Ok(url)
    }
}

/// What the feed offers this Mac.
#[derive(Clone, Debug, Serialize)]
pub struct Offer {
    pub running: String,
    pub feed: String,
    /// None: up to date.
    pub available: Option<FeedItem>,
}

pub fn check(app: &InstalledApp, feed_url: Option<&str>) -> anyhow::Result<Offer> {
    let feed_url = app.feed_url(feed_url)?;
    let text = system::fetch(feed_url, FEED_LIMIT)?;
    let items = feed::parse(&text).with_context(|| format!("cannot read the feed {feed_url}"))?;
    let os = system::os_version();
    Ok(Offer {
        running: app.version.clone(),
        feed: feed_url.to_string(),
        available: feed::best(&items, os.as_deref(), &app.version).cloned(),
    })
}

/// A release that passed every check and went to Installer.
#[derive(Clone, Debug, Serialize)]
pub struct Installed {
    pub offer: Offer,
    pub pkg: PathBuf,
    pub version: String,
    pub signer: String,
    pub notarized: bool,
    pub handed_to: HandedTo,
}

pub fn install(
    app: &InstalledApp,
    feed_url: Option<&str>,
    progress: bool,
) -> anyhow::Result<Installed> {
    let offer = check(app, feed_url)?;
    let Some(item) = offer.available.clone() else {
        bail!(
            "{} is the newest version the feed offers: nothing to install",
            app.version
        );
    };
    if !item.url.starts_with("https://") {
        bail!(
            "the feed links the pkg over plain http ({}): refused",
            item.url
        );
    }
    let public_key = app
        .public_ed_key
        .as_deref()
        .context("this app has no SUPublicEDKey, so it cannot tell a genuine update: refused")?;
    let pkg = system::download(&item.url, &app.bundle_id, PKG_LIMIT, progress)?;

    let bytes = std::fs::read(&pkg).with_context(|| format!("cannot read {}", pkg.display()))?;
    let signature = item
        .ed_signature
        .as_deref()
        .context("the feed gives no sparkle:edSignature for the pkg: refused")?;
    check_ed25519(public_key, &bytes, signature)
        .map_err(|reason| anyhow::anyhow!("refused {}: {reason}", pkg.display()))?;
    drop(bytes);

    let package = PackageSignature::parse(&system::check_signature(&pkg)?);
    if let Some(reason) = package.refusal(&app.team) {
        bail!("refused {}: {reason}", pkg.display());
    }

    let info = system::package_info(&pkg)?;
    let version = bundle_version(&info, &app.bundle_id).with_context(|| {
        format!(
            "refused {}: it does not install {}",
            pkg.display(),
            app.bundle_id
        )
    })?;
    if !is_newer(&version, &app.version) {
        bail!(
            "refused {}: it holds {} {version}, not newer than the running {} (the feed said {})",
            pkg.display(),
            app.bundle_id,
            app.version,
            item.version
        );
    }
    let handed_to = system::hand_to_installer(&pkg)?;
    Ok(Installed {
        offer,
        pkg,
        version,
        signer: package.signer.unwrap_or_default(),
        notarized: package.notarized,
        handed_to,
    })
}

/// Whether `signature` (base64) is `public_key`'s (base64, 32 bytes)
/// ed25519 signature of `data`: RFC 8032, as Sparkle's `sign_update`
/// makes it.
pub fn check_ed25519(public_key: &str, data: &[u8], signature: &str) -> Result<(), String> {
    let key = STANDARD
        .decode(public_key.trim())
        .map_err(|_| "SUPublicEDKey is not base64".to_string())?;
    let signature = STANDARD
        .decode(signature.trim())
        .map_err(|_| "its sparkle:edSignature is not base64".to_string())?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
        .verify(data, &signature)
        .map_err(|_| "its bytes are not what the update key signed (sparkle:edSignature does not match SUPublicEDKey)".into())
}

/// The `CFBundleVersion` PackageInfo gives the bundle `id`.
fn bundle_version(package_info: &str, id: &BundleId) -> Option<String> {
    let document = roxmltree::Document::parse(package_info).ok()?;
    document
        .descendants()
        .filter(|n| n.has_tag_name("bundle"))
        .find(|n| n.attribute("id") == Some(id.as_str()))
        .and_then(|n| n.attribute("CFBundleVersion"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_the_pkgs_own_for_this_app() {
        let info = "<pkg-info><bundle path=\"./Applications/A.app\" id=\"com.example.a\" \
                    CFBundleVersion=\"1.2.0\"/><bundle id=\"com.example.a.tunnel\" \
                    CFBundleVersion=\"9.0\"/><bundle-version><bundle id=\"com.example.a\"/>\
                    </bundle-version></pkg-info>";
        let id: BundleId = "com.example.a".parse().unwrap();
        assert_eq!(bundle_version(info, &id).as_deref(), Some("1.2.0"));
        let other: BundleId = "com.example.b".parse().unwrap();
        assert_eq!(bundle_version(info, &other), None);
    }

    /// RFC 8032, section 7.1, TEST 2.
    #[test]
    fn signatures_are_checked_as_rfc_8032_ed25519() {
        let hex = |s: &str| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect::<Vec<u8>>()
        };
        let key = STANDARD.encode(hex(
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        ));
        let signature = STANDARD.encode(hex(
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
             085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ));
        assert_eq!(check_ed25519(&key, &[0x72], &signature), Ok(()));
        assert!(check_ed25519(&key, &[0x73], &signature).is_err());
    }
}
