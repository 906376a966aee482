//! `vigie fleet`: the reports of the firmware's digits replay (the frames
//! its UART carries, made on the host by `replay_frames`, which
//! `tests/tests/firmware_matches_host.rs` holds equal to the device's) go
//! into the database once each, whatever the line did to them.
//!
//! Every test runs against SQLite and, when `VIGIE_TEST_POSTGRES` names a
//! server (`./test.sh` starts one on the loopback address), against
//! PostgreSQL too; the MQTT test needs `VIGIE_TEST_MQTT` (a mosquitto that
//! `./test.sh` starts). Without them they say SKIPPED.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use vigie_trainer::cli::fleet::{ingest, open, status_lines, Ingested, Param};

fn firmware_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware-demo/models")
        .join(name)
}

/// A fresh, empty database for test `name` on each engine: a SQLite file,
/// and a new PostgreSQL database when `VIGIE_TEST_POSTGRES` gives a server
/// (its URL, on a database the test may create others from).
fn databases(name: &str) -> Vec<String> {
    let sqlite = std::env::temp_dir().join(format!("vigie-fleet-{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&sqlite);
    let mut out = vec![sqlite.to_str().unwrap().to_owned()];
    match std::env::var("VIGIE_TEST_POSTGRES") {
        Ok(admin) => {
            let safe: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let db = format!("vigie_{safe}_{}", std::process::id());
            let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap_or_else(|e| {
                panic!("VIGIE_TEST_POSTGRES={admin}: cannot connect ({e}); is the server running?")
            });
            // One statement each: neither runs inside a transaction.
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
                .unwrap();
            c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
            let (base, _) = admin.rsplit_once('/').unwrap();
            out.push(format!("{base}/{db}"));
        }
        Err(_) => eprintln!(
            "SKIPPED PostgreSQL for `{name}`: VIGIE_TEST_POSTGRES is not set (./test.sh starts a server on the loopback address; apt-get install postgresql)"
        ),
    }
    out
}

/// Removes a test database: a SQLite file, or a PostgreSQL database
/// (dropped even while a connection of the test is open).
fn remove(db: &str) {
    if !db.starts_with("postgres") {
        let _ = std::fs::remove_file(db);
        return;
    }
    let (Ok(admin), Some((_, name))) = (std::env::var("VIGIE_TEST_POSTGRES"), db.rsplit_once('/'))
    else {
        return;
    };
    if let Ok(mut c) = postgres::Client::connect(&admin, postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

/// Asserts that a status says each of `parts`, showing it whole when not.
#[track_caller]
fn holds(status: &str, db: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            status.contains(part),
            "{db}: `{part}` missing from:\n{status}"
        );
    }
}

/// The digits replay's frames, each with its ending zero.
fn digits_frames() -> Vec<Vec<u8>> {
    let model = std::fs::read(firmware_file("digits.vigie")).unwrap();
    let stream = std::fs::read(firmware_file("digits.replay")).unwrap();
    let bytes = vigie_trainer::evaluation::stream::replay_frames(&model, &stream, 1).unwrap();
    bytes
        .split_inclusive(|&b| b == 0)
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn damaged_cut_and_repeated_frames_are_counted_and_each_report_is_stored_once() {
    let frames = digits_frames();
    assert_eq!(frames.len(), 2, "an episode start and the final counters");
    // Out of order, the second twice, noise between, one frame with a
    // flipped byte, and a cut one at the end.
    let mut line = Vec::new();
    line.extend_from_slice(&frames[1]);
    line.extend_from_slice(&[0x55, 0xAA, 0x00]);
    let mut flipped = frames[0].clone();
    flipped[3] ^= 0x10;
    line.extend_from_slice(&flipped);
    line.extend_from_slice(&frames[0]);
    line.extend_from_slice(&frames[1]);
    line.extend_from_slice(&frames[0][..frames[0].len() / 2]);
    // A report at a time (a live line), and all in one statement, where
    // the repeated report meets itself inside one INSERT.
    for batch in [1, 1000] {
        for db in databases(&format!("damage{batch}")) {
            let mut c = open(&db).unwrap();
            vigie_trainer::cli::fleet::add_model(&mut c, &firmware_file("digits.vigie")).unwrap();
            let done = ingest(&mut c, &mut line.as_slice(), batch).unwrap();
            assert_eq!(
                done,
                Ingested {
                    stored: 2,
                    duplicates: 1,
                    damaged: 3,
                },
                "{db}, batch {batch}"
            );
            // A second ingest of the same frames stores nothing.
            let again = ingest(&mut c, &mut frames.concat().as_slice(), batch).unwrap();
            assert_eq!((again.stored, again.duplicates), (0, 2), "{db}");
            let status = status_lines(&mut c).unwrap().join("\n");
            remove(&db);
            // The firmware's digits stream raises drift at window 44 on
            // px36, which its fault moved up.
            holds(
                &status,
                &db,
                &[
                    "device 1: digits.vigie",
                    "2 reports, heard ",
                    "; the latest (boot 0, #1) at step 79",
                    "DRIFTING since step 44: mean-cusum on px36, up",
                ],
            );
        }
    }
}

/// The digits reports with their fields changed by `edit`, framed.
fn edited(edit: impl Fn(&mut vigie_core::report::Report)) -> Vec<u8> {
    let mut out = [0u8; vigie_core::report::FRAME_MAX];
    let mut bytes = Vec::new();
    for f in digits_frames() {
        let mut r = vigie_core::report::read_frame(&f).unwrap();
        edit(&mut r);
        bytes.extend_from_slice(vigie_core::report::frame(&r, &mut out).unwrap());
    }
    bytes
}

#[test]
fn an_episode_whose_end_frame_was_lost_is_not_drifting_once_later_reports_drop_it() {
    let frames = digits_frames();
    let mut out = [0u8; vigie_core::report::FRAME_MAX];
    // A periodic report after the episode ended, its end frame lost: it
    // carries no episode.
    let mut later = vigie_core::report::read_frame(&frames[1]).unwrap();
    later.sequence = 3;
    later.step = 150;
    later.episode = None;
    let later = vigie_core::report::frame(&later, &mut out)
        .unwrap()
        .to_vec();
    for db in databases("lost-end") {
        let mut c = open(&db).unwrap();
        ingest(&mut c, &mut frames.concat().as_slice(), 1000).unwrap();
        let before = status_lines(&mut c).unwrap().join("\n");
        ingest(&mut c, &mut later.as_slice(), 1000).unwrap();
        let after = status_lines(&mut c).unwrap().join("\n");
        remove(&db);
        assert!(before.contains("DRIFTING since step 44"), "{db}: {before}");
        assert!(!after.contains("DRIFTING"), "{db}: {after}");
        // Report #2 never came: the sequence numbers say so.
        assert!(
            after.contains("3 reports (1 missing), heard"),
            "{db}: {after}"
        );
        assert!(
            after.contains("drift from step 44 (boot 0, ended unreported)"),
            "{db}: {after}"
        );
    }
}

#[test]
fn a_device_moved_to_a_new_model_is_neither_silent_nor_drifting_on_its_old_one() {
    let frames = digits_frames().concat();
    // The same device, later, with a new model and no episode.
    let newer = edited(|r| {
        r.model = 0x0BAD_F00D;
        r.episode = None;
    });
    for db in databases("new-model") {
        let mut c = open(&db).unwrap();
        ingest(&mut c, &mut frames.as_slice(), 1000).unwrap();
        // Heard with the old model two hours ago.
        c.execute("UPDATE reports SET received = received - 7200", &[])
            .unwrap();
        ingest(&mut c, &mut newer.as_slice(), 1000).unwrap();
        let now = vigie_trainer::cli::fleet::unix_now();
        let f = vigie_trainer::cli::fleet::fleet(&mut c, now, 3600).unwrap();
        let lines = vigie_trainer::cli::fleet::status_lines_at(&mut c, now, 3600).unwrap();
        remove(&db);
        assert_eq!(f.devices.len(), 2, "{db}");
        let old = f.devices.iter().find(|d| d.model != 0x0BAD_F00D).unwrap();
        assert_eq!(old.replaced_by.as_deref(), Some("model 0badf00d"), "{db}");
        assert!(!old.drifting() && !f.silent(old), "{db}: {lines:?}");
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("model {:08x}", old.model)))
            .unwrap();
        assert!(
            line.contains("replaced by model 0badf00d (last heard with this one 2 h ago)"),
            "{db}: {lines:?}"
        );
        assert!(!lines.join("\n").contains("DRIFTING"), "{db}: {lines:?}");
    }
}

#[test]
fn an_empty_or_foreign_stream_stores_nothing_and_fails_nothing() {
    for db in databases("foreign") {
        let mut c = open(&db).unwrap();
        let text = b"hello\0this is not a frame\0\0\0";
        let done = ingest(&mut c, &mut text.as_slice(), 1).unwrap();
        assert_eq!((done.stored, done.damaged), (0, 2), "{db}");
        let done = ingest(&mut c, &mut [].as_slice(), 1).unwrap();
        assert_eq!(done, Ingested::default(), "{db}");
        assert!(status_lines(&mut c).unwrap().is_empty(), "{db}");
        remove(&db);
    }
}

#[test]
fn a_reboot_numbers_its_reports_from_zero_again_and_they_are_all_kept() {
    let frames = digits_frames();
    // The same reports from the device's next boot.
    let mut next = Vec::new();
    let mut out = [0u8; vigie_core::report::FRAME_MAX];
    for f in &frames {
        let mut r = vigie_core::report::read_frame(f).unwrap();
        r.boot = 1;
        next.extend_from_slice(vigie_core::report::frame(&r, &mut out).unwrap());
    }
    for db in databases("boots") {
        let mut c = open(&db).unwrap();
        let first = ingest(&mut c, &mut frames.concat().as_slice(), 1000).unwrap();
        let second = ingest(&mut c, &mut next.as_slice(), 1000).unwrap();
        assert_eq!(
            (first.stored, second.stored, second.duplicates),
            (2, 2, 0),
            "{db}"
        );
        let status = status_lines(&mut c).unwrap().join("\n");
        remove(&db);
        // The first boot's episode never reported its end: it ended with
        // it.
        holds(
            &status,
            &db,
            &[
                "4 reports, heard ",
                "; the latest (boot 1, #1)",
                "(boot 0, ended unreported)",
                "DRIFTING since step 44",
            ],
        );
    }
}

#[test]
fn a_device_that_sent_nothing_for_an_hour_is_listed_as_silent() {
    let frames = digits_frames().concat();
    for db in databases("silent") {
        let mut c = open(&db).unwrap();
        ingest(&mut c, &mut frames.as_slice(), 1000).unwrap();
        let now = vigie_trainer::cli::fleet::unix_now();
        let fresh = vigie_trainer::cli::fleet::status_lines_at(&mut c, now, 3600).unwrap();
        let later =
            vigie_trainer::cli::fleet::status_lines_at(&mut c, now + 3 * 3600, 3600).unwrap();
        remove(&db);
        assert!(fresh[0].contains("heard "), "{db}: {fresh:?}");
        assert!(later[0].contains("SILENT for 3 h"), "{db}: {later:?}");
    }
}

#[test]
fn a_simulated_fleet_is_stored_whole_and_its_drifting_devices_are_listed() {
    let frames = vigie_trainer::cli::fleet::simulate(200, 5, 16, 3).unwrap();
    for db in databases("simulated") {
        let mut c = open(&db).unwrap();
        let done = ingest(&mut c, &mut frames.as_slice(), 1000).unwrap();
        assert_eq!(
            done,
            Ingested {
                stored: 1000,
                duplicates: 0,
                damaged: 0
            },
            "{db}"
        );
        let lines = status_lines(&mut c).unwrap();
        remove(&db);
        let devices = lines.iter().filter(|l| l.starts_with("device ")).count();
        let drifting = lines
            .iter()
            .filter(|l| l.contains("DRIFTING since"))
            .count();
        assert_eq!(devices, 200, "{db}");
        // A tenth drift (20 expected of 200); each ends its episodes in
        // turn, and the fifth report opens one again.
        assert!((8..=35).contains(&drifting), "{db}: {drifting} drifting");
    }
}

#[test]
fn a_database_is_brought_to_the_current_schema_once_and_keeps_its_reports() {
    let frames = digits_frames().concat();
    for db in databases("schema") {
        let mut c = open(&db).unwrap();
        assert_eq!(
            c.version().unwrap(),
            vigie_trainer::cli::fleet::store::SCHEMA_VERSION,
            "{db}"
        );
        ingest(&mut c, &mut frames.as_slice(), 1000).unwrap();
        drop(c);
        // Opening again migrates nothing and loses nothing.
        let mut c = open(&db).unwrap();
        let versions = c.query("SELECT COUNT(*) FROM vigie_schema", &[]).unwrap();
        let reports = c
            .query(
                "SELECT COUNT(*) FROM reports WHERE device = $1",
                &[Param::Int(Some(1))],
            )
            .unwrap();
        remove(&db);
        assert_eq!(versions[0][0].int(), Some(1), "{db}");
        assert_eq!(reports[0][0].int(), Some(2), "{db}");
    }
}

/// Output of a `vigie` command, asserting it succeeded.
fn vigie(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "vigie {args:?} failed:\n{text}");
    text
}

