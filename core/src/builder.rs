//! Float model to int8 model file (feature `alloc`): the one quantizer,
//! used by the trainer and by the tests.
//!
//! The caller provides float weights and, for every layer with weights, the
//! calibrated range of its float output (min/max or percentiles measured on
//! training data). The builder quantizes as TFLM expects: symmetric int8
//! weights per output channel, asymmetric int8 activations per tensor, int32
//! biases with scale `s_in · s_w`, and requantization multipliers from
//! [`crate::requant::quantize_multiplier`].

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::Place;
use crate::format::{
    le, Activation, Conv1dDef, DenseDef, InputDef, LayerDef, ModelDef, OutputDef, PoolDef, QParams,
    Section, Task, MAX_LAYERS, MAX_SECTIONS,
};
use crate::requant::quantize_multiplier;
use crate::{Error, Model};

/// Float range of a tensor, as measured by calibration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Smallest value.
    pub min: f32,
    /// Largest value.
    pub max: f32,
}

/// The float input: shape, names, standardization (from the training
/// split), and the range of the standardized values.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatInput {
    /// One name per channel.
    pub names: Vec<String>,
    /// Samples per channel (1 for tabular data).
    pub length: u16,
    /// Mean per channel.
    pub mean: Vec<f32>,
    /// Standard deviation per channel (0 is treated as 1).
    pub std: Vec<f32>,
    /// Range of the standardized input.
    pub range: Range,
    /// Raw value replacing a missing input, per channel (empty: missing
    /// values are refused).
    pub missing: Vec<f32>,
    /// A first dense layer reads the input at 16 bits
    /// ([`LayerDef::Dense16`]): 256 levels per int8 step, for two bytes of
    /// arena a value. Where its accumulator bound cannot hold, the model
    /// reads int8 as usual.
    pub wide: bool,
}

/// A float layer, with the calibrated range of its output where it has
/// weights.
#[derive(Debug, Clone, PartialEq)]
pub enum FloatLayer {
    /// Fully connected; `weights` is `out × in` row-major.
    Dense {
        /// Input size.
        in_features: usize,
        /// Output size.
        out_features: usize,
        /// Weights, row-major.
        weights: Vec<f32>,
        /// Biases.
        bias: Vec<f32>,
        /// Fused activation.
        activation: Activation,
        /// Calibrated output range (after the activation).
        range: Range,
    },
    /// 1-D convolution; `weights` is `out × in × kernel`.
    Conv1d {
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// Kernel size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding.
        padding: crate::format::Padding,
        /// Weights.
        weights: Vec<f32>,
        /// Biases.
        bias: Vec<f32>,
        /// Fused activation.
        activation: Activation,
        /// Calibrated output range (after the activation).
        range: Range,
    },
    /// Max pooling.
    MaxPool1d(PoolDef),
    /// Average pooling.
    AvgPool1d(PoolDef),
    /// Global average pooling.
    GlobalAvgPool1d,
    /// Flatten.
    Flatten,
    /// Quantile pooling: `count` evenly spaced quantiles of each channel.
    Quantiles1d {
        /// Quantiles per channel.
        count: usize,
    },
    /// Decision trees over the flattened current tensor; class `c`'s score
    /// is the mean of the reached leaves' scores for `c`.
    Trees {
        /// Classes (outputs).
        classes: usize,
        /// Each tree's nodes in preorder: a split's left child follows it.
        trees: Vec<Vec<FloatNode>>,
    },
}

/// One node of a float tree ([`FloatLayer::Trees`]).
#[derive(Debug, Clone, PartialEq)]
pub enum FloatNode {
    /// `x[feature] ≤ threshold` (in the current tensor's real units) goes
    /// on at the next node, else at node `right` of the same tree.
    Split {
        /// The input value tested.
        feature: usize,
        /// The threshold, best midway between two int8 levels of the input.
        threshold: f32,
        /// The right child's index within the tree (after this node).
        right: usize,
    },
    /// One score per class (a log-probability).
    Leaf(Vec<f32>),
}

/// A trained float model, ready to quantize.
#[derive(Debug, Clone, PartialEq)]
pub struct FloatModel {
    /// A short name for people.
    pub name: String,
    /// Input.
    pub input: FloatInput,
    /// Layers.
    pub layers: Vec<FloatLayer>,
    /// Task.
    pub task: Task,
    /// Class or target names.
    pub output_names: Vec<String>,
}

