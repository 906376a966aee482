//! Helpers shared by vigie's integration tests: the bundled data, seeded
//! random numbers, small models built with `vigie-core`'s builder, and an
//! independent float reference of a model.

use std::path::PathBuf;

use vigie_core::builder::{FloatInput, FloatLayer, FloatModel, Range};
use vigie_core::format::{Activation, Padding, PoolDef, Task};
use vigie_core::kernels::quantiles::quantile_rank;

/// The repository's `data/` folder.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("data")
}

/// A file of the firmware demo (`firmware-demo/…`): its models, keys.
pub fn firmware_file(file: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../firmware-demo")
        .join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The firmware demo's public key (`firmware-demo/keys/demo.key.pub`: a
/// label line, then 64 hexadecimal digits).
pub fn demo_public_key() -> [u8; 32] {
    let text = String::from_utf8(firmware_file("keys/demo.key.pub")).expect("UTF-8");
    let digits = text.lines().nth(1).expect("a key line").trim();
    let mut key = [0u8; 32];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).expect("hexadecimal");
    }
    key
}

/// A data set: feature names, rows of features, and the label column.
#[derive(Debug, Clone)]
pub struct Table {
    /// Feature column names.
    pub features: Vec<String>,
    /// One row of features per sample.
    pub rows: Vec<Vec<f32>>,
    /// The last column, as text.
    pub labels: Vec<String>,
}

/// Reads one of the bundled CSV files (header, numbers, label last).
pub fn load_table(file: &str) -> Table {
    let path = data_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(str::to_owned)
        .collect();
    let n = header.len() - 1;
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), n + 1, "{}: line {}", path.display(), i + 2);
        rows.push(
            cells[..n]
                .iter()
                .map(|c| c.parse::<f32>().expect("number"))
                .collect(),
        );
        labels.push(cells[n].to_owned());
    }
    Table {
        features: header[..n].to_vec(),
        rows,
        labels,
    }
}

pub use vigie_trainer::rng::Rng;

/// `n` values with He initialization for a given fan-in.
pub fn he_weights(rng: &mut Rng, n: usize, fan_in: usize) -> Vec<f32> {
    let sd = (2.0 / fan_in as f64).sqrt();
    (0..n).map(|_| (rng.normal() * sd) as f32).collect()
}

/// Per-channel mean and standard deviation of channel-major rows with
/// `length` samples per channel.
pub fn channel_stats(rows: &[Vec<f32>], channels: usize, length: usize) -> (Vec<f32>, Vec<f32>) {
    let mut mean = vec![0f64; channels];
    let mut sq = vec![0f64; channels];
    for row in rows {
        for c in 0..channels {
            for &v in &row[c * length..(c + 1) * length] {
                mean[c] += v as f64;
                sq[c] += v as f64 * v as f64;
            }
        }
    }
    let n = (rows.len() * length) as f64;
    let mean: Vec<f64> = mean.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| ((s / n - m * m).max(0.0)).sqrt() as f32)
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), std)
}

/// Placeholder range before calibration.
pub const UNCALIBRATED: Range = Range {
    min: -1.0,
    max: 1.0,
};

/// A dense layer `i → o` with He weights and small random biases from
/// `rng`, uncalibrated.
fn dense_layer(rng: &mut Rng, i: usize, o: usize, activation: Activation) -> FloatLayer {
    FloatLayer::Dense {
        in_features: i,
        out_features: o,
        weights: he_weights(rng, i * o, i),
        bias: (0..o).map(|_| (rng.normal() * 0.1) as f32).collect(),
        activation,
        range: UNCALIBRATED,
    }
}

/// An MLP `64 → 32 → 16 → 10` with seeded random weights over digits
/// features (ranges not yet calibrated).
pub fn digits_mlp(table: &Table, seed: u64) -> FloatModel {
    let mut rng = Rng(seed);
    let (mean, std) = channel_stats(&table.rows, 64, 1);
    FloatModel {
        name: "digits-mlp-test".into(),
        input: FloatInput {
            names: table.features.clone(),
            length: 1,
            mean,
            std,
            range: UNCALIBRATED,
            missing: vec![],
            wide: false,
        },
        layers: vec![
            dense_layer(&mut rng, 64, 32, Activation::Relu),
            dense_layer(&mut rng, 32, 16, Activation::Relu6),
            dense_layer(&mut rng, 16, 10, Activation::None),
        ],
        task: Task::Classification,
        output_names: (0..10).map(|d| d.to_string()).collect(),
    }
}

