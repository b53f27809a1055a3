//! Our VPN configuration in the system's preferences, through
//! `NETunnelProviderManager`: find it by provider bundle id, create or
//! update it (the profile to start rides in `providerConfiguration`),
//! start and stop the tunnel, read its status. Each completion handler is
//! waited on with a limit.
//!
//! NetworkExtension answers on the main thread's run loop (completion
//! handlers "executed on the caller's main thread", Apple's documentation
//! of `loadAllFromPreferencesWithCompletionHandler:`; and the status
//! updates `NEVPNConnection` caches). The command line waits on that same
//! thread, so its waits run the run loop instead of blocking it. The menu
//! bar app calls from its worker thread while the main thread runs
//! `NSApplication`: there a wait simply blocks.

use std::{
    ffi::c_void,
    ptr::NonNull,
    sync::mpsc,
    time::{Duration, Instant},
};

use block2::RcBlock;
use objc2::{rc::Retained, runtime::AnyObject, ClassType, MainThreadMarker};
use objc2_foundation::{
    NSArray, NSData, NSDictionary, NSError, NSKeyedArchiver, NSKeyedUnarchiver, NSNotification,
    NSNotificationCenter, NSObject, NSSet, NSString, NSURL,
};
use objc2_network_extension::{
    NEEvaluateConnectionRule, NEOnDemandRule, NEOnDemandRuleConnect, NEOnDemandRuleDisconnect,
    NEOnDemandRuleEvaluateConnection, NEOnDemandRuleIgnore, NETunnelProviderManager,
    NETunnelProviderProtocol, NEVPNStatus, NEVPNStatusDidChangeNotification,
};

use crate::upgrade::SavedConfiguration;

const LIMIT: Duration = Duration::from_secs(30);

#[link(name = "CoreFoundation", kind = "framework")]
extern "C" {
    static kCFRunLoopDefaultMode: *const c_void;
    fn CFRunLoopRunInMode(mode: *const c_void, seconds: f64, return_after_source: u8) -> i32;
}

/// Lets `duration` pass: on the main thread running its run loop (the
/// answers come there), elsewhere sleeping.
pub fn run_loop_for(duration: Duration) {
    if MainThreadMarker::new().is_none() {
        return std::thread::sleep(duration);
    }
    // SAFETY: CoreFoundation's default mode constant; any duration.
    unsafe { CFRunLoopRunInMode(kCFRunLoopDefaultMode, duration.as_secs_f64(), 1) };
}

/// Waits for `answer` up to `limit`, on the main thread while its run loop
/// runs.
fn wait_for<T>(answer: &mpsc::Receiver<T>, limit: Duration) -> Option<T> {
    if MainThreadMarker::new().is_none() {
        return answer.recv_timeout(limit).ok();
    }
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(value) = answer.try_recv() {
            return Some(value);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        run_loop_for(left.min(Duration::from_millis(100)));
    }
}
/// On Demand rules as text that [`unarchive_rules`] reads back: a
/// secure-coded keyed archive (the rules adopt NSSecureCoding), in base64.
/// Archiving keeps every property of every rule class, which a field by
/// field copy would not.
fn archive_rules(rules: &NSArray<NEOnDemandRule>) -> Result<String, String> {
    use base64::Engine;
    // SAFETY: an array of NSSecureCoding objects.
    let data = unsafe {
        NSKeyedArchiver::archivedDataWithRootObject_requiringSecureCoding_error(rules, true)
    }
    .map_err(|e| {
        format!(
            "archiving the On Demand rules: {}",
            e.localizedDescription()
        )
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(data.to_vec()))
}

fn unarchive_rules(text: &str) -> Result<Retained<NSArray<NEOnDemandRule>>, String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("the recorded On Demand rules are not base64: {e}"))?;
    let data = NSData::with_bytes(&bytes);
    // Secure decoding accepts only the classes named: every concrete rule
    // class and what their properties hold.
    let classes = NSSet::from_slice(&[
        NSArray::<AnyObject>::class(),
        NSString::class(),
        NSURL::class(),
        NEOnDemandRuleConnect::class(),
        NEOnDemandRuleDisconnect::class(),
        NEOnDemandRuleIgnore::class(),
        NEOnDemandRuleEvaluateConnection::class(),
        NEEvaluateConnectionRule::class(),
    ]);
    // SAFETY: the classes above; the data is only decoded.
    let object =
        unsafe { NSKeyedUnarchiver::unarchivedObjectOfClasses_fromData_error(&classes, &data) }
            .map_err(|e| {
                format!(
                    "the recorded On Demand rules cannot be read: {}",
                    e.localizedDescription()
                )
            })?;
    let array = object
        .downcast::<NSArray>()
        .map_err(|_| "the recorded On Demand rules are not an array".to_string())?;
    // SAFETY: only the rule classes above, and no rule holds another rule.
    Ok(unsafe { Retained::cast_unchecked(array) })
}

