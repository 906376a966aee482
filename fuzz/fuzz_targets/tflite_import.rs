//! Feeds arbitrary bytes to the TFLite importer (`vigie import`): it must
//! refuse with an error or return a model that loads, never panic.
//! `cargo +nightly fuzz run tflite_import corpus/tflite_import -- -max_len=300000`
//! (from `fuzz/`), seeded with the two MLPerf Tiny files of
//! `models/mlperf-tiny/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_core::Model;

fuzz_target!(|data: &[u8]| {
    if let Ok(imported) = vigie_core::tflite::import(data, "fuzzed") {
        let bytes = imported.model.to_bytes();
        let model = Model::from_bytes(&bytes).expect("an imported model loads");
        let mut arena = vec![0i8; model.arena_len()];
        let _ = model.run_quantized(&mut arena);
    }
});
