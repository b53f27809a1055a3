//! The real VPN executables as `build-pkg` builds them on Linux (no
//! `--stand-ins`): compiled for both Apple targets, linked by zig, joined
//! into universal binaries and signed. Judged with goblin's Mach-O reader
//! and apple-codesign's signature checks, from the pkg's own payload.
//!
//! The first run compiles the VPN twice in release (a few minutes on two
//! cores); CI's main job has built it already into the same target
//! directory, so there it only links.

use std::path::PathBuf;

use goblin::mach::{load_command::CommandVariant, Mach};
use system_tests::{
    apple_stubs::{declared, imports, Symbols},
    assert_signature_verifies, build_ok, build_pkg, unpack_cpio_gz, unpack_xar, workspace_root,
};

/// `minimum-macos` of the workspace's release.toml, as LC_BUILD_VERSION's
/// nibble-packed `minos` (xxxx.yy.zz).
const MINIMUM_MACOS: u32 = 13 << 16;
const PLATFORM_MACOS: u32 = 1;

#[test]
fn build_pkg_on_linux_packages_universal_signed_executables_of_the_vpn() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let report = build_ok("build-pkg (cross-compiled)", &mut build_pkg(&out));
    assert_eq!(report["stand_ins"], false);
    assert!(
        report["executables"]
            .as_str()
            .unwrap()
            .contains("interface stubs"),
        "the report says how they were linked: {}",
        report["executables"]
    );
    let extracted = dir.path().join("extracted");
    unpack_xar(&PathBuf::from(report["pkg"].as_str().unwrap()), &extracted);
    let payload = dir.path().join("payload");
    unpack_cpio_gz(&extracted.join("DemoVPN.pkg/Payload"), &payload);
    let app = payload.join("Applications/DemoVPN.app/Contents");
    let extension =
        app.join("Library/SystemExtensions/com.example.demovpn.tunnel.systemextension/Contents");
    let mut imported = Symbols::new();
    for executable in [
        app.join("MacOS/vpn-app"),
        extension.join("MacOS/vpn-extension"),
    ] {
        let data = std::fs::read(&executable).unwrap();
        let name = executable
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        check_slices(&name, &data);
        assert_signature_verifies(&name, &data);
        // Our own code, not a stand-in: its strings are there.
        assert!(
            !String::from_utf8_lossy(&data).contains("stand-in executable built by installer-tool")
        );
        for (library, symbols) in imports(&data) {
            imported.entry(library).or_default().extend(symbols);
        }
    }

    // The stubs declare exactly what the build binds to their libraries;
    // everything else comes from libSystem, whose interface zig carries.
    let stubs = declared(&workspace_root().join("installer-tool/apple-stubs"));
    for (library, declared) in &stubs {
        let used = imported.remove(library).unwrap_or_default();
        assert_eq!(
            &used, declared,
            "{library}: the stub and the build disagree (`cargo run -p system-tests --bin needed-symbols -- BINARY` lists what the build needs)"
        );
    }
    let unstubbed: Vec<_> = imported.keys().collect();
    assert_eq!(
        unstubbed,
        ["/usr/lib/libSystem.B.dylib"],
        "libraries without a stub"
    );

    // The extension registers the provider class its Info.plist names.
    let info = plist::Value::from_file(extension.join("Info.plist")).unwrap();
    let class = info.as_dictionary().unwrap()["NetworkExtension"]
        .as_dictionary()
        .unwrap()["NEProviderClasses"]
        .as_dictionary()
        .unwrap()["com.apple.networkextension.packet-tunnel"]
        .as_string()
        .unwrap()
        .to_string();
    let binary = std::fs::read(extension.join("MacOS/vpn-extension")).unwrap();
    let needle = format!("{class}\0");
    assert!(
        binary.windows(needle.len()).any(|w| w == needle.as_bytes()),
        "the extension registers no class named {class}"
    );
    // The frameworks each side needs, by their install names (AppKit's
    // bundle version is C, the others' A).
    let framework = |name: &str| {
        let version = if name == "AppKit" { "C" } else { "A" };
        format!("/System/Library/Frameworks/{name}.framework/Versions/{version}/{name}")
    };
    let app_binary = std::fs::read(app.join("MacOS/vpn-app")).unwrap();
    let app_loads = libraries(&app_binary);
    let extension_loads = libraries(&binary);
    for (loads, frameworks) in [
        (
            &app_loads,
            [
                "NetworkExtension",
                "SystemExtensions",
                "AppKit",
                "UserNotifications",
                "ServiceManagement",
            ]
            .as_slice(),
        ),
        (&extension_loads, ["NetworkExtension"].as_slice()),
    ] {
        for name in frameworks {
            assert!(
                loads.contains(&framework(name)),
                "{name} not loaded: {loads:?}"
            );
        }
    }
    // The menu bar app: objc2 looks its classes up by name at run time,
    // so the names are what the executable imports from AppKit and the rest.
    for class in [
        "NSApplication",
        "NSStatusBar",
        "NSMenu",
        "NSMenuItem",
        "NSOpenPanel",
        "NSAlert",
        "NSPasteboard",
        "UNUserNotificationCenter",
        "SMAppService",
    ] {
        let needle = format!("{class}\0");
        assert!(
            app_binary
                .windows(needle.len())
                .any(|w| w == needle.as_bytes()),
            "the app never looks up {class}"
        );
    }
    check_menu_bar_info_plist(&app.join("Info.plist"));
}

