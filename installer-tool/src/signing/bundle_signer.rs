//! Signs an app bundle in place, nested bundles first, as apple-codesign's
//! `UnifiedSigner::sign_bundle` does, with one difference: a resource's
//! digests come from [`ResourceDigests`] (the payload archiver's read of the
//! file) instead of two more reads and hashes of its own (apple-codesign
//! hashes each resource once for `<rules>` and once for `<rules2>`, with SHA-1
//! at a quarter of the speed of the CPU's SHA instructions). For a bundle of
//! hundreds of megabytes of resources that was most of the build's time.
//!
//! The walk mirrors apple-codesign 0.29's `BundleSigner`, `SingleBundleSigner`
//! and `CodeResourcesBuilder::walk_and_seal_directory` (bundle_signing.rs and
//! code_resources.rs): which directories are nested bundles, the order they
//! are signed in, which rule seals each file and how, how Mach-O files are
//! signed and which digests the resources get. The Mach-O signing itself is
//! apple-codesign's. A test signs the same bundle both ways and compares
//! every byte. Not mirrored, because build-pkg never asks for them: shallow
//! signing and path exclusions in the settings, and signing into another
//! directory.

// These functions stand in for apple-codesign's own and return its error
// type, as it does; the one caller boxes it (SigningError::Bundle).
#![allow(clippy::result_large_err)]

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
};

use apple_bundles::{BundlePackageType, DirectoryBundle};
use apple_codesign::{
    cryptography::{DigestType, MultiDigest},
    normalized_resources_path, path_identifier, path_is_macho, write_macho_file,
    AppleCodesignError, CodeResources, FilesFlavor, MachFile, MachOSigner, SettingsScope,
    SignedMachOInfo, SigningSettings,
};

use super::{
    resource_digests::{DualHasher, FileDigests, ResourceDigests},
    resource_rules::ResourceRules,
};

/// Signs the bundle at `root` in place with `settings`.
pub fn sign_bundle_in_place(
    root: &Path,
    settings: &SigningSettings,
    digests: &ResourceDigests,
) -> Result<(), AppleCodesignError> {
    let main = DirectoryBundle::new_from_path(root).map_err(AppleCodesignError::DirectoryBundle)?;
    let mut nested: Vec<(String, DirectoryBundle)> = main
        .nested_bundles(true)
        .map_err(AppleCodesignError::DirectoryBundle)?
        .into_iter()
        .filter(|(_, bundle)| signable(bundle))
        .collect();
    // Leaf-most first: a parent seals its children's signatures. apple-codesign
    // keeps them in a map by path before this stable sort.
    nested.sort_by(|(a, _), (b, _)| a.cmp(b));
    nested.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));

    let mut signer = Signer {
        digests,
        signed: HashMap::new(),
    };
    // Root-relative paths of files already signed or sealed by a nested
    // bundle: a parent seals them as they are instead of signing them again.
    let mut installed = BTreeSet::<PathBuf>::new();
    for (rel, bundle) in &nested {
        let rel_path = Path::new(rel);
        let previously = installed
            .iter()
            .filter_map(|p| p.strip_prefix(rel_path).ok().map(Path::to_path_buf))
            .collect();
        let done = signer.sign_one(bundle, &settings.as_nested_bundle_settings(rel), previously)?;
        installed.extend(done.into_iter().map(|p| rel_path.join(p)));
    }
    signer.sign_one(&main, settings, installed)?;
    Ok(())
}

/// apple-codesign's filter on what looks like a bundle: an Info.plist with a
/// package type other than `dSYM`, or at least an identifier.
fn signable(bundle: &DirectoryBundle) -> bool {
    let package_type = bundle
        .info_plist_key_string("CFBundlePackageType")
        .ok()
        .flatten();
    let identifier = bundle
        .info_plist_key_string("CFBundleIdentifier")
        .ok()
        .flatten();
    match package_type {
        Some(kind) => kind != "dSYM",
        None => identifier.is_some(),
    }
}

struct Signer<'a> {
    digests: &'a ResourceDigests,
    /// Digests of files this signer wrote (their content changed since the
    /// archiver may have read them).
    signed: HashMap<PathBuf, FileDigests>,
}

