//! The engine's contract: exact arena sizes, distinct errors for each misuse,
//! a file that round-trips through the writer, and how a version 1 reader
//! treats sections and trailers it does not know.

use vigie_core::format::{section_kind, split_file, ModelDef, Section, FLAG_TRAILER, HEADER_LEN};
use vigie_core::{Error, Model, Task};
use vigie_tests::{basicmotions_cnn, calibrate, digits_mlp, load_table};

fn digits_model_bytes() -> (Vec<u8>, Vec<Vec<f32>>) {
    let digits = load_table("digits.csv");
    let mut mlp = digits_mlp(&digits, 1);
    calibrate(&mut mlp, &digits.rows[..500]);
    (
        mlp.quantize().unwrap().to_bytes(),
        digits.rows[500..520].to_vec(),
    )
}

#[test]
fn arena_of_exactly_arena_len_is_enough_and_one_less_is_refused() {
    let (bytes, rows) = digits_model_bytes();
    let model = Model::from_bytes(&bytes).unwrap();
    // The first layer is the widest step: 64 inputs, 32 outputs, and
    // between them its input widened to 16-bit lanes (16 groups of 4, 8
    // bytes each) with 3 bytes to word-align them.
    assert_eq!(model.arena_len(), 64 + 32 + 8 * 16 + 3);
    assert_eq!(model.macs(), 64 * 32 + 32 * 16 + 16 * 10);
    let mut arena = vec![0i8; model.arena_len()];
    assert!(model.run(&rows[0], &mut arena).is_ok());
    let mut short = vec![0i8; model.arena_len() - 1];
    assert_eq!(
        model.run(&rows[0], &mut short).unwrap_err(),
        Error::BufferTooSmall {
            buffer: vigie_core::Buffer::Arena,
            needed: 227,
            found: 226
        }
    );
}

#[test]
fn wrong_input_length_and_non_finite_input_are_distinct_errors() {
    let (bytes, rows) = digits_model_bytes();
    let model = Model::from_bytes(&bytes).unwrap();
    let mut arena = vec![0i8; model.arena_len()];
    assert_eq!(
        model.run(&rows[0][..63], &mut arena).unwrap_err(),
        Error::RunInputLength {
            expected: 64,
            found: 63
        }
    );
    let mut bad = rows[0].clone();
    bad[17] = f32::NAN;
    assert_eq!(
        model.run(&bad, &mut arena).unwrap_err(),
        Error::RunNonFiniteInput { index: 17 }
    );
    bad[17] = f32::INFINITY;
    bad[3] = f32::NEG_INFINITY;
    assert_eq!(
        model.run(&bad, &mut arena).unwrap_err(),
        Error::RunNonFiniteInput { index: 3 }
    );
}

#[test]
fn same_arena_gives_same_answer_as_a_fresh_one() {
    let (bytes, rows) = digits_model_bytes();
    let model = Model::from_bytes(&bytes).unwrap();
    let mut dirty = vec![0x55i8; model.arena_len() + 100];
    for row in &rows {
        let mut fresh = vec![0i8; model.arena_len()];
        let a = model.run(row, &mut fresh).unwrap().raw().to_vec();
        let b = model.run(row, &mut dirty).unwrap().raw().to_vec();
        assert_eq!(a, b);
    }
}

#[test]
fn classification_reports_index_probability_and_name() {
    let (bytes, rows) = digits_model_bytes();
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(model.task(), Task::Classification);
    assert_eq!(model.output_names().len(), 10);
    assert_eq!(model.input_names().get(63), Some("px63"));
    let mut arena = vec![0i8; model.arena_len()];
    let out = model.run(&rows[0], &mut arena).unwrap();
    let class = out.decide().unwrap();
    let best = out.raw().iter().copied().max().unwrap();
    assert_eq!(out.raw()[class.index], best);
    assert_eq!(class.name, class.index.to_string());
    let total: f32 = (0..out.len()).map(|i| out.probability(i).unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-5, "probabilities sum to {total}");
    assert!(class.probability >= 1.0 / 10.0);
}