/// A 1-D CNN over BasicMotions windows (6 channels × 100 samples) using
/// every layer kind: conv (same), max pool, conv (valid, stride 2), average
/// pool (same), global average pool, flatten, dense.
pub fn basicmotions_cnn(table: &Table, seed: u64) -> FloatModel {
    let mut rng = Rng(seed);
    let (mean, std) = channel_stats(&table.rows, 6, 100);
    let conv =
        |rng: &mut Rng, i: usize, o: usize, k: usize, s: usize, padding| FloatLayer::Conv1d {
            in_channels: i,
            out_channels: o,
            kernel: k,
            stride: s,
            padding,
            weights: he_weights(rng, o * i * k, i * k),
            bias: (0..o).map(|_| (rng.normal() * 0.1) as f32).collect(),
            activation: Activation::Relu,
            range: UNCALIBRATED,
        };
    FloatModel {
        name: "basicmotions-cnn-test".into(),
        input: FloatInput {
            names: ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
                .map(String::from)
                .to_vec(),
            length: 100,
            mean,
            std,
            range: UNCALIBRATED,
            missing: vec![],
            wide: false,
        },
        layers: vec![
            conv(&mut rng, 6, 8, 5, 1, Padding::Same),
            FloatLayer::MaxPool1d(PoolDef {
                kernel: 2,
                stride: 2,
                padding: Padding::Valid,
            }),
            conv(&mut rng, 8, 8, 3, 2, Padding::Valid),
            FloatLayer::AvgPool1d(PoolDef {
                kernel: 3,
                stride: 2,
                padding: Padding::Same,
            }),
            FloatLayer::GlobalAvgPool1d,
            FloatLayer::Flatten,
            FloatLayer::Dense {
                in_features: 8,
                out_features: 4,
                weights: he_weights(&mut rng, 32, 8),
                bias: vec![0.0; 4],
                activation: Activation::None,
                range: UNCALIBRATED,
            },
        ],
        task: Task::Classification,
        output_names: ["Badminton", "Running", "Standing", "Walking"]
            .map(String::from)
            .to_vec(),
    }
}

/// An MLP on the 16 quantiles of each BasicMotions channel's window
/// (quantile pooling, then two dense layers); the input is the CNN's.
pub fn basicmotions_quantile_mlp(table: &Table, seed: u64) -> FloatModel {
    let mut rng = Rng(seed);
    let mut model = basicmotions_cnn(table, seed);
    model.name = "basicmotions-quantile-mlp-test".into();
    model.layers = vec![
        FloatLayer::Quantiles1d { count: 16 },
        dense_layer(&mut rng, 96, 16, Activation::Relu),
        dense_layer(&mut rng, 16, 4, Activation::None),
    ];
    model
}

/// A tensor in the float reference: channels-first values.
#[derive(Debug, Clone)]
pub struct Tensor {
    /// Channels.
    pub channels: usize,
    /// Length.
    pub length: usize,
    /// Values, channel-major.
    pub data: Vec<f64>,
}

fn window(len: usize, kernel: usize, stride: usize, padding: Padding) -> (usize, usize) {
    match padding {
        Padding::Valid => ((len - kernel) / stride + 1, 0),
        Padding::Same => {
            let out = len.div_ceil(stride);
            let total = ((out - 1) * stride + kernel).saturating_sub(len);
            (out, total / 2)
        }
    }
}

fn activate(v: f64, act: Activation) -> f64 {
    match act {
        Activation::None => v,
        Activation::Relu => v.max(0.0),
        Activation::Relu6 => v.clamp(0.0, 6.0),
    }
}

/// Hooks of the float reference: how weights, biases and layer outputs are
/// treated (left alone for the float model; rounded to the int8 grid for the
/// fake-quantized one).
pub trait Numerics {
    /// Weights of one output channel as the reference uses them.
    fn weights(&self, layer: usize, row: &[f32]) -> Vec<f64>;
    /// Bias of one output channel, given the row's weights and input scale.
    fn bias(&self, layer: usize, bias: f32, row: &[f32]) -> f64;
    /// A weighted layer's output value after its activation.
    fn output(&self, layer: usize, v: f64, act: Activation) -> f64;
    /// An average pooling layer's output value.
    fn pooled(&self, _layer: usize, v: f64) -> f64 {
        v
    }
}

