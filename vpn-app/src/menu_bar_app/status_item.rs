//! The status item and its menu, drawn from the model's [`Menu`]: each
//! render replaces the entries, and an entry's tag indexes the actions of
//! the menu it was drawn from.

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
    /// The actions of the entries drawn last, by tag.
    actions: Vec<Action>,
}

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
            actions: Vec::new(),
        }
    }

    /// The action of the entry tagged `tag` in the menu drawn last.
    pub fn action(&self, tag: isize) -> Option<Action> {
        usize::try_from(tag)
            .ok()
            .and_then(|i| self.actions.get(i))
            .cloned()
    }

    pub fn render(&mut self, menu: &Menu, delegate: &AppDelegate, mtm: MainThreadMarker) {
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
                            entry.setTag(self.actions.len() as isize);
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
