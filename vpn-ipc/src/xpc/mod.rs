//! The control channel over XPC (macOS): the extension listens on its
//! versioned Mach service (`NEMachServiceName`), the app connects to the
//! name its Info.plist gives (`VPNExtensionMachServiceName`). Both ends set a
//! code-signing requirement on the other (our team, Apple-issued
//! certificate), so the system drops messages from anyone else before we
//! see them.
//!
//! Each message is a dictionary whose `frame` is the same JSON envelope the
//! Unix transport frames, so the session rules (Hello first, version
//! negotiation, quiesce) and the service are shared word for word.

mod ffi;

use std::{
    collections::HashMap,
    ffi::{c_void, CString},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use block2::RcBlock;

use self::ffi::XpcObject;
use crate::{
    caller::Caller,
    framing::MAX_FRAME_LEN,
    message::{Request, RequestEnvelope, Response, ResponseEnvelope},
    session::{carry_out, Dispatch, ExtensionInfo, ServerSession, Service},
    transport::{ControlClient, TransportError},
};

const FRAME_KEY: &std::ffi::CStr = c"frame";

#[derive(Debug, thiserror::Error)]
pub enum XpcError {
    #[error("`{0}` cannot be an XPC service name or requirement (it holds a NUL byte)")]
    Nul(String),
    #[error("libxpc refused to create a connection for {0}")]
    Create(String),
    #[error("the code-signing requirement was refused (error {0})")]
    Requirement(i32),
    #[error(
        "the extension's service is not reachable: not running, not this build's \
         service name, or it failed the code-signing requirement"
    )]
    Invalid,
    #[error("the extension went away during the request (it may be restarting)")]
    Interrupted,
    #[error("the extension did not answer within {0:?}; the connection is closed")]
    Timeout(std::time::Duration),
    #[error("the extension's reply holds no frame")]
    NoFrame,
    #[error("the extension's reply is not valid JSON")]
    Decode(#[from] serde_json::Error),
    #[error("the extension answered request {got} instead of {expected}")]
    WrongId { expected: u64, got: u64 },
}

fn c_string(text: &str) -> Result<CString, XpcError> {
    CString::new(text).map_err(|_| XpcError::Nul(text.to_string()))
}

/// An XPC object we hold a reference to.
struct Retained(XpcObject);

// SAFETY: XPC objects are reference counted and thread safe; libxpc
// serialises each connection's events on its own queue.
unsafe impl Send for Retained {}
unsafe impl Sync for Retained {}

impl Drop for Retained {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { ffi::xpc_release(self.0) }
    }
}

/// Reads our frame out of a message dictionary (borrowed for the call).
///
/// # Safety
/// `message` must be a live XPC dictionary.
unsafe fn frame_of(message: XpcObject) -> Option<Vec<u8>> {
    let mut length = 0usize;
    // SAFETY: `message` is a live dictionary (the caller's promise) and the
    // key a C string.
    let bytes = unsafe { ffi::xpc_dictionary_get_data(message, FRAME_KEY.as_ptr(), &mut length) };
    if bytes.is_null() || length > MAX_FRAME_LEN {
        return None;
    }
    // SAFETY: libxpc returned `length` bytes at `bytes`, owned by the
    // dictionary, which outlives this copy.
    Some(unsafe { std::slice::from_raw_parts(bytes.cast::<u8>(), length) }.to_vec())
}

/// # Safety
/// `dictionary` must be a live XPC dictionary we may modify.
unsafe fn set_frame(dictionary: XpcObject, frame: &[u8]) {
    // SAFETY: a live dictionary (the caller's promise); libxpc copies the
    // bytes.
    unsafe {
        ffi::xpc_dictionary_set_data(
            dictionary,
            FRAME_KEY.as_ptr(),
            frame.as_ptr().cast::<c_void>(),
            frame.len(),
        );
    }
}

struct Shared {
    info: ExtensionInfo,
    service: Arc<dyn Service>,
    requirement: CString,
    quiesced: AtomicBool,
    peers: Mutex<HashMap<u64, Retained>>,
    next_peer: AtomicU64,
}

/// The extension's listener. Dropping it cancels the listener.
pub struct Listener {
    connection: Retained,
    _shared: Arc<Shared>,
}