/// Plain float numerics.
pub struct Float;

impl Numerics for Float {
    fn weights(&self, _: usize, row: &[f32]) -> Vec<f64> {
        row.iter().map(|&w| w as f64).collect()
    }
    fn bias(&self, _: usize, b: f32, _: &[f32]) -> f64 {
        b as f64
    }
    fn output(&self, _: usize, v: f64, act: Activation) -> f64 {
        activate(v, act)
    }
}

/// Runs the float reference of `model` on an already standardized input.
pub fn forward(
    model: &FloatModel,
    input: Tensor,
    num: &dyn Numerics,
    mut each: impl FnMut(usize, &Tensor),
) -> Tensor {
    let mut x = input;
    for (li, layer) in model.layers.iter().enumerate() {
        x = match layer {
            FloatLayer::Dense {
                in_features,
                out_features,
                weights,
                bias,
                activation,
                ..
            } => {
                assert_eq!(x.data.len(), *in_features);
                let data = (0..*out_features)
                    .map(|o| {
                        let row = &weights[o * in_features..(o + 1) * in_features];
                        let w = num.weights(li, row);
                        let acc: f64 = x.data.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>()
                            + num.bias(li, bias[o], row);
                        num.output(li, acc, *activation)
                    })
                    .collect();
                Tensor {
                    channels: *out_features,
                    length: 1,
                    data,
                }
            }
            FloatLayer::Conv1d {
                in_channels,
                out_channels,
                kernel,
                stride,
                padding,
                weights,
                bias,
                activation,
                ..
            } => {
                let (out_len, pad) = window(x.length, *kernel, *stride, *padding);
                let mut data = Vec::with_capacity(out_channels * out_len);
                for oc in 0..*out_channels {
                    let row = &weights[oc * in_channels * kernel..(oc + 1) * in_channels * kernel];
                    let w = num.weights(li, row);
                    for op in 0..out_len {
                        let mut acc = num.bias(li, bias[oc], row);
                        for ic in 0..*in_channels {
                            for k in 0..*kernel {
                                let pos = (op * stride + k) as i64 - pad as i64;
                                if pos >= 0 && (pos as usize) < x.length {
                                    acc +=
                                        x.data[ic * x.length + pos as usize] * w[ic * kernel + k];
                                }
                            }
                        }
                        data.push(num.output(li, acc, *activation));
                    }
                }
                Tensor {
                    channels: *out_channels,
                    length: out_len,
                    data,
                }
            }
            FloatLayer::MaxPool1d(p) | FloatLayer::AvgPool1d(p) => {
                let (k, s) = (p.kernel as usize, p.stride as usize);
                let (out_len, pad) = window(x.length, k, s, p.padding);
                let is_max = matches!(layer, FloatLayer::MaxPool1d(_));
                let mut data = Vec::new();
                for c in 0..x.channels {
                    for op in 0..out_len {
                        let vals: Vec<f64> = (0..k)
                            .filter_map(|t| {
                                let pos = (op * s + t) as i64 - pad as i64;
                                (pos >= 0 && (pos as usize) < x.length)
                                    .then(|| x.data[c * x.length + pos as usize])
                            })
                            .collect();
                        data.push(if is_max {
                            vals.iter().cloned().fold(f64::MIN, f64::max)
                        } else {
                            num.pooled(li, vals.iter().sum::<f64>() / vals.len() as f64)
                        });
                    }
                }
                Tensor {
                    channels: x.channels,
                    length: out_len,
                    data,
                }
            }
            FloatLayer::GlobalAvgPool1d => Tensor {
                channels: x.channels,
                length: 1,
                data: x
                    .data
                    .chunks(x.length)
                    .map(|c| num.pooled(li, c.iter().sum::<f64>() / c.len() as f64))
                    .collect(),
            },
            FloatLayer::Flatten => Tensor {
                channels: x.channels * x.length,
                length: 1,
                data: x.data,
            },
            FloatLayer::Quantiles1d { count } => Tensor {
                channels: x.channels,
                length: *count,
                data: x
                    .data
                    .chunks(x.length)
                    .flat_map(|c| {
                        let mut sorted = c.to_vec();
                        sorted.sort_by(f64::total_cmp);
                        (0..*count)
                            .map(|k| sorted[quantile_rank(k, *count, sorted.len())])
                            .collect::<Vec<_>>()
                    })
                    .collect(),
            },
            FloatLayer::Trees { classes, trees } => {
                // Each tree from its root: `x ≤ threshold` to the next node,
                // else to the right child; the leaves' scores averaged.
                let mut scores = vec![0.0f64; *classes];
                for tree in trees {
                    let mut i = 0;
                    while let Some(vigie_core::builder::FloatNode::Split {
                        feature,
                        threshold,
                        right,
                    }) = tree.get(i)
                    {
                        i = if x.data[*feature] <= *threshold as f64 {
                            i + 1
                        } else {
                            *right
                        };
                    }
                    if let Some(vigie_core::builder::FloatNode::Leaf(v)) = tree.get(i) {
                        for (s, &l) in scores.iter_mut().zip(v) {
                            *s += l as f64;
                        }
                    }
                }
                let n = trees.len().max(1) as f64;
                Tensor {
                    channels: *classes,
                    length: 1,
                    data: scores.into_iter().map(|s| s / n).collect(),
                }
            }
        };
        each(li, &x);
    }
    x
}

