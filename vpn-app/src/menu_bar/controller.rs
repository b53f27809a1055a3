//! The menu bar app's decisions: events in (what was observed, what the
//! user chose, how a task ended), effects out (tasks for the worker,
//! dialogs, notifications), and the menu for the current state. Nothing
//! here waits or touches the system, in the manner of boringtun's `noise`:
//! the AppKit layer carries the effects out and feeds the results back.

use std::{path::PathBuf, time::Duration};

use vpn_ipc::message::TunnelState;
use vpn_release::upgrade_state::{Outcome, UpgradeReport};

use super::{
    menu::{Action, Icon, Item, Menu},
    observed::{ExtensionState, LoginItem, Observed, Session},
    text::{self, Notice},
};

/// Who the app is, for About and the texts.
#[derive(Clone, Debug)]
pub struct AppInfo {
    /// `CFBundleName`.
    pub name: String,
    pub version: String,
    /// The extension's versioned XPC service.
    pub service_name: String,
}

/// Work the platform layer runs off the main thread, one at a time, and
/// reports with [`Event::Finished`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Task {
    /// Gather a new [`Observed`]; answered with [`Event::Observed`].
    Observe,
    ActivateExtension,
    /// Save the configuration for `profile` and start it, first stopping
    /// the session of `replacing` (a switch).
    Connect {
        profile: String,
        replacing: Option<String>,
    },
    Disconnect,
    /// `import`: the extension checks the file and names the broken line.
    Import(PathBuf),
    /// What `upgrade finish --policy always` does.
    Repair,
    /// `doctor` and the extension's log, for [`text::diagnostics`].
    CollectDiagnostics,
    SetLaunchAtLogin(bool),
    /// `update check`; a newer release is [`TaskOutcome::UpdateAvailable`].
    CheckForUpdates,
    /// `update install`: download, check, hand to Installer.
    InstallUpdate,
    /// `uninstall`: the app is gone when it is done.
    Uninstall,
}

/// How a task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Done; the text is for the person (the diagnostics, for that task).
    Done(String),
    /// The extension waits for the user's approval.
    NeedsApproval,
    /// The feed offers this version (as people read it).
    UpdateAvailable(String),
    Failed(String),
}

/// A modal alert; a confirmation when it has a `confirm` action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    pub title: String,
    pub message: String,
    pub button: String,
    /// What the default button does; the alert then also has Cancel.
    pub confirm: Option<Confirmed>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmed {
    Repair,
    OpenApprovalSettings,
    InstallUpdate,
    Uninstall,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Observed(Observed),
    Chose(Action),
    /// `.conf` files opened with the app, dropped on it or picked in the
    /// open panel.
    FilesOpened(Vec<PathBuf>),
    Confirmed(Confirmed),
    Finished(Task, TaskOutcome),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Run(Task),
    /// The open panel, for `.conf` files.
    ChooseConfFiles,
    Show(Dialog),
    OpenApprovalSettings,
    /// Login Items in System Settings, where a login item is re-allowed.
    OpenLoginItemsSettings,
    Notify(Notice),
    Copy(String),
    Quit,
}

/// The menu bar app's state.
#[derive(Debug)]
pub struct MenuBar {
    app: AppInfo,
    observed: Observed,
    /// Nothing is observed before the first [`Event::Observed`].
    seen: bool,
    /// Tasks handed out and not yet finished, oldest first.
    running: Vec<Task>,
    /// The `upgrade finish` this launch ran, or the last repair.
    upgrade: Option<UpgradeReport>,
    /// Activation was submitted once at launch; it is not repeated on its own.
    activation_tried: bool,
    /// The approval alert was shown for this wait.
    approval_alert_shown: bool,
    /// Seconds since the epoch, for the handshake's age.
    now: u64,
}

