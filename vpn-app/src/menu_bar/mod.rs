//! The menu bar app, platform-free: [`MenuBar`] takes what was observed
//! and what the user chose, and says what the menu shows and what to do.
//! The AppKit layer (`menu_bar_app`, in the binary) renders
//! [`Menu`] and carries out each [`Effect`]; tests drive the model through
//! every state on any OS.

mod controller;
mod menu;
mod observed;
pub mod text;

pub use controller::{AppInfo, Confirmed, Dialog, Effect, Event, MenuBar, Task, TaskOutcome};
pub use menu::{Action, Icon, Item, Menu};
pub use observed::{ExtensionState, LoginItem, Observed, Session};
