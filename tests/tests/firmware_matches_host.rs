//! The firmware demo, built for the Cortex-M4F and run in QEMU, prints for
//! every window of its embedded stream exactly the line that vigie-core
//! computes on this machine for the same model and input (class,
//! probability, CRC of the int8 output, monitor level, score, detector and
//! channels, and the occlusion attribution at the alarm: equal text is
//! equal bits, floats print in shortest round-trip form), and raises drift
//! soon after the injected fault.
//!
//! Needs `qemu-system-arm` and the `thumbv7em-none-eabihf` target, which
//! `./test.sh` installs; without them the tests say so and pass.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigie_core::replay::Replay;
use vigie_core::Model;

/// Drift must be raised within this many windows of the fault (the
/// firmware's own `DRIFT_BOUND`).
const DRIFT_BOUND: usize = 10;
/// QEMU runs the whole replay in well under a second; this only stops a
/// hung firmware.
const QEMU_TIMEOUT: Duration = Duration::from_secs(120);

fn firmware_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-demo")
}

/// Why the test cannot run here, if it cannot.
fn missing_tools() -> Option<String> {
    if Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some("qemu-system-arm is not installed (apt-get install qemu-system-arm)".into());
    }
    let libdir = Command::new("rustc")
        .args([
            "--print",
            "target-libdir",
            "--target",
            "thumbv7em-none-eabihf",
        ])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if !libdir.is_some_and(|d| d.exists()) {
        return Some(
            "the thumbv7em-none-eabihf target is not installed (rustup target add thumbv7em-none-eabihf)"
                .into(),
        );
    }
    None
}

/// Builds the firmware with `features` and returns its ELF.
fn build(name: &str, features: &[&str]) -> PathBuf {
    build_bin(name, "vigie-firmware-demo", features)
}

/// Builds binary `bin` of the firmware with `features` and returns its ELF.
fn build_bin(name: &str, bin: &str, features: &[&str]) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| firmware_dir().join("target"));
    let target_dir = base.join(format!("firmware-{name}"));
    let o = Command::new(env!("CARGO"))
        .current_dir(firmware_dir())
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["build", "--release", "--quiet", "--bin", bin])
        .args(features)
        .output()
        .expect("cargo runs");
    assert!(
        o.status.success(),
        "firmware build failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    target_dir.join("thumbv7em-none-eabihf/release").join(bin)
}

/// Runs an ELF in QEMU (the runner of firmware-demo/.cargo/config.toml)
/// and returns its exit status and output.
fn run_in_qemu(elf: &Path) -> (Option<i32>, String) {
    run_in_qemu_with_uart(elf, None)
}

