//! Our `NEPacketTunnelProvider` subclass. The system creates it by the
//! class name in the extension's Info.plist (`NEProviderClasses`, which
//! build-pkg writes from release.toml's `provider-class`; a test holds the
//! two together) and calls it; each call is handed to the same control
//! service the XPC channel uses. Only calls and conversions live here.

use std::{
    sync::{mpsc, Arc, Mutex},
    time::Duration,
};

use block2::{DynBlock, RcBlock};
use objc2::{
    define_class,
    rc::Retained,
    runtime::{AnyObject, NSObject},
    AllocAnyThread, Message,
};
use objc2_foundation::{
    NSArray, NSData, NSDictionary, NSError, NSLocalizedDescriptionKey, NSNumber, NSObjectProtocol,
    NSString,
};
use objc2_network_extension::{
    NEDNSSettings, NEIPv4Route, NEIPv4Settings, NEIPv6Route, NEIPv6Settings,
    NEPacketTunnelNetworkSettings, NEPacketTunnelProvider, NEProvider, NEProviderStopReason,
    NETunnelProvider, NETunnelProviderProtocol,
};
use vpn_ipc::{
    message::{Request, Response},
    session::{carry_out, Dispatch, Service},
};

use super::{packet_flow::FlowTun, utun::UtunTun, Extension};
use crate::engine::Tun;
use crate::platform::{provider_settings::ProviderSettings, NetworkSettings, TunnelDevices};
use crate::start_plan::{start_requests, StartInputs};
use vpn_release::provider_configuration;

/// How long the system may take to apply network settings.
const SETTINGS_TIMEOUT: Duration = Duration::from_secs(20);
const ERROR_DOMAIN: &str = env!("CARGO_PKG_NAME");

/// The provider the system is running, kept for the threads that serve it.
struct CurrentProvider(Retained<PacketTunnelProvider>);
// SAFETY: NetworkExtension's provider may be used from any thread (Apple
// documents the provider methods as thread-safe).
unsafe impl Send for CurrentProvider {}

/// A completion block the system handed the provider, called from the
/// thread that finishes the work.
struct Completion<F: ?Sized>(RcBlock<F>);
// SAFETY: the system's completion handlers may be called from any thread;
// nothing but these blocks crosses threads through this type.
unsafe impl<F: ?Sized> Send for Completion<F> {}

static CURRENT: Mutex<Option<CurrentProvider>> = Mutex::new(None);

fn ns_error(message: &str) -> Retained<NSError> {
    let description = NSString::from_str(message);
    // SAFETY: the key is Foundation's constant; the value an NSString.
    let info = unsafe {
        NSDictionary::<NSString, objc2::runtime::AnyObject>::from_slices(
            &[NSLocalizedDescriptionKey],
            &[&*description as &objc2::runtime::AnyObject],
        )
    };
    // SAFETY: a plain constructor with a domain string and a dictionary.
    unsafe {
        NSError::errorWithDomain_code_userInfo(&NSString::from_str(ERROR_DOMAIN), 1, Some(&info))
    }
}

