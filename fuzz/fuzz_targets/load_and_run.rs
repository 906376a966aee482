//! Feeds arbitrary bytes to the loader and to the replay-stream reader,
//! runs whatever loads (with its calibration's decision), feeds whatever
//! monitor section loads, and explains a prediction by occlusion; the
//! signed loader sees every input too.
//! `cargo +nightly fuzz run load_and_run` (from `fuzz/`).
//!
//! Inputs whose first byte is odd get a valid header (magic, version,
//! length, CRC-32) written over their first 16 bytes, so the fuzzer spends
//! half its time past the checksum, in the body decoder and the validator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_core::format::{crc32, Header, FORMAT_VERSION, HEADER_LEN};
use vigie_core::monitor::Monitor;
use vigie_core::Model;

/// The firmware demo's public key (`firmware-demo/keys/demo.key.pub`): the
/// signed loader parses any trailer against it.
const DEMO_KEY: [u8; 32] = [
    0x9b, 0x00, 0x39, 0x8f, 0xfc, 0x83, 0xce, 0x72, 0x24, 0x2a, 0xad, 0x5e, 0xe0, 0xef, 0x5b, 0xbe,
    0x4f, 0x8f, 0x41, 0x4b, 0x82, 0x2b, 0x75, 0x82, 0xb9, 0x20, 0xd5, 0xe3, 0x48, 0x9b, 0xa3, 0x24,
];

fuzz_target!(|data: &[u8]| {
    // Signed loading: trailer parsing and verification never panic.
    let _ = Model::from_bytes_signed(data, &DEMO_KEY);
    if let Ok(r) = vigie_core::replay::Replay::from_bytes(data) {
        let mut window = [0.0f32; 256];
        if let Some(w) = window.get_mut(..r.values_per_window()) {
            for i in 0..r.len().min(4) {
                let _ = r.window(i, w);
            }
        }
    }
    // Inputs whose first byte has bit 1 set are also read as a drawn
    // (version 2) stream with a valid checksum, so the fuzzer reaches its
    // structure checks and its fault.
    let mut drawn = [0u8; 4096];
    if data.len() >= 44 && data.len() <= drawn.len() && data[0] & 2 == 2 {
        let bytes = &mut drawn[..data.len()];
        bytes.copy_from_slice(data);
        bytes[..4].copy_from_slice(&vigie_core::replay::MAGIC);
        bytes[4..6].copy_from_slice(&vigie_core::replay::VERSION_DRAWN.to_le_bytes());
        vigie_core::replay::seal(bytes);
        if let Ok(r) = vigie_core::replay::Replay::from_bytes(bytes) {
            let mut window = [0.0f32; 256];
            if let Some(w) = window.get_mut(..r.values_per_window()) {
                for i in 0..r.len().min(4) {
                    let _ = r.window(i, w);
                }
            }
        }
    }
    let mut owned = [0u8; 32768];
    let data = if data.len() >= HEADER_LEN && data.len() <= owned.len() && data[0] & 1 == 1 {
        let bytes = &mut owned[..data.len()];
        bytes.copy_from_slice(data);
        let body = &bytes[HEADER_LEN..];
        let header = Header {
            version: FORMAT_VERSION,
            flags: 0,
            body_len: body.len() as u32,
            body_crc: crc32(body),
        };
        bytes[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        &owned[..data.len()]
    } else {
        data
    };
    let Ok(model) = Model::from_bytes(data) else {
        return;
    };
    // An arena of a realistic device size; bigger models are refused by `run`.
    let mut arena = [0i8; 16 * 1024];
    let mut input = [0.25f32; 4096];
    if model.input_len() > input.len() {
        return;
    }
    for (i, v) in input.iter_mut().enumerate() {
        *v = ((i * 37) % 101) as f32 * 0.1 - 5.0;
    }
    let mut prediction = None;
    if let Ok(out) = model.run(&input[..model.input_len()], &mut arena) {
        prediction = out.decide().ok().map(|c| (c.index, c.probability));
        let _ = out.values().sum::<f32>();
    }
    // Whatever adaptation section loads tracks a few inputs and corrects
    // them, a NaN among them.
    if let Ok(Some(mut adapter)) = vigie_core::adapt::Adapter::from_model(&model) {
        let mut adapt_state = [0.0f32; 8192];
        let n = model.input_len();
        if adapter.reset(&mut adapt_state).is_ok() {
            input[0] = f32::NAN;
            adapter.track(&mut adapt_state, &input[..n]);
            let _ = adapter.corrected(&mut adapt_state, &input[..n]);
            // An alarm on the first channel, held through the settling
            // period (capped), so the estimate runs on what was tracked.
            let mut features = heapless::Vec::new();
            let _ = features.push(0u16);
            let alarm = vigie_core::session::Alarm {
                since: 0,
                detector: vigie_core::monitor::Detector::Mean,
                features,
                last: 0,
            };
            for step in 0..adapter.def().settle.min(64) + 2 {
                adapter.track(&mut adapt_state, &input[..n]);
                let _ = adapter.update(&mut adapt_state, step, Some(&alarm));
            }
            let _ = adapter.corrected(&mut adapt_state, &input[..n]);
            adapter.undo(&mut adapt_state);
            input[0] = 0.25;
        }
    }
    // Whatever monitor section loads is fed a few samples, one with a NaN.
    let Ok(Some(monitor)) = Monitor::from_model(&model) else {
        return;
    };
    let mut state = [0.0f32; 8192];
    if monitor.reset(&mut state).is_err() {
        return;
    }
    let n = model.input_len();
    for _ in 0..3 {
        let _ = monitor.observe(&mut state, &input[..n], prediction);
        let _ = monitor.observe_label(&mut state, false);
    }
    // Occlusion attribution against the monitor's training means.
    let channels = model.input_shape().channels as usize;
    if channels <= 256 {
        let mut baseline = [0.0f32; 256];
        for (f, b) in baseline[..channels].iter_mut().enumerate() {
            *b = monitor.training_mean(f).unwrap_or(0.0);
        }
        let mut scratch = [0.0f32; 4096];
        let mut out = [0.0f32; 256];
        let _ = vigie_core::explain::occlusion(
            &model,
            &baseline[..channels],
            &input[..n],
            &mut scratch[..n],
            &mut arena,
            &mut out[..channels],
        );
    }
    input[0] = f32::NAN;
    let _ = monitor.observe(&mut state, &input[..n], None);
});