#[test]
fn written_file_decodes_to_the_same_definition() {
    let motions = load_table("basicmotions_train.csv");
    let mut cnn = basicmotions_cnn(&motions, 2);
    calibrate(&mut cnn, &motions.rows);
    let quantized = cnn.quantize().unwrap();
    let bytes = quantized.to_bytes();
    let (_, body) = split_file(&bytes).unwrap();
    assert_eq!(ModelDef::from_body(body).unwrap(), quantized.def());
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(model.input_len(), 600);
    // conv same: 8×100, pool: 8×50, conv valid stride 2: 8×24, avg same stride 2: 8×12.
    let lengths: Vec<u32> = (0..7)
        .map(|i| model.layer_output_shape(i).unwrap().length)
        .collect();
    assert_eq!(lengths, [100, 50, 24, 12, 1, 1, 1]);
    // The first layer reads 600 bytes, writes 800 and gathers between them
    // its two input patches (6 channels × kernel 5 = 30 taps each), their
    // 7 full groups of 4 taps widened to 16 bytes each, and 3 bytes to
    // word-align those.
    assert_eq!(model.arena_len(), 600 + 800 + 2 * 30 + 16 * 7 + 3);
}

fn with_section(section: Section<'_>) -> Result<usize, Error> {
    let (bytes, _) = digits_model_bytes();
    let (_, body) = split_file(&bytes).unwrap();
    let mut def = ModelDef::from_body(body).unwrap();
    def.sections.push(section).unwrap();
    let rewritten = def.to_bytes();
    Model::from_bytes(&rewritten).map(|m| m.def().sections.len())
}

#[test]
fn unknown_optional_section_is_skipped_and_unknown_required_section_is_refused() {
    let data = [1u8, 2, 3];
    assert_eq!(
        with_section(Section {
            kind: 999,
            required: false,
            data: &data
        }),
        Ok(1)
    );
    assert_eq!(
        with_section(Section {
            kind: 999,
            required: true,
            data: &data
        }),
        Err(Error::LoadUnknownRequiredSection {
            index: 0,
            kind: 999
        })
    );
    assert_eq!(
        with_section(Section {
            kind: section_kind::MONITOR,
            required: true,
            data: &data
        }),
        Ok(1)
    );
}

#[test]
fn trailer_is_ignored_when_flagged_and_refused_otherwise() {
    let (bytes, _) = digits_model_bytes();
    let mut with_trailer = bytes.clone();
    with_trailer.extend_from_slice(b"signature goes here");
    assert!(matches!(
        Model::from_bytes(&with_trailer),
        Err(Error::LoadLengthMismatch { .. })
    ));
    with_trailer[6..8].copy_from_slice(&FLAG_TRAILER.to_le_bytes());
    assert!(Model::from_bytes(&with_trailer).is_ok());
    let mut unknown_flag = bytes.clone();
    unknown_flag[6] = 0x02;
    assert_eq!(
        Model::from_bytes(&unknown_flag).unwrap_err(),
        Error::LoadUnsupportedFlags { flags: 2 }
    );
    let mut version_2 = bytes.clone();
    version_2[4] = 2;
    assert_eq!(
        Model::from_bytes(&version_2).unwrap_err(),
        Error::LoadUnsupportedVersion { version: 2 }
    );
    assert_eq!(
        Model::from_bytes(&bytes[..HEADER_LEN - 1]).unwrap_err(),
        Error::LoadTooShort { len: 15 }
    );
}

#[test]
fn error_messages_name_the_place_and_what_to_do() {
    let msg = Error::ValidateTensorLength {
        place: vigie_core::error::Place::Layer(2),
        field: "bias",
        expected: 40,
        found: 36,
    }
    .to_string();
    assert_eq!(msg, "layer 2: `bias` has 36 bytes, its shape needs 40");
    let msg = Error::LoadChecksumMismatch {
        stored: 1,
        computed: 2,
    }
    .to_string();
    assert!(msg.contains("copy it again"), "{msg}");
}

