//! The macOS commands the pkg scripts call, faked over the simulated Mac:
//! each records its call, answers in the real tool's format and changes
//! the Mac as the real one would.

use std::{
    path::Path,
    process::{Command, ExitCode, Stdio},
    time::Duration,
};

use super::{
    app::plist_dict,
    model::Mac,
    store::{MacAccess, MacFile},
};

/// Every tool faked here, so the harness can put them on PATH.
pub const TOOLS: &[&str] = &[
    "scutil",
    "launchctl",
    "sudo",
    "spctl",
    "stat",
    "open",
    "logger",
    "pgrep",
    "pkill",
    "defaults",
    "dscl",
    "systemextensionsctl",
    "pkgutil",
];

/// Set by `launchctl asuser UID` for what it runs: the user's session.
pub const SESSION_VARIABLE: &str = "MACOS_SIM_SESSION_UID";

/// What `open` run as root by a pkg left in install.log on Ventura
/// (github.com/root3nl/SupportApp issue 90).
pub const OPEN_OUTSIDE_A_SESSION: &str = "The application cannot be opened for an unexpected reason, error=Error Domain=RBSRequestErrorDomain Code=5 \"Launch failed.\" UserInfo={NSLocalizedFailureReason=Launch failed., NSUnderlyingError=0x6000028f4c30 {Error Domain=OSLaunchdErrorDomain Code=125 \"Domain does not support specified action\" UserInfo={NSLocalizedFailureReason=Domain does not support specified action}}}";

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}

