//! The system extension: the WireGuard engine, the control service the app
//! talks to, and the platform shims that give the engine its packets.

pub mod control;
pub mod engine;
pub mod log_ring;
pub mod platform;
pub mod profiles;
pub mod start_plan;
