//! The menu bar app's worker thread: each [`Task`] runs here, one at a
//! time, through the same commands as the command line, and its result
//! goes back to the main thread as an [`Event`]. The main thread never
//! waits: NetworkExtension's completion handlers arrive there while this
//! thread blocks on them (`macos::vpn_configuration`).

use std::{
    cell::Cell,
    ffi::c_void,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::mpsc,
    time::Duration,
};

use block2::{Block, RcBlock};
use objc2::rc::autoreleasepool;
use objc2_service_management::SMAppService;
use vpn_app::{
    cli::{Cli, UpdateCommand, UpgradeCommand},
    macos::{
        system_extension::{request, submit, PendingRequest, RequestKind},
        vpn_configuration::VpnConfiguration,
        AppBundle,
    },
    menu_bar::{text, Event, ExtensionState, LoginItem, Observed, Session, Task, TaskOutcome},
    update,
    upgrade::{self, RepairPolicy, RequestOutcome},
};
use vpn_ipc::{
    message::{Request, Response},
    transport::ControlClient,
};
use vpn_release::upgrade_state::Outcome;

use crate::commands::{self, doctor, tunnel};

/// How long a switch waits for the running tunnel to go down.
const SWITCH_LIMIT: Duration = Duration::from_secs(10);
/// The extension's log lines that go into the diagnostics.
const DIAGNOSTIC_LOG_LINES: u32 = 200;

struct Worker {
    cli: Cli,
    bundle: AppBundle,
    /// Kept across observations; opened again after any failure.
    client: Option<Box<dyn ControlClient>>,
    /// An activation waiting for approval stays alive with its delegate.
    pending: Option<PendingRequest>,
    /// The configuration seen last, kept loaded: its connection keeps its
    /// status current and posts `NEVPNStatusDidChangeNotification` to this
    /// process. Loading it again at each observation would make new
    /// connections, each posting a change of its own.
    configuration: Option<VpnConfiguration>,
}

#[link(name = "CoreFoundation", kind = "framework")]
extern "C" {
    static kCFRunLoopCommonModes: *const c_void;
    fn CFRunLoopGetMain() -> *mut c_void;
    fn CFRunLoopPerformBlock(run_loop: *mut c_void, mode: *const c_void, block: &Block<dyn Fn()>);
    fn CFRunLoopWakeUp(run_loop: *mut c_void);
}

/// Has `deliver(event)` run on the main thread's run loop, in every
/// common mode (a menu being tracked, a modal alert). Not through the main
/// dispatch queue: an alert opened from a block of that queue would hold
/// it, and with it NetworkExtension's answers, until the user closes it.
fn post_to_main(deliver: fn(Event), event: Event) {
    let event = Cell::new(Some(event));
    let block = RcBlock::new(move || {
        if let Some(event) = event.take() {
            deliver(event);
        }
    });
    // SAFETY: the main run loop lives as long as the process; CF copies the
    // block and runs it once on that loop's thread.
    unsafe {
        let main = CFRunLoopGetMain();
        CFRunLoopPerformBlock(main, kCFRunLoopCommonModes, &block);
        CFRunLoopWakeUp(main);
    }
}

/// Starts the worker; tasks sent to it come back as events through
/// `deliver` on the main thread.
pub fn spawn(cli: Cli, bundle: AppBundle, deliver: fn(Event)) -> mpsc::Sender<Task> {
    let (tasks, received) = mpsc::channel::<Task>();
    std::thread::Builder::new()
        .name("menu-bar-worker".into())
        .spawn(move || {
            let mut worker = Worker {
                cli,
                bundle,
                client: None,
                pending: None,
                configuration: None,
            };
            for task in received {
                // A panic ends the task, not the worker (the menu would
                // wait for it forever); the pool drains what the
                // frameworks autoreleased, as no run loop does here.
                let event = autoreleasepool(|_| {
                    catch_unwind(AssertUnwindSafe(|| worker.run(task.clone())))
                })
                .unwrap_or_else(|_| {
                    Event::Finished(
                        task,
                        TaskOutcome::Failed("internal error (see the log)".into()),
                    )
                });
                post_to_main(deliver, event);
            }
        })
        .expect("a thread can be started");
    tasks
}

