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
    // 100 records of 2 outputs, none differing.
    assert_eq!(
        differing_generated(&model, "vww_96_int8.out"),
        (0, 200),
        "int8 outputs differing from TFLite's"
    );
}

/// Every layer of the MobileNet, not only its two near-saturated outputs:
/// the CRC-32 of each operator's output as TFLite computed it
/// (`vww_96_int8.crc`, first 20 generated inputs) against the same layer's
/// output here, read from the model cut after that layer.
#[test]
fn every_layer_of_the_visual_wake_words_mobilenet_matches_tflite_on_20_inputs() {
    let imported = import(&mlperf("vww_96_int8.tflite"), "vww").expect("imports");
    assert_eq!(
        every_operator_matches(&imported, "vww_96_int8.crc", &[]),
        20 * 30
    );
}

/// Checks the CRC-32 of each operator's output as TFLite computed it
/// (`crc_file`, per generated input one u32 per operator) against the
/// output of the vigie layer it became, read from the model cut after that
/// layer; returns the number of outputs checked. The operators of
/// `overwritten` are those whose output buffer TFLite reused in place for
/// the next operator's: their records must equal the next one's, and they
/// are not compared.
fn every_operator_matches(
    imported: &vigie_core::tflite::Imported,
    crc_file: &str,
    overwritten: &[usize],
) -> usize {
    let bytes = imported.model.to_bytes();
    let model = Model::from_bytes(&bytes).expect("loads");
    let n_in = model.input_len();
    let ops = imported.operators.len();
    let crcs: Vec<u32> = mlperf(crc_file)
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
            if overwritten.contains(&op) {
                assert_eq!(
                    record[op],
                    record[op + 1],
                    "operator {op} was not overwritten"
                );
                continue;
            }
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
    checked
}

/// Runs every record of TFLite's outputs for a `--generated` reference
/// (`*.out`) and counts the int8 values that differ.
fn differing_generated(model: &Model<'_>, reference_file: &str) -> (usize, usize) {
    let (n_in, n_out) = (model.input_len(), model.output_len());
    let expected = mlperf(reference_file);
    assert_eq!(expected.len() % n_out, 0);
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
    (differing, expected.len())
}

/// Image classification (ResNet-8 on CIFAR-10): three skip connections,
/// two of them through a strided 1×1 shortcut convolution. The graph runs
/// as a list of layers with save slots: the block's input is kept in a
/// slot (`save`), the shortcut branch takes it back (`swap`), and `add`
/// sums the two as TFLite's int8 ADD. 100 generated inputs, every output
/// equal to TFLite's.
#[test]
fn the_resnet_with_skip_connections_matches_tflite_bit_for_bit_on_100_inputs() {
    let imported = import(&mlperf("pretrainedResnet_quant.tflite"), "resnet").expect("imports");
    let bytes = imported.model.to_bytes();
    let model = Model::from_bytes(&bytes).expect("loads");
    let kinds: Vec<&str> = (0..model.def().layers.len())
        .map(|i| model.layer_kind(i).unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "add").count(),
        3,
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "conv2d").count(), 9);
    assert_eq!(kinds.iter().filter(|k| **k == "swap").count(), 2);
    assert_eq!((model.input_len(), model.output_len()), (3072, 10));
    // The arena: the largest layer's input and output (two 32×32×16
    // tensors) with its patch, and one slot of 32×32×16 kept for the
    // first skip connection.
    assert!(model.arena_len() >= 3 * 16_384, "{}", model.arena_len());
    assert_eq!(
        differing_generated(&model, "pretrainedResnet_quant.out"),
        (0, 1000),
        "int8 outputs differing from TFLite's"
    );
}

/// Every operator of the ResNet, the three ADDs included: the CRC-32 of
/// its output as TFLite computed it (`pretrainedResnet_quant.crc`, first 20
/// generated inputs) against the same layer's output, read from the model
/// cut after that layer.
#[test]
fn every_operator_of_the_resnet_matches_tflite_on_20_inputs() {
    let imported = import(&mlperf("pretrainedResnet_quant.tflite"), "resnet").expect("imports");
    // TFLite 2.14 computes each ADD in place, into the buffer of the
    // convolution output it reads (operators 2, 6 and 10), so what the
    // script recorded for those three is the ADD's output: their records
    // equal the next operator's on every input (checked). They are checked
    // through the ADD that reads them.
    let checked = every_operator_matches(&imported, "pretrainedResnet_quant.crc", &[2, 6, 10]);
    // 16 operators, of which RESHAPE becomes no layer.
    assert_eq!(checked, 20 * 12);
}

