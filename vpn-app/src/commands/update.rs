//! `vpn-app update check|install`.

use std::io::IsTerminal;

use vpn_app::{
    cli::{Cli, UpdateCommand},
    report::{report, Report},
    update::{self, HandedTo, InstalledApp, Offer},
};

pub fn run(cli: &Cli, command: &UpdateCommand) -> anyhow::Result<Report> {
    let app = InstalledApp::running()?;
    match command {
        UpdateCommand::Check { feed } => {
            let offer = update::check(&app, feed.as_deref())?;
            let text = offer_text(&offer);
            Ok(report(&offer, text))
        }
        UpdateCommand::Install { feed } => {
            let progress = !cli.json && std::io::stderr().is_terminal();
            let installed = update::install(&app, feed.as_deref(), progress)?;
            let next = match installed.handed_to {
                HandedTo::InstallerApp => "Installer is open: follow it to finish",
                HandedTo::Installer => "installed",
            };
            let text = format!(
                "{} {} checked (update key, {}{}, version above {}): {next}",
                installed.pkg.display(),
                installed.version,
                installed.signer,
                if installed.notarized {
                    ", notarized"
                } else {
                    ""
                },
                installed.offer.running
            );
            Ok(report(&installed, text))
        }
    }
}

fn offer_text(offer: &Offer) -> String {
    match &offer.available {
        Some(item) => format!(
            "{} ({}) is available (running {}): `vpn-app update install` installs it",
            item.short_version, item.version, offer.running
        ),
        None => format!("{} is up to date ({})", offer.running, offer.feed),
    }
}
