//! `installer-tool` binary: [`args`] parses the flags, [`requests`] turns
//! them into the library's requests, [`render`] shows progress and the
//! outcome; this file runs each command through the three. Everything else
//! is the library.

mod args;
mod render;
mod requests;

use std::{io::IsTerminal, process::ExitCode};

use anyhow::Context;
use args::{Cli, Command};
use installer_tool::{
    appcast::{write_appcast, AppcastRequest},
    build, cross_build,
    doctor::doctor,
    mdm_profile::{write_profile, MdmRequest},
    updates::{GeneratedKey, UpdateKey},
};

fn main() -> ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    init_logging(cli.verbose);
    match cli.command {
        Command::BuildPkg(args) => {
            let outcome = requests::build_pkg(&args).and_then(|request| {
                render::with_progress(args.json, |progress| build::build(&request, progress))
                    .context("failed to build the pkg")
            });
            render::finish(outcome, args.json, render::print_report)
        }
        Command::Notarize(args) => {
            let outcome = requests::notarize(&args).and_then(|request| {
                render::with_progress(args.json, |progress| {
                    notary::notarize(&args.path, &request.tokens, &request.options, progress)
                })
                .with_context(|| format!("failed to notarize {}", args.path.display()))
            });
            render::finish(outcome, args.json, render::print_notarization)
        }
        Command::Staple(args) => {
            let options = requests::staple(&args);
            let outcome = render::with_progress(args.json, |progress| {
                notary::staple(&args.path, &options, progress)
            })
            .with_context(|| format!("failed to staple {}", args.path.display()));
            render::finish(outcome, args.json, render::print_staple)
        }
        Command::Doctor(args) => {
            let json = args.json;
            let report = doctor(&requests::doctor(args));
            render::findings(&report.config, &report.findings, &report, json)
        }
        Command::Verify(args) => {
            let report = installer_tool::verify::verify(&args.pkg);
            render::findings(&report.pkg, &report.findings, &report, args.json)
        }
        Command::Inspect(args) => {
            render::inspect(&installer_tool::verify::verify(&args.pkg), args.json)
        }
        Command::MdmProfile(args) => {
            let outcome = requests::release(&args.config).and_then(|release| {
                let signer = requests::profile_signer(args.sign_p12.as_deref(), &release)?;
                write_profile(&MdmRequest {
                    release: &release,
                    config_path: &args.config,
                    tunnel: args.tunnel.as_deref(),
                    signer: signer.as_ref(),
                    output: &args.output,
                })
                .with_context(|| format!("failed to write {}", args.output.display()))
            });
            render::finish(outcome, args.json, render::print_mdm_profile)
        }
        Command::GenerateUpdateKey(args) => {
            let outcome = UpdateKey::generate(&args.output)
                .map(|key| GeneratedKey {
                    key_file: args.output.clone(),
                    public_ed_key: key.public_key(),
                })
                .with_context(|| format!("failed to write {}", args.output.display()));
            render::finish(outcome, args.json, render::print_generated_key)
        }
        Command::Appcast(args) => {
            let outcome = UpdateKey::load(&args.ed_key)
                .map_err(anyhow::Error::from)
                .and_then(|key| {
                    Ok(write_appcast(&AppcastRequest {
                        pkg: &args.pkg,
                        key: &key,
                        download_url_prefix: &args.download_url_prefix,
                        release_notes: args.release_notes.as_deref(),
                        output: &args.output,
                        now: chrono::Utc::now(),
                    })?)
                })
                .with_context(|| {
                    format!(
                        "failed to add {} to {}",
                        args.pkg.display(),
                        args.output.display()
                    )
                });
            render::finish(outcome, args.json, render::print_appcast)
        }
        Command::CheckMacos(args) => {
            let outcome = requests::release(&args.config).and_then(|release| {
                cross_build::check(&release, &args.target_dir)
                    .context("the macOS code does not type-check")
            });
            render::finish(outcome, false, |_: &()| {
                println!("the macOS code type-checks for both Apple targets")
            })
        }
    }
}

fn init_logging(verbose: u8) {
    // apple-codesign reports routine progress as warnings; keep it quiet
    // unless asked. The cross build's progress shows: it runs for minutes.
    let default = match verbose {
        0 => "warn,installer_tool::cross_build=info,apple_codesign=error,apple_xar=error",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("INSTALLER_TOOL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only where a terminal turns them into colour.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
