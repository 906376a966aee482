//! Feeds arbitrary bytes, as a noisy UART would deliver them, to the
//! deframer every source of `vigie fleet ingest` goes through
//! (`vigie_core::report::Deframer`): it never panics; it gives exactly
//! what splitting the bytes at each zero and reading each piece with
//! `read_frame` gives (a piece longer than `FRAME_MAX` is damaged); and
//! every report it accepts frames again and reads back the same.
//! `cargo +nightly fuzz run report_frames` (from `fuzz/`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_core::report::{frame, read_frame, Deframer, FRAME_MAX};

fuzz_target!(|data: &[u8]| {
    let mut d = Deframer::new();
    let mut got = Vec::new();
    for &b in data {
        if let Some(read) = d.push(b) {
            got.push(read.ok());
        }
    }
    // The oracle: complete pieces (those a zero ends), empty ones skipped.
    let complete = data.iter().rposition(|&b| b == 0).map_or(0, |i| i + 1);
    let expected: Vec<_> = data[..complete]
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.len() > FRAME_MAX {
                None
            } else {
                read_frame(p).ok()
            }
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(d.pending(), complete < data.len());
    for report in got.into_iter().flatten() {
        let mut out = [0u8; FRAME_MAX];
        let framed = frame(&report, &mut out).expect("an accepted report frames again");
        assert_eq!(read_frame(framed).ok(), Some(report), "a report round-trips");
    }
});
