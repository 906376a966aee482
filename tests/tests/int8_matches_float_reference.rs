//! Models built with the writer from float weights give int8 outputs within
//! one output quantization step of a float reference computed here: the
//! float network evaluated with the int8 grid's weights, biases and
//! activations (fake quantization), in `f64`.

use vigie_core::builder::{qparams_for_range, FloatLayer, FloatModel};
use vigie_core::format::{Activation, LayerDef, QParams};
use vigie_core::Model;
use vigie_tests::{
    basicmotions_cnn, basicmotions_quantile_mlp, calibrate, digits_mlp, forward, load_table,
    standardize, Float, Numerics, Table, Tensor,
};

/// Allowed |int8 − reference| in output steps. The reference uses the same
/// grid, so the only differences are the Q31 rounding of the requantization
/// multiplier (relative 2^-31) and ties rounded differently; either moves an
/// output by at most one step. The engine dequantizes in `f32`, hence the
/// small relative slack.
const MAX_STEPS_FROM_FAKE_QUANT: f64 = 1.0 + 1e-4;

/// Fake-quantized numerics: weights per channel symmetric int8, bias int32
/// at `s_in · s_w`, every tensor rounded to its int8 grid.
struct FakeQuant {
    /// Quantization of each layer's input tensor.
    inputs: Vec<QParams>,
    /// Quantization of each layer's output tensor.
    outputs: Vec<QParams>,
}

impl FakeQuant {
    /// `wide`: the first layer reads the input at 16 bits (256 levels per
    /// int8 step, zero point 0).
    fn new(model: &FloatModel, wide: bool) -> Self {
        let mut q = qparams_for_range(model.input.range);
        let (mut inputs, mut outputs) = (Vec::new(), Vec::new());
        for (i, layer) in model.layers.iter().enumerate() {
            inputs.push(match (i, wide) {
                (0, true) => QParams {
                    scale: q.scale / 256.0,
                    zero_point: 0,
                },
                _ => q,
            });
            if let FloatLayer::Dense { range, .. } | FloatLayer::Conv1d { range, .. } = layer {
                q = qparams_for_range(*range);
            }
            outputs.push(q);
        }
        FakeQuant { inputs, outputs }
    }

    fn weight_scale(row: &[f32]) -> f64 {
        let m = row.iter().fold(0.0f64, |m, &w| m.max((w as f64).abs()));
        if m > 0.0 {
            m / 127.0
        } else {
            1.0
        }
    }

    fn to_grid(q: QParams, v: f64, lo: f64, hi: f64) -> f64 {
        let s = q.scale as f64;
        let z = q.zero_point as f64;
        let level = (v / s).round() + z;
        s * (level.clamp(lo, hi) - z)
    }
}

impl Numerics for FakeQuant {
    fn weights(&self, _: usize, row: &[f32]) -> Vec<f64> {
        let s = Self::weight_scale(row);
        row.iter()
            .map(|&w| (w as f64 / s).round().clamp(-127.0, 127.0) * s)
            .collect()
    }

    fn bias(&self, layer: usize, b: f32, row: &[f32]) -> f64 {
        let s = self.inputs[layer].scale as f64 * Self::weight_scale(row);
        (b as f64 / s).round() * s
    }

    fn output(&self, layer: usize, v: f64, act: Activation) -> f64 {
        let q = self.outputs[layer];
        let z = q.zero_point as f64;
        let (lo, hi) = match act {
            Activation::None => (-128.0, 127.0),
            Activation::Relu => (z, 127.0),
            Activation::Relu6 => (z, (z + (6.0 / q.scale as f64).round()).min(127.0)),
        };
        Self::to_grid(q, v, lo, hi)
    }

    fn pooled(&self, layer: usize, v: f64) -> f64 {
        // int8 average pooling rounds the mean of the raw levels (zero point
        // included) half away from zero; snap away f64 noise so that exact
        // ties stay ties.
        let q = self.outputs[layer];
        let (s, z) = (q.scale as f64, q.zero_point as f64);
        let raw = ((v / s + z) * 1e6).round() / 1e6;
        s * (raw.round().clamp(-128.0, 127.0) - z)
    }
}

/// Whether the model's first layer reads its input at 16 bits.
fn wide(model: &Model<'_>) -> bool {
    matches!(model.def().layers.first(), Some(LayerDef::Dense16(_)))
}

/// Dequantized input as the engine sees it (int8, or int16 at 256 levels
/// per int8 step with the int8 map's zero point), for the reference to
/// start from the same grid values.
fn engine_input(model: &Model<'_>, float: &FloatModel, row: &[f32]) -> Tensor {
    let mut q = vec![0i8; model.input_bytes()];
    model.quantize_input(row, &mut q).unwrap();
    let qp = model.def().input.quant;
    let mut t = standardize(float, row);
    t.data = if wide(model) {
        q.chunks_exact(2)
            .map(|b| {
                let v = i16::from_le_bytes([b[0] as u8, b[1] as u8]) as f64;
                (v / 256.0 - qp.zero_point as f64) * qp.scale as f64
            })
            .collect()
    } else {
        q.iter().map(|&v| qp.dequantize(v) as f64).collect()
    };
    t
}