impl MenuBar {
    /// The app at launch, with the report of the `upgrade finish` it ran
    /// first (when the postinstall or the login agent started it).
    pub fn launch(app: AppInfo, upgrade: Option<UpgradeReport>) -> (Self, Vec<Effect>) {
        let mut effects = vec![Effect::Run(Task::Observe)];
        if let Some(notice) = upgrade
            .as_ref()
            .and_then(|r| text::upgrade_notice(r, &app.version))
        {
            effects.push(Effect::Notify(notice));
        }
        let bar = Self {
            app,
            observed: Observed::default(),
            seen: false,
            running: vec![Task::Observe],
            upgrade,
            activation_tried: false,
            approval_alert_shown: false,
            now: 0,
        };
        (bar, effects)
    }

    /// Sets the clock the texts use.
    pub fn set_now(&mut self, epoch_seconds: u64) {
        self.now = epoch_seconds;
    }

    /// How often to observe: often while something is changing or the
    /// user looks at the menu, rarely otherwise.
    pub fn observe_every(&self, menu_open: bool) -> Duration {
        let changing = matches!(
            self.observed.session,
            Session::Connecting | Session::Reasserting | Session::Disconnecting
        ) || self.observed.extension == ExtensionState::AwaitingApproval
            || !self.running.is_empty();
        if menu_open || changing {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(10)
        }
    }

    /// Whether an [`Task::Observe`] may start now (one at a time).
    pub fn may_observe(&self) -> bool {
        !self.running.contains(&Task::Observe)
    }

    /// Records that the platform layer started `task` on its own (the
    /// periodic observation).
    pub fn started(&mut self, task: Task) {
        self.running.push(task);
    }

