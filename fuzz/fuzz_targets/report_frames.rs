//! Feeds arbitrary bytes, as a noisy UART would deliver them, to the
//! report frame reader (`vigie_core::report::read_frame`), split at each
//! zero byte as `vigie fleet ingest` splits them: it never panics, and
//! every report it accepts frames again and reads back the same.
//! `cargo +nightly fuzz run report_frames` (from `fuzz/`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_core::report::{frame, read_frame, FRAME_MAX};

fuzz_target!(|data: &[u8]| {
    for piece in data.split(|&b| b == 0) {
        if piece.len() > FRAME_MAX {
            continue;
        }
        if let Ok(report) = read_frame(piece) {
            let mut out = [0u8; FRAME_MAX];
            let again = frame(&report, &mut out).expect("an accepted report frames again");
            assert_eq!(read_frame(again).ok(), Some(report), "a report round-trips");
        }
    }
});
