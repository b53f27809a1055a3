//! The host app's command line over the `vpn_app` library: it parses and
//! dispatches; the commands are in [`commands`]. On Linux it talks to the
//! extension's service process over the control socket; on macOS over XPC,
//! with the extension's lifecycle and the tunnel through the system
//! (`vpn_app::macos`). Without a command, on macOS, it is the menu bar app
//! ([`menu_bar_app`]), which runs the same commands.

mod commands;
#[cfg(target_os = "macos")]
mod menu_bar_app;

use std::process::ExitCode;

use clap::Parser;
use commands::{doctor, extension, tunnel, uninstall, update, upgrade};
use vpn_app::{
    cli::{Cli, Command, ExtensionCommand},
    report::{self, Report},
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(command) = &cli.command else {
        return menu_bar(cli);
    };
    let result = run(&cli, command);
    #[cfg(target_os = "macos")]
    if let Command::Upgrade {
        command: vpn_app::cli::UpgradeCommand::Finish { stay: true, .. },
    } = command
    {
        // The menu bar app tells the user what the upgrade did.
        let upgrade = result
            .as_ref()
            .ok()
            .and_then(|r| serde_json::from_value(r.json.clone()).ok());
        let _ = report::print(result, cli.json);
        return menu_bar_app::run(cli.clone(), upgrade);
    }
    report::print(result, cli.json)
}

#[cfg(target_os = "macos")]
fn menu_bar(cli: Cli) -> ExitCode {
    menu_bar_app::run(cli, None)
}

/// Elsewhere there is no menu bar app (and `upgrade finish --stay` ends
/// with its report).
#[cfg(not(target_os = "macos"))]
fn menu_bar(_cli: Cli) -> ExitCode {
    use clap::CommandFactory;
    let _ = Cli::command().print_help();
    eprintln!("\nerror: name a command (the menu bar app is macOS's)");
    ExitCode::from(2)
}

fn run(cli: &Cli, command: &Command) -> anyhow::Result<Report> {
    match command {
        Command::Status => tunnel::status(cli),
        Command::Import { file, name } => tunnel::import(cli, file, name.as_deref()),
        Command::Profiles => tunnel::profiles(cli),
        Command::Connect { profile } => tunnel::connect(cli, profile),
        Command::Disconnect => tunnel::disconnect(cli),
        Command::Logs { lines } => tunnel::logs(cli, *lines),
        Command::Doctor => Ok(doctor::report(cli)),
        Command::Upgrade { command } => upgrade::run(cli, command),
        Command::Update { command } => update::run(cli, command),
        Command::Uninstall { leave_system_files } => uninstall::run(cli, *leave_system_files),
        Command::Extension { command } => match command {
            ExtensionCommand::Status => extension::status(cli),
            ExtensionCommand::Activate => extension::activate(cli),
            ExtensionCommand::Deactivate => extension::deactivate(cli),
        },
    }
}
