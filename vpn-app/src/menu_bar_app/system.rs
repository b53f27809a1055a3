//! What the menu bar app asks of the system for the model's effects:
//! alerts, the open panel, the pasteboard, System Settings,
//! notifications, and the other copies of the app.

use std::path::PathBuf;

use block2::RcBlock;
use objc2::{runtime::Bool, MainThreadMarker};
use objc2_app_kit::{
    NSAlert, NSAlertFirstButtonReturn, NSApplication, NSModalResponseOK, NSOpenPanel, NSPasteboard,
    NSPasteboardTypeString, NSRunningApplication, NSWorkspace,
};
use objc2_foundation::{
    NSArray, NSError, NSOperatingSystemVersion, NSProcessInfo, NSString, NSURL,
};
use objc2_service_management::SMAppService;
use objc2_user_notifications::{
    UNAuthorizationOptions, UNMutableNotificationContent, UNNotificationRequest,
    UNUserNotificationCenter,
};
use vpn_app::menu_bar::{text::Notice, Dialog};

/// An accessory app is never frontmost on its own: its alerts and panels
/// would open behind the user's windows.
#[allow(deprecated)] // `activate` replaces it from macOS 14; our minimum is 13.
fn come_forward(mtm: MainThreadMarker) {
    NSApplication::sharedApplication(mtm).activateIgnoringOtherApps(true);
}

/// Shows `dialog`; whether the user chose its button (not Cancel).
pub fn alert(dialog: &Dialog, mtm: MainThreadMarker) -> bool {
    come_forward(mtm);
    let alert = NSAlert::new(mtm);
    alert.setMessageText(&NSString::from_str(&dialog.title));
    alert.setInformativeText(&NSString::from_str(&dialog.message));
    alert.addButtonWithTitle(&NSString::from_str(&dialog.button));
    if dialog.confirm.is_some() {
        alert.addButtonWithTitle(&NSString::from_str("Cancel"));
    }
    alert.runModal() == NSAlertFirstButtonReturn
}

/// The open panel, for `.conf` files; the chosen files.
pub fn choose_conf_files(mtm: MainThreadMarker) -> Vec<PathBuf> {
    come_forward(mtm);
    let panel = NSOpenPanel::openPanel(mtm);
    panel.setAllowsMultipleSelection(true);
    panel.setCanChooseDirectories(false);
    panel.setMessage(Some(&NSString::from_str(
        "Choose WireGuard configuration files (.conf)",
    )));
    // `allowedContentTypes` needs a UTType, from a framework of its own;
    // the extension list does the same and still works.
    #[allow(deprecated)]
    panel.setAllowedFileTypes(Some(&NSArray::from_slice(&[&*NSString::from_str("conf")])));
    if panel.runModal() != NSModalResponseOK {
        return Vec::new();
    }
    panel
        .URLs()
        .iter()
        .filter_map(|url| url.to_file_path())
        .collect()
}

pub fn copy(text: &str) {
    let pasteboard = NSPasteboard::generalPasteboard();
    pasteboard.clearContents();
    // SAFETY: AppKit's constant for plain text.
    pasteboard.setString_forType(&NSString::from_str(text), unsafe { NSPasteboardTypeString });
}

/// Where the user allows a system extension. Apple documents no URL for
/// the pane; these are the ones System Settings answers to, to be checked
/// on a Mac (docs/mac-first-run.md): from macOS 15 the approval is under
/// General > Login Items & Extensions, before it under Privacy & Security.
pub fn open_approval_settings() {
    let sequoia = NSOperatingSystemVersion {
        majorVersion: 15,
        minorVersion: 0,
        patchVersion: 0,
    };
    let pane = if NSProcessInfo::processInfo().isOperatingSystemAtLeastVersion(sequoia) {
        "x-apple.systempreferences:com.apple.LoginItems-Settings.extension"
    } else {
        "x-apple.systempreferences:com.apple.preference.security?General"
    };
    if let Some(url) = NSURL::URLWithString(&NSString::from_str(pane)) {
        NSWorkspace::sharedWorkspace().openURL(&url);
    }
}

pub fn open_login_items_settings() {
    // SAFETY: a class method of ServiceManagement (macOS 13).
    unsafe { SMAppService::openSystemSettingsLoginItems() };
}

/// Posts `notice`, asking for permission the first time (macOS then asks
/// the user once; a refusal only silences the notices).
pub fn notify(notice: &Notice) {
    let center = UNUserNotificationCenter::currentNotificationCenter();
    let content = UNMutableNotificationContent::new();
    content.setTitle(&NSString::from_str(&notice.title));
    content.setBody(&NSString::from_str(&notice.body));
    let identifier = NSString::from_str(&format!("{:?}", std::time::SystemTime::now()));
    let request =
        UNNotificationRequest::requestWithIdentifier_content_trigger(&identifier, &content, None);
    let post = RcBlock::new(move |granted: Bool, _error: *mut NSError| {
        if granted.as_bool() {
            UNUserNotificationCenter::currentNotificationCenter()
                .addNotificationRequest_withCompletionHandler(&request, None);
        } else {
            tracing::info!("notifications are off for this app");
        }
    });
    center.requestAuthorizationWithOptions_completionHandler(
        UNAuthorizationOptions::Alert | UNAuthorizationOptions::Sound,
        &post,
    );
}

/// Asks every other running copy of this app to quit: after an upgrade the
/// postinstall starts the new app (`open -n`) while the old one still sits
/// in the menu bar; the newest copy is the one to keep.
pub fn quit_other_copies(bundle_id: &str) {
    let me = std::process::id() as i32;
    for other in NSRunningApplication::runningApplicationsWithBundleIdentifier(&NSString::from_str(
        bundle_id,
    ))
    .iter()
    .filter(|app| app.processIdentifier() != me)
    {
        tracing::info!(
            pid = other.processIdentifier(),
            "asking an older copy to quit"
        );
        other.terminate();
    }
}