/// Quantization parameters covering a float range (widened to include 0,
/// so that zero is exact, as TFLite does).
pub fn qparams_for_range(range: Range) -> QParams {
    let min = range.min.min(0.0) as f64;
    let max = range.max.max(0.0) as f64;
    let span = max - min;
    let scale = if span > 0.0 && span.is_finite() {
        span / 255.0
    } else {
        1.0 / 255.0
    };
    let zero_point = (-128.0 - min / scale).round().clamp(-128.0, 127.0) as i8;
    QParams {
        scale: scale as f32,
        zero_point,
    }
}

/// The int8 tensors of a dense or convolution layer, as file bytes.
#[derive(Debug, Clone, PartialEq)]
struct ChannelTensors {
    weights: Vec<u8>,
    bias: Vec<u8>,
    multiplier: Vec<u8>,
    shift: Vec<u8>,
}

impl ChannelTensors {
    /// One slice of weights, biases, multipliers and shifts, as the 2-D
    /// layers store them (`format::Conv2dDef::tensors`), in `weights`.
    fn concatenated(self) -> ChannelTensors {
        let mut all = self.weights;
        all.extend(self.bias);
        all.extend(self.multiplier);
        all.extend(self.shift);
        ChannelTensors {
            weights: all,
            bias: Vec::new(),
            multiplier: Vec::new(),
            shift: Vec::new(),
        }
    }
}

/// An int8 layer with owned tensors.
#[derive(Debug, Clone, PartialEq)]
enum OwnedLayer {
    Weighted {
        /// A dense layer reading the 16-bit input.
        wide: bool,
        conv: Option<(u16, u16, crate::format::Padding)>, // kernel, stride, padding
        in_dim: u16,
        out_dim: u16,
        tensors: ChannelTensors,
        output: QParams,
        activation: Activation,
    },
    Spatial {
        kind: Spatial,
        tensors: ChannelTensors,
        output: QParams,
        activation: Activation,
    },
    Plain(LayerDef<'static>),
    Trees {
        classes: u16,
        roots: Vec<u8>,
        nodes: Vec<u8>,
        leaves: Vec<u8>,
        output: QParams,
    },
}

/// The geometry of an imported 2-D layer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Spatial {
    Conv2d(crate::format::Window2d, u16),
    Depthwise(crate::format::Window2d, u16),
}

/// A quantized model owning its tensors; [`QuantizedModel::def`] borrows
/// them as the file's types, [`QuantizedModel::to_bytes`] writes the file.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedModel {
    name: String,
    input_names: String,
    input_length: u16,
    input_channels: u16,
    input_scale: Vec<u8>,
    input_offset: Vec<u8>,
    input_missing: Vec<u8>,
    input_quant: QParams,
    layers: Vec<OwnedLayer>,
    task: Task,
    output_names: String,
    sections: Vec<(u16, bool, Vec<u8>)>,
}

fn invalid(place: Place, field: &'static str) -> Error {
    Error::BuildInvalid { place, field }
}

fn u16_dim(v: usize, place: Place, field: &'static str) -> Result<u16, Error> {
    u16::try_from(v)
        .ok()
        .filter(|&d| d > 0)
        .ok_or(invalid(place, field))
}

fn finite(values: &[f32], place: Place, field: &'static str) -> Result<(), Error> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(invalid(place, field))
    }
}

/// How a weighted layer's input is read: int8 with its zero point, or at
/// 16 bits ([`LayerDef::Dense16`]: 256 levels per step of the int8 map
/// `QParams`, zero point 0, the map's own zero point folded into the bias).
#[derive(Clone, Copy)]
enum Reading {
    Int8(QParams),
    Int16(QParams),
}

