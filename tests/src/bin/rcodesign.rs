//! `rcodesign`, the apple-codesign crate's own command line (its
//! `cli::main_impl`), built from the library already in the tree: the tests
//! use it as an outside reader of what we sign and staple, without the
//! minutes `cargo install apple-codesign` takes.

fn main() -> std::process::ExitCode {
    match apple_codesign::cli::main_impl() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
