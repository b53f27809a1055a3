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
    "osascript",
    "launchctl",
    "sudo",
    "spctl",
    "stat",
    "open",
    "logger",
    "pgrep",
    "pkill",
    "defaults",
];

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
        ("osascript", ["-e", script]) => mac.with(|mac| osascript(mac, script)),
        ("launchctl", ["asuser", uid, command @ ..]) => {
            let console = mac.read().console;
            if console.is_none_or(|user| user.uid.to_string() != *uid) {
                return fail(&format!("Could not switch to audit session {uid}"));
            }
            run(command)
        }
        ("sudo", ["-u", _user, command @ ..]) => run(command),
        ("spctl", ["--assess", "--type", "execute", "-v", app]) => {
            let version = plist_dict(&Path::new(app).join("Contents/Info.plist"))
                .remove("CFBundleVersion")
                .unwrap_or_default();
            mac.with(|mac| mac.ingested.push(version));
            eprintln!("{app}: accepted\nsource=Notarized Developer ID");
            ExitCode::SUCCESS
        }
        ("stat", ["-f", "%Su %u", "/dev/console"]) => {
            match mac.read().console {
                Some(user) => println!("{} {}", user.name, user.uid),
                None => println!("root 0"),
            }
            ExitCode::SUCCESS
        }
        ("open", ["-n", "-g", "-a", app, "--args", rest @ ..]) => open(app, rest),
        ("logger", _) => ExitCode::SUCCESS,
        ("pgrep", ["-f", pattern]) => {
            let pattern = literal(pattern);
            let pids: Vec<u32> = mac
                .read()
                .running_apps
                .iter()
                .filter(|a| a.executable.contains(&pattern))
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
        ("pkill", [_signal, "-f", pattern]) => mac.with(|mac| {
            let pattern = literal(pattern);
            mac.running_apps
                .retain(|a| !a.executable.contains(&pattern));
            ExitCode::SUCCESS
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
fn literal(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.extend(if c == '\\' { chars.next() } else { Some(c) });
    }
    out
}

/// `scutil --nc VERB ...`, in scutil's own formats.
fn scutil(mac: &mut Mac, verb: &str, rest: &[&str]) -> ExitCode {
    let line = |s: &super::model::Service| {
        format!(
            "* ({}){:w$}{} VPN ({}) \"{}\"{:20}[VPN:{}]",
            s.status,
            "",
            s.id,
            s.app_id,
            s.name,
            "",
            s.app_id,
            w = 16usize.saturating_sub(s.status.len())
        )
    };
    if verb == "list" {
        println!("Available network connection services in the current set (*=enabled):");
        for service in &mac.services {
            println!("{}", line(service));
        }
        return ExitCode::SUCCESS;
    }
    let Some(id) = rest.first() else {
        return fail(&format!("scutil --nc {verb}: a service is needed"));
    };
    let Some(service) = mac.services.iter().find(|s| s.id == *id).cloned() else {
        return fail(&format!("No service\n  {id}"));
    };
    match verb {
        "show" => {
            println!("{}", line(&service));
            println!("<dictionary> {{\n  VPN : <dictionary> {{\n    NEProviderBundleIdentifier : {}\n    RemoteAddress : 192.0.2.1:51820\n  }}\n}}", service.provider_id);
        }
        "status" => println!("{}\n<dictionary> {{\n}}", service.status),
        "stop" => mac.stop_service(id),
        _ => return fail(&format!("scutil --nc {verb} is not simulated")),
    }
    ExitCode::SUCCESS
}

/// `osascript -e 'tell application id "ID" to quit'`.
fn osascript(mac: &mut Mac, script: &str) -> ExitCode {
    let Some(id) = script
        .strip_prefix("tell application id \"")
        .and_then(|s| s.strip_suffix("\" to quit"))
    else {
        return fail(&format!("the simulated osascript does not run `{script}`"));
    };
    mac.running_apps
        .retain(|a| a.bundle_id != id || a.ignores_quit);
    ExitCode::SUCCESS
}

/// Runs `command` as a child and passes its status on (launchctl asuser,
/// sudo -u: the user changes, nothing else does here).
fn run(command: &[&str]) -> ExitCode {
    let Some((program, args)) = command.split_first() else {
        return fail("no command");
    };
    match Command::new(program).args(args).status() {
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
