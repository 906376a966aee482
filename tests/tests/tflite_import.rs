//! `vigie import`: TFLite models in, bit-exact vigie models out. The
//! expected outputs are TFLite's own interpreter's with its reference
//! kernels, for 100 seeded random int8 inputs per model, written once by
//! `bench/tflite_reference.py` (the tests never need Python).

use std::path::PathBuf;

use vigie_core::tflite::{code, import};
use vigie_core::{Error, Model};

fn mlperf(file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models/mlperf-tiny")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Records of TFLite's outputs: `(input, output)` int8 tensors.
fn reference(file: &str, input_len: usize, output_len: usize) -> Vec<(Vec<i8>, Vec<i8>)> {
    let bytes = mlperf(file);
    let record = input_len + output_len;
    assert_eq!(bytes.len() % record, 0, "{file}: not whole records");
    bytes
        .chunks_exact(record)
        .map(|r| {
            let as_i8 = |b: &[u8]| b.iter().map(|&v| v as i8).collect::<Vec<_>>();
            (as_i8(&r[..input_len]), as_i8(&r[input_len..]))
        })
        .collect()
}

#[test]
fn the_anomaly_autoencoder_matches_tflite_bit_for_bit_on_100_inputs() {
    let imported = import(&mlperf("ad01_int8.tflite"), "ad01").expect("imports");
    let bytes = imported.model.to_bytes();
    let model = Model::from_bytes(&bytes).expect("loads");
    assert_eq!(model.def().layers.len(), 10);
    assert_eq!(model.macs(), 264_192);
    let (n_in, n_out) = (model.input_len(), model.output_len());
    assert_eq!((n_in, n_out), (640, 640));
    let records = reference("ad01_int8.ref", n_in, n_out);
    assert_eq!(records.len(), 100);
    let mut arena = vec![0i8; model.arena_len()];
    let mut differing = 0;
    for (x, expected) in &records {
        arena[..n_in].copy_from_slice(x);
        let out = model.run_quantized(&mut arena).expect("runs");
        differing += out
            .raw()
            .iter()
            .zip(expected)
            .filter(|(a, b)| a != b)
            .count();
    }
    assert_eq!(differing, 0, "int8 outputs differing from TFLite's");
}

#[test]
fn a_model_with_an_operator_vigie_lacks_is_refused_by_name_and_index() {
    let err = import(&mlperf("kws_ref_model.tflite"), "kws").unwrap_err();
    assert_eq!(
        err,
        Error::ImportUnsupported {
            index: 0,
            code: code::CONV_2D,
            missing: "2-D convolutions are not in vigie-core yet",
        }
    );
    assert!(err.to_string().starts_with("TFLite operator 0 (CONV_2D): "));
}

#[test]
fn a_truncated_tflite_file_is_refused_as_malformed() {
    let file = mlperf("ad01_int8.tflite");
    // Cuts in the header, the tables and the weights (the last bytes of
    // the file are alignment padding that nothing reads).
    for n in [0, 3, 8, 64, 1000, file.len() / 2, file.len() - 1000] {
        let result = import(&file[..n], "cut");
        assert!(
            matches!(result, Err(Error::ImportMalformed { .. })),
            "{n} bytes: {:?}",
            result.map(|_| "imported")
        );
    }
}

#[test]
fn corrupted_bytes_give_an_error_or_a_valid_model_never_a_panic() {
    let file = mlperf("ad01_int8.tflite");
    let mut state = 0x9E37_79B9u32;
    let mut refused = 0;
    for _ in 0..300 {
        let mut bad = file.clone();
        // A few bytes changed at random places, weighted to the tables at
        // the front and back (the weights are most of the middle).
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let i = match state % 3 {
                0 => (state as usize >> 2) % 4096,
                1 => file.len() - 1 - (state as usize >> 2) % 4096,
                _ => (state as usize >> 2) % file.len(),
            };
            bad[i] ^= (state >> 24) as u8 | 1;
        }
        match import(&bad, "fuzzed") {
            Ok(m) => {
                Model::from_bytes(&m.model.to_bytes()).expect("an imported model loads");
            }
            Err(_) => refused += 1,
        }
    }
    assert!(refused > 0, "no corruption was noticed");
}
