//! The pkg scripts' shell functions against hostile children and hostile
//! input, in each shell macOS's /bin/sh may be: bash, dash or zsh, chosen
//! by /private/var/select/sh (sh(1) on macOS).

use std::{
    ffi::OsString,
    os::unix::ffi::OsStringExt,
    path::Path,
    process::{Command, Output},
    time::{Duration, Instant},
};

use system_tests::workspace_root;

const SHELLS: [&[&str]; 3] = [&["bash", "--posix"], &["dash"], &["zsh", "--emulate", "sh"]];

/// Runs `script` in `shell` with upgrade-lib.sh sourced, as the pkg
/// scripts do, its install log under `dir`; `args` become `$1`, `$2`...
fn run_in(shell: &[&str], dir: &Path, script: &str, args: &[OsString]) -> Output {
    std::fs::create_dir_all(dir.join("var/log")).unwrap();
    let lib = workspace_root().join("templates/upgrade-lib.sh");
    let full = format!(
        "SCRIPT=test\nTARGET_VOLUME='{}'\n. '{}'\n{script}",
        dir.display(),
        lib.display()
    );
    Command::new("timeout")
        .arg("120")
        .args(shell)
        .arg("-c")
        .arg(full)
        .arg("test")
        .args(args)
        .env("TMPDIR", dir)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A child that ignores TERM, forks a grandchild that ignores it too and
/// holds the output, and never ends on its own: `$(bounded 2 ...)` used to
/// wait for the grandchild, however long it ran.
#[test]
fn bounded_ends_a_child_that_ignores_term_and_forks() {
    for shell in SHELLS {
        let dir = tempfile::tempdir().unwrap();
        // A duration no other process on the machine sleeps for, to find
        // leftovers by.
        let marker = format!("{}.{}", 4000 + std::process::id() % 1000, shell.len());
        let script = format!(
            "stubborn() {{ trap '' TERM; (trap '' TERM; sleep {marker}; echo late) & echo early; sleep {marker}; }}\n\
             started=$(date +%s)\n\
             out=$(bounded 2 stubborn)\n\
             status=$?\n\
             echo \"status=$status took=$(( $(date +%s) - started )) out=$out\""
        );
        let started = Instant::now();
        let output = run_in(shell, dir.path(), &script, &[]);
        let elapsed = started.elapsed();
        let text = stdout(&output);
        let leftovers = Command::new("pgrep")
            .args(["-f", &format!("sleep {marker}")])
            .output()
            .unwrap();
        let _ = Command::new("pkill")
            .args(["-KILL", "-f", &format!("sleep {marker}")])
            .status();
        assert!(
            text.contains("status=124") && text.contains("out=early"),
            "{shell:?}: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            elapsed < Duration::from_secs(8),
            "{shell:?}: a 2 s bound returned after {elapsed:?}"
        );
        assert!(
            leftovers.stdout.is_empty(),
            "{shell:?}: left running: {}",
            stdout(&leftovers)
        );
        let log = std::fs::read_to_string(dir.path().join("var/log/{{LOG_NAME}}-install.log"))
            .unwrap_or_default();
        assert!(
            log.contains("gave up on `stubborn` after 2s"),
            "{shell:?}: {log}"
        );
    }
}

#[test]
fn bounded_passes_output_and_status_through_and_cleans_up() {
    for shell in SHELLS {
        let dir = tempfile::tempdir().unwrap();
        let output = run_in(
            shell,
            dir.path(),
            "out=$(bounded 5 sh -c 'echo out; echo err >&2; exit 3' 2>/dev/null)\n\
             echo \"status=$? out=$out\"\n\
             bounded 5 sh -c 'echo err >&2' 2>&1",
            &[],
        );
        assert_eq!(stdout(&output), "status=3 out=out\nerr\n", "{shell:?}");
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files, ["var"], "{shell:?}: temporary files left behind");
    }
}

/// Every byte a shell string can hold: what a service name or a version in
/// the state file may contain.
#[test]
fn json_string_writes_valid_json_for_any_bytes() {
    let mut input: Vec<u8> = (1..=0x7f).collect();
    input.extend("é ünïcödé \\ \" end".as_bytes());
    let expected = String::from_utf8(input.clone()).unwrap();
    for shell in SHELLS {
        let dir = tempfile::tempdir().unwrap();
        let output = run_in(
            shell,
            dir.path(),
            "json_string \"$1\"",
            &[OsString::from_vec(input.clone())],
        );
        let text = stdout(&output);
        let parsed: String = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{shell:?}: not a JSON string ({e}): {text:?}"));
        assert_eq!(parsed, expected, "{shell:?}");
    }
}

#[test]
fn read_capped_reads_only_a_regular_file_only_so_far() {
    for shell in SHELLS {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("report.json");
        let mut data = b"{\n  \"outcome\": \"healthy\",\n  \"\x1b]0;owned\x07step\"\n".to_vec();
        data.resize(10 << 20, b'x');
        std::fs::write(&report, &data).unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&report, &link).unwrap();
        let output = run_in(
            shell,
            dir.path(),
            "read_capped \"$1\" 65536 | wc -c\n\
             read_capped \"$1\" 65536 | head -n 3 | tail -n 1\n\
             read_capped \"$2\" 65536 || echo refused",
            &[report.into(), link.into()],
        );
        let text = stdout(&output);
        let lines: Vec<&str> = text.lines().collect();
        // The ESC and BEL of a terminal title sequence are gone.
        assert_eq!(lines[1], "  \"]0;ownedstep\"", "{shell:?}");
        let read: usize = lines[0].trim().parse().unwrap();
        assert_eq!(read, 65536 - 2, "{shell:?}: {text}");
        assert_eq!(lines[2], "refused", "{shell:?}");
    }
}