impl Listener {
    /// Listens on `service_name`, accepting peers that satisfy
    /// `peer_requirement`, and serves them with `service` on libxpc's queues.
    pub fn start(
        service_name: &str,
        peer_requirement: &str,
        info: ExtensionInfo,
        service: Arc<dyn Service>,
    ) -> Result<Self, XpcError> {
        let name = c_string(service_name)?;
        let shared = Arc::new(Shared {
            info,
            service,
            requirement: c_string(peer_requirement)?,
            quiesced: AtomicBool::new(false),
            peers: Mutex::new(HashMap::new()),
            next_peer: AtomicU64::new(1),
        });
        // SAFETY: a valid C string; a null queue means the default target.
        let listener = unsafe {
            ffi::xpc_connection_create_mach_service(
                name.as_ptr(),
                std::ptr::null_mut(),
                ffi::MACH_SERVICE_LISTENER,
            )
        };
        if listener.is_null() {
            return Err(XpcError::Create(service_name.to_string()));
        }
        let connection = Retained(listener);
        let for_events = Arc::clone(&shared);
        let handler = RcBlock::new(move |event: XpcObject| on_listener_event(&for_events, event));
        // SAFETY: libxpc copies the block; the listener is ours.
        unsafe {
            ffi::xpc_connection_set_event_handler(listener, &handler);
            ffi::xpc_connection_resume(listener);
        }
        Ok(Self {
            connection,
            _shared: shared,
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // SAFETY: the listener is live until `connection` drops after this.
        unsafe { ffi::xpc_connection_cancel(self.connection.0) }
    }
}

fn on_listener_event(shared: &Arc<Shared>, event: XpcObject) {
    // SAFETY: `event` is live for the duration of the handler.
    if unsafe { ffi::xpc_get_type(event) } != ffi::type_connection() {
        tracing::warn!("the XPC listener reported an error; it stops accepting peers");
        return;
    }
    let peer = event;
    // Before resume, so not one message from a peer that fails it is seen.
    // SAFETY: `peer` is a live connection and the requirement a C string.
    let status = unsafe {
        ffi::xpc_connection_set_peer_code_signing_requirement(peer, shared.requirement.as_ptr())
    };
    if status != 0 {
        tracing::error!(status, "cannot set the peer requirement; refusing the peer");
        // SAFETY: as above.
        unsafe { ffi::xpc_connection_cancel(peer) };
        return;
    }
    let id = shared.next_peer.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the handler only borrows `peer`; keep it alive while listed.
    let retained = Retained(unsafe { ffi::xpc_retain(peer) });
    let peer_address = retained.0 as usize;
    shared
        .peers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, retained);
    // SAFETY: `peer` is live.
    let pid = unsafe { ffi::xpc_connection_get_pid(peer) };
    tracing::debug!(id, pid, "XPC peer");
    // SAFETY: `peer` is live.
    let caller = caller_of(unsafe { ffi::xpc_connection_get_euid(peer) });
    let session = Mutex::new(ServerSession::default());
    let for_events = Arc::clone(shared);
    let handler = RcBlock::new(move |message: XpcObject| {
        on_peer_message(
            &for_events,
            id,
            peer_address as XpcObject,
            &session,
            message,
            caller,
        )
    });
    // SAFETY: `peer` is live (we hold a reference); libxpc copies the block.
    unsafe {
        ffi::xpc_connection_set_event_handler(peer, &handler);
        ffi::xpc_connection_resume(peer);
    }
}

/// What a peer of effective uid `uid` may do: change the tunnel if it is
/// root, the user at the console (the owner of /dev/console, as `stat -f
/// %Su /dev/console` reads it) or in the `admin` group (where "Allow this
/// user to administer this computer" puts a user).
fn caller_of(uid: u32) -> Caller {
    use std::os::unix::fs::MetadataExt;
    let console = std::fs::metadata("/dev/console").ok().map(|m| m.uid());
    let admin = || -> Option<bool> {
        let user = nix::unistd::User::from_uid(uid.into()).ok()??;
        let group = nix::unistd::Group::from_name("admin").ok()??;
        Some(group.gid == user.gid || group.mem.contains(&user.name))
    };
    Caller::new(uid, console, admin().unwrap_or(false))
}

fn on_peer_message(
    shared: &Shared,
    id: u64,
    peer: XpcObject,
    session: &Mutex<ServerSession>,
    message: XpcObject,
    caller: Caller,
) {
    // SAFETY: `message` is live for the handler's duration.
    let kind = unsafe { ffi::xpc_get_type(message) };
    if kind == ffi::type_error() {
        if message == ffi::error_connection_invalid() {
            // Gone for good: drop our reference.
            shared
                .peers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        }
        return;
    }
    if kind != ffi::type_dictionary() {
        return;
    }
    // SAFETY: a live dictionary.
    let Some(frame) = (unsafe { frame_of(message) }) else {
        // Not our protocol, or over the frame limit: that peer goes.
        // SAFETY: `peer` is live while listed.
        unsafe { ffi::xpc_connection_cancel(peer) };
        return;
    };
    let quiesced = shared.quiesced.load(Ordering::SeqCst);
    let dispatch = session.lock().unwrap_or_else(|e| e.into_inner()).on_frame(
        &frame,
        &shared.info,
        quiesced,
        caller,
    );
    let (reply, close) = match dispatch {
        Dispatch::Reply(reply) => (reply, false),
        Dispatch::ReplyAndClose(reply) => (reply, true),
        Dispatch::Serve {
            id: request_id,
            request,
        } => {
            let response = carry_out(&request, shared.service.as_ref(), &shared.quiesced, || {
                close_others(shared, id)
            });
            (
                ResponseEnvelope {
                    id: request_id,
                    response,
                },
                false,
            )
        }
    };
    let json = reply.to_json_within_frame();
    // SAFETY: `message` is live; the reply is ours until released.
    unsafe {
        let answer = ffi::xpc_dictionary_create_reply(message);
        if !answer.is_null() {
            set_frame(answer, &json);
            ffi::xpc_connection_send_message(peer, answer);
            ffi::xpc_release(answer);
        }
        if close {
            ffi::xpc_connection_cancel(peer);
        }
    }
}

/// Cancels every peer but `keep` (on `Quiesce`).
fn close_others(shared: &Shared, keep: u64) {
    let peers = shared.peers.lock().unwrap_or_else(|e| e.into_inner());
    for (id, peer) in peers.iter() {
        if *id != keep {
            // SAFETY: listed peers are live.
            unsafe { ffi::xpc_connection_cancel(peer.0) };
        }
    }
}

/// The app's end.
pub struct Client {
    connection: Retained,
    next_id: u64,
    timeout: std::time::Duration,
}

impl Client {
    /// Connects to `service_name`, which must be served by code that
    /// satisfies `peer_requirement`. Nothing is sent until the first request;
    /// each reply is awaited for at most `timeout`, so a wedged extension
    /// never hangs the app, or an installer running it.
    pub fn connect(
        service_name: &str,
        peer_requirement: &str,
        timeout: std::time::Duration,
    ) -> Result<Self, XpcError> {
        let name = c_string(service_name)?;
        let requirement = c_string(peer_requirement)?;
        // SAFETY: valid C strings; a null queue means the default target.
        let connection = unsafe {
            ffi::xpc_connection_create_mach_service(name.as_ptr(), std::ptr::null_mut(), 0)
        };
        if connection.is_null() {
            return Err(XpcError::Create(service_name.to_string()));
        }
        let connection = Retained(connection);
        // SAFETY: the connection is live and not yet resumed.
        let status = unsafe {
            ffi::xpc_connection_set_peer_code_signing_requirement(
                connection.0,
                requirement.as_ptr(),
            )
        };
        if status != 0 {
            return Err(XpcError::Requirement(status));
        }
        // Errors reach us as the replies of synchronous sends; the handler
        // only has to exist.
        let handler = RcBlock::new(|_event: XpcObject| {});
        // SAFETY: libxpc copies the block.
        unsafe {
            ffi::xpc_connection_set_event_handler(connection.0, &handler);
            ffi::xpc_connection_resume(connection.0);
        }
        Ok(Self {
            connection,
            next_id: 1,
            timeout,
        })
    }

