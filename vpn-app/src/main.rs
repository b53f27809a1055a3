//! The host app. Until the control-channel issue lands this binary only
//! reports its version, which is what the packaging pipeline needs to exist.

fn main() {
    println!("vpn-app {}", env!("CARGO_PKG_VERSION"));
}