/// A model that uses an operator vigie lacks is refused by its index and
/// name, and nothing is imported: the ResNet with its AVERAGE_POOL_2D's
/// operator code changed to MAX_POOL_2D (both of the code's fields).
#[test]
fn a_model_with_an_operator_vigie_lacks_is_refused_by_name_and_index() {
    let mut file = mlperf("pretrainedResnet_quant.tflite");
    // OperatorCode 2 of this file: deprecated_builtin_code (i8) at byte
    // 98,449 and builtin_code (i32) at 98,440, both 1 (AVERAGE_POOL_2D).
    let average = code::AVERAGE_POOL_2D as u8;
    assert_eq!((file[98_449], file[98_440]), (average, average));
    file[98_449] = 17;
    file[98_440] = 17;
    let err = import(&file, "resnet").unwrap_err();
    assert_eq!(
        err,
        Error::ImportUnsupported {
            index: 12,
            code: 17,
            missing: "vigie-core has no such layer",
        }
    );
    assert!(err
        .to_string()
        .starts_with("TFLite operator 12 (MAX_POOL_2D): "));
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

/// The save-slot layers are validated like the others: an ADD or a swap
/// of a slot that holds nothing, a slot past `MAX_SLOTS`, an ADD whose
/// operands differ in shape, and an ADD multiplier above one are refused
/// with the layer's index, and never run.
#[test]
fn a_skip_connection_that_does_not_hold_together_is_refused() {
    use vigie_core::format::{LayerDef, SlotDef, MAX_SLOTS};
    let imported = import(&mlperf("pretrainedResnet_quant.tflite"), "resnet").expect("imports");
    let bytes = imported.model.to_bytes();
    let model = Model::from_bytes(&bytes).expect("loads");
    let kinds: Vec<&str> = (0..model.def().layers.len())
        .map(|i| model.layer_kind(i).unwrap())
        .collect();
    let first_save = kinds.iter().position(|k| *k == "save").unwrap();
    let first_add = kinds.iter().position(|k| *k == "add").unwrap();
    let first_swap = kinds.iter().position(|k| *k == "swap").unwrap();
    let with = |edit: &dyn Fn(&mut vigie_core::format::ModelDef<'_>)| {
        let mut def = model.def().clone();
        edit(&mut def);
        Model::from_def(def).map(|_| ()).unwrap_err()
    };
    // The first ADD with nothing saved before it.
    let err = with(&|d| {
        d.layers[first_save] = LayerDef::Flatten;
    });
    assert!(
        matches!(err, Error::ValidateChain { layer } if layer as usize == first_add),
        "{err:?}"
    );
    // A slot past the last.
    let err = with(&|d| {
        d.layers[first_save] = LayerDef::Save(SlotDef {
            slot: MAX_SLOTS as u8,
        });
    });
    assert!(
        matches!(err, Error::ValidateDimension { field: "slot", .. }),
        "{err:?}"
    );
    // A swap of a slot never saved.
    let err = with(&|d| {
        d.layers[first_swap] = LayerDef::Swap(SlotDef { slot: 1 });
    });
    assert!(
        matches!(err, Error::ValidateChain { layer } if layer as usize == first_swap),
        "{err:?}"
    );
    // The second block's swap removed: its shortcut convolution no longer
    // fits the tensor it reads.
    let second_add = first_add
        + 1
        + kinds[first_add + 1..]
            .iter()
            .position(|k| *k == "add")
            .unwrap();
    let err = with(&|d| {
        let LayerDef::Add(a) = d.layers[second_add] else {
            unreachable!()
        };
        d.layers[second_add - 2] = LayerDef::Flatten;
        d.layers[second_add] = LayerDef::Add(a);
    });
    assert!(matches!(err, Error::ValidateChain { .. }), "{err:?}");
    // A multiplier above one (a positive shift).
    let err = with(&|d| {
        let LayerDef::Add(mut a) = d.layers[first_add] else {
            unreachable!()
        };
        a.output_shift = 3;
        d.layers[first_add] = LayerDef::Add(a);
    });
    assert!(matches!(err, Error::ValidateQuantization { .. }), "{err:?}");
}

/// A `save` can sit after any layer, even one whose output is the largest
/// tensor and is followed by a layer that shrinks it (the arena then holds
/// little more than that tensor): in every fixture model and in the
/// imported keyword spotter, a `save` inserted after each layer in turn
/// loads, runs without a panic, and leaves every output unchanged.
#[test]
fn a_save_after_any_layer_runs_in_the_arena_validation_gives_and_changes_nothing() {
    use vigie_core::format::{LayerDef, SlotDef};
    let kws = import(&mlperf("kws_ref_model.tflite"), "kws")
        .expect("imports")
        .model
        .to_bytes();
    let mut files: Vec<Vec<u8>> = vigie_tests::fixture_models()
        .into_iter()
        .map(|(_, bytes, _)| bytes)
        .collect();
    files.push(kws);
    let mut tried = 0;
    for bytes in &files {
        let model = Model::from_bytes(bytes).expect("loads");
        let n_in = model.input_len();
        let mut state = 0x1234_5678u32;
        let x = xorshift_inputs(n_in, &mut state);
        let run = |m: &Model<'_>| {
            let mut arena = vec![0i8; m.arena_len()];
            arena[..n_in].copy_from_slice(&x);
            m.run_quantized(&mut arena).expect("runs").raw().to_vec()
        };
        let plain = run(&model);
        for at in 0..model.def().layers.len() {
            let mut def = model.def().clone();
            if def
                .layers
                .insert(at + 1, LayerDef::Save(SlotDef { slot: 0 }))
                .is_err()
            {
                continue; // the layer list is full
            }
            let saved = Model::from_def(def).expect("a model with a save validates");
            assert_eq!(run(&saved), plain, "save after layer {at}");
            tried += 1;
        }
    }
    assert!(tried >= 20, "{tried}");
}