/// The MQTT tests take turns: they share the broker and its topics.
static BROKER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The test broker (`VIGIE_TEST_MQTT`, which `./test.sh` sets), or `None`
/// after saying SKIPPED.
fn broker() -> Option<String> {
    let addr = std::env::var("VIGIE_TEST_MQTT").ok();
    if addr.is_none() {
        eprintln!(
            "SKIPPED MQTT: VIGIE_TEST_MQTT is not set (./test.sh starts mosquitto on the loopback address; apt-get install mosquitto)"
        );
    }
    addr
}

/// Waits until a `vigie fleet ingest --mqtt` child says it subscribed;
/// fails with what it said if it ended first.
fn wait_subscribed(child: &mut std::process::Child) {
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("subscribed to vigie/+/report") {
        if err.read_line(&mut said).unwrap() == 0 {
            panic!("the ingest ended before subscribing: {said}");
        }
    }
    // Its later lines go on to a thread, so that it never blocks on a
    // full pipe.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
}

#[test]
fn frames_through_a_real_mqtt_broker_are_stored_once_each() {
    let Some(addr) = broker() else {
        return;
    };
    let _turn = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let frames = digits_frames();
    // What a gateway forwards: the device's two reports, one twice, a
    // damaged one, and a simulated fleet of 50 devices.
    let mut capture = frames.concat();
    capture.extend_from_slice(&frames[0]);
    let mut flipped = frames[1].clone();
    flipped[4] ^= 0x21;
    capture.extend_from_slice(&flipped);
    let fleet = vigie_trainer::cli::fleet::simulate(50, 4, 16, 9).unwrap();
    capture.extend_from_slice(&fleet);
    let model = firmware_file("digits.vigie");
    for db in databases("mqtt") {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(["fleet", "ingest", "--db", &db, "--mqtt", &addr])
            .args(["--count", "204", "--idle", "60"])
            .arg("--model")
            .arg(&model)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Publish once the broker has granted the subscription.
        wait_subscribed(&mut child);
        let (host, port) = vigie_trainer::cli::fleet::mqtt::address(&addr).unwrap();
        let sent = vigie_trainer::cli::fleet::mqtt::publish(&(host, port), &capture).unwrap();
        // 204 messages, one of them not a report frame.
        assert_eq!((sent.total, sent.reports), (204, 203), "{db}");
        let o = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{db}: {out}");
        assert!(
            out.contains(": 202 reports stored, 1 already there, 1 damaged or cut frame skipped"),
            "{db}: {out}"
        );
        let status = vigie(&["fleet", "status", "--db", &db]);
        remove(&db);
        assert!(
            status.contains("DRIFTING since step 44: mean-cusum on px36, up"),
            "{db}: {status}"
        );
        assert_eq!(
            status.lines().filter(|l| l.starts_with("device ")).count(),
            51,
            "{db}: {status}"
        );
    }
}

