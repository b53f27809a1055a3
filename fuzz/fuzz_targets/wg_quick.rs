//! The wg-quick parser on any text: no panic, and whatever it says, no
//! key of the input comes back (a base64 word that decodes to 32 bytes,
//! with or without its padding), neither in an error nor in a parsed
//! config's `Debug`.
#![no_main]

use base64::{engine::general_purpose::STANDARD, Engine as _};
use libfuzzer_sys::fuzz_target;
use vpn_extension::engine::TunnelConfig;

fuzz_target!(|text: &str| {
    let shown = match text.parse::<TunnelConfig>() {
        Ok(config) => {
            // Public keys are meant to be shown; only secrets are checked.
            let debug = format!("{config:?}");
            let public: Vec<String> = config
                .peers
                .iter()
                .map(|p| p.public_key.to_string())
                .collect();
            (debug, public)
        }
        Err(e) => (e.to_string(), Vec::new()),
    };
    let (shown, public) = shown;
    for word in text.split(|c: char| c.is_whitespace() || c == ',') {
        let word = word.trim_start_matches('=');
        let key = word.split('=').next().unwrap_or_default();
        if key.len() < 42 || public.iter().any(|p| p.starts_with(key)) {
            continue;
        }
        let padded = format!("{key}=");
        if STANDARD
            .decode(&padded)
            .is_ok_and(|bytes| bytes.len() == 32)
        {
            assert!(!shown.contains(key), "a key came back: {shown}");
        }
    }
});
