//! The keys of the VPN configuration's `providerConfiguration`, the
//! dictionary the extension reads when the system starts it. The app
//! writes the profile to start; an MDM profile's `VendorConfig` lands in
//! the same dictionary, and may carry the tunnel itself.

/// The name of the stored profile to start.
pub const PROFILE: &str = "profile";

/// A whole wg-quick tunnel, as an MDM profile delivers it: the extension
/// stores it under [`PROFILE`]'s name, then starts it. The key is
/// WireGuard's own (wireguard-apple, MOBILECONFIG.md: `VendorConfig` ->
/// `WgQuickConfig`), so an admin's existing profile carries over.
pub const WG_QUICK: &str = "WgQuickConfig";

/// Whether `name` may name a stored profile: 1 to 64 letters, digits, `-`
/// and `_` (it becomes a file name in the extension's store).
pub fn is_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
