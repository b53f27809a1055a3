//! `verify` on any bytes taken for a pkg: whatever the readers meet
//! (truncated, oversized or malformed xar, table of contents, CMS, plist,
//! cpio, BOM or Mach-O), the answer is a report, never a panic that
//! escapes, within the memory libFuzzer allows; every finding says what to
//! do, and the report serialises as `verify --json` prints it.
//!
//! apple-bom indexes by what a BOM claims and can panic; verify contains
//! that (`verify/bom.rs`) and reports the BOM as malformed. libFuzzer's
//! panic hook would abort on the contained panic too, so this target puts
//! back a hook that only stays quiet: a panic that escapes verify still
//! unwinds to libfuzzer-sys, which aborts, and is reported.
#![no_main]

use std::{io::Cursor, path::Path, sync::Once};

use installer_tool::{doctor::Severity, verify::verify_input};
use libfuzzer_sys::fuzz_target;

static QUIET_HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    QUIET_HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let report = verify_input(Path::new("fuzz.pkg"), Cursor::new(data));
    for finding in &report.findings {
        assert!(!finding.fix.is_empty(), "{finding:?}");
        if finding.id == "malformed" {
            assert_eq!(finding.severity, Severity::Error);
        }
    }
    serde_json::to_string(&report).expect("the report serialises");
});
