//! The menu bar app on macOS: an accessory `NSApplication` with a status
//! item. It only renders the model's menu (`vpn_app::menu_bar`), forwards
//! clicks and opened files to it, and carries out its effects; the work
//! runs on [`worker`] so the main thread, which NetworkExtension answers
//! on, never waits.
//!
//! The state lives in a thread-local of the main thread. It is borrowed
//! only to update the model or redraw, never across a modal alert or
//! panel: those run the run loop, which may deliver the next event.

mod delegate;
mod status_item;
mod system;
mod worker;

use std::{
    cell::RefCell,
    path::PathBuf,
    process::ExitCode,
    ptr::NonNull,
    sync::mpsc,
    time::{Duration, Instant},
};

use block2::RcBlock;
use dispatch2::{DispatchQueue, DispatchTime};
use objc2::{rc::Retained, runtime::ProtocolObject, MainThreadMarker};
use objc2_app_kit::{NSApplication, NSApplicationActivationPolicy};
use objc2_foundation::{NSNotification, NSNotificationCenter, NSObjectProtocol, NSOperationQueue};
use objc2_network_extension::NEVPNStatusDidChangeNotification;
use objc2_user_notifications::UNUserNotificationCenter;
use vpn_app::{
    cli::Cli,
    macos::app_bundle,
    menu_bar::{AppInfo, Effect, Event, MenuBar, Task},
};
use vpn_release::upgrade_state::UpgradeReport;

use delegate::AppDelegate;
use status_item::StatusItem;

struct Launch {
    cli: Cli,
    upgrade: Option<UpgradeReport>,
    /// The application holds its delegate weakly: this is the strong
    /// reference, then [`App`]'s.
    delegate: Retained<AppDelegate>,
    /// Files that launched the app: `application:openURLs:` may come
    /// before `applicationDidFinishLaunching:`.
    files: Vec<PathBuf>,
}

struct App {
    bar: MenuBar,
    /// The observer of `NEVPNStatusDidChangeNotification`, kept while the
    /// app runs.
    _vpn_status_observer: Retained<ProtocolObject<dyn NSObjectProtocol>>,
    tasks: mpsc::Sender<Task>,
    delegate: Retained<AppDelegate>,
    status_item: StatusItem,
    menu_open: bool,
    /// When the next scheduled observation is due; timers that find
    /// another due time were overtaken by a sooner one.
    next_observation: Option<Instant>,
}

thread_local! {
    static APP: RefCell<Option<App>> = const { RefCell::new(None) };
    /// What `run` hands to `launched`.
    static LAUNCH: RefCell<Option<Launch>> = const { RefCell::new(None) };
}

/// Runs the menu bar app until the user quits it.
pub fn run(cli: Cli, upgrade: Option<UpgradeReport>) -> ExitCode {
    let Some(mtm) = MainThreadMarker::new() else {
        eprintln!("error: the menu bar app runs on the main thread");
        return ExitCode::FAILURE;
    };
    let application = NSApplication::sharedApplication(mtm);
    // No Dock icon and no menu of its own: the status item is the app
    // (what LSUIElement in the Info.plist also says).
    application.setActivationPolicy(NSApplicationActivationPolicy::Accessory);
    let delegate = AppDelegate::new(mtm);
    application.setDelegate(Some(ProtocolObject::from_ref(&*delegate)));
    LAUNCH.with(|launch| {
        *launch.borrow_mut() = Some(Launch {
            cli,
            upgrade,
            delegate,
            files: Vec::new(),
        })
    });
    application.run();
    ExitCode::SUCCESS
}

/// `applicationDidFinishLaunching:`: the status item appears, and the
/// first observation starts.
fn launched(mtm: MainThreadMarker) {
    let Some(Launch {
        cli,
        upgrade,
        delegate,
        files,
    }) = LAUNCH.with(|launch| launch.borrow_mut().take())
    else {
        return;
    };
    let bundle = match app_bundle() {
        Ok(bundle) => bundle,
        Err(e) => {
            eprintln!("error: {e:#}");
            NSApplication::sharedApplication(mtm).terminate(None);
            return;
        }
    };
    system::quit_other_copies(&bundle.id);
    let info = AppInfo {
        name: bundle.name.clone(),
        version: vpn_app::VERSION.to_string(),
        service_name: bundle.service_name.clone(),
    };
    let tasks = worker::spawn(cli, bundle, deliver);
    // Notices show even while the app is active (after one of its alerts).
    UNUserNotificationCenter::currentNotificationCenter()
        .setDelegate(Some(ProtocolObject::from_ref(&*delegate)));
    let (bar, effects) = MenuBar::launch(info, upgrade);
    let status_item = StatusItem::new(&delegate, mtm);
    // The session's every change (connecting, connected, ...) shows at
    // once, not at the next observation.
    let on_change = RcBlock::new(|_: NonNull<NSNotification>| observe_now());
    // SAFETY: the framework's notification name; the main queue runs the
    // block on the main thread, where the app state lives; the center
    // copies the block.
    let vpn_status_observer = unsafe {
        NSNotificationCenter::defaultCenter().addObserverForName_object_queue_usingBlock(
            Some(NEVPNStatusDidChangeNotification),
            None,
            Some(&NSOperationQueue::mainQueue()),
            &on_change,
        )
    };
    APP.with(|app| {
        *app.borrow_mut() = Some(App {
            bar,
            _vpn_status_observer: vpn_status_observer,
            tasks,
            delegate,
            status_item,
            menu_open: false,
            next_observation: None,
        })
    });
    apply(effects, mtm);
    if !files.is_empty() {
        deliver(Event::FilesOpened(files));
    }
}