#[test]
fn missing_value_is_imputed_when_the_model_stores_imputation_values() {
    let digits = load_table("digits.csv");
    let mut mlp = digits_mlp(&digits, 1);
    calibrate(&mut mlp, &digits.rows[..500]);
    mlp.input.missing = mlp.input.mean.clone();
    let bytes = mlp.quantize().unwrap().to_bytes();
    let model = Model::from_bytes(&bytes).unwrap();
    let mut arena = vec![0i8; model.arena_len()];
    let mut with_hole = digits.rows[600].clone();
    with_hole[20] = f32::NAN;
    let imputed = model.run(&with_hole, &mut arena).unwrap().raw().to_vec();
    let mut filled = digits.rows[600].clone();
    filled[20] = mlp.input.mean[20];
    assert_eq!(model.run(&filled, &mut arena).unwrap().raw(), &imputed[..]);
    // An infinity is never a missing value.
    with_hole[20] = f32::INFINITY;
    assert_eq!(
        model.run(&with_hole, &mut arena).unwrap_err(),
        Error::RunNonFiniteInput { index: 20 }
    );
}

/// A digits model with a calibration section.
fn calibrated(temperature: f32, abstain_below: f32, costs: &[f32]) -> Result<Vec<u8>, Error> {
    let digits = load_table("digits.csv");
    let mut mlp = digits_mlp(&digits, 1);
    calibrate(&mut mlp, &digits.rows[..500]);
    let mut q = mlp.quantize().unwrap();
    let costs: Vec<u8> = costs.iter().flat_map(|c| c.to_le_bytes()).collect();
    let def = vigie_core::CalibrationDef {
        temperature,
        abstain_below,
        costs: &costs,
    };
    q.set_section(section_kind::CALIBRATION, true, def.to_vec())?;
    let bytes = q.to_bytes();
    Model::from_bytes(&bytes)?;
    Ok(bytes)
}

#[test]
fn decide_takes_the_class_of_least_expected_cost_and_abstains_below_the_threshold() {
    // Missing a true 3 costs 50, every other error 1.
    let mut costs = vec![1.0f32; 100];
    for j in 0..10 {
        costs[j * 10 + j] = 0.0;
        if j != 3 {
            costs[3 * 10 + j] = 50.0;
        }
    }
    let bytes = calibrated(2.0, 0.6, &costs).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let digits = load_table("digits.csv");
    let mut arena = vec![0i8; model.arena_len()];
    let (mut changed, mut abstained) = (0, 0);
    for row in &digits.rows[500..700] {
        let out = model.run(row, &mut arena).unwrap();
        let d = out.decide().unwrap();
        // The expected cost of each decision, from the core's probabilities.
        let p: Vec<f32> = (0..10)
            .map(|i| out.probability_at(i, 2.0).unwrap())
            .collect();
        let cost = |j: usize| (0..10).map(|i| p[i] * costs[i * 10 + j]).sum::<f32>();
        let best = (0..10).fold(0, |b, j| if cost(j) < cost(b) { j } else { b });
        assert_eq!(d.index, best);
        assert_eq!(d.expected_cost, cost(best));
        assert_eq!(d.probability, p[best]);
        assert_eq!(d.abstained, p[best] < 0.6);
        changed += usize::from(d.index != out.argmax());
        abstained += usize::from(d.abstained);
    }
    // The costs and the threshold really act on these rows.
    assert!(
        changed > 0 && abstained > 0,
        "changed {changed}, abstained {abstained}"
    );
}

