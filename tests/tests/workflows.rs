//! The GitHub workflows users copy (`.github/workflows/`), checked here
//! since nobody here can run them: every `run:` step rendered as GitHub
//! runs it (`shell: bash`: `bash -eo pipefail`, expressions substituted) and judged by
//! shellcheck; every action pinned by commit; secrets only in the steps
//! that need them and never in one that runs cargo; the identity files
//! made readable by their owner only and removed whatever happens.
//! `.ci/run` also lints both with actionlint.

use std::process::Command;

use serde_json::Value;
use system_tests::{run_ok, workspace_root};

fn workflow(name: &str) -> Value {
    let root = workspace_root();
    let output = run_ok(
        "yaml_to_json.py",
        Command::new("python3")
            .arg(root.join("tests/scripts/yaml_to_json.py"))
            .arg(root.join(".github/workflows").join(name)),
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// (job, step) of every step of `workflow`.
fn steps(workflow: &Value) -> Vec<(String, Value)> {
    workflow["jobs"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(job, body)| {
            body["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |step| (job.clone(), step.clone()))
        })
        .collect()
}

/// What GitHub hands the shell: every `${{ ... }}` replaced by its value,
/// here a word.
fn substituted(script: &str) -> String {
    let mut out = String::new();
    let mut rest = script;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("an expression is closed") + start;
        out.push_str("EXPRESSION");
        rest = &rest[end + 2..];
    }
    out + rest
}

const WORKFLOWS: [&str; 2] = ["ci.yml", "release.yml"];

/// What GitHub runs a step's script with: `shell: bash` is
/// `bash --noprofile --norc -eo pipefail {0}`; with no shell named a step
/// runs `bash -e {0}`, without pipefail, so a failing check piped into tee
/// passes (docs.github.com, workflow syntax, `jobs.<job_id>.steps[*].shell`;
/// github/docs issue 23853 shows the runner doing so).
fn rendered(script: &str) -> String {
    format!(
        "#!/usr/bin/env bash\nset -eo pipefail\n{}",
        substituted(script)
    )
}

#[test]
fn every_run_step_runs_in_bash_with_pipefail() {
    for name in WORKFLOWS {
        let workflow = workflow(name);
        assert_eq!(
            workflow["defaults"]["run"]["shell"], "bash",
            "{name}: without `defaults: run: shell: bash` a step runs `bash -e`, without pipefail"
        );
        for (job, body) in workflow["jobs"].as_object().unwrap() {
            assert!(body.get("defaults").is_none(), "{name}, job {job}");
        }
        for (job, step) in steps(&workflow) {
            assert!(step.get("shell").is_none(), "{name}, job {job}: {step}");
        }
    }
}

/// Commands named `name` that print their arguments and exit `status`.
fn fake_command(bin: &std::path::Path, name: &str, status: i32) {
    use std::os::unix::fs::PermissionsExt;
    let path = bin.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\necho \"{name} $*\"\nexit {status}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_judging_step_fails_on_a_bad_verdict_after_recording_every_verdict() {
    let release = workflow("release.yml");
    let smoke = &release["jobs"]["smoke"]["steps"];
    let step = |name: &str| {
        smoke
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no smoke step {name:?}"))
            .clone()
    };
    let judge = step("The pkgs, as Installer and Gatekeeper judge them");
    let run = |pkgutil_status: i32| {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(dir.path().join("release")).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        for pkg in ["DemoVPN-1.0.pkg", "DemoVPN-Uninstaller-1.0.pkg"] {
            std::fs::write(dir.path().join("release").join(pkg), b"xar!").unwrap();
        }
        fake_command(&bin, "pkgutil", pkgutil_status);
        fake_command(&bin, "spctl", 0);
        let script = dir.path().join("step.sh");
        std::fs::write(&script, rendered(judge["run"].as_str().unwrap())).unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let status = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .current_dir(dir.path())
            .env("PATH", path)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        let mut evidence: Vec<String> = std::fs::read_dir(dir.path().join("evidence"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        evidence.sort();
        (status.success(), evidence)
    };
    let every_verdict: Vec<String> = [
        "DemoVPN-1.0-check-signature.txt",
        "DemoVPN-1.0-spctl.txt",
        "DemoVPN-Uninstaller-1.0-check-signature.txt",
        "DemoVPN-Uninstaller-1.0-spctl.txt",
    ]
    .map(String::from)
    .into();
    assert_eq!(run(0), (true, every_verdict.clone()));
    // pkgutil refuses the signatures: the step fails, with both pkgs judged.
    assert_eq!(run(1), (false, every_verdict));
    // The steps after it still run, and the evidence is uploaded.
    for later in [
        "Expand the pkg",
        "Code signatures, entitlements, slices, load commands",
        "Both executables start (dyld resolves every framework)",
        "Install, then look",
        "Uninstall, then look",
    ] {
        assert_eq!(step(later)["if"], "${{ !cancelled() }}", "{later}");
    }
    let upload = smoke.as_array().unwrap().last().unwrap();
    assert_eq!(upload["if"], "always()", "{upload}");
}

#[test]
fn every_run_step_passes_shellcheck_as_github_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for name in WORKFLOWS {
        for (job, step) in steps(&workflow(name)) {
            let Some(script) = step["run"].as_str() else {
                continue;
            };
            assert!(step.get("shell").is_none(), "{name} {job}: {step}");
            let file = dir.path().join(format!("{name}-{job}-{checked}.sh"));
            std::fs::write(&file, rendered(script)).unwrap();
            let output = Command::new("shellcheck").arg(&file).output().unwrap();
            assert!(
                output.status.success(),
                "{name}, job {job}, step {:?}:\n{}",
                step["name"],
                String::from_utf8_lossy(&output.stdout)
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} scripts found");
}

#[test]
fn every_action_is_pinned_by_commit() {
    for name in WORKFLOWS {
        for (job, step) in steps(&workflow(name)) {
            if let Some(uses) = step["uses"].as_str() {
                let (_, reference) = uses.split_once('@').unwrap();
                assert!(
                    reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{name}, job {job}: {uses} is not pinned to a commit"
                );
            }
        }
    }
}

#[test]
fn secrets_reach_only_the_steps_that_need_them_and_never_cargo() {
    for name in WORKFLOWS {
        let workflow = workflow(name);
        assert_eq!(
            workflow["permissions"],
            serde_json::json!({"contents": "read"}),
            "{name}: the token reads, nothing more"
        );
        assert!(
            !workflow
                .get("env")
                .is_some_and(|e| e.to_string().contains("secrets.")),
            "{name}: secrets in the workflow's env reach every step"
        );
        for (job, body) in workflow["jobs"].as_object().unwrap() {
            assert!(
                !body
                    .get("env")
                    .is_some_and(|e| e.to_string().contains("secrets.")),
                "{name}, job {job}: secrets in a job's env reach each of its steps"
            );
        }
        for (job, step) in steps(&workflow) {
            if let Some(checkout) = step["uses"]
                .as_str()
                .filter(|u| u.starts_with("actions/checkout@"))
            {
                assert_eq!(
                    step["with"]["persist-credentials"], false,
                    "{name}, job {job}: {checkout} leaves the token in .git/config"
                );
            }
            let text = step.to_string();
            if !text.contains("secrets.") {
                continue;
            }
            let script = step["run"].as_str().unwrap_or_default();
            assert!(
                !script.contains("cargo"),
                "{name}, job {job}, step {:?}: a step with secrets runs cargo, whose build scripts are anyone's code",
                step["name"]
            );
            // Secrets come in as environment variables, never written
            // into the script's text, where the log could show them.
            assert!(
                !script.contains("secrets."),
                "{name}, job {job}, step {:?}",
                step["name"]
            );
        }
    }
}

#[test]
fn the_release_writes_identities_for_its_owner_only_and_always_removes_them() {
    let release = workflow("release.yml");
    let steps = steps(&release);
    // The steps whose script holds `needle`.
    let running = |needle: &'static str| {
        steps
            .iter()
            .map(|(_, step)| step)
            .filter(move |step| step["run"].as_str().is_some_and(|s| s.contains(needle)))
    };
    let writes: Vec<&Value> = running("base64 -d >").collect();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    let script = writes[0]["run"].as_str().unwrap();
    assert!(
        script.trim_start().starts_with("umask 077"),
        "the files are made 0600 from the start: {script}"
    );
    let removal = running("rm -rf \"$RUNNER_TEMP/identities\"")
        .next()
        .expect("a step removes the identities");
    assert_eq!(removal["if"], "always()", "{removal}");
    // The build, with no secret in reach, comes before the first secret.
    let position = |needle: &str| {
        steps
            .iter()
            .position(|(_, step)| step.to_string().contains(needle))
            .unwrap()
    };
    assert!(position("cargo build --release") < position("secrets."));
    // The smoke job runs on a Mac, on what the build uploaded.
    assert_eq!(release["jobs"]["smoke"]["needs"], "build");
    assert!(release["jobs"]["smoke"]["runs-on"]
        .as_str()
        .unwrap()
        .starts_with("macos"));
}