/// The key of the profile name in start options and the provider configuration.
pub const PROFILE_KEY: &str = vpn_release::provider_configuration::PROFILE;

fn describe(error: *mut NSError) -> Option<String> {
    // SAFETY: the system passes a valid NSError or null.
    unsafe { error.as_ref() }.map(|e| e.localizedDescription().to_string())
}

/// Waits for a completion handler that reports an optional error.
fn completed(what: &str, call: impl FnOnce(&RcBlock<dyn Fn(*mut NSError)>)) -> Result<(), String> {
    let (sender, done) = mpsc::channel();
    let sender = std::sync::Mutex::new(sender);
    let block = RcBlock::new(move |error: *mut NSError| {
        let _ = sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(describe(error));
    });
    call(&block);
    match wait_for(&done, LIMIT) {
        Some(None) => Ok(()),
        Some(Some(message)) => Err(format!("{what}: {message}")),
        None => Err(format!("{what}: no answer within {LIMIT:?}")),
    }
}

struct Managers(Vec<Retained<NETunnelProviderManager>>);
// SAFETY: NetworkExtension's managers may be used from any thread.
unsafe impl Send for Managers {}

/// Every VPN configuration this app saved.
fn load_all() -> Result<Vec<Retained<NETunnelProviderManager>>, String> {
    let (sender, done) = mpsc::channel::<Result<Managers, String>>();
    let sender = std::sync::Mutex::new(sender);
    let block = RcBlock::new(
        move |managers: *mut NSArray<NETunnelProviderManager>, error: *mut NSError| {
            let result = match describe(error) {
                Some(message) => Err(message),
                // SAFETY: a valid array or null.
                None => Ok(Managers(
                    unsafe { managers.as_ref() }
                        .map(|a| a.to_vec())
                        .unwrap_or_default(),
                )),
            };
            let _ = sender
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send(result);
        },
    );
    // SAFETY: a class method with a live block, which the system copies.
    unsafe { NETunnelProviderManager::loadAllFromPreferencesWithCompletionHandler(&block) };
    match wait_for(&done, LIMIT) {
        Some(Ok(managers)) => Ok(managers.0),
        Some(Err(message)) => Err(format!("loading the VPN configurations: {message}")),
        None => Err("loading the VPN configurations: no answer".into()),
    }
}

fn provider_protocol(
    manager: &NETunnelProviderManager,
) -> Option<Retained<NETunnelProviderProtocol>> {
    // SAFETY: a property getter.
    unsafe { manager.protocolConfiguration() }?
        .downcast::<NETunnelProviderProtocol>()
        .ok()
}

pub struct VpnConfiguration {
    manager: Retained<NETunnelProviderManager>,
}

impl VpnConfiguration {
    /// Ours: the configuration whose provider is `provider_id`.
    pub fn find(provider_id: &str) -> Result<Option<Self>, String> {
        Ok(load_all()?
            .into_iter()
            .find(|m| {
                provider_protocol(m)
                    // SAFETY: a property getter.
                    .and_then(|p| unsafe { p.providerBundleIdentifier() })
                    .is_some_and(|id| id.to_string() == provider_id)
            })
            .map(|manager| Self { manager }))
    }

    /// Creates ours, or updates it, as `wanted` says; saved and reloaded (a
    /// configuration must be loaded again before it can start).
    pub fn save(provider_id: &str, wanted: &SavedConfiguration) -> Result<Self, String> {
        let manager = match Self::find(provider_id)? {
            Some(existing) => existing.manager,
            // SAFETY: a plain constructor.
            None => unsafe { NETunnelProviderManager::new() },
        };
        let rules = wanted
            .on_demand_rules
            .as_deref()
            .map(unarchive_rules)
            .transpose()?;
        let configuration = wanted.profile.as_deref().map(|profile| {
            let key = NSString::from_str(PROFILE_KEY);
            let value = NSString::from_str(profile);
            NSDictionary::<NSString, AnyObject>::from_slices(&[&*key], &[&*value as &AnyObject])
        });
        // SAFETY: setters of the manager and a new protocol object, with the
        // types the headers declare.
        unsafe {
            let protocol = NETunnelProviderProtocol::new();
            protocol.setProviderBundleIdentifier(Some(&NSString::from_str(provider_id)));
            protocol.setServerAddress(Some(&NSString::from_str(&wanted.server)));
            protocol.setProviderConfiguration(configuration.as_deref());
            manager.setProtocolConfiguration(Some(&protocol));
            manager.setLocalizedDescription(Some(&NSString::from_str(&wanted.name)));
            manager.setOnDemandRules(rules.as_deref());
            manager.setOnDemandEnabled(wanted.on_demand);
            manager.setEnabled(true);
        }
        // SAFETY: `done` is a live completion block; the manager is ours.
        completed("saving the VPN configuration", |done| unsafe {
            manager.saveToPreferencesWithCompletionHandler(Some(done))
        })?;
        // SAFETY: as above.
        completed("loading the VPN configuration", |done| unsafe {
            manager.loadFromPreferencesWithCompletionHandler(done)
        })?;
        Ok(Self { manager })
    }