/// `.conf` files opened with the app: to the model, or kept for it until
/// the app has launched.
fn files_opened(files: Vec<PathBuf>) {
    let early = LAUNCH.with(|launch| match launch.borrow_mut().as_mut() {
        Some(launch) => {
            launch.files.extend(files.iter().cloned());
            true
        }
        None => false,
    });
    if !early {
        deliver(Event::FilesOpened(files));
    }
}

fn with_app<R>(f: impl FnOnce(&mut App) -> R) -> Option<R> {
    APP.with(|app| app.borrow_mut().as_mut().map(f))
}

/// Hands `event` to the model and applies what it says.
fn deliver(event: Event) {
    let Some(mtm) = MainThreadMarker::new() else {
        return;
    };
    let Some(effects) = with_app(|app| {
        app.bar.set_now(epoch_seconds());
        app.bar.on(event)
    }) else {
        return;
    };
    apply(effects, mtm);
}

/// Carries out `effects`: first what returns at once, then the redraw and
/// the next observation, and only then what waits for the user (an alert,
/// the open panel), so that nothing else waits behind a dialog.
fn apply(effects: Vec<Effect>, mtm: MainThreadMarker) {
    let (modal, immediate): (Vec<_>, Vec<_>) = effects
        .into_iter()
        .partition(|e| matches!(e, Effect::Show(_) | Effect::ChooseConfFiles));
    carry_out(immediate, mtm);
    redraw(mtm);
    schedule_observation();
    carry_out(modal, mtm);
}

/// A menu entry was chosen.
fn chose(tag: isize) {
    if let Some(action) = with_app(|app| app.status_item.action(tag)).flatten() {
        deliver(Event::Chose(action));
    }
}

fn menu_open(open: bool) {
    with_app(|app| app.menu_open = open);
    // Opening the menu asks for fresh figures at once, then every second.
    if open {
        observe_now();
    }
    schedule_observation();
}

fn carry_out(effects: Vec<Effect>, mtm: MainThreadMarker) {
    for effect in effects {
        match effect {
            Effect::Run(task) => {
                with_app(|app| app.tasks.send(task));
            }
            Effect::ChooseConfFiles => {
                let files = system::choose_conf_files(mtm);
                if !files.is_empty() {
                    deliver(Event::FilesOpened(files));
                }
            }
            Effect::Show(dialog) => {
                if system::alert(&dialog, mtm) {
                    if let Some(confirmed) = dialog.confirm {
                        deliver(Event::Confirmed(confirmed));
                    }
                }
            }
            Effect::OpenApprovalSettings => system::open_approval_settings(),
            Effect::OpenLoginItemsSettings => system::open_login_items_settings(),
            Effect::Notify(notice) => system::notify(&notice),
            Effect::Copy(text) => system::copy(&text),
            Effect::Quit => NSApplication::sharedApplication(mtm).terminate(None),
        }
    }
}

fn redraw(mtm: MainThreadMarker) {
    with_app(|app| {
        let menu = app.bar.menu();
        app.status_item.render(&menu, &app.delegate, mtm);
    });
}

/// Starts an observation unless one is running.
fn observe_now() {
    with_app(|app| {
        if app.bar.may_observe() {
            app.bar.started(Task::Observe);
            let _ = app.tasks.send(Task::Observe);
        }
    });
}

/// The next observation, as often as the model asks now (more often while
/// the menu is open or something is changing). A sooner time overtakes a
/// later one already scheduled.
fn schedule_observation() {
    let Some(delay) = with_app(|app| {
        let due = Instant::now() + app.bar.observe_every(app.menu_open);
        if app.next_observation.is_some_and(|next| next <= due) {
            return None;
        }
        app.next_observation = Some(due);
        Some(due.saturating_duration_since(Instant::now()))
    })
    .flatten() else {
        return;
    };
    let when = DispatchTime::try_from(delay).unwrap_or(DispatchTime::NOW);
    let _ = DispatchQueue::main().after(when, || {
        let due = with_app(|app| {
            let due = app
                .next_observation
                .is_some_and(|next| next <= Instant::now() + TIMER_SLACK);
            if due {
                app.next_observation = None;
            }
            due
        });
        if due == Some(true) {
            observe_now();
        }
    });
}

/// How early a dispatch timer may fire and still count as on time.
const TIMER_SLACK: Duration = Duration::from_millis(20);

fn epoch_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