pub fn main(tool: &str, args: Vec<String>) -> ExitCode {
    let mut mac = MacFile::from_env();
    let hangs = mac.with(|mac| {
        mac.record(tool, &args);
        tool == "scutil" && mac.scutil_hangs
    });
    if hangs {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match (tool, args.as_slice()) {
        ("scutil", ["--nc", verb, rest @ ..]) => mac.with(|mac| scutil(mac, verb, rest)),
        ("launchctl", ["asuser", uid, command @ ..]) => {
            let console = mac.read().console;
            if console.is_none_or(|user| user.uid.to_string() != *uid) {
                return fail(&format!("Could not switch to audit session {uid}"));
            }
            run(command, Some((SESSION_VARIABLE, uid)))
        }
        // A daemon's plist loaded into the system domain, or a loaded one
        // ended, by label (launchctl(1): `bootstrap domain-target path`,
        // `bootout service-target`).
        // A job with RunAtLoad starts at once (launchd.plist(5)), here as
        // root, alongside whoever bootstrapped it.
        ("launchctl", ["bootstrap", "system", plist]) => {
            let Some(job) = plist::Value::from_file(plist)
                .ok()
                .and_then(|p| p.into_dictionary())
            else {
                return fail(&format!("{plist} is not a property list"));
            };
            let Some(label) = job.get("Label").and_then(plist::Value::as_string) else {
                return fail(&format!("{plist}: no Label"));
            };
            let loaded = mac.with(|mac| {
                let fresh = !mac.launch_daemons.iter().any(|l| l == label);
                if fresh {
                    mac.launch_daemons.push(label.to_string());
                }
                fresh
            });
            if !loaded {
                return fail(&format!("the simulated Mac has {label} loaded already"));
            }
            let arguments = program_arguments(&job);
            let run_at_load = job
                .get("RunAtLoad")
                .and_then(plist::Value::as_boolean)
                .unwrap_or(false);
            if let (true, Some((program, args))) = (run_at_load, arguments.split_first()) {
                let started = Command::new(program)
                    .args(args)
                    .env_remove(SESSION_VARIABLE)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn();
                if let Err(e) = started {
                    return fail(&format!("cannot start {label}: {e}"));
                }
            }
            ExitCode::SUCCESS
        }
        ("launchctl", ["bootout", target]) => {
            let label = target.strip_prefix("system/").unwrap_or(target).to_string();
            mac.with(|mac| {
                let before = mac.launch_daemons.len();
                mac.launch_daemons.retain(|l| *l != label);
                if mac.launch_daemons.len() == before {
                    return fail(&format!("the simulated Mac has no {target} loaded"));
                }
                ExitCode::SUCCESS
            })
        }
        ("systemextensionsctl", ["list"]) => {
            systemextensionsctl_list(&mac.read());
            ExitCode::SUCCESS
        }
        ("pkgutil", ["--volume", volume, "--forget", id]) => pkgutil_forget(volume, id),
        ("sudo", ["-u", _user, command @ ..]) => run(command, None),
        // spctl writes its verdict to stderr, `<path>: accepted|rejected`
        // then `source=` (forums.developer.apple.com thread 680357), and
        // exits non-zero when it rejects (the exact status is unpublished:
        // 3 here). With Gatekeeper set to App Store apps only, a notarized
        // app is rejected all the same (Installomator PR 477), and this
        // simulation then ingests no ticket.
        ("spctl", ["--assess", "--type", "execute", "-v", app]) => {
            let version = plist_dict(&Path::new(app).join("Contents/Info.plist"))
                .remove("CFBundleVersion")
                .unwrap_or_default();
            mac.with(|mac| {
                if mac.gatekeeper_app_store_only {
                    eprintln!("{app}: rejected\nsource=Notarized Developer ID");
                    return ExitCode::from(3);
                }
                mac.ingested.push(version);
                eprintln!("{app}: accepted\nsource=Notarized Developer ID");
                ExitCode::SUCCESS
            })
        }
        ("stat", ["-f", "%Su %u", "/dev/console"]) => {
            match mac.read().console {
                Some(user) => println!("{} {}", user.name, user.uid),
                None => println!("root 0"),
            }
            ExitCode::SUCCESS
        }
        ("open", ["-n", "-g", "-a", app, "--args", rest @ ..]) => {
            // LaunchServices launches only into a logged-in user's GUI
            // session: `open` run by a pkg script as root, or with `sudo
            // -u` alone, fails (Coder Desktop PR 216, which cites
            // developer.apple.com/forums/thread/78332; the install.log
            // line is from github.com/root3nl/SupportApp issue 90).
            let session = std::env::var(SESSION_VARIABLE).ok();
            let console = mac.read().console.map(|user| user.uid.to_string());
            if session.is_none() || session != console {
                return fail(OPEN_OUTSIDE_A_SESSION);
            }
            open(app, rest)
        }
        ("logger", _) => ExitCode::SUCCESS,
        // The simulated directory knows the console user, whose home is
        // the harness's HOME. A value with a space comes on its own line
        // after a space, as dscl prints it (the `dscl -read` transcript in
        // NetHack's sys/unix/hints/macosx.sh).
        ("dscl", [".", "-read", record, "NFSHomeDirectory"]) => {
            let console = mac
                .read()
                .console
                .map(|user| format!("/Users/{}", user.name));
            if console.as_deref() != Some(*record) {
                return fail("<dscl_cmd> DS Error: -14136 (eDSRecordNotFound)");
            }
            let home = std::env::var("HOME").unwrap_or_default();
            if home.contains(' ') {
                println!("NFSHomeDirectory:\n {home}");
            } else {
                println!("NFSHomeDirectory: {home}");
            }
            ExitCode::SUCCESS
        }
        // pgrep and pkill match an extended regular expression (regcomp
        // REG_EXTENDED) against the whole command line with -f, and exit 1
        // when no process matched (pgrep(1) of BSD and macOS).
        ("pgrep", ["-f", pattern]) => {
            let pattern = extended_regex(pattern);
            let pids: Vec<u32> = mac
                .read()
                .running_apps
                .iter()
                .filter(|a| pattern.is_match(&a.command_line()))
                .map(|a| a.pid)
                .collect();
            for pid in &pids {
                println!("{pid}");
            }
            if pids.is_empty() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        ("pkill", [signal @ ("-TERM" | "-KILL"), "-f", pattern]) => mac.with(|mac| {
            let pattern = extended_regex(pattern);
            let matched = mac
                .running_apps
                .iter()
                .filter(|a| pattern.is_match(&a.command_line()))
                .count();
            mac.running_apps.retain(|a| {
                !pattern.is_match(&a.command_line()) || (*signal == "-TERM" && a.ignores_term)
            });
            if matched > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }),
        ("defaults", ["read", domain, key]) => {
            match plist_dict(Path::new(&format!("{domain}.plist"))).get(*key) {
                Some(value) => {
                    println!("{value}");
                    ExitCode::SUCCESS
                }
                None => fail(&format!(
                    "The domain/default pair of ({domain}, {key}) does not exist"
                )),
            }
        }
        _ => fail(&format!(
            "the simulated Mac has no `{tool} {}`",
            args.join(" ")
        )),
    }
}

/// A regular expression that escapes every special character, as the
/// scripts write it, read back as the literal it matches.
/// A pattern of pgrep -f: POSIX extended syntax, which the regex crate
/// reads the same for what the scripts write (escaped metacharacters,
/// groups, `+`, `?`, anchors).
fn extended_regex(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).unwrap_or_else(|e| panic!("pgrep: bad pattern {pattern}: {e}"))
}

/// `copy_padded_string` of Apple's scutil (configd-1405.100.8,
/// scutil.tproj/nc.c): the string, quoted when asked, then
/// `CFStringPad(padded, " ", MAX(length(original), width), 0)`, which pads
/// with spaces or cuts to that many UTF-16 units. So a quoted name of 31
/// characters loses its closing quote, and a longer one its last character
/// too (`--nc list` of a Cisco IPSec service, quoted in
/// shared/macos-reality §1d).
fn padded(original: &str, width: usize, quotes: Option<(&str, &str)>) -> String {
    let text = match quotes {
        Some((open, close)) => format!("{open}{original}{close}"),
        None => original.to_string(),
    };
    let length = original.encode_utf16().count().max(width);
    let mut units: Vec<u16> = text.encode_utf16().take(length).collect();
    units.resize(length, u16::from(b' '));
    String::from_utf16_lossy(&units)
}

/// One line of `scutil --nc list` (and the first of `--nc show`), as nc.c
/// prints it: `"%@ %@ %@ %@ %@ [%@%@%@]\n"` with the enabled mark, the
/// status padded to 16 in parentheses (a disabled service skips the status
/// lookup and shows `(Invalid)`), the service id, the interface's display
/// name padded to 18, the quoted name padded to 32, and type:subtype.
pub fn nc_list_line(
    enabled: bool,
    status: &str,
    id: &str,
    display_name: &str,
    name: &str,
    (kind, subtype): (&str, Option<&str>),
) -> String {
    let status = if enabled { status } else { "Invalid" };
    format!(
        "{} {} {} {} {} [{kind}{}{}]",
        if enabled { "*" } else { " " },
        padded(status, 16, Some(("(", ")"))),
        id,
        padded(display_name, 18, None),
        padded(name, 32, Some(("\"", "\""))),
        if subtype.is_some() { ":" } else { "" },
        subtype.unwrap_or_default(),
    )
}

/// What `SCNetworkConnectionGetStatus` reports, as a number in the
/// extended status (`Status : 2` when connected in the PPTP and L2TP
/// samples, shared/macos-reality §2a/§2b; the enum of SCNetworkConnection.h).
fn status_number(status: &str) -> i32 {
    match status {
        "Disconnected" => 0,
        "Connecting" => 1,
        "Connected" => 2,
        "Disconnecting" => 3,
        _ => -1,
    }
}

/// `scutil --nc VERB ...`, in scutil's own formats and streams (nc.c):
/// - `list`: the header, always, on stdout and exit 0; then one line per
///   service;
/// - `status`: the state word alone on the first line, then `Extended
///   Status <dictionary> {...}` (no public sample of a packet tunnel's
///   exists, so only its `Status` key is printed);
/// - a service is found by id, else by name; an unknown one prints `No
///   service` on stderr and exits 1; two of the same name print `Multiple
///   services match` first;
/// - `show`: no public sample of its output exists for any VPN type, so the
///   simulated Mac refuses it rather than invent one.
fn scutil(mac: &mut Mac, verb: &str, rest: &[&str]) -> ExitCode {
    if verb == "list" {
        println!("Available network connection services in the current set (*=enabled):");
        for s in &mac.services {
            let display = format!("VPN ({})", s.app_id);
            let line = nc_list_line(
                s.enabled,
                &s.status,
                &s.id,
                &display,
                &s.name,
                ("VPN", Some(&s.app_id)),
            );
            println!("{line}");
        }
        return ExitCode::SUCCESS;
    }
    if verb == "show" {
        return fail(
            "the simulated Mac has no `scutil --nc show`: no public sample of its output exists",
        );
    }
    let Some(wanted) = rest.first() else {
        return fail(&format!("scutil --nc {verb}: a service is needed"));
    };
    let by_id: Vec<usize> = (0..mac.services.len())
        .filter(|&i| mac.services[i].id == *wanted)
        .collect();
    let found = if by_id.is_empty() {
        (0..mac.services.len())
            .filter(|&i| mac.services[i].name == *wanted)
            .collect()
    } else {
        by_id
    };
    let index = match found.as_slice() {
        [one] => *one,
        [] => return fail("No service"),
        _ => return fail("Multiple services match\nNo service"),
    };
    match verb {
        "status" => {
            let status = &mac.services[index].status;
            println!(
                "{status}\nExtended Status <dictionary> {{\n  Status : {}\n}}",
                status_number(status)
            );
        }
        "stop" => {
            let id = mac.services[index].id.clone();
            mac.stop_service(&id);
        }
        _ => return fail(&format!("scutil --nc {verb} is not simulated")),
    }
    ExitCode::SUCCESS
}

/// Runs `command` as a child, in `session` when given, and passes its
/// status on (launchctl asuser, sudo -u: the user is not changed here).
fn run(command: &[&str], session: Option<(&str, &str)>) -> ExitCode {
    let Some((program, args)) = command.split_first() else {
        return fail("no command");
    };
    let mut child = Command::new(program);
    child.args(args);
    if let Some((variable, uid)) = session {
        child.env(variable, uid);
    }
    match child.status() {
        Ok(status) => ExitCode::from(status.code().unwrap_or(1) as u8),
        Err(e) => fail(&format!("cannot run {program}: {e}")),
    }
}

/// `open -n -g -a App.app --args ...`: launches the app's executable and
/// returns at once, as LaunchServices does.
fn open(app: &str, args: &[&str]) -> ExitCode {
    let contents = Path::new(app).join("Contents");
    let Some(executable) = plist_dict(&contents.join("Info.plist")).remove("CFBundleExecutable")
    else {
        return fail(&format!("{app} has no CFBundleExecutable"));
    };
    match Command::new(contents.join("MacOS").join(executable))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("LSOpenURLsWithRole() failed for {app}: {e}")),
    }
}