impl Worker {
    fn run(&mut self, task: Task) -> Event {
        // What changes the configuration has it loaded again.
        if matches!(task, Task::Connect { .. } | Task::Repair) {
            self.configuration = None;
        }
        let outcome = match &task {
            Task::Observe => return Event::Observed(self.observe()),
            Task::ActivateExtension => self.activate(),
            Task::Connect { profile, replacing } => self.connect(profile, replacing.is_some()),
            Task::Disconnect => done(tunnel::disconnect(&self.cli)),
            Task::Import(file) => done(tunnel::import(&self.cli, file, None)),
            Task::Repair => self.repair(),
            Task::CollectDiagnostics => self.diagnostics(),
            Task::SetLaunchAtLogin(on) => set_launch_at_login(*on),
            Task::CheckForUpdates => check_for_updates(),
            Task::InstallUpdate => done(commands::update::run(
                &self.cli,
                &UpdateCommand::Install { feed: None },
            )),
            Task::Uninstall => done(commands::uninstall::run(&self.cli, false)),
        };
        Event::Finished(task, outcome)
    }

    fn observe(&mut self) -> Observed {
        let id = &self.bundle.extension_id;
        // A properties request that fails says nothing about the extension.
        let extension = submit(RequestKind::Properties, id)
            .properties()
            .map_or(ExtensionState::Unknown, |copies| {
                ExtensionState::from_installed(&copies)
            });
        // One that became invalid (removed in System Settings) is looked
        // for again.
        if self
            .configuration
            .as_ref()
            .is_none_or(|c| Session::from_ne_status(c.status().0) == Session::NoConfiguration)
        {
            self.configuration = VpnConfiguration::find(id).ok().flatten();
        }
        let (session, configured_profile) = match &self.configuration {
            Some(c) => (Session::from_ne_status(c.status().0), c.profile()),
            None => (Session::NoConfiguration, None),
        };
        // Only an active extension has an XPC service to ask.
        let (tunnel, profiles) = if extension == ExtensionState::Active {
            (self.tunnel_status(), self.profiles())
        } else {
            (None, Vec::new())
        };
        Observed {
            extension,
            session,
            configured_profile,
            tunnel,
            profiles,
            login_item: login_item(),
        }
    }

    /// `request` on the kept connection; a failure closes it.
    fn ask(&mut self, request: Request) -> Option<Response> {
        if self.client.is_none() {
            self.client = commands::ready(&self.cli).ok();
        }
        let response = self.client.as_mut()?.request(request).ok();
        if response.is_none() {
            self.client = None;
        }
        response
    }

    fn tunnel_status(&mut self) -> Option<vpn_ipc::message::TunnelStatus> {
        match self.ask(Request::Status)? {
            Response::Status(status) => Some(status),
            _ => None,
        }
    }

    fn profiles(&mut self) -> Vec<String> {
        match self.ask(Request::Profiles) {
            Some(Response::Profiles { names }) => names,
            _ => Vec::new(),
        }
    }

    fn activate(&mut self) -> TaskOutcome {
        let (outcome, pending) = request(RequestKind::Activate, &self.bundle.extension_id);
        match outcome {
            RequestOutcome::Done => TaskOutcome::Done("the extension is active".into()),
            RequestOutcome::NeedsApproval => {
                self.pending = Some(pending);
                TaskOutcome::NeedsApproval
            }
            RequestOutcome::WillCompleteAfterReboot => {
                TaskOutcome::Done("macOS activates the extension at the next restart".into())
            }
            RequestOutcome::Failed(why) => TaskOutcome::Failed(why),
        }
    }