define_class!(
    // SAFETY: NEPacketTunnelProvider is meant to be subclassed; no Drop.
    #[unsafe(super(NEPacketTunnelProvider, NETunnelProvider, NEProvider, NSObject))]
    #[name = "PacketTunnelProvider"]
    pub struct PacketTunnelProvider;

    unsafe impl NSObjectProtocol for PacketTunnelProvider {}

    impl PacketTunnelProvider {
        #[unsafe(method(startTunnelWithOptions:completionHandler:))]
        fn start_tunnel(
            &self,
            options: Option<&NSDictionary<NSString, NSObject>>,
            completion: &DynBlock<dyn Fn(*mut NSError)>,
        ) {
            let inputs = self.start_inputs(options);
            *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(CurrentProvider(self.retain()));
            let completion = Completion(completion.copy());
            // Starting blocks on the engine; the system's queue must not.
            std::thread::spawn(move || {
                let completion = completion;
                let failure = match (Extension::get(), start_requests(inputs)) {
                    (Err(reason), _) | (Ok(_), Err(reason)) => Some(reason),
                    (Ok(extension), Ok(requests)) => requests.iter().find_map(|request| {
                        match extension.service.handle(request) {
                            Response::Started | Response::ConfigSaved => None,
                            Response::Error { message, .. } => Some(message),
                            other => Some(format!("unexpected answer {other:?}")),
                        }
                    }),
                };
                match failure {
                    None => completion.0.call((std::ptr::null_mut(),)),
                    Some(message) => {
                        tracing::error!(message, "the tunnel did not start");
                        let error = ns_error(&message);
                        completion.0.call((Retained::as_ptr(&error).cast_mut(),));
                    }
                }
            });
        }

        #[unsafe(method(stopTunnelWithReason:completionHandler:))]
        fn stop_tunnel(&self, reason: NEProviderStopReason, completion: &DynBlock<dyn Fn()>) {
            tracing::info!(reason = reason.0, "the system stops the tunnel");
            let completion = Completion(completion.copy());
            std::thread::spawn(move || {
                let completion = completion;
                if let Ok(extension) = Extension::get() {
                    extension.service.handle(&Request::Stop);
                }
                *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = None;
                completion.0.call(());
            });
        }

        /// The control protocol over app messages: a path that works when
        /// XPC to the extension does not (one frame per message).
        #[unsafe(method(handleAppMessage:completionHandler:))]
        fn handle_app_message(
            &self,
            message: &NSData,
            completion: Option<&DynBlock<dyn Fn(*mut NSData)>>,
        ) {
            let frame = message.to_vec();
            let completion = completion.map(|c| Completion(c.copy()));
            std::thread::spawn(move || {
                let Ok(extension) = Extension::get() else {
                    // No control service to answer with: an empty reply.
                    if let Some(completion) = completion {
                        completion.0.call((std::ptr::null_mut(),));
                    }
                    return;
                };
                let dispatch = extension.app_messages.lock().unwrap_or_else(|e| e.into_inner()).on_frame(
                    &frame,
                    &extension.info,
                    extension.quiesced.load(std::sync::atomic::Ordering::SeqCst),
                    // The system does not say who sent an app message, so
                    // it may only read (the app itself sends none).
                    vpn_ipc::caller::Caller::unknown(),
                );
                let reply = match dispatch {
                    Dispatch::Reply(reply) | Dispatch::ReplyAndClose(reply) => reply,
                    Dispatch::Serve { id, request } => vpn_ipc::message::ResponseEnvelope {
                        id,
                        response: carry_out(&request, extension.service.as_ref(), &extension.quiesced, || {}),
                    },
                };
                if let Some(completion) = completion {
                    let data = NSData::with_bytes(&reply.to_json());
                    completion.0.call((Retained::as_ptr(&data).cast_mut(),));
                }
            });
        }

        #[unsafe(method(sleepWithCompletionHandler:))]
        fn sleep(&self, completion: &DynBlock<dyn Fn()>) {
            // WireGuard needs nothing done before sleep: the session
            // re-handshakes on wake if it has to.
            tracing::info!("sleep");
            completion.call(());
        }

        #[unsafe(method(wake))]
        fn wake(&self) {
            tracing::info!("wake");
        }
    }
);

impl PacketTunnelProvider {
    /// What to start: the app's start options name a profile; a tunnel
    /// started by the system (on demand, at boot) takes what the VPN
    /// configuration's provider configuration holds (the app's profile, or
    /// an MDM profile's tunnel).
    fn start_inputs(&self, options: Option<&NSDictionary<NSString, NSObject>>) -> StartInputs {
        let text = |value: Option<Retained<AnyObject>>| {
            value
                .and_then(|v| v.downcast::<NSString>().ok())
                .map(|s| s.to_string())
        };
        let profile = NSString::from_str(provider_configuration::PROFILE);
        let chosen = options.and_then(|o| text(o.objectForKey(&profile).map(Retained::into_super)));
        // SAFETY: a property getter on the live provider.
        let protocol = unsafe { self.protocolConfiguration() };
        let configuration = protocol
            .downcast::<NETunnelProviderProtocol>()
            .ok()
            // SAFETY: as above.
            .and_then(|protocol| unsafe { protocol.providerConfiguration() });
        let configured = |key: &str| {
            configuration
                .as_ref()
                .and_then(|c| text(c.objectForKey(&NSString::from_str(key))))
        };
        StartInputs {
            chosen,
            configured: configured(provider_configuration::PROFILE),
            configured_tunnel: configured(provider_configuration::WG_QUICK),
        }
    }
}