/// Quantizes one weighted layer's tensors.
fn quantize_weighted(
    place: Place,
    out_dim: usize,
    fan_in: usize,
    weights: &[f32],
    bias: &[f32],
    reading: Reading,
    output: QParams,
) -> Result<ChannelTensors, Error> {
    // The input's scale, the bound on |x − zp| that validation's
    // accumulator check uses, and the zero point folded into the bias (in
    // input levels).
    use crate::validate::{INT16_REACH, INT8_REACH};
    let (input_scale, reach, folded) = match reading {
        Reading::Int8(q) => (q.scale as f64, INT8_REACH as i64, 0i64),
        Reading::Int16(q) => (
            q.at_16_bits().scale as f64,
            INT16_REACH as i64,
            crate::format::INPUT16_LEVELS as i64 * q.zero_point as i64,
        ),
    };
    if weights.len() != out_dim * fan_in {
        return Err(invalid(place, "weights"));
    }
    if bias.len() != out_dim {
        return Err(invalid(place, "bias"));
    }
    finite(weights, place, "weights")?;
    finite(bias, place, "bias")?;
    let mut q_weights = Vec::with_capacity(weights.len());
    let (mut q_bias, mut q_mult, mut q_shift) = (Vec::new(), Vec::new(), Vec::new());
    for (row, &b) in weights.chunks_exact(fan_in).zip(bias) {
        let max_abs = row.iter().fold(0.0f64, |m, &w| m.max((w as f64).abs()));
        let s_w = if max_abs > 0.0 { max_abs / 127.0 } else { 1.0 };
        let (mut abs_sum, mut sum): (i64, i64) = (0, 0);
        for &w in row {
            let q = (w as f64 / s_w).round().clamp(-127.0, 127.0) as i8;
            abs_sum += (q as i64).abs();
            sum += q as i64;
            q_weights.push(q as u8);
        }
        let bias_scale = input_scale * s_w;
        // Keep the accumulator provably inside i32 (validation checks it).
        let bias_limit = (i32::MAX as i64 - abs_sum * reach).max(0) as f64;
        // Σ w·(x − zp) = Σ w·x − zp·Σ w: a 16-bit input's zero point
        // leaves the sum for the bias.
        let exact = (b as f64 / bias_scale).round() - (folded * sum) as f64;
        if matches!(reading, Reading::Int16(_)) && exact.abs() > bias_limit {
            // The caller reads the input at int8 instead.
            return Err(invalid(place, "bias"));
        }
        let qb = exact.clamp(-bias_limit, bias_limit) as i32;
        q_bias.push(qb);
        let (m, s) = quantize_multiplier(bias_scale / output.scale as f64)?;
        q_mult.push(m);
        q_shift.push(s as i8);
    }
    Ok(ChannelTensors {
        weights: q_weights,
        bias: le::from_i32(&q_bias),
        multiplier: le::from_i32(&q_mult),
        shift: le::from_i8(&q_shift),
    })
}

/// The int8 level of a threshold `t` on an input quantized by `input`:
/// the highest level whose real value is at most `t`, so that `x ≤ t` and
/// `q(x) ≤ level` agree on every level (clamped to int8: a threshold under
/// every level sends all to the right but level −128).
fn threshold_level(t: f32, input: QParams) -> i8 {
    let q = (t as f64 / input.scale as f64 + input.zero_point as f64).floor();
    q.clamp(-128.0, 127.0) as i8
}

/// Quantizes a tree ensemble reading a tensor quantized by `input`:
/// thresholds to the input's levels, leaf scores to one output scale over
/// all leaves (widened to 0), equal leaf rows shared.
fn quantize_trees(
    place: Place,
    classes: usize,
    trees: &[Vec<FloatNode>],
    input: QParams,
) -> Result<OwnedLayer, Error> {
    let classes_u16 = u16_dim(classes, place, "classes")?;
    if trees.is_empty() || trees.len() > crate::validate::MAX_TREES {
        return Err(invalid(place, "trees"));
    }
    let (mut min, mut max) = (0.0f32, 0.0f32);
    for node in trees.iter().flatten() {
        if let FloatNode::Leaf(v) = node {
            if v.len() != classes {
                return Err(invalid(place, "leaves"));
            }
            finite(v, place, "leaves")?;
            for &x in v {
                min = min.min(x);
                max = max.max(x);
            }
        }
    }
    let output = qparams_for_range(Range { min, max });
    let level = |v: f32| {
        ((v as f64 / output.scale as f64).round() + output.zero_point as f64).clamp(-128.0, 127.0)
            as i8 as u8
    };
    let (mut roots, mut nodes, mut leaves) = (Vec::new(), Vec::new(), Vec::new());
    let mut rows: alloc::collections::BTreeMap<Vec<u8>, u16> = alloc::collections::BTreeMap::new();
    let mut at = 0usize;
    for tree in trees {
        if tree.is_empty() {
            return Err(invalid(place, "trees"));
        }
        let root = u16::try_from(at).map_err(|_| invalid(place, "nodes"))?;
        roots.extend(root.to_le_bytes());
        for (i, node) in tree.iter().enumerate() {
            let (feature, threshold, right) = match node {
                FloatNode::Split {
                    feature,
                    threshold,
                    right,
                } => {
                    if *right <= i || *right >= tree.len() || !threshold.is_finite() {
                        return Err(invalid(place, "nodes"));
                    }
                    let feature = u16::try_from(*feature)
                        .ok()
                        .filter(|&f| f != crate::format::TREE_LEAF)
                        .ok_or(invalid(place, "nodes"))?;
                    let right = u16::try_from(at + right).map_err(|_| invalid(place, "nodes"))?;
                    (feature, threshold_level(*threshold, input), right)
                }
                FloatNode::Leaf(v) => {
                    let row: Vec<u8> = v.iter().map(|&x| level(x)).collect();
                    let next = u16::try_from(rows.len()).map_err(|_| invalid(place, "leaves"))?;
                    let index = *rows.entry(row.clone()).or_insert_with(|| {
                        leaves.extend(&row);
                        next
                    });
                    (crate::format::TREE_LEAF, 0, index)
                }
            };
            nodes.extend(feature.to_le_bytes());
            nodes.push(threshold as u8);
            nodes.extend(right.to_le_bytes());
        }
        at += tree.len();
    }
    Ok(OwnedLayer::Trees {
        classes: classes_u16,
        roots,
        nodes,
        leaves,
        output,
    })
}

