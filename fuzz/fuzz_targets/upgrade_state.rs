//! The state file `upgrade finish --state` reads (written by a root
//! script, or by `upgrade prepare`): any bytes are an error or a state,
//! never a panic, and a state read once reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpn_release::upgrade_state::UpgradeState;

fuzz_target!(|data: &[u8]| {
    let Ok(state) = UpgradeState::from_state_file(data) else {
        return;
    };
    let written = serde_json::to_vec(&state).expect("a state serialises");
    let again = UpgradeState::from_state_file(&written).expect("our own state file reads");
    assert_eq!(again, state);
    let _ = (
        state.tunnel_was_up(),
        state.profile(),
        state.configuration(),
    );
});
