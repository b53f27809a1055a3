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
    /// Submit a signed .pkg or .app to Apple's notary service, wait, and staple the ticket.
    Notarize(NotarizeArgs),
    /// Staple the ticket of an already accepted .pkg or .app.
    Staple(StapleArgs),
    /// Check the release's inputs before building: every problem at once, each with its fix.
    Doctor(DoctorArgs),
    /// Check a built .pkg (ours or another tool's): checksums, signatures, certificate, product.
    Verify(VerifyArgs),
    /// Show what a .pkg holds (ours or another tool's): product, components,
    /// scripts, payload, bundles, executables, signature, ticket.
    Inspect(InspectArgs),
    /// Write the configuration profile an MDM server pushes with the pkg:
    /// extension approved, VPN configured, login items and notifications allowed.
    MdmProfile(MdmProfileArgs),
    /// Make the ed25519 key that signs updates (Sparkle's format); prints
    /// the public key for release.toml's [updates] public-ed-key.
    GenerateUpdateKey(GenerateUpdateKeyArgs),
    /// Add a release's pkg to the update feed (a Sparkle appcast), signed
    /// with the update key.
    Appcast(AppcastArgs),
    /// Type-check the VPN's macOS code for both Apple targets, from Linux
    /// (the toolchain and zig a cross build uses; nothing is linked).
    CheckMacos(CheckMacosArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The release config.
    #[arg(long, env = "INSTALLER_TOOL_CONFIG", default_value = "release.toml")]
    pub config: PathBuf,
    /// The App Store Connect API key notarization will use (checked for who can read it).
    #[arg(long, env = "INSTALLER_TOOL_API_KEY", value_name = "FILE")]
    pub api_key: Option<PathBuf>,
    /// The pkg this release replaces: its versions must be lower.
    #[arg(long, value_name = "PKG")]
    pub previous: Option<PathBuf>,
    /// The Developer ID Application identity build-pkg will sign with
    /// (password in $INSTALLER_TOOL_APP_P12_PASSWORD): its kind, team and expiry.
    #[arg(long, env = "INSTALLER_TOOL_APP_P12", value_name = "P12")]
    pub app_p12: Option<PathBuf>,
    /// The Developer ID Installer identity (password in
    /// $INSTALLER_TOOL_INSTALLER_P12_PASSWORD): its kind, team and expiry.
    #[arg(long, env = "INSTALLER_TOOL_INSTALLER_P12", value_name = "P12")]
    pub installer_p12: Option<PathBuf>,
    /// Print the findings as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The flat package.
    pub pkg: PathBuf,
    /// Print the findings as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The flat package.
    pub pkg: PathBuf,
    /// Print it as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MdmProfileArgs {
    /// The release config (its `[mdm]` table sets the VPN's server and on-demand rules).
    #[arg(long, env = "INSTALLER_TOOL_CONFIG", default_value = "release.toml")]
    pub config: PathBuf,
    /// Where the profile is written (e.g. DemoVPN.mobileconfig).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// A wg-quick tunnel the profile installs and the extension starts. Its
    /// private key goes to every Mac that gets the profile; the file is
    /// written readable by its owner only.
    #[arg(long, value_name = "FILE")]
    pub tunnel: Option<PathBuf>,
    /// Sign the profile with the Developer ID Application identity (.p12,
    /// the one build-pkg's --app-p12 takes); password in
    /// $INSTALLER_TOOL_APP_P12_PASSWORD.
    #[arg(long, env = "INSTALLER_TOOL_APP_P12", value_name = "P12")]
    pub sign_p12: Option<PathBuf>,
    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GenerateUpdateKeyArgs {
    /// Where the private key is written (mode 0600; an existing file is never replaced).
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AppcastArgs {
    /// The release's pkg (checked by `verify` first).
    #[arg(long, value_name = "PKG")]
    pub pkg: PathBuf,
    /// The update key (`generate-update-key`, or Sparkle's `generate_keys -x`).
    #[arg(long, env = "INSTALLER_TOOL_UPDATE_KEY", value_name = "FILE")]
    pub ed_key: PathBuf,
    /// The https folder the pkg is published in; its URL is this plus the pkg's file name.
    #[arg(long, value_name = "URL")]
    pub download_url_prefix: url::Url,
    /// Release notes shown before the update: HTML, Markdown (.md) or plain text (.txt).
    #[arg(long, value_name = "FILE")]
    pub release_notes: Option<PathBuf>,
    /// The feed: created if absent, the release added first if present.
    #[arg(long, value_name = "FILE")]
    pub output: PathBuf,
    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckMacosArgs {
    /// The release config (its workspace and minimum macOS).
    #[arg(long, env = "INSTALLER_TOOL_CONFIG", default_value = "release.toml")]
    pub config: PathBuf,
    /// Where the check builds (kept apart from host builds: std is rebuilt
    /// for each Apple target).
    #[arg(long, value_name = "DIR")]
    pub target_dir: PathBuf,
}

/// Where the three services are (Apple's by default).
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// Notary API v2 base URL.
    #[arg(long, env = "INSTALLER_TOOL_NOTARY_URL", value_name = "URL")]
    pub notary_url: Option<url::Url>,
    /// S3-compatible endpoint for the upload, addressed path-style (default: AWS).
    #[arg(long, env = "INSTALLER_TOOL_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<url::Url>,
    /// Region the upload is signed for.
    #[arg(long, env = "INSTALLER_TOOL_S3_REGION", default_value = "us-west-2")]
    pub s3_region: String,
    /// Ticket lookup (CloudKit records/lookup) URL.
    #[arg(long, env = "INSTALLER_TOOL_TICKET_LOOKUP_URL", value_name = "URL")]
    pub ticket_lookup_url: Option<url::Url>,
    /// How long to keep asking for a ticket that is not published yet.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub ticket_timeout: u64,
}

/// The App Store Connect API key and how long to wait.
#[derive(Debug, Args)]
pub struct NotaryArgs {
    /// App Store Connect API key: the .p8 (with --api-issuer and --api-key-id)
    /// or the JSON key file of `rcodesign encode-app-store-connect-api-key`.
    #[arg(long, env = "INSTALLER_TOOL_API_KEY", value_name = "FILE")]
    pub api_key: Option<PathBuf>,
    /// Issuer id of the API key (for a .p8).
    #[arg(long, env = "INSTALLER_TOOL_API_ISSUER", value_name = "UUID")]
    pub api_issuer: Option<String>,
    /// Key id of the API key (for a .p8).
    #[arg(long, env = "INSTALLER_TOOL_API_KEY_ID", value_name = "ID")]
    pub api_key_id: Option<String>,
    /// How long to wait for the verdict before giving up (resume with --submission-id).
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub wait_timeout: u64,
    /// Token lifetime in seconds (tests; capped at Apple's 1200).
    #[arg(long, hide = true, env = "INSTALLER_TOOL_NOTARY_TOKEN_LIFETIME")]
    pub token_lifetime: Option<u64>,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
}

#[derive(Debug, Args)]
pub struct NotarizeArgs {
    /// The signed .pkg or .app.
    pub path: PathBuf,
    #[command(flatten)]
    pub notary: NotaryArgs,
    /// Wait on an earlier submission of the same file instead of submitting again.
    #[arg(long, value_name = "ID")]
    pub submission_id: Option<String>,
    /// Do not staple the ticket after acceptance.
    #[arg(long)]
    pub no_staple: bool,
    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StapleArgs {
    /// The accepted .pkg or .app.
    pub path: PathBuf,
    #[command(flatten)]
    pub endpoints: EndpointArgs,
    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
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
    /// Package zig-compiled stand-in executables instead of building the VPN (fast; tests).
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
    /// Notarize and staple the app, package it, then notarize and staple the pkg.
    #[arg(long)]
    pub notarize: bool,
    #[command(flatten)]
    pub notary: NotaryArgs,
    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}
