//! Activation and deactivation of our system extension through
//! `OSSystemExtensionManager`. A delegate object forwards each callback as a
//! [`RequestEvent`] over a channel; the caller waits on it with a limit.
//! Replacing an installed copy is always answered `.replace`: the app in
//! /Applications is the version the user installed.

use std::{
    sync::{
        mpsc::{self, Receiver, Sender},
        Mutex,
    },
    time::{Duration, Instant},
};

use dispatch2::DispatchQueue;
use objc2::{
    define_class, msg_send, rc::Retained, runtime::ProtocolObject, AllocAnyThread, DefinedClass,
};
use objc2_foundation::{NSArray, NSError, NSObject, NSObjectProtocol, NSString};
use objc2_system_extensions::{
    OSSystemExtensionManager, OSSystemExtensionProperties, OSSystemExtensionReplacementAction,
    OSSystemExtensionRequest, OSSystemExtensionRequestDelegate, OSSystemExtensionRequestResult,
};

use crate::{
    system_extension::{InstalledExtension, RequestEvent},
    upgrade::RequestOutcome,
};

/// How long a request may take before it is reported as stuck (approval
/// is waited for separately).
const REQUEST_LIMIT: Duration = Duration::from_secs(60);

define_class!(
    // SAFETY: a plain NSObject subclass; the ivar is Send + Sync.
    #[unsafe(super(NSObject))]
    #[name = "VPNSystemExtensionRequestDelegate"]
    #[ivars = Mutex<Sender<RequestEvent>>]
    struct RequestDelegate;

    unsafe impl NSObjectProtocol for RequestDelegate {}

    unsafe impl OSSystemExtensionRequestDelegate for RequestDelegate {
        #[unsafe(method(request:actionForReplacingExtension:withExtension:))]
        fn replacing(
            &self,
            _request: &OSSystemExtensionRequest,
            existing: &OSSystemExtensionProperties,
            replacement: &OSSystemExtensionProperties,
        ) -> OSSystemExtensionReplacementAction {
            // SAFETY: property getters.
            let (from, to) = unsafe { (existing.bundleShortVersion(), replacement.bundleShortVersion()) };
            tracing::info!(%from, %to, "replacing the installed extension");
            OSSystemExtensionReplacementAction::Replace
        }

        #[unsafe(method(requestNeedsUserApproval:))]
        fn needs_approval(&self, _request: &OSSystemExtensionRequest) {
            self.send(RequestEvent::NeedsApproval);
        }

        #[unsafe(method(request:didFinishWithResult:))]
        fn finished(&self, _request: &OSSystemExtensionRequest, result: OSSystemExtensionRequestResult) {
            self.send(RequestEvent::Finished {
                after_reboot: result == OSSystemExtensionRequestResult::WillCompleteAfterReboot,
            });
        }

        #[unsafe(method(request:didFailWithError:))]
        fn failed(&self, _request: &OSSystemExtensionRequest, error: &NSError) {
            self.send(RequestEvent::Failed {
                code: error.code() as i64,
                message: error.localizedDescription().to_string(),
            });
        }

        #[unsafe(method(request:foundProperties:))]
        fn found(&self, _request: &OSSystemExtensionRequest, properties: &NSArray<OSSystemExtensionProperties>) {
            let installed = properties
                .iter()
                .map(|p| {
                    // SAFETY: property getters.
                    unsafe {
                        InstalledExtension {
                            version: p.bundleVersion().to_string(),
                            short_version: p.bundleShortVersion().to_string(),
                            enabled: p.isEnabled(),
                            awaiting_approval: p.isAwaitingUserApproval(),
                        }
                    }
                })
                .collect();
            self.send(RequestEvent::Properties(installed));
        }
    }
);

impl RequestDelegate {
    fn new(sender: Sender<RequestEvent>) -> Retained<Self> {
        let this = Self::alloc().set_ivars(Mutex::new(sender));
        // SAFETY: NSObject's init on a freshly allocated object.
        unsafe { msg_send![super(this), init] }
    }

    fn send(&self, event: RequestEvent) {
        tracing::debug!(?event, "system extension request");
        let _ = self
            .ivars()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(event);
    }
}

/// One request in flight: the request and its delegate stay alive (the
/// delegate property is weak) until the request ends.
pub struct PendingRequest {
    _request: Retained<OSSystemExtensionRequest>,
    _delegate: Retained<RequestDelegate>,
    events: Receiver<RequestEvent>,
}

#[derive(Clone, Copy, Debug)]
pub enum RequestKind {
    Activate,
    Deactivate,
    Properties,
}

/// Submits a request for the extension `bundle_id`.
pub fn submit(kind: RequestKind, bundle_id: &str) -> PendingRequest {
    let (sender, events) = mpsc::channel();
    let delegate = RequestDelegate::new(sender);
    let queue = DispatchQueue::new("vpn-app.system-extension", None);
    let identifier = NSString::from_str(bundle_id);
    // SAFETY: class constructors with a live identifier and queue; the
    // delegate outlives the request (both are kept in PendingRequest).
    let request = unsafe {
        let request = match kind {
            RequestKind::Activate => {
                OSSystemExtensionRequest::activationRequestForExtension_queue(&identifier, &queue)
            }
            RequestKind::Deactivate => {
                OSSystemExtensionRequest::deactivationRequestForExtension_queue(&identifier, &queue)
            }
            RequestKind::Properties => {
                OSSystemExtensionRequest::propertiesRequestForExtension_queue(&identifier, &queue)
            }
        };
        request.setDelegate(Some(ProtocolObject::from_ref(&*delegate)));
        OSSystemExtensionManager::sharedManager().submitRequest(&request);
        request
    };
    PendingRequest {
        _request: request,
        _delegate: delegate,
        events,
    }
}

impl PendingRequest {
    /// The next event that decides the request, waiting up to `limit`.
    pub fn outcome(&self, limit: Duration) -> RequestOutcome {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    if let Some(outcome) = event.outcome() {
                        return outcome;
                    }
                }
                Err(_) => {
                    return RequestOutcome::Failed(format!(
                        "macOS did not answer the system extension request within {limit:?}"
                    ))
                }
            }
        }
    }

    /// The installed copies (a properties request).
    pub fn properties(&self) -> Result<Vec<InstalledExtension>, String> {
        match self.events.recv_timeout(REQUEST_LIMIT) {
            Ok(RequestEvent::Properties(found)) => Ok(found),
            Ok(RequestEvent::Failed { code, message }) => Err(format!("{message} ({code})")),
            Ok(other) => Err(format!("unexpected answer {other:?}")),
            Err(_) => Err("macOS did not answer the properties request".into()),
        }
    }
}

/// Submits and waits for the first decisive event.
pub fn request(kind: RequestKind, bundle_id: &str) -> (RequestOutcome, PendingRequest) {
    let pending = submit(kind, bundle_id);
    (pending.outcome(REQUEST_LIMIT), pending)
}
