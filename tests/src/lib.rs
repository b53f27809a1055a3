//! Harnesses shared by the cross-crate system tests.
