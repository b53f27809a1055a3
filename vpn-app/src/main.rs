//! The host app's command line over the `vpn_app` library: it parses and
//! dispatches; the commands are in [`commands`]. On Linux it talks to the
//! extension's service process over the control socket; on macOS over XPC,
//! with the extension's lifecycle and the tunnel through the system
//! (`vpn_app::macos`).

mod commands;

use std::process::ExitCode;

use clap::Parser;
use commands::{doctor, extension, tunnel, upgrade};
use vpn_app::{
    cli::{Cli, Command, ExtensionCommand},
    report::{self, Report},
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    report::print(run(&cli), json)
}

fn run(cli: &Cli) -> anyhow::Result<Report> {
    match &cli.command {
        Command::Status => tunnel::status(cli),
        Command::Import { file, name } => tunnel::import(cli, file, name.as_deref()),
        Command::Profiles => tunnel::profiles(cli),
        Command::Connect { profile } => tunnel::connect(cli, profile),
        Command::Disconnect => tunnel::disconnect(cli),
        Command::Logs { lines } => tunnel::logs(cli, *lines),
        Command::Doctor => Ok(doctor::report(cli)),
        Command::Upgrade { command } => upgrade::run(cli, command),
        Command::Extension { command } => match command {
            ExtensionCommand::Status => extension::status(cli),
            ExtensionCommand::Activate => extension::activate(cli),
            ExtensionCommand::Deactivate => extension::deactivate(cli),
        },
    }
}