    pub fn on(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::Observed(observed) => self.observed(observed),
            Event::Chose(action) => self.chose(action),
            Event::FilesOpened(files) => self.files_opened(files),
            Event::Confirmed(Confirmed::Repair) => self.run(Task::Repair),
            Event::Confirmed(Confirmed::InstallUpdate) => self.run(Task::InstallUpdate),
            Event::Confirmed(Confirmed::Uninstall) => self.run(Task::Uninstall),
            Event::Confirmed(Confirmed::OpenApprovalSettings) => {
                vec![Effect::OpenApprovalSettings]
            }
            Event::Finished(task, outcome) => self.finished(task, outcome),
        }
    }

    fn run(&mut self, task: Task) -> Vec<Effect> {
        self.running.push(task.clone());
        vec![Effect::Run(task)]
    }

    fn busy(&self) -> bool {
        self.running.iter().any(|t| *t != Task::Observe)
    }

    fn observed(&mut self, observed: Observed) -> Vec<Effect> {
        let mut effects = Vec::new();
        let was = std::mem::replace(&mut self.observed, observed);
        self.seen = true;
        self.running.retain(|t| *t != Task::Observe);
        match &self.observed.extension {
            // First run: the app asks for the extension itself.
            ExtensionState::NotInstalled if !self.activation_tried && !self.busy() => {
                self.activation_tried = true;
                effects.extend(self.run(Task::ActivateExtension));
            }
            ExtensionState::AwaitingApproval if !self.approval_alert_shown => {
                self.approval_alert_shown = true;
                effects.push(Effect::Show(self.approval_dialog()));
            }
            ExtensionState::Active if was.extension == ExtensionState::AwaitingApproval => {
                self.approval_alert_shown = false;
                effects.push(Effect::Notify(Notice {
                    title: format!("{} is allowed", self.app.name),
                    body: "Choose a tunnel in the menu bar to connect.".into(),
                }));
            }
            _ => {}
        }
        // An upgrade waiting for approval is over once the extension runs.
        if self.observed.extension == ExtensionState::Active
            && self
                .upgrade
                .as_ref()
                .is_some_and(|r| r.outcome == Outcome::ApprovalPending)
        {
            self.upgrade = None;
        }
        effects
    }

    fn approval_dialog(&self) -> Dialog {
        Dialog {
            title: format!("Allow {}'s extension", self.app.name),
            message: format!(
                "macOS asks you to allow the system extension that runs {}'s tunnel. \
                 Open System Settings, allow it there, and the menu bar icon changes \
                 once it is active.",
                self.app.name
            ),
            button: "Open System Settings".into(),
            confirm: Some(Confirmed::OpenApprovalSettings),
        }
    }

    fn chose(&mut self, action: Action) -> Vec<Effect> {
        // A click on an entry drawn before the state changed (AppKit sends
        // the action after the menu closes) does only what the menu offers
        // now.
        if !self.menu().offers(&action) {
            return Vec::new();
        }
        match action {
            // The running tunnel's item is checked; choosing it changes nothing.
            Action::Connect(profile)
                if self.observed.session.is_up()
                    && self.observed.active_profile() == Some(profile.as_str()) =>
            {
                Vec::new()
            }
            Action::Connect(profile) => {
                let replacing = self
                    .observed
                    .active_profile()
                    .filter(|p| self.observed.session.is_up() && *p != profile)
                    .map(str::to_string);
                self.run(Task::Connect { profile, replacing })
            }
            Action::Disconnect => self.run(Task::Disconnect),
            Action::ActivateExtension => self.run(Task::ActivateExtension),
            Action::OpenApprovalSettings => vec![Effect::OpenApprovalSettings],
            Action::Import => vec![Effect::ChooseConfFiles],
            Action::Repair => vec![Effect::Show(Dialog {
                title: "Repair the VPN connection?".into(),
                message: format!(
                    "{name} saves its VPN configuration again and restarts its extension; \
                     the tunnel is down for a few seconds. macOS may ask you to allow the \
                     VPN configuration or the extension again.",
                    name = self.app.name
                ),
                button: "Repair".into(),
                confirm: Some(Confirmed::Repair),
            })],
            Action::CopyDiagnostics => self.run(Task::CollectDiagnostics),
            Action::CheckForUpdates => self.run(Task::CheckForUpdates),
            Action::Uninstall => vec![Effect::Show(Dialog {
                title: format!("Uninstall {}?", self.app.name),
                message: format!(
                    "{name} stops the tunnel and removes its VPN configurations, its \
                     extension, the tunnels you imported and then itself. macOS asks for \
                     an administrator's password to remove the extension, and again for \
                     the app's files.",
                    name = self.app.name
                ),
                button: "Uninstall".into(),
                confirm: Some(Confirmed::Uninstall),
            })],
            Action::ToggleLaunchAtLogin => match self.observed.login_item {
                // Registered but switched off by the user: only they can
                // switch it on again, in System Settings.
                LoginItem::RequiresApproval => vec![Effect::OpenLoginItemsSettings],
                LoginItem::On => self.run(Task::SetLaunchAtLogin(false)),
                LoginItem::Off | LoginItem::Unavailable => self.run(Task::SetLaunchAtLogin(true)),
            },
            Action::About => vec![Effect::Show(Dialog {
                title: format!("{} {}", self.app.name, self.app.version),
                message: format!("Extension service: {}", self.app.service_name),
                button: "OK".into(),
                confirm: None,
            })],
            Action::Quit => vec![Effect::Quit],
        }
    }

    fn files_opened(&mut self, files: Vec<PathBuf>) -> Vec<Effect> {
        let mut effects = Vec::new();
        for file in files {
            if file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("conf"))
            {
                effects.extend(self.run(Task::Import(file)));
            } else {
                effects.push(Effect::Show(error_dialog(
                    "Not a tunnel file",
                    format!(
                        "{} is not a WireGuard configuration: choose a .conf file.",
                        file.display()
                    ),
                )));
            }
        }
        effects
    }

    fn finished(&mut self, task: Task, outcome: TaskOutcome) -> Vec<Effect> {
        if let Some(at) = self.running.iter().position(|t| *t == task) {
            self.running.remove(at);
        }
        let mut effects = Vec::new();
        match (&task, outcome) {
            (Task::Observe, TaskOutcome::Failed(why)) => {
                tracing::warn!("observing the VPN: {why}");
                return effects;
            }
            (Task::Observe, _) => return effects,
            (Task::ActivateExtension, TaskOutcome::NeedsApproval) => {
                self.observed.extension = ExtensionState::AwaitingApproval;
                if !self.approval_alert_shown {
                    self.approval_alert_shown = true;
                    effects.push(Effect::Show(self.approval_dialog()));
                }
            }
            (Task::ActivateExtension, TaskOutcome::Failed(why)) => {
                self.observed.extension = ExtensionState::Failed(why.clone());
                effects.push(Effect::Show(error_dialog(
                    "The VPN extension could not be activated",
                    why,
                )));
            }
            (Task::Repair, outcome) => {
                let (left, title, body) = match outcome {
                    // (A repair offers no update.)
                    TaskOutcome::Done(_) | TaskOutcome::UpdateAvailable(_) => (
                        None,
                        "VPN repaired",
                        "The app reaches its extension again.".to_string(),
                    ),
                    TaskOutcome::NeedsApproval => (
                        Some(Outcome::ApprovalPending),
                        "Action needed: approve the extension",
                        "Allow the VPN's extension in System Settings.".to_string(),
                    ),
                    TaskOutcome::Failed(reason) => (
                        Some(Outcome::Unhealthy {
                            reason: reason.clone(),
                        }),
                        "The repair did not work",
                        reason,
                    ),
                };
                // What is still wrong stays on the menu until it is fixed.
                self.upgrade = left.map(|outcome| UpgradeReport {
                    outcome,
                    repaired: true,
                    tunnel_restored: false,
                    steps: Vec::new(),
                });
                effects.push(Effect::Notify(Notice {
                    title: title.into(),
                    body,
                }));
            }
            (Task::CollectDiagnostics, TaskOutcome::Done(text)) => {
                effects.push(Effect::Copy(text));
                effects.push(Effect::Notify(Notice {
                    title: "Diagnostics copied".into(),
                    body: "Paste them into your support ticket; keys are left out.".into(),
                }));
            }
            (Task::CheckForUpdates, TaskOutcome::UpdateAvailable(version)) => {
                effects.push(Effect::Show(Dialog {
                    title: format!("{} {version} is available", self.app.name),
                    message: format!(
                        "You have {}. {} downloads it, checks that it is genuine and newer, \
                         and opens Installer; the tunnel comes back on its own after the update.",
                        self.app.version, self.app.name
                    ),
                    button: "Install".into(),
                    confirm: Some(Confirmed::InstallUpdate),
                }));
            }
            (Task::CheckForUpdates, TaskOutcome::Done(_)) => {
                effects.push(Effect::Notify(Notice {
                    title: format!("{} is up to date", self.app.name),
                    body: format!("{} is the newest version.", self.app.version),
                }));
            }
            (Task::Uninstall, TaskOutcome::Done(_)) => {
                effects.push(Effect::Notify(Notice {
                    title: format!("{} is uninstalled", self.app.name),
                    body: "Its extension, VPN configurations and files are removed.".into(),
                }));
                // The app's files are gone: nothing is left to observe.
                effects.push(Effect::Quit);
                return effects;
            }
            (Task::InstallUpdate, TaskOutcome::Done(_)) => {
                effects.push(Effect::Notify(Notice {
                    title: "Installer is open".into(),
                    body: "The update is genuine: follow Installer to finish.".into(),
                }));
            }
            (Task::Import(file), TaskOutcome::Failed(why)) => {
                effects.push(Effect::Show(error_dialog(
                    "The tunnel was not imported",
                    format!("{}: {why}", file.display()),
                )));
            }
            (_, TaskOutcome::Failed(why)) => {
                effects.push(Effect::Show(error_dialog(failure_title(&task), why)));
            }
            _ => {}
        }
        if self.may_observe() {
            effects.extend(self.run(Task::Observe));
        }
        effects
    }

    /// The icon and the state in words.
    fn state(&self) -> (Icon, String) {
        let attention = match &self.observed.extension {
            _ if !self.seen => None,
            ExtensionState::AwaitingApproval => {
                Some("Waiting for you to allow the extension in System Settings".to_string())
            }
            ExtensionState::NotInstalled => Some("The VPN extension is not active".to_string()),
            ExtensionState::Failed(why) => Some(format!("The VPN extension failed: {why}")),
            ExtensionState::Active | ExtensionState::Unknown => None,
        }
        .or_else(|| match self.upgrade.as_ref().map(|r| &r.outcome) {
            Some(Outcome::Unhealthy { reason }) => Some(format!("Repair needed: {reason}")),
            Some(Outcome::RebootRequired) => {
                Some("Restart your Mac to finish the update".to_string())
            }
            Some(Outcome::ApprovalPending) => {
                Some("Waiting for you to allow the extension in System Settings".to_string())
            }
            _ => None,
        })
        .or_else(|| {
            let tunnel = self.observed.tunnel.as_ref()?;
            (tunnel.state == TunnelState::Error).then(|| {
                format!(
                    "The tunnel stopped: {}",
                    tunnel.error.as_deref().unwrap_or("no reason given")
                )
            })
        });
        if let Some(words) = attention {
            return (Icon::NeedsAttention, words);
        }
        if !self.seen {
            return (Icon::Disconnected, "Checking…".to_string());
        }
        let profile = self.observed.active_profile().unwrap_or("?");
        let connecting = self.running.iter().find_map(|t| match t {
            Task::Connect { profile, .. } => Some(profile.as_str()),
            _ => None,
        });
        match (self.observed.session, connecting) {
            (_, Some(profile)) => (Icon::Connecting, format!("Connecting {profile}…")),
            (Session::Connected, _) => (Icon::Connected, format!("Connected: {profile}")),
            (Session::Connecting, _) => (Icon::Connecting, format!("Connecting {profile}…")),
            (Session::Reasserting, _) => (Icon::Connecting, format!("Reconnecting {profile}…")),
            (Session::Disconnecting, _) => (Icon::Connecting, "Disconnecting…".to_string()),
            (Session::Disconnected, _) => (Icon::Disconnected, "Disconnected".to_string()),
            (Session::NoConfiguration, _) if self.observed.profiles.is_empty() => (
                Icon::Disconnected,
                "Not set up: import a tunnel".to_string(),
            ),
            (Session::NoConfiguration, _) => (Icon::Disconnected, "Disconnected".to_string()),
        }
    }

    /// The menu for the current state.
    pub fn menu(&self) -> Menu {
        let (icon, words) = self.state();
        let observed = &self.observed;
        let mut items = vec![Item::line(words.clone())];
        if let Some(task) = self.running.iter().find(|t| **t != Task::Observe) {
            let doing = working_on(task);
            if doing != words {
                items.push(Item::line(doing));
            }
        }
        if observed.session.is_up() {
            items.extend(self.tunnel_lines());
        }
        items.push(Item::Separator);

        let ready = self.seen && !self.busy();
        match observed.extension {
            ExtensionState::AwaitingApproval => items.push(Item::action(
                "Allow the Extension in System Settings…",
                Action::OpenApprovalSettings,
                true,
            )),
            ExtensionState::NotInstalled | ExtensionState::Failed(_) => items.push(Item::action(
                "Activate the VPN Extension",
                Action::ActivateExtension,
                ready,
            )),
            ExtensionState::Active | ExtensionState::Unknown => {}
        }
        let may_connect = ready && observed.extension == ExtensionState::Active;
        let active = observed
            .active_profile()
            .filter(|_| observed.session.is_up());
        if observed.profiles.is_empty() && self.seen {
            items.push(Item::line("No tunnels yet"));
        }
        for profile in &observed.profiles {
            items.push(
                Item::action(
                    profile.clone(),
                    Action::Connect(profile.clone()),
                    may_connect,
                )
                .checked(active == Some(profile.as_str())),
            );
        }
        items.push(Item::action(
            "Disconnect",
            Action::Disconnect,
            ready && observed.session.is_up(),
        ));
        items.push(Item::Separator);
        // The extension checks and stores what is imported.
        items.push(Item::action(
            "Import Tunnel from File…",
            Action::Import,
            may_connect,
        ));
        items.push(Item::action("Repair Connection…", Action::Repair, ready));
        items.push(Item::action(
            "Copy Diagnostics",
            Action::CopyDiagnostics,
            ready,
        ));
        items.push(Item::action(
            "Check for Updates…",
            Action::CheckForUpdates,
            ready,
        ));
        // Offered whatever the state: a broken install is what one
        // uninstalls most.
        items.push(Item::action(
            format!("Uninstall {}…", self.app.name),
            Action::Uninstall,
            !self.running.contains(&Task::Uninstall),
        ));
        items.push(Item::Separator);
        let login_title = match observed.login_item {
            LoginItem::RequiresApproval => "Launch at Login (allow in System Settings…)",
            _ => "Launch at Login",
        };
        items.push(
            Item::action(
                login_title,
                Action::ToggleLaunchAtLogin,
                ready && observed.login_item != LoginItem::Unavailable,
            )
            .checked(observed.login_item == LoginItem::On),
        );
        items.push(Item::action(
            format!("About {}", self.app.name),
            Action::About,
            true,
        ));
        items.push(Item::action(
            format!("Quit {}", self.app.name),
            Action::Quit,
            true,
        ));
        Menu {
            icon,
            tooltip: format!("{}: {words}", self.app.name),
            items,
        }
    }

    /// The active tunnel, as a user checks it: where the peer is, when it
    /// last answered, how much went through.
    fn tunnel_lines(&self) -> Vec<Item> {
        let Some(tunnel) = &self.observed.tunnel else {
            return vec![Item::line("The extension does not answer")];
        };
        let mut lines = Vec::new();
        if let Some(endpoint) = tunnel.peers.iter().find_map(|p| p.endpoint.as_deref()) {
            lines.push(Item::line(format!("Endpoint: {endpoint}")));
        }
        lines.push(Item::line(match tunnel.last_handshake {
            Some(at) => format!("Last handshake: {}", text::ago(at, self.now)),
            None => "Last handshake: none yet".to_string(),
        }));
        lines.push(Item::line(format!(
            "Received {} · Sent {}",
            text::human_bytes(tunnel.stats.rx_bytes),
            text::human_bytes(tunnel.stats.tx_bytes)
        )));
        lines
    }
}

