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
    assert_eq!((model.input_len(), model.output_len()), (640, 640));
    // 100 records of 640 outputs, none differing.
    assert_eq!(
        differing_outputs("ad01_int8.tflite", "ad01_int8.ref"),
        (0, 64_000),
        "int8 outputs differing from TFLite's"
    );
}

/// Runs an imported model on every record of TFLite's outputs and counts
/// the int8 values that differ.
fn differing_outputs(file: &str, reference_file: &str) -> (usize, usize) {
    let imported = import(&mlperf(file), file).expect("imports");
    let bytes = imported.model.to_bytes();
    let model = Model::from_bytes(&bytes).expect("loads");
    let (n_in, n_out) = (model.input_len(), model.output_len());
    let records = reference(reference_file, n_in, n_out);
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
    (differing, records.len() * n_out)
}

/// Keyword spotting (DS-CNN): 2-D and depthwise convolutions, an average
/// pool, a dense layer and TFLite's int8 softmax, all bit for bit.
#[test]
fn the_keyword_spotting_cnn_matches_tflite_bit_for_bit_on_100_inputs() {
    let imported = import(&mlperf("kws_ref_model.tflite"), "kws").expect("imports");
    let bytes = imported.model.to_bytes();
    let model = Model::from_bytes(&bytes).expect("loads");
    assert_eq!(model.def().layers.len(), 12);
    assert_eq!(model.macs(), 2_656_768);
    assert_eq!(model.task(), vigie_core::Task::Classification);
    assert_eq!(
        differing_outputs("kws_ref_model.tflite", "kws_ref_model.ref"),
        (0, 1200)
    );
    // Decisions read the softmax's levels as probabilities (not as scores
    // to take a softmax of again).
    let (x, expected) = &reference("kws_ref_model.ref", 490, 12)[0];
    let mut arena = vec![0i8; model.arena_len()];
    arena[..490].copy_from_slice(x);
    let out = model.run_quantized(&mut arena).unwrap();
    let d = out.decide().unwrap();
    let weight = |q: i8| (q as i32 + 128) as f32;
    let total: f32 = expected.iter().map(|&q| weight(q)).sum();
    assert_eq!(d.index, vigie_core::engine::level_argmax(expected));
    assert!((d.probability - weight(expected[d.index]) / total).abs() < 1e-6);
}

/// `n` int8 inputs from the 32-bit xorshift of `bench/tflite_reference.py
/// --generated` (13, 17, 5; the top byte of each state), continuing from
/// `state`.
fn xorshift_inputs(n: usize, state: &mut u32) -> Vec<i8> {
    (0..n)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 17;
            *state ^= *state << 5;
            (*state >> 24) as u8 as i8
        })
        .collect()
}

/// Visual wake words (MobileNetV1 0.25, 30 layers): TFLite's outputs for
/// 100 generated inputs (`*.out`: outputs only; the inputs are
/// regenerated here), all equal.
#[test]
fn the_visual_wake_words_mobilenet_matches_tflite_bit_for_bit_on_100_inputs() {
    let imported = import(&mlperf("vww_96_int8.tflite"), "vww").expect("imports");
    let bytes = imported.model.to_bytes();
    let model = Model::from_bytes(&bytes).expect("loads");
    assert_eq!(model.def().layers.len(), 30);
    assert_eq!(model.macs(), 7_489_664);
    let (n_in, n_out) = (model.input_len(), model.output_len());
    assert_eq!((n_in, n_out), (27_648, 2));
    let expected = mlperf("vww_96_int8.out");
    assert_eq!(expected.len(), 100 * n_out);
    let mut state = 0x9E37_79B9u32;
    let mut arena = vec![0i8; model.arena_len()];
    let mut differing = 0;
    for want in expected.chunks_exact(n_out) {
        let x = xorshift_inputs(n_in, &mut state);
        arena[..n_in].copy_from_slice(&x);
        let out = model.run_quantized(&mut arena).expect("runs");
        differing += out
            .raw()
            .iter()
            .zip(want)
            .filter(|(a, b)| **a != **b as i8)
            .count();
    }
    assert_eq!(differing, 0, "int8 outputs differing from TFLite's");
}

/// Every layer of the MobileNet, not only its two near-saturated outputs:
/// the CRC-32 of each operator's output as TFLite computed it
/// (`vww_96_int8.crc`, first 20 generated inputs) against the same layer's
/// output here, read from the model cut after that layer.
#[test]
fn every_layer_of_the_visual_wake_words_mobilenet_matches_tflite_on_20_inputs() {
    let imported = import(&mlperf("vww_96_int8.tflite"), "vww").expect("imports");
    let bytes = imported.model.to_bytes();
    let model = Model::from_bytes(&bytes).expect("loads");
    let n_in = model.input_len();
    let ops = imported.operators.len();
    let crcs: Vec<u32> = mlperf("vww_96_int8.crc")
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(crcs.len(), 20 * ops);
    // One model per layer, cut after it (regression over its outputs).
    let names: Vec<String> = (0..model.def().layers.len())
        .map(|l| {
            let n = model.layer_output_shape(l).unwrap().len();
            (0..n)
                .map(|i| format!("o{i}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    let cut: Vec<Model<'_>> = (0..model.def().layers.len())
        .map(|l| {
            let mut def = model.def().clone();
            def.layers.truncate(l + 1);
            def.sections.clear();
            def.output.task = vigie_core::Task::Regression;
            def.output.names = &names[l];
            Model::from_def(def).expect("a cut model validates")
        })
        .collect();
    let mut arena = vec![0i8; model.arena_len()];
    let mut state = 0x9E37_79B9u32;
    let mut checked = 0;
    for record in crcs.chunks_exact(ops) {
        let x = xorshift_inputs(n_in, &mut state);
        for (op, (name, layer)) in imported.operators.iter().enumerate() {
            let Some(l) = layer else { continue };
            arena[..n_in].copy_from_slice(&x);
            let out = cut[*l].run_quantized(&mut arena).expect("runs");
            let levels: Vec<u8> = out.raw().iter().map(|&q| q as u8).collect();
            assert_eq!(
                vigie_core::format::crc32(&levels),
                record[op],
                "operator {op} ({name}, layer {l}) differs from TFLite's"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 20 * 30);
}

#[test]
fn a_model_with_an_operator_vigie_lacks_is_refused_by_name_and_index() {
    let err = import(&mlperf("pretrainedResnet_quant.tflite"), "resnet").unwrap_err();
    assert_eq!(
        err,
        Error::ImportUnsupported {
            index: 3,
            code: code::ADD,
            missing:
                "ADD (a skip connection, a graph that is not a chain) is not in vigie-core yet",
        }
    );
    assert!(err.to_string().starts_with("TFLite operator 3 (ADD): "));
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
