//! Feeds arbitrary bytes to the loader and runs whatever loads.
//! `cargo +nightly fuzz run load_and_run` (from the repository root).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_core::Model;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = Model::from_bytes(data) else {
        return;
    };
    // Arenas of a realistic device size; bigger models are refused by `run`.
    let mut arena = [0i8; 16 * 1024];
    let mut input = [0.25f32; 4096];
    if model.input_len() > input.len() {
        return;
    }
    for (i, v) in input.iter_mut().enumerate() {
        *v = (i as f32 * 0.37).sin() * 3.0;
    }
    if let Ok(out) = model.run(&input[..model.input_len()], &mut arena) {
        let _ = out.class();
        let _ = out.values().sum::<f32>();
    }
});
