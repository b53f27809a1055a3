//! build-pkg on a ~280 MB synthetic bundle, against `pigz -6 -p 2` and
//! `gzip -6` compressing the same payload bytes (with `libdeflate-gzip -6`
//! and `zstd -3 -T2` for the record); and `verify` on the pkg it wrote,
//! against `sha256sum` reading the same file; all measured in this run.
//!
//! The bundle is generated deterministically: a 40 MB random universal app
//! executable, a 10 MB one for the extension (real Mach-O, compiled by zig
//! around an `.incbin` of random bytes), 2,000 small text files and twenty
//! 10 MB base64 files in `Contents/Resources`.
//!
//! `cargo bench -p installer-tool --bench build_pkg` (needs zig, openssl,
//! pigz, gzip, libdeflate-gzip, zstd, bsdtar on PATH; `.ci/setup-debian`
//! installs them).

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use base64::Engine;
use installer_tool::{
    build::{self, BuildRequest, IdentityChoice, Timestamp},
    config::Release,
    executables::ExecutableSource,
    progress::NoProgress,
    toolchain::zig_command,
    verify,
};
use rand::{rngs::StdRng, Rng, RngCore, SeedableRng};

const RUNS: usize = 5;
const PASSWORD: &str = "bench";

fn run(what: &str, command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rng.fill_bytes(&mut data);
    data
}

/// A universal executable of `total` bytes: each slice embeds half of it.
fn executable(dir: &Path, name: &str, total: usize, rng: &mut StdRng) {
    for (arch, target) in [
        ("arm64", "aarch64-macos.11.0"),
        ("x86_64", "x86_64-macos.11.0"),
    ] {
        let blob = dir.join(format!("{name}-{arch}.bin"));
        std::fs::write(&blob, random_bytes(rng, total / 2)).unwrap();
        let source = dir.join(format!("{name}-{arch}.c"));
        std::fs::write(
            &source,
            format!(
                "__asm__(\".section __DATA,__blob\\n.globl _blob\\n_blob:\\n.incbin \\\"{}\\\"\\n\");\n\
                 extern const unsigned char blob[];\nint main(void) {{ return blob[0]; }}\n",
                blob.display()
            ),
        )
        .unwrap();
        run(
            "zig cc",
            zig_command()
                .args(["cc", "-target", target, "-O1"])
                .arg(&source)
                .arg("-o")
                .arg(dir.join(format!("{name}-{arch}"))),
        );
    }
}

fn resources(dir: &Path, rng: &mut StdRng) {
    const WORDS: [&str; 16] = [
        "tunnel",
        "packet",
        "handshake",
        "extension",
        "peer",
        "route",
        "keepalive",
        "cipher",
        "endpoint",
        "session",
        "upgrade",
        "bundle",
        "signature",
        "payload",
        "install",
        "network",
    ];
    let text = dir.join("text");
    std::fs::create_dir_all(&text).unwrap();
    for i in 0..2000 {
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(text.join(format!("{i:04}.txt"))).unwrap(),
        );
        let words = rng.gen_range(1000..2600);
        for w in 0..words {
            let sep = if w % 12 == 11 { "\n" } else { " " };
            write!(file, "{}{sep}", WORDS[rng.gen_range(0..WORDS.len())]).unwrap();
        }
    }
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..20 {
        let raw = random_bytes(rng, 10_000_000 / 4 * 3);
        std::fs::write(
            data.join(format!("{i:02}.b64")),
            base64::engine::general_purpose::STANDARD.encode(raw),
        )
        .unwrap();
    }
}