impl FloatModel {
    /// Quantizes the model and checks that the result loads. With
    /// [`FloatInput::wide`] and a dense first layer, that layer reads the
    /// input at 16 bits, unless its accumulator bound cannot hold.
    pub fn quantize(&self) -> Result<QuantizedModel, Error> {
        let wide = self.input.wide && matches!(self.layers.first(), Some(FloatLayer::Dense { .. }));
        if wide {
            if let Ok(model) = self.quantize_reading(true) {
                return Ok(model);
            }
        }
        self.quantize_reading(false)
    }

    fn quantize_reading(&self, wide: bool) -> Result<QuantizedModel, Error> {
        let input = &self.input;
        let channels = input.names.len();
        let input_channels = u16_dim(channels, Place::Input, "names")?;
        u16_dim(input.length as usize, Place::Input, "length")?;
        if input.mean.len() != channels {
            return Err(invalid(Place::Input, "mean"));
        }
        if input.std.len() != channels {
            return Err(invalid(Place::Input, "std"));
        }
        finite(&input.mean, Place::Input, "mean")?;
        finite(&input.std, Place::Input, "std")?;
        finite(&input.missing, Place::Input, "missing")?;
        if !input.missing.is_empty() && input.missing.len() != channels {
            return Err(invalid(Place::Input, "missing"));
        }
        if self.layers.len() > MAX_LAYERS {
            return Err(invalid(Place::Model, "layers"));
        }
        let input_quant = qparams_for_range(input.range);
        let (mut scale, mut offset) = (Vec::new(), Vec::new());
        for (&mean, &std) in input.mean.iter().zip(&input.std) {
            let std = if std > 0.0 { std as f64 } else { 1.0 };
            let a = 1.0 / (std * input_quant.scale as f64);
            scale.push(a as f32);
            offset.push((input_quant.zero_point as f64 - mean as f64 * a) as f32);
        }

        let mut layers = Vec::new();
        let mut quant = input_quant;
        for (i, layer) in self.layers.iter().enumerate() {
            let place = Place::Layer(i as u16);
            // Dense and convolution differ only in their geometry: the
            // weighted part is quantized once, below.
            let (
                conv,
                (in_dim, in_name),
                (out_dim, out_name),
                fan_in,
                weights,
                bias,
                activation,
                range,
            ) = match layer {
                FloatLayer::Dense {
                    in_features,
                    out_features,
                    weights,
                    bias,
                    activation,
                    range,
                } => (
                    None,
                    (*in_features, "in_features"),
                    (*out_features, "out_features"),
                    *in_features,
                    weights,
                    bias,
                    activation,
                    range,
                ),
                FloatLayer::Conv1d {
                    in_channels,
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    weights,
                    bias,
                    activation,
                    range,
                } => (
                    Some((
                        u16_dim(*kernel, place, "kernel")?,
                        u16_dim(*stride, place, "stride")?,
                        *padding,
                    )),
                    (*in_channels, "in_channels"),
                    (*out_channels, "out_channels"),
                    in_channels * kernel,
                    weights,
                    bias,
                    activation,
                    range,
                ),
                FloatLayer::MaxPool1d(p) => {
                    layers.push(OwnedLayer::Plain(LayerDef::MaxPool1d(*p)));
                    continue;
                }
                FloatLayer::AvgPool1d(p) => {
                    layers.push(OwnedLayer::Plain(LayerDef::AvgPool1d(*p)));
                    continue;
                }
                FloatLayer::GlobalAvgPool1d => {
                    layers.push(OwnedLayer::Plain(LayerDef::GlobalAvgPool1d));
                    continue;
                }
                FloatLayer::Flatten => {
                    layers.push(OwnedLayer::Plain(LayerDef::Flatten));
                    continue;
                }
                FloatLayer::Quantiles1d { count } => {
                    let count = u16_dim(*count, place, "count")?;
                    layers.push(OwnedLayer::Plain(LayerDef::Quantiles1d(
                        crate::format::QuantilesDef { count },
                    )));
                    continue;
                }
                FloatLayer::Trees { classes, trees } => {
                    let owned = quantize_trees(place, *classes, trees, quant)?;
                    if let OwnedLayer::Trees { output, .. } = &owned {
                        quant = *output;
                    }
                    layers.push(owned);
                    continue;
                }
            };
            let output = qparams_for_range(*range);
            let wide = wide && i == 0 && conv.is_none();
            let reading = if wide {
                Reading::Int16(quant)
            } else {
                Reading::Int8(quant)
            };
            let tensors =
                quantize_weighted(place, out_dim, fan_in, weights, bias, reading, output)?;
            quant = output;
            layers.push(OwnedLayer::Weighted {
                wide,
                conv,
                in_dim: u16_dim(in_dim, place, in_name)?,
                out_dim: u16_dim(out_dim, place, out_name)?,
                tensors,
                output,
                activation: *activation,
            });
        }
        let built = QuantizedModel {
            name: self.name.clone(),
            input_names: self.input.names.join("\n"),
            input_length: input.length,
            input_channels,
            input_scale: le::from_f32(&scale),
            input_offset: le::from_f32(&offset),
            input_missing: le::from_f32(&input.missing),
            input_quant,
            layers,
            task: self.task,
            output_names: self.output_names.join("\n"),
            sections: Vec::new(),
        };
        Model::from_def(built.def())?;
        Ok(built)
    }
}