#[test]
fn temperature_one_leaves_probabilities_unchanged_bit_for_bit() {
    let (plain, rows) = digits_model_bytes();
    let one = calibrated(1.0, 0.0, &[]).unwrap();
    let (a, b) = (
        Model::from_bytes(&plain).unwrap(),
        Model::from_bytes(&one).unwrap(),
    );
    let (mut x, mut y) = (vec![0i8; a.arena_len()], vec![0i8; b.arena_len()]);
    for row in &rows {
        let (o, p) = (a.run(row, &mut x).unwrap(), b.run(row, &mut y).unwrap());
        assert_eq!(o.decide().unwrap(), p.decide().unwrap());
    }
}

#[test]
fn invalid_calibration_sections_are_refused_at_load() {
    let refused = |r: Result<Vec<u8>, Error>| {
        matches!(
            r,
            Err(Error::SectionInvalid {
                place: vigie_core::error::Place::Section { kind: 3, .. },
                ..
            })
        )
    };
    assert!(refused(calibrated(0.0, 0.0, &[])));
    assert!(refused(calibrated(f32::NAN, 0.0, &[])));
    assert!(refused(calibrated(1.0, 1.5, &[])));
    assert!(refused(calibrated(1.0, 0.0, &[1.0; 99])));
    let mut negative = vec![0.0f32; 100];
    negative[5] = -1.0;
    assert!(refused(calibrated(1.0, 0.0, &negative)));
}

#[test]
fn occlusion_attribution_is_the_probability_lost_when_a_channel_takes_its_baseline() {
    let (bytes, rows) = digits_model_bytes();
    let model = Model::from_bytes(&bytes).unwrap();
    let baseline: Vec<f32> = (0..64).map(|i| (i % 7) as f32).collect();
    let mut scratch = vec![0.0f32; 64];
    let mut arena = vec![0i8; model.arena_len()];
    let mut out = vec![0.0f32; 64];
    let (class, reference) = vigie_core::explain::occlusion(
        &model,
        &baseline,
        &rows[0],
        &mut scratch,
        &mut arena,
        &mut out,
    )
    .unwrap();
    let c = model.run(&rows[0], &mut arena).unwrap().decide().unwrap();
    assert_eq!((class, reference), (c.index, c.probability));
    for f in [0usize, 20, 36, 63] {
        let mut x = rows[0].clone();
        x[f] = baseline[f];
        let p = model
            .run(&x, &mut arena)
            .unwrap()
            .probability(class)
            .unwrap();
        assert_eq!(out[f], reference - p, "channel {f}");
    }
    assert!(out.iter().any(|&a| a != 0.0));
    // Wrong lengths are errors, not panics.
    let err = vigie_core::explain::occlusion(
        &model,
        &baseline[..63],
        &rows[0],
        &mut scratch,
        &mut arena,
        &mut out,
    );
    assert!(matches!(
        err,
        Err(Error::RunInputLength {
            expected: 64,
            found: 63
        })
    ));
}

/// The traced run (what the firmware's per-layer cost split uses) gives
/// the plain run's output bytes, reports every layer once and in order,
/// and the layers' MACs add up to the model's.
#[test]
fn traced_run_matches_the_plain_run_and_reports_each_layer_in_order() {
    for (name, bytes, row) in vigie_tests::fixture_models() {
        let model = Model::from_bytes(&bytes).unwrap();
        let mut plain = vec![0i8; model.arena_len()];
        let expected = model.run(&row, &mut plain).unwrap().raw().to_vec();
        let mut arena = vec![0i8; model.arena_len()];
        model.quantize_input(&row, &mut arena).unwrap();
        let mut seen = Vec::new();
        let traced = model
            .run_quantized_traced(&mut arena, &mut |i| seen.push(i))
            .unwrap()
            .raw()
            .to_vec();
        assert_eq!(traced, expected, "{name}");
        let layers = model.def().layers.len();
        assert_eq!(seen, (0..layers).collect::<Vec<_>>(), "{name}");
        let macs: u64 = (0..layers).map(|i| model.layer_macs(i).unwrap()).sum();
        assert_eq!(macs, model.macs(), "{name}");
        assert_eq!(model.layer_macs(layers), None);
        assert_eq!(model.layer_kind(layers), None);
    }
    // The CNN's kinds, in order, as `vigie inspect` names them.
    let (_, bytes, _) = &vigie_tests::fixture_models()[1];
    let model = Model::from_bytes(bytes).unwrap();
    let kinds: Vec<&str> = (0..model.def().layers.len())
        .filter_map(|i| model.layer_kind(i))
        .collect();
    assert_eq!(kinds.first(), Some(&"conv1d"));
    assert_eq!(kinds.last(), Some(&"dense"));
}