    /// Sends one request and waits for its reply.
    pub fn send(&mut self, request: Request) -> Result<Response, XpcError> {
        let id = self.next_id;
        self.next_id += 1;
        let json = RequestEnvelope { id, request }.to_json();
        let (replied, reply) = std::sync::mpsc::sync_channel::<Retained>(1);
        let handler = RcBlock::new(move |reply: XpcObject| {
            // SAFETY: the reply is borrowed for the handler's duration; the
            // reference taken here is the receiver's to release.
            let _ = replied.try_send(Retained(unsafe { ffi::xpc_retain(reply) }));
        });
        // SAFETY: we create, fill and release the message; libxpc copies
        // the block and keeps the message as long as it needs it.
        unsafe {
            let message = ffi::xpc_dictionary_create(std::ptr::null(), std::ptr::null(), 0);
            set_frame(message, &json);
            ffi::xpc_connection_send_message_with_reply(
                self.connection.0,
                message,
                std::ptr::null_mut(),
                &handler,
            );
            ffi::xpc_release(message);
        }
        let Ok(reply) = reply.recv_timeout(self.timeout) else {
            // SAFETY: the connection is live; a late reply then meets a
            // closed channel and is released.
            unsafe { ffi::xpc_connection_cancel(self.connection.0) };
            return Err(XpcError::Timeout(self.timeout));
        };
        // SAFETY: the reply is live while `reply` is.
        if unsafe { ffi::xpc_get_type(reply.0) } == ffi::type_error() {
            return Err(if reply.0 == ffi::error_connection_interrupted() {
                XpcError::Interrupted
            } else {
                XpcError::Invalid
            });
        }
        // SAFETY: a live dictionary.
        let frame = unsafe { frame_of(reply.0) }.ok_or(XpcError::NoFrame)?;
        let envelope = ResponseEnvelope::from_json(&frame)?;
        if envelope.id != id {
            return Err(XpcError::WrongId {
                expected: id,
                got: envelope.id,
            });
        }
        Ok(envelope.response)
    }
}

impl ControlClient for Client {
    fn request(&mut self, request: Request) -> Result<Response, TransportError> {
        self.send(request).map_err(TransportError::new)
    }
}
