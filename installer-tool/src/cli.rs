//! Command-line types: one struct per command, each flag with its
//! environment variable where CI injects it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "installer-tool",
    version,
    about = "Build, sign and verify the flat .pkg of a macOS VPN app with its system extension"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More logging on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Assemble, sign and package the app and its extension into a signed .pkg.
    BuildPkg(BuildPkgArgs),
}

#[derive(Debug, Args)]
pub struct BuildPkgArgs {
    /// The release config.
    #[arg(long, env = "INSTALLER_TOOL_CONFIG", default_value = "release.toml")]
    pub config: PathBuf,
    /// Where the pkg is written (default: package.output-dir of the config).
    #[arg(long, env = "INSTALLER_TOOL_OUTPUT_DIR")]
    pub output_dir: Option<PathBuf>,
    /// Take the executables from a macOS build job: DIR/<name> universal, or
    /// DIR/<name>-arm64 and DIR/<name>-x86_64.
    #[arg(
        long,
        env = "INSTALLER_TOOL_PREBUILT",
        value_name = "DIR",
        conflicts_with = "stand_ins"
    )]
    pub prebuilt: Option<PathBuf>,
    /// Package zig-compiled stand-in executables (the default off macOS).
    #[arg(long)]
    pub stand_ins: bool,
    /// Developer ID Application identity (.p12); password in
    /// $INSTALLER_TOOL_APP_P12_PASSWORD. Without it a self-signed identity is generated.
    #[arg(long, env = "INSTALLER_TOOL_APP_P12", value_name = "P12")]
    pub app_p12: Option<PathBuf>,
    /// Developer ID Installer identity (.p12); password in
    /// $INSTALLER_TOOL_INSTALLER_P12_PASSWORD. Without it a self-signed identity is generated.
    #[arg(long, env = "INSTALLER_TOOL_INSTALLER_P12", value_name = "P12")]
    pub installer_p12: Option<PathBuf>,
    /// Sign the app ad-hoc unless --app-p12 is given (the pkg is always signed).
    #[arg(long)]
    pub dev: bool,
    /// Time-stamp server for signatures (default: Apple's, for identities issued by Apple).
    #[arg(
        long,
        env = "INSTALLER_TOOL_TIMESTAMP_URL",
        conflicts_with = "no_timestamp"
    )]
    pub timestamp_url: Option<String>,
    /// Sign without a secure time-stamp.
    #[arg(long)]
    pub no_timestamp: bool,
    /// Also keep the unsigned product archive (reproducible under SOURCE_DATE_EPOCH).
    #[arg(long)]
    pub keep_unsigned: bool,
    /// Payload compression level, 1 (fastest) to 9 (smallest).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub compression_level: u32,
    /// Compression threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}
