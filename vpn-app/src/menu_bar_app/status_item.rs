//! The status item and its menu, drawn from the model's [`Menu`]: each
//! render that changes something replaces the entries. An entry's tag
//! holds the drawing's generation and the entry's index in its actions,
//! so a click on an entry of an earlier drawing (AppKit sends the action
//! after the menu closes, and it may be redrawn meanwhile) is ignored.

use objc2::{rc::Retained, runtime::ProtocolObject, sel, MainThreadMarker, MainThreadOnly};
use objc2_app_kit::{
    NSControlStateValueOff, NSControlStateValueOn, NSImage, NSMenu, NSMenuItem, NSStatusBar,
    NSStatusItem, NSVariableStatusItemLength,
};
use objc2_foundation::NSString;
use vpn_app::menu_bar::{Action, Item, Menu};

use super::delegate::AppDelegate;

pub struct StatusItem {
    item: Retained<NSStatusItem>,
    menu: Retained<NSMenu>,
    /// What was drawn last, and its actions by index.
    drawn: Option<Menu>,
    actions: Vec<Action>,
    generation: isize,
}

/// Tags are `generation << INDEX_BITS | index`.
const INDEX_BITS: u32 = 16;

impl StatusItem {
    pub fn new(delegate: &AppDelegate, mtm: MainThreadMarker) -> Self {
        let item = NSStatusBar::systemStatusBar().statusItemWithLength(NSVariableStatusItemLength);
        let menu = NSMenu::new(mtm);
        // The model says what is enabled; AppKit must not second-guess it.
        menu.setAutoenablesItems(false);
        menu.setDelegate(Some(ProtocolObject::from_ref(delegate)));
        item.setMenu(Some(&menu));
        Self {
            item,
            menu,
            drawn: None,
            actions: Vec::new(),
            generation: 0,
        }
    }

    /// The action of the entry tagged `tag`, if it is of the menu drawn last.
    pub fn action(&self, tag: isize) -> Option<Action> {
        if tag >> INDEX_BITS != self.generation {
            return None;
        }
        self.actions
            .get((tag & ((1 << INDEX_BITS) - 1)) as usize)
            .cloned()
    }

    pub fn render(&mut self, menu: &Menu, delegate: &AppDelegate, mtm: MainThreadMarker) {
        if self.drawn.as_ref() == Some(menu) {
            return;
        }
        self.drawn = Some(menu.clone());
        self.generation = (self.generation + 1) % (1 << 14);
        if let Some(button) = self.item.button(mtm) {
            let symbol = NSString::from_str(menu.icon.symbol());
            let tooltip = NSString::from_str(&menu.tooltip);
            match NSImage::imageWithSystemSymbolName_accessibilityDescription(
                &symbol,
                Some(&tooltip),
            ) {
                Some(image) => {
                    // A template image follows the menu bar's appearance.
                    image.setTemplate(true);
                    button.setImage(Some(&image));
                    button.setTitle(&NSString::new());
                }
                None => {
                    button.setImage(None);
                    button.setTitle(&NSString::from_str(menu.icon.fallback_title()));
                }
            }
            button.setToolTip(Some(&tooltip));
        }
        self.menu.removeAllItems();
        self.actions.clear();
        for item in &menu.items {
            let entry = match item {
                Item::Separator => NSMenuItem::separatorItem(mtm),
                Item::Entry {
                    title,
                    enabled,
                    checked,
                    action,
                } => {
                    let selector = action.as_ref().map(|_| sel!(chose:));
                    // SAFETY: a fresh item; `chose:` is the delegate's
                    // method, and the delegate outlives the menu.
                    let entry = unsafe {
                        let entry = NSMenuItem::initWithTitle_action_keyEquivalent(
                            NSMenuItem::alloc(mtm),
                            &NSString::from_str(title),
                            selector,
                            &NSString::new(),
                        );
                        if let Some(action) = action {
                            entry.setTarget(Some(delegate));
                            entry.setTag(
                                self.generation << INDEX_BITS | self.actions.len() as isize,
                            );
                            self.actions.push(action.clone());
                        }
                        entry
                    };
                    entry.setEnabled(*enabled);
                    entry.setState(if *checked {
                        NSControlStateValueOn
                    } else {
                        NSControlStateValueOff
                    });
                    entry
                }
            };
            self.menu.addItem(&entry);
        }
    }
}