#[test]
fn the_fleet_page_shows_models_drift_a_timeline_and_silent_devices_in_headless_chromium() {
    let frames = digits_frames().concat();
    // Simulated devices are numbered from 0; the firmware is device 1, so
    // the simulated ones start past it.
    let fleet = vigie_trainer::cli::fleet::simulate(40, 5, 16, 5).unwrap();
    let mut out = [0u8; vigie_core::report::FRAME_MAX];
    let mut shifted = Vec::new();
    for f in fleet.split_inclusive(|&b| b == 0) {
        let mut r = vigie_core::report::read_frame(f).unwrap();
        r.device += 100;
        shifted.extend_from_slice(vigie_core::report::frame(&r, &mut out).unwrap());
    }
    let dir = common::scratch("fleet-page");
    for db in databases("page") {
        let mut c = open(&db).unwrap();
        vigie_trainer::cli::fleet::add_model(&mut c, &firmware_file("digits.vigie")).unwrap();
        ingest(&mut c, &mut frames.as_slice(), 1000).unwrap();
        ingest(&mut c, &mut shifted.as_slice(), 1000).unwrap();
        // Ten simulated devices last heard two hours ago.
        let n = c
            .execute(
                "UPDATE reports SET received = received - 7200 WHERE device >= $1 AND device < $2",
                &[Param::Int(Some(100)), Param::Int(Some(110))],
            )
            .unwrap();
        assert_eq!(n, 50, "{db}");
        drop(c);
        let page = dir.join(format!(
            "fleet-{}.html",
            if db.starts_with("postgres") {
                "pg"
            } else {
                "sqlite"
            }
        ));
        let said = vigie(&[
            "fleet",
            "report",
            "--db",
            &db,
            "--out",
            page.to_str().unwrap(),
        ]);
        remove(&db);
        assert!(said.contains(": 41 devices, "), "{db}: {said}");
        assert!(said.contains(", 10 silent"), "{db}: {said}");
        let html = std::fs::read_to_string(&page).unwrap();
        for id in ["summary", "models", "drifting", "timeline", "silent"] {
            assert!(
                html.contains(&format!("id=\"{id}\"")),
                "{db}: no section {id}"
            );
        }
        // Two model versions: the firmware's digits model, known by name,
        // and the simulated one.
        assert!(html.contains("digits.vigie ("), "{db}");
        assert!(html.contains("model 5eed0001"), "{db}");
        // The firmware's open episode, on the input it named.
        let drifting = html.split("id=\"drifting\"").nth(1).unwrap();
        let drifting = drifting.split("</section>").next().unwrap();
        assert!(drifting.contains("<td>px36</td>"), "{db}: {drifting}");
        assert!(drifting.contains("step 44 (boot 0)"), "{db}: {drifting}");
        let silent = html.split("id=\"silent\"").nth(1).unwrap();
        assert_eq!(silent.matches("<td>2 h ago</td>").count(), 10, "{db}");
        let bars = html.matches("class=\"episode\"").count();
        assert!(bars >= 5, "{db}: {bars} episode bars");

        let Some(browser) = common::chromium() else {
            eprintln!("SKIPPED rendering: no chromium (apt-get install chromium)");
            continue;
        };
        let dom = Command::new(browser)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        let dom = String::from_utf8_lossy(&dom.stdout);
        for id in ["summary", "models", "drifting", "timeline", "silent"] {
            assert!(
                dom.contains(&format!("id=\"{id}\"")),
                "{db}: the rendered page lacks section {id}"
            );
        }
        assert_eq!(dom.matches("class=\"episode\"").count(), bars, "{db}");
    }
}