/// The tensors of a weighted layer already in int8, as an imported model
/// gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Tensors {
    /// Weights, in the layer kind's order.
    pub weights: Vec<i8>,
    /// One bias per output channel, at scale `s_in · s_w[o]`.
    pub bias: Vec<i32>,
    /// One Q31 multiplier per output channel ([`quantize_multiplier`]).
    pub multiplier: Vec<i32>,
    /// One shift per output channel.
    pub shift: Vec<i32>,
    /// Quantization of the output tensor.
    pub output: QParams,
    /// Fused activation.
    pub activation: Activation,
}

/// One layer of an [`Int8Model`].
#[derive(Debug, Clone, PartialEq)]
pub enum Int8Layer {
    /// Fully connected; weights `out × in`, row-major.
    Dense {
        /// Input size.
        in_features: usize,
        /// Output size.
        out_features: usize,
        /// Its tensors.
        tensors: Int8Tensors,
    },
    /// 2-D convolution, NHWC; weights `out × kh × kw × in`.
    Conv2d {
        /// Input and window.
        window: crate::format::Window2d,
        /// Output channels.
        out_channels: u16,
        /// Its tensors.
        tensors: Int8Tensors,
    },
    /// Depthwise 2-D convolution, NHWC; weights `kh × kw × out`.
    DepthwiseConv2d {
        /// Input and window.
        window: crate::format::Window2d,
        /// Output channels per input channel.
        depth_multiplier: u16,
        /// Its tensors.
        tensors: Int8Tensors,
    },
    /// Average pooling, NHWC.
    AvgPool2d(crate::format::Pool2dDef),
    /// int8 softmax.
    Softmax(crate::format::SoftmaxDef),
    /// Keep the current tensor in a save slot.
    Save(crate::format::SlotDef),
    /// Exchange the current tensor with a save slot's.
    Swap(crate::format::SlotDef),
    /// int8 addition of the current tensor and a save slot's.
    Add(crate::format::AddDef),
}

