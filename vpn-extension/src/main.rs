//! The system extension. Until the tunnel issue lands this binary only
//! reports its version, which is what the packaging pipeline needs to exist.

fn main() {
    println!("vpn-extension {}", env!("CARGO_PKG_VERSION"));
}
