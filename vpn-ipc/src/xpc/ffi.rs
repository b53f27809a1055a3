//! The part of libxpc (in libSystem) the control channel uses, declared by
//! hand from `<xpc/connection.h>` and `<xpc/dictionary.h>`.
//!
//! Why not a crate: `xpc-connection` (0.2.3) is client-only, cannot see the
//! peer or set a code-signing requirement, and panics on several message
//! types; `xpc-sys` is unmaintained. These few declarations are audited
//! against the headers instead. Every object handed to us by an event
//! handler is borrowed for the handler's duration; objects from `*_create*`
//! and `*_sync` calls are ours to release.

use std::ffi::{c_char, c_int, c_void};

use block2::Block;

pub type XpcObject = *mut c_void;
pub type XpcConnection = *mut c_void;
pub type XpcType = *const c_void;
/// `dispatch_queue_t`; null means libxpc's default target queue.
pub type DispatchQueue = *mut c_void;

/// `XPC_CONNECTION_MACH_SERVICE_LISTENER`
pub const MACH_SERVICE_LISTENER: u64 = 1 << 0;

extern "C" {
    pub fn xpc_connection_create_mach_service(
        name: *const c_char,
        target_queue: DispatchQueue,
        flags: u64,
    ) -> XpcConnection;
    pub fn xpc_connection_set_event_handler(
        connection: XpcConnection,
        handler: &Block<dyn Fn(XpcObject)>,
    );
    pub fn xpc_connection_resume(connection: XpcConnection);
    pub fn xpc_connection_cancel(connection: XpcConnection);
    pub fn xpc_connection_send_message(connection: XpcConnection, message: XpcObject);
    /// The reply (or an error object) reaches `handler` on `reply_queue`,
    /// or on the connection's target queue when that is null.
    pub fn xpc_connection_send_message_with_reply(
        connection: XpcConnection,
        message: XpcObject,
        reply_queue: DispatchQueue,
        handler: &Block<dyn Fn(XpcObject)>,
    );
    /// macOS 12+: every message from the peer is checked against the
    /// requirement by the system; a peer that fails it never reaches us.
    pub fn xpc_connection_set_peer_code_signing_requirement(
        connection: XpcConnection,
        requirement: *const c_char,
    ) -> c_int;
    pub fn xpc_connection_get_pid(connection: XpcConnection) -> c_int;
    /// The peer's effective uid when it connected (`uid_t`).
    pub fn xpc_connection_get_euid(connection: XpcConnection) -> u32;

    pub fn xpc_dictionary_create(
        keys: *const *const c_char,
        values: *const XpcObject,
        count: usize,
    ) -> XpcObject;
    pub fn xpc_dictionary_create_reply(original: XpcObject) -> XpcObject;
    pub fn xpc_dictionary_set_data(
        dictionary: XpcObject,
        key: *const c_char,
        bytes: *const c_void,
        length: usize,
    );
    pub fn xpc_dictionary_get_data(
        dictionary: XpcObject,
        key: *const c_char,
        length: *mut usize,
    ) -> *const c_void;

    pub fn xpc_get_type(object: XpcObject) -> XpcType;
    pub fn xpc_retain(object: XpcObject) -> XpcObject;
    pub fn xpc_release(object: XpcObject);

    // The type and error singletons are exported data; only their
    // addresses matter (taking one is safe; reading one never happens).
    static _xpc_type_connection: u8;
    static _xpc_type_dictionary: u8;
    static _xpc_type_error: u8;
    static _xpc_error_connection_invalid: u8;
    static _xpc_error_connection_interrupted: u8;
}

/// `XPC_TYPE_CONNECTION`
pub fn type_connection() -> XpcType {
    std::ptr::addr_of!(_xpc_type_connection).cast()
}

/// `XPC_TYPE_DICTIONARY`
pub fn type_dictionary() -> XpcType {
    std::ptr::addr_of!(_xpc_type_dictionary).cast()
}

/// `XPC_TYPE_ERROR`
pub fn type_error() -> XpcType {
    std::ptr::addr_of!(_xpc_type_error).cast()
}

/// `XPC_ERROR_CONNECTION_INVALID`: the peer is gone for good (or never
/// existed: no such service, or it failed our code-signing requirement).
pub fn error_connection_invalid() -> XpcObject {
    std::ptr::addr_of!(_xpc_error_connection_invalid) as XpcObject
}

/// `XPC_ERROR_CONNECTION_INTERRUPTED`: the peer went away but may come
/// back (the extension restarted).
pub fn error_connection_interrupted() -> XpcObject {
    std::ptr::addr_of!(_xpc_error_connection_interrupted) as XpcObject
}
