//! `macos-sim`: the simulated macOS's tools and app (see
//! `system_tests::macos_sim`).

fn main() -> std::process::ExitCode {
    system_tests::macos_sim::run_as_invoked()
}