#[test]
fn ingest_reads_a_live_line_from_standard_input_and_status_reads_it() {
    use std::io::Write;
    let frames = digits_frames().concat();
    let dir = common::scratch("fleet-stdin");
    let db = dir.join("fleet.db");
    let db = db.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["fleet", "ingest", "--db", db, "--from", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // A line with noise and a cut frame at the end, as a UART gives it.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&[0x13, 0x37, 0]).unwrap();
    stdin.write_all(&frames).unwrap();
    stdin.write_all(&frames[..7]).unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{said}");
    assert!(
        said.contains(": 2 reports stored, 0 already there, 2 damaged or cut frames skipped"),
        "{said}"
    );
    let status = vigie(&["fleet", "status", "--db", db]);
    assert!(status.contains("DRIFTING since step 44"), "{status}");
    // Reading never creates: a database that is not there is an error
    // that says how to make one, and no file appears.
    let missing = dir.join("none.db");
    let o = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["fleet", "status", "--db", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    common::says(
        &String::from_utf8_lossy(&o.stderr),
        "no such database; run `vigie fleet ingest --db",
    );
    assert!(!missing.exists());
}

/// Owned arguments as `&str`s.
fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A `vigie` command's failure: its error output (asserting it failed).
fn vigie_fails(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .output()
        .unwrap();
    assert!(!o.status.success(), "vigie {args:?} should have failed");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_users_slips_destroy_nothing_and_leave_nothing_behind() {
    let dir = common::scratch("fleet-slips");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let model = firmware_file("digits.vigie");
    let stream = firmware_file("digits.replay");
    let copy = path("mine.vigie");
    std::fs::copy(&model, &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let replay = |frames: &str| -> Vec<String> {
        [
            "replay",
            "--model",
            &copy,
            "--stream",
            stream.to_str().unwrap(),
            "--frames",
            frames,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    // The frames written over the model being read: refused, whatever
    // --force says, before any work.
    let mut over_model = replay(&copy);
    over_model.push("--force".into());
    let e = vigie_fails(&args(&over_model));
    common::says(&e, "that is the file given as --model");
    assert_eq!(std::fs::read(&copy).unwrap(), before);
    // Over a text file: refused without --force.
    std::fs::write(path("notes.txt"), "my notes\n").unwrap();
    let e = vigie_fails(&args(&replay(&path("notes.txt"))));
    common::says(&e, "pass --force to replace it");
    assert_eq!(
        std::fs::read_to_string(path("notes.txt")).unwrap(),
        "my notes\n"
    );
    // Frames are known as frames: written again without --force.
    let frames = path("uart.bin");
    for _ in 0..2 {
        vigie(&args(&replay(&frames)));
        vigie(&[
            "fleet",
            "simulate",
            "--devices",
            "3",
            "--reports",
            "2",
            "--out",
            &path("sim.bin"),
        ]);
    }
    // A device's capture is not the simulator's to replace.
    common::says(
        &vigie_fails(&["fleet", "simulate", "--devices", "3", "--out", &frames]),
        "pass --force to replace it",
    );
    // A file that holds no frame is not ingested, and the database this
    // run would have created is not left behind.
    let e = vigie_fails(&[
        "fleet",
        "ingest",
        "--db",
        &path("f.db"),
        "--from",
        &path("notes.txt"),
    ]);
    common::says(&e, "none of its 1 piece is a report frame");
    assert!(!dir.join("f.db").exists());
    // Nor for a folder, a mistyped URL, a missing folder.
    common::says(
        &vigie_fails(&[
            "fleet",
            "ingest",
            "--db",
            &path("f.db"),
            "--from",
            dir.to_str().unwrap(),
        ]),
        "that is a folder",
    );
    common::says(
        &vigie_fails(&[
            "fleet",
            "ingest",
            "--db",
            "postgress://vigie@127.0.0.1:1/fleet",
            "--from",
            &frames,
        ]),
        "not a PostgreSQL URL",
    );
    common::says(
        &vigie_fails(&[
            "fleet",
            "ingest",
            "--db",
            &path("none/f.db"),
            "--from",
            &frames,
        ]),
        "does not exist",
    );
    assert!(!dir.join("f.db").exists());
    // Someone else's SQLite database gets no fleet tables added.
    {
        let c = rusqlite::Connection::open(dir.join("shop.db")).unwrap();
        c.execute_batch("CREATE TABLE customers (name TEXT)")
            .unwrap();
    }
    common::says(
        &vigie_fails(&[
            "fleet",
            "ingest",
            "--db",
            &path("shop.db"),
            "--from",
            &frames,
        ]),
        "holds other tables and no fleet reports",
    );
    common::says(
        &vigie_fails(&["fleet", "status", "--db", &path("shop.db")]),
        "holds no fleet reports yet",
    );
    // The frames file itself is not a database, and status says which.
    common::says(
        &vigie_fails(&["fleet", "status", "--db", &frames]),
        &format!("--db {frames}: not a vigie fleet database"),
    );
    // A SQLite file may be called anything that is not a URL.
    use vigie_trainer::cli::fleet::store::check_name;
    assert!(check_name("postgres.db").is_ok() && check_name("pgdata/fleet.db").is_ok());
    assert!(check_name("PostgreSQL://h/db").is_err() && check_name("pg:fleet").is_err());
    vigie(&["fleet", "ingest", "--db", &path("f.db"), "--from", &frames]);
    common::says(
        &vigie(&["fleet", "status", "--db", &path("f.db")]),
        "DRIFTING since step 44",
    );
}

#[test]
fn frames_published_while_no_subscriber_runs_reach_the_next_one_of_the_same_session() {
    let Some(addr) = broker() else {
        return;
    };
    let _turn = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = common::scratch("fleet-session");
    let db = dir.join("fleet.db");
    let db = db.to_str().unwrap();
    // A session name of this run alone (a broker keeps sessions).
    let session = format!(
        "vigie-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    // A first subscriber makes the session, then dies.
    let mut first = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args([
            "fleet", "ingest", "--db", db, "--mqtt", &addr, "--idle", "60",
        ])
        .args(["--session", &session])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_subscribed(&mut first);
    first.kill().unwrap();
    first.wait().unwrap();
    // The gateway goes on publishing; the broker keeps them for the
    // session.
    let frames = vigie_trainer::cli::fleet::simulate(5, 4, 16, 1).unwrap();
    let (host, port) = vigie_trainer::cli::fleet::mqtt::address(&addr).unwrap();
    let sent = vigie_trainer::cli::fleet::mqtt::publish(&(host, port), &frames).unwrap();
    assert_eq!(sent.total, 20);
    let out = vigie(&[
        "fleet",
        "ingest",
        "--db",
        db,
        "--mqtt",
        &addr,
        "--count",
        "20",
        "--idle",
        "30",
        "--session",
        &session,
    ]);
    assert!(
        out.contains(": 20 reports stored, 0 already there"),
        "{out}"
    );
}