fn p12(dir: &Path, name: &str, extensions: &str) -> PathBuf {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.crt"));
    let out = dir.join(format!("{name}.p12"));
    let mut command = Command::new("openssl");
    command.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3", "-subj",
    ]);
    command.arg(format!("/CN={name}/OU=ABCDE12345/O=Bench/C=US"));
    for ext in extensions.split(';') {
        command.args(["-addext", ext]);
    }
    run(
        "openssl req",
        command.arg("-keyout").arg(&key).arg("-out").arg(&cert),
    );
    run(
        "openssl pkcs12",
        Command::new("openssl")
            .args([
                "pkcs12",
                "-export",
                "-passout",
                &format!("pass:{PASSWORD}"),
                "-inkey",
            ])
            .arg(&key)
            .arg("-in")
            .arg(&cert)
            .arg("-out")
            .arg(&out),
    );
    out
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time_shell(script: &str) -> Duration {
    let start = Instant::now();
    run(script, Command::new("sh").args(["-c", script]));
    start.elapsed()
}

fn main() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut rng = StdRng::seed_from_u64(0x5eed);

    eprintln!("generating the synthetic bundle in {} ...", root.display());
    let project = root.join("project");
    std::fs::create_dir_all(project.join("signing")).unwrap();
    std::fs::copy(workspace.join("Cargo.toml"), project.join("Cargo.toml")).unwrap();
    for file in ["signing/app.entitlements", "signing/extension.entitlements"] {
        std::fs::copy(workspace.join(file), project.join(file)).unwrap();
    }
    let config = std::fs::read_to_string(workspace.join("release.toml"))
        .unwrap()
        .replace(
            "entitlements = \"signing/app.entitlements\"",
            "entitlements = \"signing/app.entitlements\"\nresources = \"resources\"",
        )
        // The installer's pages stay where the workspace keeps them.
        .replace(
            "resources = \"installer\"",
            &format!("resources = \"{}\"", workspace.join("installer").display()),
        );
    std::fs::write(project.join("release.toml"), config).unwrap();
    resources(&project.join("resources"), &mut rng);
    let prebuilt = root.join("prebuilt");
    std::fs::create_dir_all(&prebuilt).unwrap();
    executable(&prebuilt, "vpn-app", 40_000_000, &mut rng);
    executable(&prebuilt, "vpn-extension", 10_000_000, &mut rng);
    let app_p12 = p12(
        root,
        "Developer ID Application: Bench (ABCDE12345)",
        "extendedKeyUsage=critical,codeSigning;1.2.840.113635.100.6.1.13=critical,DER:0500",
    );
    let installer_p12 = p12(
        root,
        "Developer ID Installer: Bench (ABCDE12345)",
        "extendedKeyUsage=critical,1.2.840.113635.100.4.13;1.2.840.113635.100.6.1.14=critical,DER:0500",
    );
    std::env::set_var("BENCH_P12_PASSWORD", PASSWORD);

    let out = root.join("out");
    let request = BuildRequest {
        release: Release::load(&project.join("release.toml")).unwrap(),
        executables: ExecutableSource::Prebuilt(prebuilt),
        app_identity: IdentityChoice::P12 {
            path: app_p12,
            password_env: "BENCH_P12_PASSWORD",
        },
        installer_identity: IdentityChoice::P12 {
            path: installer_p12,
            password_env: "BENCH_P12_PASSWORD",
        },
        dev: false,
        output_dir: out.clone(),
        source_date_epoch: Some(1_700_000_000),
        timestamp: Timestamp::Off,
        keep_unsigned: false,
        threads: 2,
        notarize: None,
        compression_level: std::env::var("BENCH_LEVEL")
            .map_or(6, |l| l.parse().expect("BENCH_LEVEL is a number")),
    };

    let mut ours = Vec::new();
    let mut report = None;
    for run_index in 0..RUNS {
        let _ = std::fs::remove_dir_all(&out);
        let start = Instant::now();
        let built = build::build(&request, &NoProgress).unwrap();
        ours.push(start.elapsed());
        eprintln!(
            "build-pkg run {}: {:?} ({:?})",
            run_index + 1,
            start.elapsed(),
            built.timings
        );
        report = Some(built);
    }
    let report = report.unwrap();

    // The reference tools compress exactly the cpio stream our Payload holds.
    let payload_dir = root.join("payload");
    std::fs::create_dir_all(&payload_dir).unwrap();
    run(
        "bsdtar -x Payload",
        Command::new("bsdtar")
            .arg("-xf")
            .arg(&report.pkg)
            .arg("-C")
            .arg(&payload_dir),
    );
    let payload = payload_dir.join(&report.payload.component).join("Payload");
    let cpio = root.join("payload.cpio");
    run(
        "gzip -dc",
        Command::new("sh").args([
            "-c",
            &format!("gzip -dc '{}' > '{}'", payload.display(), cpio.display()),
        ]),
    );
    let cpio_size = std::fs::metadata(&cpio).unwrap().len();
    let pigz_out = root.join("pigz.gz");
    let gzip_out = root.join("gzip.gz");
    let reference = |command: &str, out: &Path| -> Vec<Duration> {
        (0..RUNS)
            .map(|_| {
                time_shell(&format!(
                    "{command} -c '{}' > '{}'",
                    cpio.display(),
                    out.display()
                ))
            })
            .collect()
    };
    let pigz = reference("pigz -6 -p 2", &pigz_out);
    let gzip = reference("gzip -6", &gzip_out);
    let libdeflate_out = root.join("libdeflate.gz");
    let libdeflate = reference("libdeflate-gzip -6", &libdeflate_out);
    let zstd_out = root.join("zstd.zst");
    let zstd = reference("zstd -q -3 -T2", &zstd_out);

    // verify reads the whole pkg: its floor is one hash of the file.
    let verified: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let report = verify::verify(&report.pkg);
            let elapsed = start.elapsed();
            assert!(!report.has_errors(), "{:?}", report.findings);
            elapsed
        })
        .collect();
    let sha256sum: Vec<Duration> = (0..RUNS)
        .map(|_| time_shell(&format!("sha256sum '{}' > /dev/null", report.pkg.display())))
        .collect();

    let (ours, pigz, gzip) = (median(ours), median(pigz), median(gzip));
    let (libdeflate, zstd) = (median(libdeflate), median(zstd));
    let size = |path: &Path| std::fs::metadata(path).unwrap().len();
    let (verified, sha256sum) = (median(verified), median(sha256sum));
    let (gzip_size, pigz_size) = (size(&gzip_out), size(&pigz_out));
    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "synthetic bundle: {} files, {:.1} MB of content, cpio stream {:.1} MB",
        report.payload.entries,
        report.payload.content_size as f64 / 1e6,
        cpio_size as f64 / 1e6
    );
    println!(
        "median of {RUNS} runs on {} cores:",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "  build-pkg (assemble, sign, payload, BOM, xar, pkg signature): {:>7.2} s",
        secs(ours)
    );
    println!(
        "  pigz -6 -p 2 on the payload alone:                              {:>7.2} s",
        secs(pigz)
    );
    println!(
        "  gzip -6 on the payload alone:                                   {:>7.2} s",
        secs(gzip)
    );
    println!(
        "  libdeflate-gzip -6 on the payload alone (one core):            {:>7.2} s, {} B",
        secs(libdeflate),
        size(&libdeflate_out)
    );
    println!(
        "  zstd -3 -T2 on the payload alone (not a format pkgs take):     {:>7.2} s, {} B",
        secs(zstd),
        size(&zstd_out)
    );
    println!(
        "  ratio build-pkg / pigz -6 -p 2: {:.2} (target <= 0.80)",
        secs(ours) / secs(pigz)
    );
    println!(
        "  ratio build-pkg / gzip -6:      {:.2}",
        secs(ours) / secs(gzip)
    );
    println!(
        "  compressed payload: ours {} B, gzip -6 {} B, pigz -6 {} B; ours / gzip -6 = {:.4} (target within 3%)",
        report.payload.compressed_size,
        gzip_size,
        pigz_size,
        report.payload.compressed_size as f64 / gzip_size as f64
    );
    println!(
        "  verify on the pkg: {:.2} s; sha256sum of the same file: {:.2} s; ratio {:.2} (target <= 2)",
        secs(verified),
        secs(sha256sum),
        secs(verified) / secs(sha256sum)
    );
    println!(
        "  last run steps: {:?}; deflate level {}",
        report.timings, request.compression_level
    );
}