/// An accessory app (no Dock icon) that opens WireGuard's `.conf` files
/// without claiming them, and says why it needs the extension.
fn check_menu_bar_info_plist(path: &std::path::Path) {
    let info = plist::Value::from_file(path).unwrap();
    let info = info.as_dictionary().unwrap();
    assert_eq!(info["LSUIElement"].as_boolean(), Some(true));
    assert!(info["NSSystemExtensionUsageDescription"]
        .as_string()
        .is_some_and(|s| !s.is_empty()));
    let document = info["CFBundleDocumentTypes"].as_array().unwrap()[0]
        .as_dictionary()
        .unwrap();
    assert_eq!(document["LSHandlerRank"].as_string(), Some("Alternate"));
    let types: Vec<_> = document["LSItemContentTypes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_string())
        .collect();
    assert_eq!(types, ["com.wireguard.config.quick"]);
    let declared = info["UTImportedTypeDeclarations"].as_array().unwrap()[0]
        .as_dictionary()
        .unwrap();
    assert_eq!(
        declared["UTTypeIdentifier"].as_string(),
        Some("com.wireguard.config.quick")
    );
    let extensions = declared["UTTypeTagSpecification"].as_dictionary().unwrap()
        ["public.filename-extension"]
        .as_array()
        .unwrap();
    assert_eq!(extensions[0].as_string(), Some("conf"));
}

/// The install names of the dylibs the first slice loads.
fn libraries(data: &[u8]) -> Vec<String> {
    let Mach::Fat(fat) = Mach::parse(data).unwrap() else {
        panic!("not universal");
    };
    let goblin::mach::SingleArch::MachO(macho) = fat.get(0).unwrap() else {
        panic!("an archive");
    };
    macho.libs.iter().map(|l| l.to_string()).collect()
}

/// Both slices, each loading libSystem (and only absolute install names)
/// and built for macOS at the configured minimum.
fn check_slices(name: &str, data: &[u8]) {
    let Mach::Fat(fat) = Mach::parse(data).unwrap() else {
        panic!("{name} is not universal");
    };
    let mut cpus = Vec::new();
    for index in 0..fat.narches {
        let goblin::mach::SingleArch::MachO(macho) = fat.get(index).unwrap() else {
            panic!("{name}: slice {index} is an archive");
        };
        cpus.push(macho.header.cputype);
        let libraries: Vec<&str> = macho
            .libs
            .iter()
            .copied()
            .filter(|l| *l != "self")
            .collect();
        assert!(
            libraries.contains(&"/usr/lib/libSystem.B.dylib"),
            "{name}: {libraries:?}"
        );
        for library in &libraries {
            assert!(
                library.starts_with("/usr/lib/")
                    || library.starts_with("/System/Library/Frameworks/"),
                "{name} loads {library}: not an install name of the system"
            );
        }
        let build = macho
            .load_commands
            .iter()
            .find_map(|c| match &c.command {
                CommandVariant::BuildVersion(b) => Some((b.platform, b.minos)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{name}: no LC_BUILD_VERSION"));
        assert_eq!(
            build,
            (PLATFORM_MACOS, MINIMUM_MACOS),
            "{name}: platform, minos"
        );
    }
    cpus.sort();
    assert_eq!(
        cpus,
        [
            goblin::mach::cputype::CPU_TYPE_X86_64,
            goblin::mach::cputype::CPU_TYPE_ARM64
        ],
        "{name}: x86_64 and arm64"
    );
}
