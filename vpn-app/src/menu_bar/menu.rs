//! The menu as data: what the status item shows and each entry's title,
//! state and action. The AppKit layer renders it as it is; tests read it
//! as text.

use std::fmt::Write;

/// The status item's icon, a template image per state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Icon {
    Disconnected,
    Connecting,
    Connected,
    /// Approval pending, repair needed, extension missing, tunnel failed.
    NeedsAttention,
}

impl Icon {
    /// The SF Symbol drawn for the state (each in SF Symbols by macOS 12,
    /// below our minimum).
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Disconnected => "shield",
            Self::Connecting => "shield.lefthalf.filled",
            Self::Connected => "lock.shield.fill",
            Self::NeedsAttention => "exclamationmark.shield",
        }
    }

    /// The status item's title when the symbol cannot be drawn.
    pub fn fallback_title(self) -> &'static str {
        match self {
            Self::Disconnected => "VPN",
            Self::Connecting => "VPN…",
            Self::Connected => "VPN ●",
            Self::NeedsAttention => "VPN !",
        }
    }
}

/// What choosing an entry does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Connect with this profile, switching from another if needed.
    Connect(String),
    Disconnect,
    ActivateExtension,
    /// Open the System Settings pane where the extension is allowed.
    OpenApprovalSettings,
    Import,
    Repair,
    CopyDiagnostics,
    CheckForUpdates,
    Uninstall,
    ToggleLaunchAtLogin,
    About,
    Quit,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Separator,
    Entry {
        title: String,
        enabled: bool,
        checked: bool,
        /// `None`: an information line.
        action: Option<Action>,
    },
}

impl Item {
    /// A line that only informs.
    pub fn line(title: impl Into<String>) -> Self {
        Self::Entry {
            title: title.into(),
            enabled: false,
            checked: false,
            action: None,
        }
    }

    pub fn action(title: impl Into<String>, action: Action, enabled: bool) -> Self {
        Self::Entry {
            title: title.into(),
            enabled,
            checked: false,
            action: Some(action),
        }
    }

    pub fn checked(mut self, on: bool) -> Self {
        if let Self::Entry { checked, .. } = &mut self {
            *checked = on;
        }
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Menu {
    pub icon: Icon,
    /// The status item's tooltip: the state in words.
    pub tooltip: String,
    pub items: Vec<Item>,
}

impl Menu {
    /// The menu as a person reads it, one entry a line: `[x]` checked,
    /// `( )` disabled, `-> action`.
    pub fn to_text(&self) -> String {
        let mut text = format!("icon: {:?}\ntooltip: {}\n", self.icon, self.tooltip);
        for item in &self.items {
            match item {
                Item::Separator => text.push_str("----\n"),
                Item::Entry {
                    title,
                    enabled,
                    checked,
                    action,
                } => {
                    let mark = if *checked { "[x] " } else { "" };
                    let state = if *enabled { "" } else { "( ) " };
                    let _ = write!(text, "{state}{mark}{title}");
                    if let Some(action) = action {
                        let _ = write!(text, "  -> {action:?}");
                    }
                    text.push('\n');
                }
            }
        }
        text
    }

    /// Whether an enabled entry does `action`.
    pub fn offers(&self, action: &Action) -> bool {
        self.items.iter().any(|item| {
            matches!(item, Item::Entry { enabled: true, action: Some(a), .. } if a == action)
        })
    }

    /// The action of the entry titled `title`, if it is enabled.
    pub fn enabled_action(&self, title: &str) -> Option<&Action> {
        self.items.iter().find_map(|item| match item {
            Item::Entry {
                title: t,
                enabled: true,
                action: Some(action),
                ..
            } if t == title => Some(action),
            _ => None,
        })
    }
}