/// A launchd job's `ProgramArguments`, as launchd runs it: the program,
/// then its arguments (launchd.plist(5)).
pub fn program_arguments(job: &plist::Dictionary) -> Vec<String> {
    job.get("ProgramArguments")
        .and_then(plist::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(plist::Value::as_string)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The job in the launchd property list at `path`.
pub fn launchd_job(path: &Path) -> plist::Dictionary {
    plist::Value::from_file(path)
        .ok()
        .and_then(plist::Value::into_dictionary)
        .unwrap_or_else(|| panic!("{} is not a launchd property list", path.display()))
}

/// Another vendor's network extension, a row of shared/macos-reality §3a
/// as LuLu's user posted it: the uninstaller must leave it alone.
const OTHER_VENDOR_ROW: &str = "*\t*\tVBG97UB4TA\tcom.objective-see.lulu.extension (2.3.0/2.3.0)\tExtension\t[activated enabled]";

/// `systemextensionsctl list` in the macOS 15+ form (shared/macos-reality
/// §3b): the count, the category line with its "Go to" suffix, the header,
/// then TAB-separated rows, `enabled` and `active` being `*` or empty. Ours
/// has no name column, as in §3d, and a stray log line comes on stderr
/// (§3d); an extension deactivated since the restart shows `[terminated
/// waiting to uninstall on reboot]` (§3g).
fn systemextensionsctl_list(mac: &Mac) {
    let row = |marks: &str, extension: &super::model::Extension, state: &str| {
        format!(
            "{marks}{}\t{} ({}/{})\t[{state}]",
            extension.team_id, mac.provider_id, extension.version, extension.version
        )
    };
    let mut rows = vec![OTHER_VENDOR_ROW.to_string()];
    rows.extend(
        mac.extension
            .iter()
            .map(|e| row("*\t*\t", e, "activated enabled")),
    );
    rows.extend(
        mac.uninstalling
            .iter()
            .map(|e| row("\t\t", e, "terminated waiting to uninstall on reboot")),
    );
    println!("{} extension(s)", rows.len());
    println!("--- com.apple.system_extension.network_extension (Go to 'System Settings > General > Login Items & Extensions > Network Extensions' to modify these system extension(s))");
    println!("enabled\tactive\tteamID\tbundleID (version)\tname\t[state]");
    eprintln!("2023-09-29 22:19:25.924 systemextensionsctl[53794:3282207] Cannot getLocalizedStringForKey: Completely failed to resolve bundle info, returning empty results");
    for row in rows {
        println!("{row}");
    }
}

/// `pkgutil --volume V --forget ID` over the receipts the simulated
/// Installer writes (`V/var/db/receipts/ID.{plist,bom}`, where macOS keeps
/// them): `Forgot package 'ID' on '/'.` (rdar://23022827), or `No receipt
/// for 'ID' found at '/'.` (the message quoted in ClickToFlash's README;
/// its exit status is unpublished: 1 here).
fn pkgutil_forget(volume: &str, id: &str) -> ExitCode {
    let receipts = Path::new(volume).join("var/db/receipts");
    let files = [
        receipts.join(format!("{id}.plist")),
        receipts.join(format!("{id}.bom")),
    ];
    if !files[0].is_file() {
        return fail(&format!("No receipt for '{id}' found at '{volume}'."));
    }
    for file in files {
        if let Err(e) = std::fs::remove_file(&file) {
            return fail(&format!("cannot remove {}: {e}", file.display()));
        }
    }
    println!("Forgot package '{id}' on '{volume}'.");
    ExitCode::SUCCESS
}