/// A model whose tensors are already int8 (`vigie import`): its input is
/// taken as raw values of the int8 input tensor's real domain, mapped by
/// `q = round(x / scale) + zero_point` (the map's scale `1 / scale`, its
/// offset the zero point), `input_channels × input_length` values in the
/// imported tensor's own order.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Model {
    /// A short name for people.
    pub name: String,
    /// One name per input channel.
    pub input_names: Vec<String>,
    /// Values per input channel.
    pub input_length: u16,
    /// Quantization of the input tensor.
    pub input_quant: QParams,
    /// Layers in order.
    pub layers: Vec<Int8Layer>,
    /// What the output means.
    pub task: Task,
    /// One name per output value.
    pub output_names: Vec<String>,
}

impl Int8Tensors {
    /// As file bytes, checked against `out` output channels and
    /// `weights_len` weights.
    fn owned(&self, place: Place, out: usize, weights_len: usize) -> Result<ChannelTensors, Error> {
        if self.weights.len() != weights_len {
            return Err(invalid(place, "weights"));
        }
        if self.bias.len() != out || self.multiplier.len() != out || self.shift.len() != out {
            return Err(invalid(place, "bias"));
        }
        let shift: Result<Vec<i8>, Error> = self
            .shift
            .iter()
            .map(|&v| i8::try_from(v).map_err(|_| invalid(place, "shift")))
            .collect();
        Ok(ChannelTensors {
            weights: self.weights.iter().map(|&w| w as u8).collect(),
            bias: le::from_i32(&self.bias),
            multiplier: le::from_i32(&self.multiplier),
            shift: le::from_i8(&shift?),
        })
    }
}

impl Int8Model {
    /// The model, checked to load and validate as a device would.
    pub fn build(&self) -> Result<QuantizedModel, Error> {
        let channels = u16_dim(self.input_names.len(), Place::Input, "names")?;
        u16_dim(self.input_length as usize, Place::Input, "length")?;
        if self.layers.len() > MAX_LAYERS {
            return Err(invalid(Place::Model, "layers"));
        }
        let s = self.input_quant.scale;
        if !(s.is_finite() && s > 0.0) {
            return Err(invalid(Place::Input, "scale"));
        }
        let mut layers = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let place = Place::Layer(i as u16);
            let taps =
                |w: &crate::format::Window2d| w.kernel_height as usize * w.kernel_width as usize;
            layers.push(match l {
                Int8Layer::Dense {
                    in_features,
                    out_features,
                    tensors,
                } => OwnedLayer::Weighted {
                    wide: false,
                    conv: None,
                    in_dim: u16_dim(*in_features, place, "in_features")?,
                    out_dim: u16_dim(*out_features, place, "out_features")?,
                    tensors: tensors.owned(place, *out_features, out_features * in_features)?,
                    output: tensors.output,
                    activation: tensors.activation,
                },
                Int8Layer::Conv2d {
                    window,
                    out_channels,
                    tensors,
                } => {
                    let out = *out_channels as usize;
                    let n = out * taps(window) * window.in_channels as usize;
                    OwnedLayer::Spatial {
                        kind: Spatial::Conv2d(*window, *out_channels),
                        tensors: tensors.owned(place, out, n)?.concatenated(),
                        output: tensors.output,
                        activation: tensors.activation,
                    }
                }
                Int8Layer::DepthwiseConv2d {
                    window,
                    depth_multiplier,
                    tensors,
                } => {
                    let out = window.in_channels as usize * *depth_multiplier as usize;
                    OwnedLayer::Spatial {
                        kind: Spatial::Depthwise(*window, *depth_multiplier),
                        tensors: tensors
                            .owned(place, out, out * taps(window))?
                            .concatenated(),
                        output: tensors.output,
                        activation: tensors.activation,
                    }
                }
                Int8Layer::AvgPool2d(p) => OwnedLayer::Plain(LayerDef::AvgPool2d(*p)),
                Int8Layer::Softmax(p) => OwnedLayer::Plain(LayerDef::Softmax(*p)),
                Int8Layer::Save(p) => OwnedLayer::Plain(LayerDef::Save(*p)),
                Int8Layer::Swap(p) => OwnedLayer::Plain(LayerDef::Swap(*p)),
                Int8Layer::Add(p) => OwnedLayer::Plain(LayerDef::Add(*p)),
            });
        }
        let built = QuantizedModel {
            name: self.name.clone(),
            input_names: self.input_names.join("\n"),
            input_length: self.input_length,
            input_channels: channels,
            input_scale: le::from_f32(&vec![1.0 / s; channels as usize]),
            input_offset: le::from_f32(&vec![
                self.input_quant.zero_point as f32;
                channels as usize
            ]),
            input_missing: Vec::new(),
            input_quant: self.input_quant,
            layers,
            task: self.task,
            output_names: self.output_names.join("\n"),
            sections: Vec::new(),
        };
        Model::from_def(built.def())?;
        Ok(built)
    }
}

