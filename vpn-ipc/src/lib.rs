//! The contract between the host app and the system extension: messages,
//! framing, transports and the version handshake.
//!
//! Empty until the control-channel issue fills it; it exists now so the
//! dependency direction (`vpn-app -> vpn-ipc <- vpn-extension`) is fixed from
//! the first commit.
