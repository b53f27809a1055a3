//! The one Objective-C object of the menu bar app: the application's
//! delegate (launch, files opened with the app), the menu's delegate (open
//! or closed), the notification center's and every entry's target. Each callback is forwarded to the
//! app as it is.

use block2::DynBlock;
use objc2::{define_class, msg_send, rc::Retained, MainThreadMarker, MainThreadOnly};
use objc2_app_kit::{NSApplication, NSApplicationDelegate, NSMenu, NSMenuDelegate, NSMenuItem};
use objc2_foundation::{NSArray, NSNotification, NSObject, NSObjectProtocol, NSURL};
use objc2_user_notifications::{
    UNNotification, UNNotificationPresentationOptions, UNUserNotificationCenter,
    UNUserNotificationCenterDelegate,
};

define_class!(
    // SAFETY: a plain NSObject subclass without ivars, used on the main
    // thread only.
    #[unsafe(super(NSObject))]
    #[thread_kind = MainThreadOnly]
    #[name = "VPNMenuBarAppDelegate"]
    pub struct AppDelegate;

    unsafe impl NSObjectProtocol for AppDelegate {}

    unsafe impl NSApplicationDelegate for AppDelegate {
        #[unsafe(method(applicationDidFinishLaunching:))]
        fn did_finish_launching(&self, _notification: &NSNotification) {
            super::launched(self.mtm());
        }

        /// `.conf` files opened with the app or dropped on its icon
        /// (`CFBundleDocumentTypes`).
        #[unsafe(method(application:openURLs:))]
        fn open_urls(&self, _application: &NSApplication, urls: &NSArray<NSURL>) {
            super::files_opened(urls.iter().filter_map(|url| url.to_file_path()).collect());
        }
    }

    unsafe impl NSMenuDelegate for AppDelegate {
        #[unsafe(method(menuWillOpen:))]
        fn menu_will_open(&self, _menu: &NSMenu) {
            super::menu_open(true);
        }

        #[unsafe(method(menuDidClose:))]
        fn menu_did_close(&self, _menu: &NSMenu) {
            super::menu_open(false);
        }
    }

    unsafe impl UNUserNotificationCenterDelegate for AppDelegate {
        /// Without this, macOS drops a notice posted while the app is
        /// active (as it is after one of its alerts).
        #[unsafe(method(userNotificationCenter:willPresentNotification:withCompletionHandler:))]
        fn will_present(
            &self,
            _center: &UNUserNotificationCenter,
            _notification: &UNNotification,
            completion_handler: &DynBlock<dyn Fn(UNNotificationPresentationOptions)>,
        ) {
            completion_handler.call((
                UNNotificationPresentationOptions::Banner | UNNotificationPresentationOptions::List,
            ));
        }
    }

    impl AppDelegate {
        /// Every entry's action; the tag says which.
        #[unsafe(method(chose:))]
        fn chose(&self, sender: &NSMenuItem) {
            super::chose(sender.tag());
        }
    }
);

impl AppDelegate {
    pub fn new(mtm: MainThreadMarker) -> Retained<Self> {
        let this = Self::alloc(mtm).set_ivars(());
        // SAFETY: NSObject's init on a freshly allocated object.
        unsafe { msg_send![super(this), init] }
    }
}