impl Signer<'_> {
    fn digests_of(&self, path: &Path) -> Result<MultiDigest, AppleCodesignError> {
        let digests = match self.signed.get(path) {
            Some(digests) => *digests,
            None => self.digests.of(path)?,
        };
        Ok(digests.to_multi())
    }

    /// Signs one bundle: seals its files in `_CodeSignature/CodeResources`
    /// (signing the Mach-O files among them), then signs its main executable.
    /// Returns the bundle-relative paths it signed or sealed.
    fn sign_one(
        &mut self,
        bundle: &DirectoryBundle,
        settings: &SigningSettings,
        previously: BTreeSet<PathBuf>,
    ) -> Result<BTreeSet<PathBuf>, AppleCodesignError> {
        let files = bundle
            .files(false)
            .map_err(AppleCodesignError::DirectoryBundle)?;
        // A versioned framework signs each version as its own bundle; what is
        // outside them (symlinks) is only kept.
        if bundle.package_type() == BundlePackageType::Framework
            && bundle.root_dir().join("Versions").is_dir()
        {
            return Ok(files
                .iter()
                .map(|f| f.relative_path().to_path_buf())
                .collect());
        }
        let identifier = bundle
            .identifier()
            .map_err(AppleCodesignError::DirectoryBundle)?
            .ok_or_else(|| AppleCodesignError::BundleNoIdentifier(bundle.info_plist_path()))?;
        let main_exe = files
            .iter()
            .find(|f| matches!(f.is_main_executable(), Ok(true)))
            .map(|f| {
                (
                    f.absolute_path().to_path_buf(),
                    f.relative_path().to_path_buf(),
                )
            });

        let mut digest_types = settings.all_digests(SettingsScope::Main);
        if let Some((exe, _)) = &main_exe {
            if needs_sha1(&std::fs::read(exe)?)? {
                digest_types = vec![DigestType::Sha1, DigestType::Sha256];
            }
        }
        let flavor = if digest_types.contains(&DigestType::Sha1) {
            FilesFlavor::Rules2WithSha1
        } else {
            FilesFlavor::Rules2
        };

        let rules = ResourceRules::new(
            bundle.resolve_path("Resources").is_dir() || !bundle.shallow(),
            main_exe
                .as_ref()
                .map(|(_, rel)| normalized_resources_path(rel))
                .as_deref(),
        )?;
        let mut seal = Seal {
            code_resources: rules.code_resources(),
            flavor,
            installed: BTreeSet::new(),
        };
        self.walk(bundle, settings, &rules, &previously, &mut seal)?;

        let contents = if bundle.shallow() {
            bundle.root_dir().to_path_buf()
        } else {
            bundle.root_dir().join("Contents")
        };
        let mut resources_data = Vec::new();
        seal.code_resources.to_writer_xml(&mut resources_data)?;
        let resources_path = contents.join("_CodeSignature").join("CodeResources");
        std::fs::create_dir_all(contents.join("_CodeSignature"))?;
        std::fs::write(&resources_path, &resources_data)?;
        self.signed
            .insert(resources_path, DualHasher::of(&resources_data));

        if let Some((exe, rel)) = main_exe {
            let data = std::fs::read(&exe)?;
            let mut settings =
                settings.as_bundle_main_executable_settings(rel.to_string_lossy().as_ref());
            settings.set_binary_identifier(SettingsScope::Main, identifier);
            settings.set_code_resources_data(SettingsScope::Main, resources_data);
            settings.set_info_plist_data(
                SettingsScope::Main,
                std::fs::read(bundle.info_plist_path())?,
            );
            // After every explicit setting, as apple-codesign orders it.
            settings.import_settings_from_macho(&data)?;
            let signed = sign_macho(&data, &settings)?;
            write_macho_file(&exe, &exe, &signed)?;
            self.signed.insert(exe, DualHasher::of(&signed));
            seal.installed.insert(rel);
        }
        Ok(seal.installed)
    }

    /// Walks the bundle in name order and seals each entry by its rules.
    fn walk(
        &mut self,
        bundle: &DirectoryBundle,
        settings: &SigningSettings,
        rules: &ResourceRules,
        previously: &BTreeSet<PathBuf>,
        seal: &mut Seal,
    ) -> Result<(), AppleCodesignError> {
        let bundle_root = bundle.root_dir();
        let mut skipped: Vec<PathBuf> = Vec::new();
        for entry in walkdir::WalkDir::new(bundle_root).sort_by_file_name() {
            let entry = entry?;
            let path = entry.path();
            if path == bundle_root {
                continue;
            }
            let rel = path
                .strip_prefix(bundle_root)
                .expect("walked under the root");
            if skipped.iter().any(|p| rel.starts_with(p)) {
                continue;
            }
            let normalized = normalized_resources_path(rel);
            let kind = entry.file_type();
            if let Some(rule) = rules.rule2(&normalized) {
                if kind.is_dir() {
                    if rule.nested && entry.file_name().to_string_lossy().contains('.') {
                        // Signed before its parent: seal its main executable's
                        // signature.
                        let nested = DirectoryBundle::new_from_path(path)
                            .map_err(AppleCodesignError::DirectoryBundle)?;
                        let exe = nested
                            .files(false)
                            .map_err(AppleCodesignError::DirectoryBundle)?
                            .into_iter()
                            .find(|f| matches!(f.is_main_executable(), Ok(true)))
                            .map(|f| f.absolute_path().to_path_buf());
                        if let Some(exe) = exe {
                            let info = SignedMachOInfo::parse_data(&std::fs::read(exe)?)?;
                            seal.code_resources
                                .seal_macho(&normalized, &info, rule.optional)?;
                        }
                        skipped.push(rel.to_path_buf());
                    } else if !rule.nested && rule.exclude {
                        skipped.push(rel.to_path_buf());
                    }
                } else if kind.is_file() {
                    if rule.exclude {
                        continue;
                    }
                    if rule.nested {
                        // Only Mach-O can be signed as nested code; anything
                        // else under a nested rule is left out, as apple-codesign
                        // does (it logs an error and goes on).
                        if path_is_macho(path)? {
                            let info = self.sign_nested_macho(path, rel, settings)?;
                            seal.code_resources
                                .seal_macho(&normalized, &info, rule.optional)?;
                            seal.installed.insert(rel.to_path_buf());
                        } else {
                            tracing::error!("{} is under a nested-code rule but is not Mach-O; it is not sealed", rel.display());
                        }
                    } else {
                        let fresh = !previously.contains(rel);
                        if !rule.omit {
                            // apple-codesign signs any Mach-O it meets, nested
                            // rule or not, unless a nested bundle did already.
                            if fresh && path_is_macho(path)? {
                                self.sign_nested_macho(path, rel, settings)?;
                            }
                            let digests = self.digests_of(path)?;
                            seal.code_resources.seal_regular_file(
                                seal.flavor,
                                &normalized,
                                digests,
                                rule.optional,
                            )?;
                        }
                        if fresh {
                            seal.installed.insert(rel.to_path_buf());
                        }
                    }
                } else if kind.is_symlink() {
                    if rule.exclude {
                        continue;
                    }
                    if !rule.omit {
                        let target = std::fs::read_link(path)?
                            .to_string_lossy()
                            .replace('\\', "/");
                        seal.code_resources.seal_symlink(&normalized, target);
                    }
                    seal.installed.insert(rel.to_path_buf());
                }
            }
            // Version 1 seals regular files only, with their SHA-1.
            if let Some(rule) = rules.rule(&normalized) {
                if kind.is_file() && !rule.exclude {
                    let digests = self.digests_of(path)?;
                    seal.code_resources.seal_regular_file(
                        FilesFlavor::Rules,
                        &normalized,
                        digests,
                        rule.optional,
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Signs a Mach-O file of a bundle other than its main executable, with
    /// an identifier from its file name.
    fn sign_nested_macho(
        &mut self,
        path: &Path,
        rel: &Path,
        settings: &SigningSettings,
    ) -> Result<SignedMachOInfo, AppleCodesignError> {
        let data = std::fs::read(path)?;
        let mut settings = settings.as_bundle_macho_settings(rel.to_string_lossy().as_ref());
        if settings.binary_identifier(SettingsScope::Main).is_none() {
            settings.set_binary_identifier(SettingsScope::Main, path_identifier(rel)?);
        }
        settings.import_settings_from_macho(&data)?;
        let signed = sign_macho(&data, &settings)?;
        write_macho_file(path, path, &signed)?;
        let info = SignedMachOInfo::parse_data(&signed)?;
        self.signed
            .insert(path.to_path_buf(), DualHasher::of(&signed));
        Ok(info)
    }
}

/// A bundle's `CodeResources` as it is filled, and what was sealed.
struct Seal {
    code_resources: CodeResources,
    flavor: FilesFlavor,
    installed: BTreeSet<PathBuf>,
}

fn sign_macho(data: &[u8], settings: &SigningSettings) -> Result<Vec<u8>, AppleCodesignError> {
    let mut signed = Vec::with_capacity(data.len() + (1 << 17));
    MachOSigner::new(data)?.write_signed_binary(settings, &mut signed)?;
    Ok(signed)
}

/// Whether a main executable runs on a system too old for SHA-256-only
/// resource seals, so they also carry SHA-1 (apple-codesign's rule: any
/// slice without a target, or with a minimum OS below SHA-256 support).
fn needs_sha1(data: &[u8]) -> Result<bool, AppleCodesignError> {
    for macho in MachFile::parse(data)?.iter_macho() {
        let old = match macho.find_targeting()? {
            Some(target) => !target
                .platform
                .sha256_digest_support()?
                .matches(&target.minimum_os_version),
            None => true,
        };
        if old {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        entitlements::Entitlements,
        pkg::signing_split::untouched_by_signing,
        signing::{app_signing_settings, BundleSigning, Purpose, SignOptions, SigningIdentity},
    };
    use apple_codesign::{
        macho_builder::MachOBuilder, MachoTarget, Platform, UnifiedSigner, UniversalBinaryBuilder,
    };
    use flatpkg::{
        payload::{ArchiveSettings, ArchiveWriter, ContentObserver},
        tree::{scan, EntryKind, FileSource, TreeEntry},
    };
    use std::os::unix::fs::symlink;
    use vpn_release::TeamId;

    const EXTENSION: &str =
        "Contents/Library/SystemExtensions/com.example.demo.ext.systemextension";

    fn thin(builder: MachOBuilder, minimum_os: Option<&str>) -> Vec<u8> {
        let builder = match minimum_os {
            Some(version) => builder.macho_target(MachoTarget {
                platform: Platform::MacOs,
                minimum_os_version: semver::Version::parse(version).unwrap(),
                sdk_version: semver::Version::new(14, 0, 0),
            }),
            None => builder,
        };
        builder.write_macho().unwrap()
    }

    fn universal(minimum_os: Option<&str>) -> Vec<u8> {
        let execute = goblin::mach::header::MH_EXECUTE;
        let mut builder = UniversalBinaryBuilder::default();
        builder
            .add_binary(thin(MachOBuilder::new_x86_64(execute), minimum_os))
            .unwrap();
        builder
            .add_binary(thin(MachOBuilder::new_aarch64(execute), minimum_os))
            .unwrap();
        let mut out = Vec::new();
        builder.write(&mut out).unwrap();
        out
    }

    fn info_plist(id: &str, executable: &str, kind: &str) -> Vec<u8> {
        let mut dict = plist::Dictionary::new();
        dict.insert("CFBundleIdentifier".into(), id.into());
        dict.insert("CFBundleExecutable".into(), executable.into());
        dict.insert("CFBundlePackageType".into(), kind.into());
        let mut out = Vec::new();
        plist::Value::Dictionary(dict)
            .to_writer_xml(&mut out)
            .unwrap();
        out
    }

    fn write(path: &Path, data: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }

    /// An app with every kind of entry the walk treats differently: a
    /// system extension (sealed file by file), a login item (nested
    /// bundle, sealed by its signature), a shallow bundle and a Mach-O
    /// among the resources, localizations, omitted files and a symlink.
    fn bundle(dir: &Path, minimum_os: Option<&str>) -> PathBuf {
        let app = dir.join("Demo.app");
        let at = |rel: &str| app.join(rel);
        write(
            &at("Contents/Info.plist"),
            &info_plist("com.example.demo", "Demo", "APPL"),
        );
        write(&at("Contents/MacOS/Demo"), &universal(minimum_os));
        write(&at("Contents/MacOS/helper"), &universal(minimum_os));
        write(&at("Contents/PkgInfo"), b"APPL????");
        write(&at("Contents/embedded.provisionprofile"), b"app profile");
        write(&at("Contents/Resources/a.txt"), &vec![b'a'; 100_000]);
        write(&at("Contents/Resources/sub/deep.txt"), b"deep");
        write(
            &at("Contents/Resources/en.lproj/Localizable.strings"),
            b"\"a\" = \"b\";",
        );
        write(
            &at("Contents/Resources/en.lproj/locversion.plist"),
            b"<plist/>",
        );
        write(&at("Contents/Resources/Base.lproj/Main.strings"), b"base");
        write(&at("Contents/Resources/.DS_Store"), b"finder");
        write(&at("Contents/Resources/tool"), &universal(minimum_os));
        symlink("a.txt", at("Contents/Resources/link")).unwrap();
        write(
            &at("Contents/Resources/Plugin.bundle/Info.plist"),
            &info_plist("com.example.plugin", "Plugin", "BNDL"),
        );
        write(
            &at("Contents/Resources/Plugin.bundle/Plugin"),
            &universal(minimum_os),
        );
        write(
            &at("Contents/Resources/Plugin.bundle/data.txt"),
            b"plugin data",
        );
        let ext = |rel: &str| app.join(EXTENSION).join(rel);
        write(
            &ext("Contents/Info.plist"),
            &info_plist("com.example.demo.ext", "ext", "SYSX"),
        );
        write(&ext("Contents/MacOS/ext"), &universal(minimum_os));
        write(
            &ext("Contents/embedded.provisionprofile"),
            b"extension profile",
        );
        let item = |rel: &str| at("Contents/Library/LoginItems/Agent.app").join(rel);
        write(
            &item("Contents/Info.plist"),
            &info_plist("com.example.agent", "Agent", "APPL"),
        );
        write(&item("Contents/MacOS/Agent"), &universal(minimum_os));
        app
    }

    /// Every entry under `root`, with its bytes or link target.
    fn contents(root: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
        walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .map(|entry| {
                let entry = entry.unwrap();
                let rel = entry.path().strip_prefix(root).unwrap().to_path_buf();
                let data = if entry.file_type().is_symlink() {
                    Some(
                        std::fs::read_link(entry.path())
                            .unwrap()
                            .into_os_string()
                            .into_encoded_bytes(),
                    )
                } else if entry.file_type().is_file() {
                    Some(std::fs::read(entry.path()).unwrap())
                } else {
                    None
                };
                (rel, data)
            })
            .collect()
    }

    fn entitlements(key: &str) -> Entitlements {
        let mut dict = plist::Dictionary::new();
        dict.insert(key.into(), true.into());
        Entitlements {
            path: PathBuf::from("test.entitlements"),
            dict,
        }
    }

    /// What the tests sign with: one self-signed identity for every
    /// signature, the entitlements, and a fixed signing time.
    struct TestSigning {
        team: TeamId,
        identity: SigningIdentity,
        app: Entitlements,
        extension: Entitlements,
        options: SignOptions,
    }

    impl TestSigning {
        fn new() -> Self {
            let team: TeamId = "ABCDE12345".parse().unwrap();
            Self {
                identity: SigningIdentity::self_signed(Purpose::Application, &team, "Test")
                    .unwrap(),
                team,
                app: entitlements("com.apple.security.app-sandbox"),
                extension: entitlements("com.apple.developer.networking.networkextension"),
                options: SignOptions {
                    timestamp_url: None,
                    signing_time: chrono::DateTime::from_timestamp(1_700_000_000, 0),
                },
            }
        }

        fn settings(&self, app: &Path) -> SigningSettings<'_> {
            let what = BundleSigning {
                app_entitlements: &self.app,
                extension_path: EXTENSION,
                extension_entitlements: &self.extension,
                team: &self.team,
            };
            app_signing_settings(app, Some(&self.identity), &what, &self.options).unwrap()
        }
    }

    /// Signs the same bundle with apple-codesign's `UnifiedSigner` and with
    /// ours, fed by a payload archiver running beside it, and compares every
    /// byte of the two.
    fn signs_as_apple_codesign_does(minimum_os: Option<&str>) {
        let signing = TestSigning::new();
        let theirs_dir = tempfile::tempdir().unwrap();
        let ours_dir = tempfile::tempdir().unwrap();
        let theirs = bundle(theirs_dir.path(), minimum_os);
        let ours = bundle(ours_dir.path(), minimum_os);

        UnifiedSigner::new(signing.settings(&theirs))
            .sign_bundle(&theirs, &theirs)
            .unwrap();

        let early = untouched_by_signing(scan(ours_dir.path()).unwrap()).unwrap();
        let digests = ResourceDigests::expecting(&early);
        let settings = signing.settings(&ours);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut digester = crate::signing::ResourceDigester::new(&digests);
                let payload = ours_dir.path().join("payload");
                let mut writer =
                    ArchiveWriter::create(&payload, &ArchiveSettings::payload(0)).unwrap();
                writer
                    .append_observed(&early, &flatpkg::NoProgress, &mut digester)
                    .unwrap();
            });
            sign_bundle_in_place(&ours, &settings, &digests).unwrap();
        });
        std::fs::remove_file(ours_dir.path().join("payload")).unwrap();

        let (theirs, ours) = (contents(&theirs), contents(&ours));
        assert_eq!(
            theirs.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            ours.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
        for ((path, a), (_, b)) in theirs.iter().zip(&ours) {
            assert!(a == b, "{} differs from apple-codesign's", path.display());
        }
        let code_resources = std::fs::read_to_string(
            ours_dir
                .path()
                .join("Demo.app/Contents/_CodeSignature/CodeResources"),
        )
        .unwrap();
        // The walk reached each kind of entry.
        for sealed in [
            "Resources/a.txt",
            "Resources/link",
            "Resources/tool",
            "Resources/Plugin.bundle/Plugin",
            "Library/LoginItems/Agent.app",
            "MacOS/helper",
            "embedded.provisionprofile",
        ] {
            assert!(
                code_resources.contains(&format!("<key>{sealed}</key>")),
                "{sealed} is not sealed"
            );
        }
    }

    #[test]
    fn signs_as_apple_codesign_does_with_sha256_seals() {
        signs_as_apple_codesign_does(Some("11.0.0"));
    }

    #[test]
    fn signs_as_apple_codesign_does_with_sha1_seals_for_old_systems() {
        signs_as_apple_codesign_does(None);
    }

    /// The seal of a file the archiver read is the archiver's digest, not
    /// a second read: a digest planted in its place ends up in
    /// `CodeResources`. A file the archiver does not read is hashed by the
    /// signer.
    #[test]
    fn a_resource_is_sealed_with_the_digest_the_archiver_published() {
        let signing = TestSigning::new();
        let dir = tempfile::tempdir().unwrap();
        let app = bundle(dir.path(), Some("11.0.0"));
        let read_by_the_archiver = app.join("Contents/Resources/a.txt");
        let entries = [TreeEntry {
            path: "Applications/Demo.app/Contents/Resources/a.txt".into(),
            kind: EntryKind::File(FileSource::Path(read_by_the_archiver)),
            permissions: 0o644,
            size: 100_000,
            modified: None,
        }];
        let digests = ResourceDigests::expecting(&entries);
        {
            let mut digester = crate::signing::ResourceDigester::new(&digests);
            digester.begin(&entries[0]);
            digester.update(b"planted");
            digester.end();
        }
        sign_bundle_in_place(&app, &signing.settings(&app), &digests).unwrap();

        let code_resources: plist::Dictionary =
            plist::from_file(app.join("Contents/_CodeSignature/CodeResources")).unwrap();
        let sealed = |path: &str| -> Vec<u8> {
            let files = code_resources["files2"].as_dictionary().unwrap();
            files[path].as_dictionary().unwrap()["hash2"]
                .as_data()
                .unwrap()
                .to_vec()
        };
        let planted = DualHasher::of(b"planted");
        assert_eq!(sealed("Resources/a.txt"), planted.sha256);
        let deep = DualHasher::of_file(&app.join("Contents/Resources/sub/deep.txt")).unwrap();
        assert_eq!(sealed("Resources/sub/deep.txt"), deep.sha256);
    }
}