struct Comparison {
    max_steps_from_fake_quant: f64,
    max_steps_from_float: f64,
    argmax_agreement: f64,
}

fn compare(float: &FloatModel, rows: &[Vec<f32>]) -> Comparison {
    let bytes = float.quantize().expect("quantize").to_bytes();
    let model = Model::from_bytes(&bytes).expect("load");
    let fake = FakeQuant::new(float, wide(&model));
    let mut arena = vec![0i8; model.arena_len()];
    let step = model.output_quant().scale as f64;
    let (mut worst_fake, mut worst_float, mut agree) = (0.0f64, 0.0f64, 0usize);
    for row in rows {
        let out = model.run(row, &mut arena).expect("run");
        let got: Vec<f64> = out.values().map(|v| v as f64).collect();
        let reference = forward(float, engine_input(&model, float, row), &fake, |_, _| {});
        let exact = forward(float, standardize(float, row), &Float, |_, _| {});
        for ((g, r), e) in got.iter().zip(&reference.data).zip(&exact.data) {
            worst_fake = worst_fake.max((g - r).abs() / step);
            worst_float = worst_float.max((g - e).abs() / step);
        }
        let float_argmax =
            exact
                .data
                .iter()
                .enumerate()
                .fold(0, |b, (i, v)| if *v > exact.data[b] { i } else { b });
        agree += usize::from(out.argmax() == float_argmax);
    }
    Comparison {
        max_steps_from_fake_quant: worst_fake,
        max_steps_from_float: worst_float,
        argmax_agreement: agree as f64 / rows.len() as f64,
    }
}

impl Comparison {
    /// Prints the figures and asserts the bounds.
    fn check(&self, name: &str) {
        eprintln!(
            "{name}: {:.3} steps from fake-quant, {:.3} from float, argmax agreement {:.4}",
            self.max_steps_from_fake_quant, self.max_steps_from_float, self.argmax_agreement
        );
        assert!(
            self.max_steps_from_fake_quant <= MAX_STEPS_FROM_FAKE_QUANT,
            "{}",
            self.max_steps_from_fake_quant
        );
        assert!(
            self.argmax_agreement >= MIN_ARGMAX_AGREEMENT,
            "{}",
            self.argmax_agreement
        );
    }
}

#[test]
fn three_layer_mlp_on_digits_is_within_one_output_step() {
    let table = load_table("digits.csv");
    let mut float = digits_mlp(&table, 7);
    let (calibration, held_out) = table.rows.split_at(1000);
    calibrate(&mut float, calibration);
    let c = compare(&float, held_out);
    c.check("digits MLP");
}

#[test]
fn a_16_bit_input_mlp_on_digits_is_within_one_output_step_and_closer_to_float() {
    let table = load_table("digits.csv");
    let (calibration, held_out) = table.rows.split_at(1000);
    let mut narrow = digits_mlp(&table, 7);
    calibrate(&mut narrow, calibration);
    let wide_model = FloatModel {
        input: vigie_core::builder::FloatInput {
            wide: true,
            ..narrow.input.clone()
        },
        ..narrow.clone()
    };
    let bytes = wide_model.quantize().expect("quantize").to_bytes();
    let model = Model::from_bytes(&bytes).expect("load");
    assert!(wide(&model), "the first dense layer reads 16 bits");
    assert_eq!(model.input_bytes(), 2 * model.input_len());
    let (w, n) = (compare(&wide_model, held_out), compare(&narrow, held_out));
    w.check("digits MLP, 16-bit input");
    eprintln!(
        "steps from float: 16-bit input {:.3}, int8 input {:.3}",
        w.max_steps_from_float, n.max_steps_from_float
    );
    // The input no longer rounds at int8: only the layers' own grids part
    // the int8 model from the float one.
    assert!(w.max_steps_from_float < n.max_steps_from_float);
}

/// A model built on the BasicMotions training windows, calibrated on them
/// and compared on the test windows.
fn check_on_basicmotions(build: fn(&Table, u64) -> FloatModel, name: &str) {
    let train = load_table("basicmotions_train.csv");
    let test = load_table("basicmotions_test.csv");
    let mut float = build(&train, 11);
    calibrate(&mut float, &train.rows);
    compare(&float, &test.rows).check(name);
}

#[test]
fn conv1d_model_on_basicmotions_is_within_one_output_step() {
    check_on_basicmotions(basicmotions_cnn, "BasicMotions CNN");
}

#[test]
fn quantile_mlp_on_basicmotions_is_within_one_output_step() {
    check_on_basicmotions(basicmotions_quantile_mlp, "BasicMotions quantile MLP");
}

/// Share of rows whose int8 argmax equals the pure float argmax. Random
/// (untrained) weights give close logits, so a few rows may flip.
const MIN_ARGMAX_AGREEMENT: f64 = 0.9;