    /// A switch stops the running session first: starting a connected
    /// session again would leave it on the old profile.
    fn connect(&mut self, profile: &str, switching: bool) -> TaskOutcome {
        if switching {
            let stopped = VpnConfiguration::find(&self.bundle.extension_id)
                .and_then(|c| c.map_or(Ok(()), |c| c.stop_and_wait(SWITCH_LIMIT)));
            if let Err(why) = stopped {
                return TaskOutcome::Failed(why);
            }
        }
        done(tunnel::connect(&self.cli, profile))
    }

    /// `upgrade finish --policy always`: the repair the pkg scripts run.
    fn repair(&mut self) -> TaskOutcome {
        let command = UpgradeCommand::Finish {
            state: None,
            policy: RepairPolicy::Always,
            report: None,
            once: false,
            upgrade_id: None,
            unattended: false,
            stay: false,
        };
        let finished = upgrade::default_finished_record().and_then(|record| {
            let options =
                upgrade::command::finish_options(&command, record, upgrade::Limits::default())
                    .ok_or_else(|| anyhow::anyhow!("not a finish command"))?;
            let mut platform =
                upgrade::macos::MacUpgrade::new(self.bundle.clone(), &self.cli.socket);
            upgrade::finish_command(&mut platform, &options)
        });
        // The repair restarted the extension: the kept connection is gone.
        self.client = None;
        match finished.map(|r| r.outcome) {
            Ok(Outcome::Healthy | Outcome::AlreadyFinished) => TaskOutcome::Done("healthy".into()),
            Ok(Outcome::ApprovalPending) => TaskOutcome::NeedsApproval,
            Ok(Outcome::RebootRequired) => {
                TaskOutcome::Failed("macOS finishes the repair at the next restart".into())
            }
            Ok(Outcome::Unhealthy { reason }) => TaskOutcome::Failed(reason),
            Err(e) => TaskOutcome::Failed(format!("{e:#}")),
        }
    }

    fn diagnostics(&mut self) -> TaskOutcome {
        let about = format!(
            "{} {} (extension {}, service {})",
            self.bundle.name,
            vpn_app::VERSION,
            self.bundle.extension_id,
            self.bundle.service_name
        );
        let doctor = doctor::report(&self.cli).text;
        let lines = match self.ask(Request::Logs {
            lines: DIAGNOSTIC_LOG_LINES,
        }) {
            Some(Response::Logs { lines }) => lines,
            _ => vec!["(the extension did not answer)".into()],
        };
        TaskOutcome::Done(text::diagnostics(&about, &doctor, &lines))
    }
}

fn done(result: anyhow::Result<vpn_app::report::Report>) -> TaskOutcome {
    match result {
        Ok(report) if report.failed => TaskOutcome::Failed(report.text),
        Ok(report) => TaskOutcome::Done(report.text),
        Err(e) => TaskOutcome::Failed(format!("{e:#}")),
    }
}

fn check_for_updates() -> TaskOutcome {
    let offer = update::InstalledApp::running().and_then(|app| update::check(&app, None));
    match offer {
        Ok(offer) => match offer.available {
            Some(item) => TaskOutcome::UpdateAvailable(item.short_version),
            None => TaskOutcome::Done(String::new()),
        },
        Err(e) => TaskOutcome::Failed(format!("{e:#}")),
    }
}

fn login_item() -> LoginItem {
    // SAFETY: class method and property getter of ServiceManagement
    // (macOS 13, our minimum).
    let status = unsafe { SMAppService::mainAppService().status() };
    LoginItem::from_sm_status(status.0)
}

fn set_launch_at_login(on: bool) -> TaskOutcome {
    // SAFETY: as above; the errors are NSErrors.
    let result = unsafe {
        let service = SMAppService::mainAppService();
        if on {
            service.registerAndReturnError()
        } else {
            service.unregisterAndReturnError()
        }
    };
    match result {
        Ok(()) => TaskOutcome::Done(String::new()),
        Err(e) => TaskOutcome::Failed(e.localizedDescription().to_string()),
    }
}