fn working_on(task: &Task) -> String {
    match task {
        Task::Observe => "Checking…".into(),
        Task::ActivateExtension => "Activating the extension…".into(),
        Task::Connect { profile, .. } => format!("Connecting {profile}…"),
        Task::Disconnect => "Disconnecting…".into(),
        Task::Import(file) => format!(
            "Importing {}…",
            file.file_name().unwrap_or_default().to_string_lossy()
        ),
        Task::Repair => "Repairing…".into(),
        Task::CollectDiagnostics => "Collecting diagnostics…".into(),
        Task::SetLaunchAtLogin(_) => "Changing Launch at Login…".into(),
        Task::CheckForUpdates => "Checking for updates…".into(),
        Task::InstallUpdate => "Downloading the update…".into(),
        Task::Uninstall => "Uninstalling…".into(),
    }
}

fn failure_title(task: &Task) -> String {
    match task {
        Task::Connect { profile, .. } => format!("{profile} did not connect"),
        Task::Disconnect => "The tunnel did not disconnect".into(),
        Task::CollectDiagnostics => "Diagnostics could not be collected".into(),
        Task::SetLaunchAtLogin(true) => "Launch at Login could not be turned on".into(),
        Task::SetLaunchAtLogin(false) => "Launch at Login could not be turned off".into(),
        Task::CheckForUpdates => "Checking for updates failed".into(),
        Task::InstallUpdate => "The update was not installed".into(),
        Task::Uninstall => "The VPN was not uninstalled".into(),
        other => format!("{} failed", working_on(other).trim_end_matches('…')),
    }
}

fn error_dialog(title: impl Into<String>, message: String) -> Dialog {
    Dialog {
        title: title.into(),
        message,
        button: "OK".into(),
        confirm: None,
    }
}
