//! The update feed between `installer-tool appcast`, which writes it, and
//! `vpn-app update`, which reads it: Sparkle's appcast, whose elements and
//! attributes live in this namespace (Sparkle matches it by URI, plain
//! http, not by prefix: `SUAppcast.m`).

pub const SPARKLE_NAMESPACE: &str = "http://www.andymatuschak.org/xml-namespaces/sparkle";