    /// What recreates it as it is.
    pub fn saved(&self) -> Result<SavedConfiguration, String> {
        // SAFETY: property getters.
        let (name, server, on_demand, rules) = unsafe {
            (
                self.manager.localizedDescription(),
                provider_protocol(&self.manager).and_then(|p| p.serverAddress()),
                self.manager.isOnDemandEnabled(),
                self.manager.onDemandRules(),
            )
        };
        Ok(SavedConfiguration {
            name: name.map(|s| s.to_string()).unwrap_or_default(),
            server: server.map(|s| s.to_string()).unwrap_or_default(),
            profile: self.profile(),
            on_demand,
            on_demand_rules: rules.map(|rules| archive_rules(&rules)).transpose()?,
        })
    }

    /// The profile its provider configuration names.
    pub fn profile(&self) -> Option<String> {
        let protocol = provider_protocol(&self.manager)?;
        // SAFETY: a property getter.
        let configuration = unsafe { protocol.providerConfiguration() }?;
        let value = configuration.objectForKey(&NSString::from_str(PROFILE_KEY))?;
        value.downcast::<NSString>().ok().map(|s| s.to_string())
    }

    /// Removes ours from the system's preferences.
    pub fn remove(&self) -> Result<(), String> {
        // SAFETY: `done` is a live completion block; the manager is ours.
        completed("removing the VPN configuration", |done| unsafe {
            self.manager
                .removeFromPreferencesWithCompletionHandler(Some(done))
        })
    }

    /// `NEVPNStatus` of the configuration's connection.
    pub fn status(&self) -> NEVPNStatus {
        // SAFETY: property getters.
        unsafe { self.manager.connection().status() }
    }

    pub fn is_connected(&self) -> bool {
        self.status() == NEVPNStatus::Connected
    }

    /// Waits up to `limit` for the connection to be up.
    pub fn wait_connected(&self, limit: Duration) -> Result<(), String> {
        self.wait_status(|status| status == NEVPNStatus::Connected, "connect", limit)
    }

    /// Ends the session (`stopVPNTunnel`, which has the provider's
    /// `stopTunnel` stop the engine) and waits up to `limit` for it to be
    /// down. Stopping our engine over the control channel alone would leave
    /// the session Connected.
    pub fn stop_and_wait(&self, limit: Duration) -> Result<(), String> {
        let down = |status| status == NEVPNStatus::Disconnected || status == NEVPNStatus::Invalid;
        if down(self.status()) {
            return Ok(());
        }
        self.stop();
        self.wait_status(down, "disconnect", limit)
    }

    /// Waits up to `limit` for `reached(status)`, woken by
    /// `NEVPNStatusDidChangeNotification` (delivered while the run loop runs).
    fn wait_status(
        &self,
        reached: impl Fn(NEVPNStatus) -> bool,
        what: &str,
        limit: Duration,
    ) -> Result<(), String> {
        let (sender, changed) = mpsc::channel();
        let sender = std::sync::Mutex::new(sender);
        let block = RcBlock::new(move |_: NonNull<NSNotification>| {
            let _ = sender.lock().unwrap_or_else(|e| e.into_inner()).send(());
        });
        let center = NSNotificationCenter::defaultCenter();
        // SAFETY: property getter; the notification name is the framework's
        // constant, the object our connection, and the center copies the block.
        let observer = unsafe {
            let connection = self.manager.connection();
            center.addObserverForName_object_queue_usingBlock(
                Some(NEVPNStatusDidChangeNotification),
                Some(&connection),
                None,
                &block,
            )
        };
        let started = Instant::now();
        let result = loop {
            if reached(self.status()) {
                break Ok(());
            }
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                break Err(format!(
                    "the tunnel did not {what} within {limit:?} (NEVPNStatus {})",
                    self.status().0
                ));
            }
            let _ = wait_for(&changed, left);
        };
        // SAFETY: the observer the center returned above.
        unsafe { center.removeObserver(AsRef::<AnyObject>::as_ref(&*observer)) };
        result
    }

    /// Starts the tunnel; the provider receives `profile` in its options.
    pub fn start(&self, profile: Option<&str>) -> Result<(), String> {
        let options = profile.map(|profile| {
            let key = NSString::from_str(PROFILE_KEY);
            let value = NSString::from_str(profile);
            NSDictionary::<NSString, NSObject>::from_slices(&[&*key], &[&*value as &NSObject])
        });
        // SAFETY: the connection of a loaded manager; options as declared.
        unsafe {
            self.manager
                .connection()
                .startVPNTunnelWithOptions_andReturnError(options.as_deref())
        }
        .map_err(|e| format!("starting the tunnel: {}", e.localizedDescription()))
    }

    pub fn stop(&self) {
        // SAFETY: as above.
        unsafe { self.manager.connection().stopVPNTunnel() }
    }
}
