//! The contract between the host app and the system extension.
//!
//! # Map
//! - [`message`]: requests and replies as they travel (tagged JSON, request
//!   ids, forward-compatible decoding).
//! - [`framing`]: length-prefixed frames with a size limit; a pure decoder.
//! - [`negotiation`]: protocol version negotiation; a skew is a typed result.
//! - [`session`]: the rules of a connection (Hello first, quiesce) as pure
//!   state machines, and how the app reads the answer to its Hello.
//! - [`caller`]: who is at the other end, and whether they may change the
//!   tunnel.
//!
//! - [`transport`]: the app's end of the channel as one trait.
//! - [`unix`]: the Unix-socket transport (server with peer-uid checks,
//!   client), used on Linux and in tests.
//! - `xpc` (macOS): the XPC transport, with a code-signing requirement on
//!   the peer at both ends ([`code_requirement`] says which).

pub mod caller;
pub mod code_requirement;
pub mod framing;
pub mod message;
pub mod negotiation;
pub mod session;
pub mod transport;
pub mod unix;
#[cfg(target_os = "macos")]
pub mod xpc;