/// The digits MLP with its first layer reading the input at 16 bits.
fn digits_wide_model_bytes() -> Vec<u8> {
    let digits = load_table("digits.csv");
    let mut mlp = digits_mlp(&digits, 1);
    mlp.input.wide = true;
    calibrate(&mut mlp, &digits.rows[..500]);
    mlp.quantize().unwrap().to_bytes()
}

#[test]
fn a_16_bit_input_takes_two_arena_bytes_a_value_and_only_the_first_layer_reads_one() {
    use vigie_core::format::LayerDef;
    let digits = load_table("digits.csv");
    let bytes = digits_wide_model_bytes();
    let model = Model::from_bytes(&bytes).unwrap();
    assert!(matches!(model.def().layers[0], LayerDef::Dense16(_)));
    assert_eq!(model.layer_kind(0), Some("dense16"));
    // 64 inputs of 2 bytes, 32 outputs, and the input's 16 groups of 4
    // laid out as 16-bit lanes (8 bytes each) with 3 bytes to align them.
    assert_eq!(model.input_bytes(), 128);
    assert_eq!(model.arena_len(), 128 + 32 + 8 * 16 + 3);
    let mut arena = vec![0i8; model.arena_len()];
    assert!(model.run(&digits.rows[600], &mut arena).is_ok());
    let mut short = vec![0i8; model.arena_len() - 1];
    assert!(matches!(
        model.run(&digits.rows[600], &mut short),
        Err(Error::BufferTooSmall { needed: 291, .. })
    ));
    // The same layer as the second: refused, since only the model's input
    // is 16-bit.
    let mut def = model.def().clone();
    let first = def.layers[0];
    let second = match def.layers[1] {
        LayerDef::Dense(d) => LayerDef::Dense16(d),
        other => panic!("{other:?}"),
    };
    def.layers[0] = match first {
        LayerDef::Dense16(d) => LayerDef::Dense(d),
        other => panic!("{other:?}"),
    };
    def.layers[1] = second;
    assert_eq!(
        Model::from_def(def).unwrap_err(),
        Error::ValidateChain { layer: 1 }
    );
}

#[test]
fn a_16_bit_input_bounds_the_accumulator_at_32768_per_weight_unit() {
    use vigie_core::format::LayerDef;
    let bytes = digits_wide_model_bytes();
    let model = Model::from_bytes(&bytes).unwrap();
    let LayerDef::Dense16(d) = model.def().layers[0] else {
        panic!("a 16-bit first layer");
    };
    // Channel 0's bias as large as an int8 input's bound allows: an int8
    // reading of the same layer fits, a 16-bit one does not.
    let abs_w: i64 = d.weights[..d.in_features as usize]
        .iter()
        .map(|&w| (w as i8 as i64).abs())
        .sum();
    let mut bias = d.bias.to_vec();
    bias[..4].copy_from_slice(&((i32::MAX as i64 - abs_w * 256) as i32).to_le_bytes());
    let layer = vigie_core::format::DenseDef { bias: &bias, ..d };
    let mut def = model.def().clone();
    def.layers[0] = LayerDef::Dense16(layer);
    assert_eq!(
        Model::from_def(def.clone()).unwrap_err(),
        Error::ValidateAccumulatorRange {
            layer: 0,
            channel: 0
        }
    );
    def.layers[0] = LayerDef::Dense(layer);
    assert!(Model::from_def(def).is_ok());
}