impl QuantizedModel {
    /// Adds an optional (or required) section, replacing one of the same kind.
    pub fn set_section(&mut self, kind: u16, required: bool, data: Vec<u8>) -> Result<(), Error> {
        self.sections.retain(|(k, _, _)| *k != kind);
        if self.sections.len() >= MAX_SECTIONS {
            return Err(invalid(Place::Model, "sections"));
        }
        self.sections.push((kind, required, data));
        Ok(())
    }

    /// The model as the file's borrowed types.
    pub fn def(&self) -> ModelDef<'_> {
        let mut layers = heapless::Vec::new();
        for layer in &self.layers {
            let def = match layer {
                OwnedLayer::Weighted {
                    wide,
                    conv,
                    in_dim,
                    out_dim,
                    tensors:
                        ChannelTensors {
                            weights,
                            bias,
                            multiplier,
                            shift,
                        },
                    output,
                    activation,
                } => match conv {
                    None => {
                        let d = DenseDef {
                            in_features: *in_dim,
                            out_features: *out_dim,
                            weights,
                            bias,
                            multiplier,
                            shift,
                            output: *output,
                            activation: *activation,
                        };
                        if *wide {
                            LayerDef::Dense16(d)
                        } else {
                            LayerDef::Dense(d)
                        }
                    }
                    Some((kernel, stride, padding)) => LayerDef::Conv1d(Conv1dDef {
                        in_channels: *in_dim,
                        out_channels: *out_dim,
                        kernel: *kernel,
                        stride: *stride,
                        padding: *padding,
                        weights,
                        bias,
                        multiplier,
                        shift,
                        output: *output,
                        activation: *activation,
                    }),
                },
                OwnedLayer::Spatial {
                    kind,
                    tensors: ChannelTensors { weights, .. },
                    output,
                    activation,
                } => match *kind {
                    Spatial::Conv2d(window, out_channels) => {
                        LayerDef::Conv2d(crate::format::Conv2dDef {
                            window,
                            out_channels,
                            tensors: weights,
                            output: *output,
                            activation: *activation,
                        })
                    }
                    Spatial::Depthwise(window, depth_multiplier) => {
                        LayerDef::DepthwiseConv2d(crate::format::DepthwiseConv2dDef {
                            window,
                            depth_multiplier,
                            tensors: weights,
                            output: *output,
                            activation: *activation,
                        })
                    }
                },
                OwnedLayer::Plain(def) => *def,
                OwnedLayer::Trees {
                    classes,
                    roots,
                    nodes,
                    leaves,
                    output,
                } => LayerDef::Trees(crate::format::TreesDef {
                    classes: *classes,
                    roots,
                    nodes,
                    leaves,
                    output: *output,
                }),
            };
            // `quantize` refused more than MAX_LAYERS layers.
            let _ = layers.push(def);
        }
        let mut sections = heapless::Vec::new();
        for (kind, required, data) in &self.sections {
            // `set_section` refused more than MAX_SECTIONS sections.
            let _ = sections.push(Section {
                kind: *kind,
                required: *required,
                data,
            });
        }
        ModelDef {
            name: &self.name,
            input: InputDef {
                channels: self.input_channels,
                length: self.input_length,
                names: &self.input_names,
                scale: &self.input_scale,
                offset: &self.input_offset,
                missing: &self.input_missing,
                quant: self.input_quant,
            },
            layers,
            output: OutputDef {
                task: self.task,
                names: &self.output_names,
            },
            sections,
        }
    }

    /// The complete model file.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.def().to_bytes()
    }
}