/// [`run_in_qemu`], with UART0 written to `uart` when given.
fn run_in_qemu_with_uart(elf: &Path, uart: Option<&Path>) -> (Option<i32>, String) {
    let serial = uart.map_or("null".to_owned(), |p| format!("file:{}", p.display()));
    let mut child = Command::new("qemu-system-arm")
        .current_dir(firmware_dir())
        .args(["-cpu", "cortex-m4", "-machine", "mps2-an386", "-nographic"])
        .args(["-monitor", "none", "-serial", &serial])
        .args(["-semihosting-config", "enable=on,target=native"])
        .args(["-icount", "shift=0", "-kernel"])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("qemu starts");
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("qemu can be waited on") {
            break status;
        }
        if start.elapsed() > QEMU_TIMEOUT {
            let _ = child.kill();
            panic!("the firmware did not finish in {QEMU_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().expect("reader").expect("utf-8 output");
    (status.code(), out)
}

/// Runs firmware `name` (its model and stream in `models/`) and checks it
/// against the host; returns the summary line, or `None` when the tools
/// are missing.
fn check_firmware(name: &str, features: &[&str]) -> Option<String> {
    if let Some(why) = missing_tools() {
        eprintln!("SKIPPED firmware test ({name}): {why}");
        return None;
    }
    let elf = build(name, features);
    let uart = std::env::temp_dir().join(format!("vigie-uart-{name}-{}.bin", std::process::id()));
    let (code, out) = run_in_qemu_with_uart(&elf, Some(&uart));
    let frames = std::fs::read(&uart).expect("QEMU wrote the UART file");
    let _ = std::fs::remove_file(&uart);
    let device: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.starts_with("window") || l.starts_with("explain") || l.starts_with("summary:")
        })
        .collect();

    let model_bytes = std::fs::read(firmware_dir().join(format!("models/{name}.vigie"))).unwrap();
    let stream_bytes = std::fs::read(firmware_dir().join(format!("models/{name}.replay"))).unwrap();
    let model = Model::from_bytes(&model_bytes).unwrap();
    let host = vigie_trainer::evaluation::stream::replay_lines(&model, &stream_bytes).unwrap();
    let windows = Replay::from_bytes(&stream_bytes).unwrap().len();

    // A line per window, the attribution at the alarm, the summary.
    assert_eq!(device.len(), windows + 2, "device output:\n{out}");
    assert_eq!(host.len(), device.len(), "host lines");
    for (i, (d, h)) in device.iter().zip(&host).enumerate() {
        assert_eq!(d, h, "line {i} differs between device and host");
    }
    assert!(out.contains("outputs equal"), "{out}");
    assert!(out.lines().any(|l| l == "result: ok"), "{out}");
    assert_eq!(code, Some(0), "{out}");

    // The search's instruction estimate (what `--max-instructions`
    // bounds) is close to what the device measured for one inference
    // (the firmware that adapts prints a whole step's cost instead).
    if !features.contains(&"adapt") {
        let measured: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("cost: inference "))
            .and_then(|l| l.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no inference cost printed:\n{out}"));
        let estimated = vigie_trainer::training::search::estimated_instructions(&model) as f64;
        let tolerance = vigie_trainer::training::search::ESTIMATE_TOLERANCE;
        assert!(
            (estimated - measured).abs() <= tolerance * measured,
            "estimated {estimated} instructions per inference, measured {measured}"
        );
    }

    // The summary, recomputed on the host, meets the bound.
    let summary = host.last().unwrap();
    assert!(summary.contains("false alarms 0"), "{summary}");
    let delay: usize = summary
        .split("(delay ")
        .nth(1)
        .and_then(|s| s.split(')').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no drift raised: {summary}"));
    assert!(delay <= DRIFT_BOUND, "{summary}");

    // The drift reports the device sent on its UART are, byte for byte,
    // those the host makes of the same replay; gathered in a fleet
    // database, they show the episode the device printed, from the same
    // step.
    let host_frames =
        vigie_trainer::evaluation::stream::replay_frames(&model_bytes, &stream_bytes, 1).unwrap();
    assert!(!frames.is_empty(), "no report frame on the UART");
    assert!(
        frames == host_frames,
        "the UART frames differ from the host's"
    );
    let db = std::env::temp_dir().join(format!("vigie-fleet-{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let mut c = vigie_trainer::cli::fleet::open(db.to_str().unwrap()).unwrap();
    let model_path = firmware_dir().join(format!("models/{name}.vigie"));
    vigie_trainer::cli::fleet::add_model(&mut c, &model_path).unwrap();
    let done = vigie_trainer::cli::fleet::ingest(&mut c, &mut frames.as_slice(), 1).unwrap();
    assert_eq!((done.damaged, done.duplicates), (0, 0), "{done:?}");
    let status = vigie_trainer::cli::fleet::status_lines(&mut c)
        .unwrap()
        .join("\n");
    let _ = std::fs::remove_file(&db);
    let since = device
        .iter()
        .find_map(|l| l.split("[drifting since ").nth(1))
        .and_then(|s| s.split(']').next())
        .expect("the device printed a drift episode");
    assert!(
        status.contains(&format!("since step {since}"))
            || status.contains(&format!("from step {since}")),
        "fleet status:\n{status}\ndevice output:\n{out}"
    );
    // The input it names is the one the device named at that step.
    let at = format!("window {since:>3}:");
    let named = device
        .iter()
        .find(|l| l.starts_with(&at))
        .and_then(|l| l.split(" channel ").nth(1))
        .and_then(|s| s.split([' ', ',']).next())
        .unwrap_or("no input");
    assert!(
        status.contains(&format!(" on {named}")),
        "fleet status:\n{status}\nnamed {named}"
    );
    Some(summary.clone())
}

#[test]
fn firmware_basicmotions_cnn_matches_host_bit_for_bit_and_catches_the_fault() {
    check_firmware("basicmotions", &[]);
}

#[test]
fn firmware_digits_mlp_matches_host_bit_for_bit_and_catches_the_fault() {
    check_firmware("digits", &["--features", "digits"]);
}

/// Largest loss of accuracy while the correction is in force against
/// before the fault: the 2 points (the firmware's own
/// `RECOVERY_POINTS`).
const RECOVERY_TOLERANCE: f64 = 0.02;
/// Most accuracy the uncorrected, faulty windows may keep for the demo to
/// show a fault worth correcting (a one-deviation offset of the
/// accelerometer halves BasicMotions' accuracy).
const UNCORRECTED_AT_MOST: f64 = 0.75;

/// The share `a/b` that follows `label` in a summary.
fn share_after(summary: &str, label: &str) -> f64 {
    let text = summary
        .split(label)
        .nth(1)
        .and_then(|s| s.split([',', ';']).next())
        .unwrap_or_else(|| panic!("no `{label}` in {summary}"));
    let (a, b) = text.trim().split_once('/').expect("a/b");
    a.parse::<f64>().unwrap() / b.parse::<f64>().unwrap()
}

/// The whole adaptation story on the device, bit for bit as on the host
/// over 750 windows: the accelerometer's one-deviation offset halves the
/// accuracy, the monitor raises drift, the session corrects the input
/// after its settling period, the accuracy comes back, and the correction
/// is confirmed.
#[test]
fn firmware_corrects_a_moved_accelerometer_and_matches_host_bit_for_bit() {
    let Some(summary) = check_firmware("basicmotions-adapt", &["--features", "adapt"]) else {
        return;
    };
    let clean = share_after(&summary, "clean accuracy");
    let uncorrected = share_after(&summary, "accuracy uncorrected");
    let corrected = share_after(&summary, "accuracy corrected");
    assert!(uncorrected <= UNCORRECTED_AT_MOST, "{summary}");
    assert!(corrected >= clean - RECOVERY_TOLERANCE, "{summary}");
    assert!(summary.contains("confirmed at window"), "{summary}");
    assert!(!summary.contains("rolled back"), "{summary}");
}

/// Runs the firmware's `mlperf` binary with one model feature and checks
/// that every output equals TFLite's recorded one.
fn check_mlperf(feature: &str, outputs: &str) {
    if let Some(why) = missing_tools() {
        eprintln!("SKIPPED firmware test ({feature}): {why}");
        return;
    }
    let elf = build_bin(feature, "mlperf", &["--features", feature]);
    let (code, out) = run_in_qemu(&elf);
    let expected = format!("outputs: 0 of {outputs} int8 values differ from TFLite's on 4 inputs");
    assert!(out.lines().any(|l| l == expected), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("cost: inference ")),
        "{out}"
    );
    assert!(out.lines().any(|l| l == "result: ok"), "{out}");
    assert_eq!(code, Some(0), "{out}");
}

/// MLPerf Tiny's anomaly-detection autoencoder, imported from its .tflite
/// when the firmware is built, gives on the device exactly the int8
/// outputs TFLite's reference interpreter recorded
/// (`tests/tests/tflite_import.rs` checks the host on all 100 records).
#[test]
fn firmware_runs_the_imported_mlperf_autoencoder_with_tflites_outputs() {
    check_mlperf("mlperf-ad01", "2560");
}

/// The same for visual wake words (a 30-layer MobileNet).
#[test]
fn firmware_runs_the_imported_mlperf_mobilenet_with_tflites_outputs() {
    check_mlperf("mlperf-vww", "8");
}

/// The same for image classification (ResNet-8: skip connections through
/// save slots and int8 ADD).
#[test]
fn firmware_runs_the_imported_mlperf_resnet_with_tflites_outputs() {
    check_mlperf("mlperf-ic", "40");
}

/// The same for keyword spotting (2-D and depthwise convolutions, pooling,
/// int8 softmax).
#[test]
fn firmware_runs_the_imported_mlperf_keyword_spotter_with_tflites_outputs() {
    check_mlperf("mlperf-kws", "48");
}

/// A model update in QEMU: the candidate read from the host through
/// semihosting, a tampered copy refused with the old model still running,
/// the genuine one verified in its slot and then booted.
#[test]
fn firmware_refuses_a_tampered_update_and_boots_the_genuine_one() {
    if let Some(why) = missing_tools() {
        eprintln!("SKIPPED firmware test (update): {why}");
        return;
    }
    let elf = build_bin("update", "update", &[]);
    // Semihosting opens `models/digits.vigie` relative to QEMU's folder,
    // `firmware-demo/`.
    let (code, out) = run_in_qemu(&elf);
    assert!(
        out.lines()
            .any(|l| l == "tampered candidate: Err(SignatureInvalid)"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("boot: slot SlotB runs digits")),
        "{out}"
    );
    assert!(out.lines().any(|l| l == "result: ok"), "{out}");
    assert_eq!(code, Some(0), "{out}");
}