/// Standardizes a raw channel-major row with the model's statistics.
pub fn standardize(model: &FloatModel, row: &[f32]) -> Tensor {
    let length = model.input.length as usize;
    let channels = model.input.names.len();
    let data = row
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = i / length;
            let sd = if model.input.std[c] > 0.0 {
                model.input.std[c]
            } else {
                1.0
            };
            (v as f64 - model.input.mean[c] as f64) / sd as f64
        })
        .collect();
    Tensor {
        channels,
        length,
        data,
    }
}

/// Sets every calibrated range of `model` to the min/max seen on `rows`.
pub fn calibrate(model: &mut FloatModel, rows: &[Vec<f32>]) {
    let n = model.layers.len();
    let mut ranges = vec![(f64::MAX, f64::MIN); n];
    let mut input = (f64::MAX, f64::MIN);
    for row in rows {
        let x = standardize(model, row);
        for &v in &x.data {
            input = (input.0.min(v), input.1.max(v));
        }
        forward(model, x, &Float, |li, t| {
            for &v in &t.data {
                ranges[li] = (ranges[li].0.min(v), ranges[li].1.max(v));
            }
        });
    }
    model.input.range = Range {
        min: input.0 as f32,
        max: input.1 as f32,
    };
    for (layer, (lo, hi)) in model.layers.iter_mut().zip(ranges) {
        match layer {
            FloatLayer::Dense { range, .. } | FloatLayer::Conv1d { range, .. } => {
                *range = Range {
                    min: lo as f32,
                    max: hi as f32,
                }
            }
            _ => {}
        }
    }
}

/// The fixture models of the loader tests and of the fuzzer's seed corpus:
/// a digits MLP (seed 3) and a BasicMotions CNN (seed 5), calibrated on the
/// bundled data. Each as (file name, file bytes, a real input row).
pub fn fixture_models() -> Vec<(&'static str, Vec<u8>, Vec<f32>)> {
    let digits = load_table("digits.csv");
    let mut mlp = digits_mlp(&digits, 3);
    calibrate(&mut mlp, &digits.rows[..300]);
    let motions = load_table("basicmotions_train.csv");
    let mut cnn = basicmotions_cnn(&motions, 5);
    calibrate(&mut cnn, &motions.rows);
    let mut quantiles = basicmotions_quantile_mlp(&motions, 5);
    calibrate(&mut quantiles, &motions.rows);
    let bytes = |m: FloatModel| m.quantize().expect("fixture quantizes").to_bytes();
    vec![
        ("digits-mlp.vigie", bytes(mlp), digits.rows[0].clone()),
        (
            "basicmotions-cnn.vigie",
            bytes(cnn),
            motions.rows[0].clone(),
        ),
        (
            "basicmotions-quantile-mlp.vigie",
            bytes(quantiles),
            motions.rows[0].clone(),
        ),
    ]
}
