//! `installer-tool` binary: argument parsing, logging, progress rendering and
//! exit codes. Everything else is the library.

mod cli;
mod run;

fn main() -> std::process::ExitCode {
    run::main(<cli::Cli as clap::Parser>::parse())
}
