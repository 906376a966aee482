//! `vigie fleet`: the reports of the firmware's digits replay (the frames
//! its UART carries, made on the host by `replay_frames`, which
//! `tests/tests/firmware_matches_host.rs` holds equal to the device's) go
//! into SQLite once each, whatever the line did to them.

use std::path::{Path, PathBuf};

use vigie_trainer::cli::fleet::{ingest, open, status_lines, Ingested};

fn firmware_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware-demo/models")
        .join(name)
}

fn scratch_db(name: &str) -> PathBuf {
    let db = std::env::temp_dir().join(format!("vigie-fleet-{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    db
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
    let db = scratch_db("damage");
    let mut c = open(&db).unwrap();
    vigie_trainer::cli::fleet::add_model(&c, &firmware_file("digits.vigie")).unwrap();
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
    let done = ingest(&mut c, &mut line.as_slice(), 1).unwrap();
    assert_eq!(
        done,
        Ingested {
            stored: 2,
            duplicates: 1,
            damaged: 3,
        }
    );
    // A second ingest of the same frames stores nothing.
    let again = ingest(&mut c, &mut frames.concat().as_slice(), 1000).unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 2));
    let status = status_lines(&c).unwrap().join("\n");
    let _ = std::fs::remove_file(&db);
    assert!(status.contains("device 1: digits.vigie"), "{status}");
    assert!(status.contains("2 reports, heard "), "{status}");
    assert!(
        status.contains("; the latest (boot 0, #1) at step 79"),
        "{status}"
    );
    // The firmware's digits stream raises drift at window 44 on px36,
    // which its fault moved up.
    assert!(
        status.contains("DRIFTING since step 44: mean-cusum on px36, up"),
        "{status}"
    );
}

#[test]
fn an_empty_or_foreign_stream_stores_nothing_and_fails_nothing() {
    let db = scratch_db("foreign");
    let mut c = open(&db).unwrap();
    let text = b"hello\0this is not a frame\0\0\0";
    let done = ingest(&mut c, &mut text.as_slice(), 1).unwrap();
    assert_eq!((done.stored, done.damaged), (0, 2));
    let done = ingest(&mut c, &mut [].as_slice(), 1).unwrap();
    assert_eq!(done, Ingested::default());
    assert!(status_lines(&c).unwrap().is_empty());
    let _ = std::fs::remove_file(&db);
}

#[test]
fn a_reboot_numbers_its_reports_from_zero_again_and_they_are_all_kept() {
    let frames = digits_frames();
    let db = scratch_db("boots");
    let mut c = open(&db).unwrap();
    // The same reports from the device's next boot.
    let mut next = Vec::new();
    let mut out = [0u8; vigie_core::report::FRAME_MAX];
    for f in &frames {
        let mut r = vigie_core::report::read_frame(f).unwrap();
        r.boot = 1;
        next.extend_from_slice(vigie_core::report::frame(&r, &mut out).unwrap());
    }
    let first = ingest(&mut c, &mut frames.concat().as_slice(), 1000).unwrap();
    let second = ingest(&mut c, &mut next.as_slice(), 1000).unwrap();
    assert_eq!((first.stored, second.stored, second.duplicates), (2, 2, 0));
    let status = status_lines(&c).unwrap().join("\n");
    let _ = std::fs::remove_file(&db);
    assert!(status.contains("4 reports, heard "), "{status}");
    assert!(status.contains("; the latest (boot 1, #1)"), "{status}");
    // The first boot's episode never reported its end: it ended with it.
    assert!(status.contains("(boot 0, ended unreported)"), "{status}");
    assert!(status.contains("DRIFTING since step 44"), "{status}");
}

#[test]
fn a_device_that_sent_nothing_for_an_hour_is_listed_as_silent() {
    let db = scratch_db("silent");
    let mut c = open(&db).unwrap();
    let frames = digits_frames().concat();
    ingest(&mut c, &mut frames.as_slice(), 1000).unwrap();
    let now = vigie_trainer::cli::fleet::unix_now();
    let fresh = vigie_trainer::cli::fleet::status_lines_at(&c, now, 3600).unwrap();
    let later = vigie_trainer::cli::fleet::status_lines_at(&c, now + 3 * 3600, 3600).unwrap();
    let _ = std::fs::remove_file(&db);
    assert!(fresh[0].contains("heard "), "{fresh:?}");
    assert!(later[0].contains("SILENT for 3 h"), "{later:?}");
}

#[test]
fn a_simulated_fleet_is_stored_whole_and_its_drifting_devices_are_listed() {
    let frames = vigie_trainer::cli::fleet::simulate(200, 5, 16, 3).unwrap();
    let db = scratch_db("simulated");
    let mut c = open(&db).unwrap();
    let done = ingest(&mut c, &mut frames.as_slice(), 1000).unwrap();
    assert_eq!(
        done,
        Ingested {
            stored: 1000,
            duplicates: 0,
            damaged: 0
        }
    );
    let lines = status_lines(&c).unwrap();
    let _ = std::fs::remove_file(&db);
    let devices = lines.iter().filter(|l| l.starts_with("device ")).count();
    let drifting = lines
        .iter()
        .filter(|l| l.contains("DRIFTING since"))
        .count();
    assert_eq!(devices, 200);
    // A tenth drift (20 expected of 200); each ends its episodes in turn,
    // and the fifth report opens one again.
    assert!((8..=35).contains(&drifting), "{drifting} drifting");
}