/// Builds the settings object the system applies to the utun.
fn network_settings(settings: &ProviderSettings) -> Retained<NEPacketTunnelNetworkSettings> {
    let strings = |items: Vec<String>| {
        let items: Vec<Retained<NSString>> = items.iter().map(|s| NSString::from_str(s)).collect();
        NSArray::from_retained_slice(&items)
    };
    // SAFETY: initialisers and setters of NetworkExtension's value classes,
    // called with the types their headers declare.
    unsafe {
        let this = NEPacketTunnelNetworkSettings::initWithTunnelRemoteAddress(
            NEPacketTunnelNetworkSettings::alloc(),
            &NSString::from_str(&settings.remote_address),
        );
        if !settings.ipv4_addresses.is_empty() {
            let v4 = NEIPv4Settings::initWithAddresses_subnetMasks(
                NEIPv4Settings::alloc(),
                &strings(
                    settings
                        .ipv4_addresses
                        .iter()
                        .map(|a| a.address.clone())
                        .collect(),
                ),
                &strings(
                    settings
                        .ipv4_addresses
                        .iter()
                        .map(|a| a.mask.clone())
                        .collect(),
                ),
            );
            let routes: Vec<Retained<NEIPv4Route>> = settings
                .ipv4_routes
                .iter()
                .map(|r| {
                    NEIPv4Route::initWithDestinationAddress_subnetMask(
                        NEIPv4Route::alloc(),
                        &NSString::from_str(&r.address),
                        &NSString::from_str(&r.mask),
                    )
                })
                .collect();
            v4.setIncludedRoutes(Some(&NSArray::from_retained_slice(&routes)));
            this.setIPv4Settings(Some(&v4));
        }
        if !settings.ipv6_addresses.is_empty() {
            let prefixes = |items: &[crate::platform::provider_settings::Ipv6Entry]| {
                let numbers: Vec<Retained<NSNumber>> =
                    items.iter().map(|a| NSNumber::new_u8(a.prefix)).collect();
                NSArray::from_retained_slice(&numbers)
            };
            let v6 = NEIPv6Settings::initWithAddresses_networkPrefixLengths(
                NEIPv6Settings::alloc(),
                &strings(
                    settings
                        .ipv6_addresses
                        .iter()
                        .map(|a| a.address.clone())
                        .collect(),
                ),
                &prefixes(&settings.ipv6_addresses),
            );
            let routes: Vec<Retained<NEIPv6Route>> = settings
                .ipv6_routes
                .iter()
                .map(|r| {
                    NEIPv6Route::initWithDestinationAddress_networkPrefixLength(
                        NEIPv6Route::alloc(),
                        &NSString::from_str(&r.address),
                        &NSNumber::new_u8(r.prefix),
                    )
                })
                .collect();
            v6.setIncludedRoutes(Some(&NSArray::from_retained_slice(&routes)));
            this.setIPv6Settings(Some(&v6));
        }
        if !settings.dns.is_empty() {
            let dns = NEDNSSettings::initWithServers(
                NEDNSSettings::alloc(),
                &strings(settings.dns.clone()),
            );
            dns.setMatchDomains(Some(&strings(settings.dns_match_domains.clone())));
            this.setDNSSettings(Some(&dns));
        }
        this.setMTU(Some(&NSNumber::new_u16(settings.mtu)));
        this
    }
}

/// Tunnel devices on macOS: the running provider's utun, after the system
/// has applied the tunnel's settings.
pub struct ProviderDevices;

/// The utun fd when it can be found, the packet flow otherwise.
pub enum ProviderTun {
    Utun(UtunTun),
    Flow(FlowTun),
}

impl Tun for ProviderTun {
    async fn recv(&self, bufs: &mut [Vec<u8>], sizes: &mut [usize]) -> std::io::Result<usize> {
        match self {
            Self::Utun(tun) => tun.recv(bufs, sizes).await,
            Self::Flow(tun) => tun.recv(bufs, sizes).await,
        }
    }

    async fn send(&self, packets: &mut [Vec<u8>]) -> std::io::Result<()> {
        match self {
            Self::Utun(tun) => tun.send(packets).await,
            Self::Flow(tun) => tun.send(packets).await,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("no packet tunnel provider is running: on macOS tunnels start through the system (the app's `connect`)")]
    NoProvider,
    #[error("the system refused the tunnel's network settings: {0}")]
    Settings(String),
    #[error("the system did not apply the network settings within {0:?}")]
    SettingsTimeout(Duration),
    #[error("cannot use the utun device")]
    Utun(#[source] std::io::Error),
}

impl TunnelDevices for ProviderDevices {
    type Tun = ProviderTun;
    type Error = ProviderError;

    fn open(&self, settings: &NetworkSettings) -> Result<ProviderTun, ProviderError> {
        let provider = CURRENT
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|p| p.0.clone())
            .ok_or(ProviderError::NoProvider)?;
        let ne_settings = network_settings(&ProviderSettings::new(settings));
        let (sender, applied) = mpsc::channel::<Option<String>>();
        let sender = Arc::new(Mutex::new(sender));
        let done = RcBlock::new(move |error: *mut NSError| {
            // SAFETY: the system passes a valid NSError or null.
            let message = unsafe { error.as_ref() }.map(|e| e.localizedDescription().to_string());
            let _ = sender
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send(message);
        });
        // SAFETY: settings and block are live; the system copies the block.
        unsafe {
            provider.setTunnelNetworkSettings_completionHandler(Some(&ne_settings), Some(&done))
        };
        match applied.recv_timeout(SETTINGS_TIMEOUT) {
            Ok(None) => {}
            Ok(Some(message)) => return Err(ProviderError::Settings(message)),
            Err(_) => return Err(ProviderError::SettingsTimeout(SETTINGS_TIMEOUT)),
        }
        match super::utun::find_utun_fd() {
            Some(fd) => Ok(ProviderTun::Utun(
                UtunTun::new(fd).map_err(ProviderError::Utun)?,
            )),
            None => {
                tracing::warn!("no utun fd found; packets go through NEPacketTunnelFlow");
                // SAFETY: a property getter on the live provider.
                Ok(ProviderTun::Flow(FlowTun::start(unsafe {
                    provider.packetFlow()
                })))
            }
        }
    }
}
