//! The model file (`.vigie`), format version 1.
//!
//! ```text
//! offset  size  field
//!      0     4  magic, the bytes `VIGI`
//!      4     2  format version, u16 little-endian (1)
//!      6     2  flags, u16 little-endian (bit 0: a trailer follows the body)
//!      8     4  body length in bytes, u32 little-endian
//!     12     4  CRC-32 (ISO-HDLC, as zlib) of the body, u32 little-endian
//!     16     …  body: a postcard encoding of [`ModelDef`]
//!      …     …  trailer (only with flag bit 0): reserved for a signature
//! ```
//!
//! Every tensor in the body is a borrowed byte slice (`&[u8]`) read as
//! little-endian, so a model in flash is used where it lies. The same types
//! serve the writer (feature `alloc`) and the reader (no_std).
//!
//! # What a version 1 reader does with what it does not know
//!
//! - Later additions that do not change how inference runs (monitor
//!   reference statistics, calibration, training report, data checks) travel
//!   as [`Section`]s: a kind number, a `required` bit and an opaque byte
//!   string (itself postcard). A reader skips sections of unknown kind that
//!   are not required, and refuses the file
//!   ([`Error::LoadUnknownRequiredSection`]) when an unknown section is
//!   marked required, because the writer said the model is wrong without it.
//! - A new layer kind, activation or task cannot be skipped: the body fails
//!   to decode and the reader returns [`Error::LoadMalformedBody`].
//! - A signature goes in the trailer, announced by header flag bit 0; a
//!   version 1 reader does not verify it and ignores it (but refuses the
//!   flag without trailer bytes). Any other flag bit
//!   is refused ([`Error::LoadUnsupportedFlags`]); bytes after the body
//!   without the flag are refused ([`Error::LoadLengthMismatch`]).
//! - A new format version is refused ([`Error::LoadUnsupportedVersion`]).

use serde::{Deserialize, Serialize};

use crate::Error;

/// The four bytes every model file starts with.
pub const MAGIC: [u8; 4] = *b"VIGI";
/// The format version this crate reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 16;
/// Header flag: a trailer (reserved for a signature) follows the body.
pub const FLAG_TRAILER: u16 = 1;
/// Most layers a model may have: 16, or 32 with feature `layers2d` (an
/// imported MobileNet has 31). A reader's limit, not the file's: the layer
/// list is held in a fixed array, copied on a device's stack while a model
/// loads, so a device that runs only vigie's own models keeps it short.
#[cfg(not(feature = "layers2d"))]
pub const MAX_LAYERS: usize = 16;
/// Most layers a model may have (see the other definition).
#[cfg(feature = "layers2d")]
pub const MAX_LAYERS: usize = 32;
/// Most sections a model may carry.
pub const MAX_SECTIONS: usize = 8;

/// Section kinds defined so far. Numbers are never reused.
pub mod section_kind {
    /// Drift monitor reference statistics and thresholds: a postcard
    /// [`crate::monitor::MonitorDef`], read on the device.
    pub const MONITOR: u16 = 1;
    /// Training report: configuration, data summary, learning curves, test
    /// metrics, monitor calibration. UTF-8 JSON written by the trainer and
    /// read only by hosts (`vigie inspect`, `vigie eval`); devices skip it.
    pub const TRAINING_REPORT: u16 = 2;
    /// Output calibration (temperature, abstention, costs): a postcard
    /// [`crate::decision::CalibrationDef`], read on the device.
    pub const CALIBRATION: u16 = 3;
    /// Data-quality findings recorded at training time: UTF-8 JSON read
    /// only by hosts.
    pub const DATA_CHECKS: u16 = 4;
    /// Categorical inputs: a postcard [`crate::encoding::EncodingDef`],
    /// read on the device (required).
    pub const ENCODING: u16 = 5;
    /// A fingerprint of the training rows (a Bloom filter), read only by
    /// hosts to tell training rows from new ones.
    pub const TRAINING_ROWS: u16 = 6;
    /// A probe for a dry run before a device switches to this model: a
    /// postcard [`crate::update::ProbeDef`] (an input and the CRC-32 of
    /// the int8 output it must give), written by `vigie sign`.
    pub const PROBE: u16 = 7;
    /// Adaptation after a confirmed drift: each input channel's training
    /// mean and deviation and the bounds of a correction, a postcard
    /// [`crate::adapt::AdaptationDef`], then (optional) the ends where
    /// each channel's values pile up, a postcard
    /// [`crate::adapt::AdaptationEnds`], read on the device (`vigie train
    /// --adapt`).
    pub const ADAPTATION: u16 = 8;
    /// The kinds only a host reads, which a device copy can drop.
    pub const HOST_ONLY: [u16; 3] = [TRAINING_REPORT, DATA_CHECKS, TRAINING_ROWS];

    /// A kind's name, for messages (`"unknown"` for kinds this reader does
    /// not know).
    pub const fn name(kind: u16) -> &'static str {
        match kind {
            MONITOR => "monitor",
            TRAINING_REPORT => "training report",
            CALIBRATION => "calibration",
            DATA_CHECKS => "data checks",
            ENCODING => "input encoding",
            TRAINING_ROWS => "training-row fingerprint",
            PROBE => "update probe",
            ADAPTATION => "adaptation",
            _ => "unknown",
        }
    }
}

pub(crate) const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// CRC-32 (ISO-HDLC, the zlib one) of a byte string.
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// Parameters of an affine int8 tensor: `real = scale · (q − zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QParams {
    /// Positive, finite scale.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i8,
}

/// Levels of the model's 16-bit input per step of its int8 input map
/// ([`LayerDef::Dense16`]).
pub const INPUT16_LEVELS: i32 = 256;

impl QParams {
    /// This int8 input map read at 16 bits ([`LayerDef::Dense16`]):
    /// [`INPUT16_LEVELS`] levels per step, zero point 0 (the map's own is
    /// folded into the first layer's bias). The builder, the engine and
    /// the trainer's reading back all take the 16-bit scale here.
    pub fn at_16_bits(self) -> QParams {
        QParams {
            scale: self.scale / INPUT16_LEVELS as f32,
            zero_point: 0,
        }
    }

    /// The real value of a quantized one.
    #[inline]
    pub fn dequantize(&self, q: i8) -> f32 {
        self.scale * (q as i32 - self.zero_point as i32) as f32
    }
}

/// An activation fused into a layer as a clamp of its int8 output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// No clamp beyond int8.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
}

/// Padding of a 1-D convolution or pooling window, as TensorFlow defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Padding {
    /// No padding: `out = (len − kernel) / stride + 1`.
    Valid,
    /// `out = ceil(len / stride)`, padding split with the smaller half first.
    Same,
}

/// What the model's output means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task {
    /// One score per class; the highest wins.
    Classification,
    /// One real value per target.
    Regression,
}

/// The input: shape and the per-channel affine map from raw `f32` values to
/// int8 (standardization folded with quantization):
/// `q = round(x · scale[c] + offset[c])`, clamped to int8.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputDef<'a> {
    /// Channels (features for tabular data).
    pub channels: u16,
    /// Samples per channel (1 for tabular data).
    pub length: u16,
    /// One name per channel, separated by `\n`.
    pub names: &'a str,
    /// `channels` f32 little-endian.
    pub scale: &'a [u8],
    /// `channels` f32 little-endian.
    pub offset: &'a [u8],
    /// Empty, or `channels` f32 little-endian: the raw value that replaces
    /// a missing (NaN) input, as imputed at training time.
    pub missing: &'a [u8],
    /// Quantization of the int8 input tensor.
    pub quant: QParams,
}

/// A fully connected layer: `out[o] = Σ_i (x[i] − zp_in) · w[o][i] + bias[o]`,
/// then requantized. Its input is the previous tensor, flattened.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DenseDef<'a> {
    /// Input size (the flattened previous tensor).
    pub in_features: u16,
    /// Output size.
    pub out_features: u16,
    /// `out_features × in_features` int8, row-major.
    pub weights: &'a [u8],
    /// `out_features` i32 little-endian, scale `s_in · s_w[o]`.
    pub bias: &'a [u8],
    /// `out_features` Q31 multipliers, i32 little-endian.
    pub multiplier: &'a [u8],
    /// `out_features` shifts, i8.
    pub shift: &'a [u8],
    /// Quantization of the output tensor.
    pub output: QParams,
    /// Fused activation.
    pub activation: Activation,
}

/// A 1-D convolution over a channels-first tensor `(in_channels, length)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Conv1dDef<'a> {
    /// Input channels.
    pub in_channels: u16,
    /// Output channels (filters).
    pub out_channels: u16,
    /// Kernel size.
    pub kernel: u16,
    /// Stride.
    pub stride: u16,
    /// Padding.
    pub padding: Padding,
    /// `out_channels × in_channels × kernel` int8.
    pub weights: &'a [u8],
    /// `out_channels` i32 little-endian.
    pub bias: &'a [u8],
    /// `out_channels` Q31 multipliers, i32 little-endian.
    pub multiplier: &'a [u8],
    /// `out_channels` shifts, i8.
    pub shift: &'a [u8],
    /// Quantization of the output tensor.
    pub output: QParams,
    /// Fused activation.
    pub activation: Activation,
}

/// A pooling window along the length axis, per channel. The output keeps
/// the input's quantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolDef {
    /// Window size.
    pub kernel: u16,
    /// Stride.
    pub stride: u16,
    /// Padding (padded positions are ignored, not counted as zeros).
    pub padding: Padding,
}

/// One layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum LayerDef<'a> {
    /// Fully connected.
    #[serde(borrow)]
    Dense(DenseDef<'a>),
    /// 1-D convolution.
    #[serde(borrow)]
    Conv1d(Conv1dDef<'a>),
    /// Max pooling along the length.
    MaxPool1d(PoolDef),
    /// Average pooling along the length.
    AvgPool1d(PoolDef),
    /// Mean over the whole length: `(c, l)` to `(c, 1)`.
    GlobalAvgPool1d,
    /// `(c, l)` to `(c·l, 1)`; the data does not move.
    Flatten,
    /// Each channel's values in rising order, read at `count` evenly spaced
    /// ranks: `(c, l)` to `(c, count)` (`kernels::quantiles`). Listed after
    /// the older kinds, so files written before it read unchanged; a core
    /// that predates it refuses it as an unknown layer.
    Quantiles1d(QuantilesDef),
    /// 2-D convolution over an NHWC tensor (`kernels::conv2d`), as TFLite's
    /// `CONV_2D`. The 2-D kinds come from imported models; they read and
    /// write channels-last tensors, so only 2-D layers, a dense layer, a
    /// flatten or a softmax may follow them (validation refuses a 1-D layer
    /// there).
    #[serde(borrow)]
    Conv2d(Conv2dDef<'a>),
    /// Depthwise 2-D convolution, NHWC, as TFLite's `DEPTHWISE_CONV_2D`.
    #[serde(borrow)]
    DepthwiseConv2d(DepthwiseConv2dDef<'a>),
    /// Average pooling over a 2-D window, NHWC, as TFLite's
    /// `AVERAGE_POOL_2D`. The output keeps the input's quantization.
    AvgPool2d(Pool2dDef),
    /// int8 softmax over the last axis as TFLite and TFLM compute it
    /// (`kernels::softmax`); the output is quantized with scale 1/256 and
    /// zero point −128.
    Softmax(SoftmaxDef),
    /// Keeps a copy of the current tensor in a save slot for a later
    /// [`LayerDef::Swap`] or [`LayerDef::Add`] (a skip connection); the
    /// current tensor goes on unchanged. Slots are regions of the arena
    /// that validation sizes and places, so a graph with skip connections
    /// runs as a list of layers with an exact arena.
    Save(SlotDef),
    /// The slot's tensor becomes the current one, and the current one
    /// takes its place in the slot (a branch that starts from an earlier
    /// tensor: ResNet's 1×1 shortcut convolution).
    Swap(SlotDef),
    /// Element-wise sum of the current tensor and a slot's, as TFLite's
    /// int8 `ADD` (`kernels::add`); both must have the same shape.
    Add(AddDef),
    /// Fully connected, reading the model's input at 16 bits: the first
    /// layer only. The input map's real level `v = x·scale + offset`
    /// (what int8 rounds) is rounded at 256 levels per int8 step instead,
    /// `q = round(256·v)` in int16 (`math::quantize_affine16`), so its
    /// scale is `input.quant.scale / 256` and the int8 map's zero point,
    /// `256·zp`, is folded into the bias: `out[o] = requant(bias[o] +
    /// Σ_i q[i]·w[o][i])`. A tabular column keeps 65,536 levels over its
    /// range where int8 keeps 256, for the same weights and MACs (the dense
    /// kernel widens int8 to 16-bit lanes anyway). The input occupies
    /// `2 · in_features` bytes of the arena, little-endian.
    #[serde(borrow)]
    Dense16(DenseDef<'a>),
    /// An ensemble of decision trees over the flattened current tensor
    /// (`kernels::trees`): each tree sends the input down to one leaf by
    /// int8 threshold tests, and class `c`'s score is the mean of the
    /// leaves' int8 values for `c`, rounded. The output is `(classes, 1)`.
    /// Listed last, so files written before it read unchanged.
    #[serde(borrow)]
    Trees(TreesDef<'a>),
}

impl LayerDef<'_> {
    /// Bytes each value of this layer's input takes in the arena: two for
    /// [`LayerDef::Dense16`] (the model's 16-bit input), one for every
    /// other kind. The engine, its input quantization and validation's
    /// arena size all read it here.
    #[inline]
    pub fn input_bytes_per_value(&self) -> usize {
        match self {
            LayerDef::Dense16(_) => 2,
            _ => 1,
        }
    }
}

/// Most save slots a model may use ([`LayerDef::Save`]).
pub const MAX_SLOTS: usize = 4;

/// A save slot, `0..MAX_SLOTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotDef {
    /// The slot.
    pub slot: u8,
}

/// One operand of an [`AddDef`]: its zero point, and the Q31 multiplier and
/// (non-positive) shift that bring it, shifted left by
/// [`AddDef::left_shift`], to the common scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOperand {
    /// Zero point of the operand's tensor.
    pub zero_point: i32,
    /// Q31 multiplier (TFLite's `input1_multiplier`).
    pub multiplier: i32,
    /// Its shift, ≤ 0 (a right shift).
    pub shift: i32,
}

/// TFLite's int8 `ADD` parameters, as its `Prepare` computes them: each
/// input's offset, multiplier and shift, the common left shift (20), and
/// the output's multiplier and shift.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AddDef {
    /// The slot holding the other operand.
    pub slot: u8,
    /// The current tensor's operand parameters.
    pub current: AddOperand,
    /// The slot's operand parameters.
    pub saved: AddOperand,
    /// Left shift applied to both operands before scaling (TFLite: 20).
    pub left_shift: i32,
    /// Q31 multiplier of the sum to the output scale.
    pub output_multiplier: i32,
    /// Its shift, ≤ 0.
    pub output_shift: i32,
    /// Quantization of the output tensor.
    pub output: QParams,
    /// Fused activation.
    pub activation: Activation,
}

/// The geometry of a 2-D window over an NHWC input `(height, width,
/// channels)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window2d {
    /// Input height.
    pub in_height: u16,
    /// Input width.
    pub in_width: u16,
    /// Input channels.
    pub in_channels: u16,
    /// Window height.
    pub kernel_height: u16,
    /// Window width.
    pub kernel_width: u16,
    /// Vertical stride.
    pub stride_height: u16,
    /// Horizontal stride.
    pub stride_width: u16,
    /// Padding (TensorFlow's rule on each axis).
    pub padding: Padding,
}

/// A 2-D convolution over an NHWC tensor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Conv2dDef<'a> {
    /// Input and window.
    pub window: Window2d,
    /// Output channels (filters).
    pub out_channels: u16,
    /// The weights, `out_channels × kernel_height × kernel_width ×
    /// in_channels` int8 (TFLite's OHWI order), then per output channel
    /// the i32 biases, the i32 Q31 multipliers and the i8 shifts, all
    /// little-endian, in one slice ([`Conv2dDef::parts`]): one borrowed
    /// slice instead of four keeps the layer list, and every copy of a
    /// model's definition on a device's stack, as small as before the 2-D
    /// layers.
    pub tensors: &'a [u8],
    /// Quantization of the output tensor.
    pub output: QParams,
    /// Fused activation.
    pub activation: Activation,
}

/// `(weights, bias, multiplier, shift)` of `tensors` for `weights` weight
/// bytes and `out` output channels; `None` when the lengths disagree.
fn channel_parts(tensors: &[u8], weights: u64, out: usize) -> Option<[&[u8]; 4]> {
    // In u64: a product of u16 dimensions passes 2^32 on a 32-bit device.
    if tensors.len() as u64 != weights.checked_add(out as u64 * 9)? {
        return None;
    }
    let weights = weights as usize;
    let (w, rest) = tensors.split_at(weights);
    let (bias, rest) = rest.split_at(4 * out);
    let (multiplier, shift) = rest.split_at(4 * out);
    Some([w, bias, multiplier, shift])
}

impl<'a> Conv2dDef<'a> {
    /// Weight bytes: `out × kh × kw × in` (in `u64`: it can pass 2^32).
    pub fn weights_len(&self) -> u64 {
        let w = &self.window;
        self.out_channels as u64
            * w.kernel_height as u64
            * w.kernel_width as u64
            * w.in_channels as u64
    }

    /// `[weights, bias, multiplier, shift]`, `None` when [`Conv2dDef::tensors`]
    /// has the wrong length (validation refuses such a model).
    pub fn parts(&self) -> Option<[&'a [u8]; 4]> {
        channel_parts(self.tensors, self.weights_len(), self.out_channels as usize)
    }
}

/// A depthwise 2-D convolution over an NHWC tensor: output channel
/// `c · depth_multiplier + m` sees input channel `c` only.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DepthwiseConv2dDef<'a> {
    /// Input and window.
    pub window: Window2d,
    /// Output channels per input channel.
    pub depth_multiplier: u16,
    /// The weights, `kernel_height × kernel_width × out_channels` int8
    /// (TFLite's 1HWO), then per output channel the i32 biases, the i32 Q31
    /// multipliers and the i8 shifts, as [`Conv2dDef::tensors`].
    pub tensors: &'a [u8],
    /// Quantization of the output tensor.
    pub output: QParams,
    /// Fused activation.
    pub activation: Activation,
}

impl<'a> DepthwiseConv2dDef<'a> {
    /// Output channels: `in × depth_multiplier`.
    pub fn out_channels(&self) -> usize {
        self.window.in_channels as usize * self.depth_multiplier as usize
    }

    /// Weight bytes: `kh × kw × out` (in `u64`: it can pass 2^32).
    pub fn weights_len(&self) -> u64 {
        let w = &self.window;
        w.kernel_height as u64 * w.kernel_width as u64 * self.out_channels() as u64
    }

    /// `[weights, bias, multiplier, shift]`, `None` when the lengths
    /// disagree.
    pub fn parts(&self) -> Option<[&'a [u8]; 4]> {
        channel_parts(self.tensors, self.weights_len(), self.out_channels())
    }
}

/// Average pooling over a 2-D window, per channel; padded positions are
/// left out of the average, as TFLite does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool2dDef {
    /// Input and window (`in_channels` is the channel count of both sides).
    pub window: Window2d,
    /// Fused activation (a clamp in the input's quantization).
    pub activation: Activation,
}

/// The fixed-point parameters of TFLite's int8 softmax, computed from
/// `beta` and the input scale as its `Prepare` does
/// (`tflite::softmax_params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftmaxDef {
    /// Q31 multiplier of `beta · input_scale · 2^26`.
    pub input_multiplier: i32,
    /// Its left shift (0 to 31).
    pub input_left_shift: i32,
    /// Differences from the row's maximum below this (in input levels)
    /// give 0.
    pub diff_min: i32,
}

/// Quantization of a softmax output: `1/256` per level from −128.
pub const SOFTMAX_OUTPUT: QParams = QParams {
    scale: 1.0 / 256.0,
    zero_point: -128,
};

/// Bytes of one node of a [`TreesDef`]: feature (u16 LE), threshold (i8),
/// right child (u16 LE).
pub const TREE_NODE_BYTES: usize = 5;
/// The feature index that marks a leaf node of a [`TreesDef`]; its right
/// child field is then the leaf's row in [`TreesDef::leaves`].
pub const TREE_LEAF: u16 = u16::MAX;

/// Decision trees (`kernels::trees`). Node `i` is `nodes[5i..5i + 5]`: an
/// inner node tests `x[feature] ≤ threshold` and goes on at node `i + 1`
/// when it holds, at node `right` when it does not; a leaf (feature
/// [`TREE_LEAF`]) names its row of `leaves`. Validation requires every
/// child to lie after its parent, so a walk ends within the node count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TreesDef<'a> {
    /// Classes (outputs): each leaf row holds one int8 score per class.
    pub classes: u16,
    /// The root node of each tree, u16 little-endian.
    pub roots: &'a [u8],
    /// The nodes, [`TREE_NODE_BYTES`] each.
    pub nodes: &'a [u8],
    /// The leaf rows, `classes` int8 scores each (the builder shares equal
    /// rows among leaves).
    pub leaves: &'a [u8],
    /// Quantization of the output (the mean of the leaves' scores keeps
    /// the leaves' scale).
    pub output: QParams,
}

impl TreesDef<'_> {
    /// Number of trees.
    pub fn trees(&self) -> usize {
        self.roots.len() / 2
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len() / TREE_NODE_BYTES
    }

    /// Node `i` as `(feature, threshold, right)`; `None` past the last.
    #[inline]
    pub fn node(&self, i: usize) -> Option<(u16, i8, u16)> {
        let b = self
            .nodes
            .get(i * TREE_NODE_BYTES..i * TREE_NODE_BYTES + TREE_NODE_BYTES)?;
        Some((
            u16::from_le_bytes([b[0], b[1]]),
            b[2] as i8,
            u16::from_le_bytes([b[3], b[4]]),
        ))
    }

    /// The root of tree `t`; `None` past the last tree.
    #[inline]
    pub fn root(&self, t: usize) -> Option<usize> {
        let b = self.roots.get(2 * t..2 * t + 2)?;
        Some(u16::from_le_bytes([b[0], b[1]]) as usize)
    }
}

/// Quantile pooling. The output keeps the input's quantization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantilesDef {
    /// Quantiles per channel, between 1 and the input length.
    pub count: u16,
}

/// What the output means and what its values are called.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OutputDef<'a> {
    /// Classification or regression.
    pub task: Task,
    /// One name per output value (class names, or target names), `\n`-separated.
    pub names: &'a str,
}

/// An optional part of the file that inference does not need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section<'a> {
    /// See [`section_kind`].
    pub kind: u16,
    /// Whether a reader that does not know `kind` must refuse the file.
    pub required: bool,
    /// The section's own encoding (postcard).
    pub data: &'a [u8],
}

/// The body of a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDef<'a> {
    /// A short name for people.
    pub name: &'a str,
    /// Input shape and map.
    #[serde(borrow)]
    pub input: InputDef<'a>,
    /// Layers in order.
    #[serde(borrow)]
    pub layers: heapless::Vec<LayerDef<'a>, MAX_LAYERS>,
    /// Output meaning.
    #[serde(borrow)]
    pub output: OutputDef<'a>,
    /// Optional sections.
    #[serde(borrow)]
    pub sections: heapless::Vec<Section<'a>, MAX_SECTIONS>,
}

/// The fixed header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u16,
    /// Flags.
    pub flags: u16,
    /// Body length.
    pub body_len: u32,
    /// CRC-32 of the body.
    pub body_crc: u32,
}

impl Header {
    /// The 16 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4..6].copy_from_slice(&self.version.to_le_bytes());
        out[6..8].copy_from_slice(&self.flags.to_le_bytes());
        out[8..12].copy_from_slice(&self.body_len.to_le_bytes());
        out[12..16].copy_from_slice(&self.body_crc.to_le_bytes());
        out
    }
}

/// Splits a file into header and body, checking magic, version, flags,
/// length and checksum. Returns the body.
pub fn split_file(bytes: &[u8]) -> Result<(Header, &[u8]), Error> {
    let Some((head, rest)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(Error::LoadTooShort { len: bytes.len() });
    };
    if head[0..4] != MAGIC {
        return Err(Error::LoadBadMagic);
    }
    let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let header = Header {
        version: u16_at(4),
        flags: u16_at(6),
        body_len: u32_at(8),
        body_crc: u32_at(12),
    };
    if header.version != FORMAT_VERSION {
        return Err(Error::LoadUnsupportedVersion {
            version: header.version,
        });
    }
    if header.flags & !FLAG_TRAILER != 0 {
        return Err(Error::LoadUnsupportedFlags {
            flags: header.flags,
        });
    }
    let declared = header.body_len as usize;
    let mismatch = Error::LoadLengthMismatch {
        declared: header.body_len,
        available: rest.len(),
    };
    let body = if header.flags & FLAG_TRAILER != 0 {
        // A flagged trailer must be there.
        if rest.len() <= declared {
            return Err(mismatch);
        }
        &rest[..declared]
    } else if rest.len() == declared {
        rest
    } else {
        return Err(mismatch);
    };
    let computed = crc32(body);
    if computed != header.body_crc {
        return Err(Error::LoadChecksumMismatch {
            stored: header.body_crc,
            computed,
        });
    }
    Ok((header, body))
}

impl<'a> ModelDef<'a> {
    /// Decodes a body (no validation beyond the encoding itself).
    pub fn from_body(body: &'a [u8]) -> Result<Self, Error> {
        let (def, rest) = postcard::take_from_bytes::<ModelDef<'a>>(body)
            .map_err(|e| Error::LoadMalformedBody { kind: e.into() })?;
        if !rest.is_empty() {
            return Err(Error::LoadTrailingBody);
        }
        Ok(def)
    }

    /// Drops the sections only a host reads ([`section_kind::HOST_ONLY`]):
    /// what is left is what a device uses.
    pub fn strip_host_sections(&mut self) {
        self.sections
            .retain(|s| !section_kind::HOST_ONLY.contains(&s.kind));
    }

    /// The first section of a kind, if any.
    pub fn section(&self, kind: u16) -> Option<&Section<'a>> {
        self.sections.iter().find(|s| s.kind == kind)
    }

    /// Where the first section of a kind is, for errors about it.
    pub fn section_place(&self, kind: u16) -> crate::error::Place {
        let index = self
            .sections
            .iter()
            .position(|s| s.kind == kind)
            .unwrap_or(self.sections.len()) as u16;
        crate::error::Place::Section { index, kind }
    }
}

#[cfg(feature = "alloc")]
impl ModelDef<'_> {
    /// The complete file: header, then body. Does not validate; load the
    /// result with [`crate::Model::from_bytes`] to check it.
    pub fn to_bytes(&self) -> alloc::vec::Vec<u8> {
        let body =
            postcard::to_allocvec(self).expect("postcard serialization into a Vec cannot fail");
        let header = Header {
            version: FORMAT_VERSION,
            flags: 0,
            body_len: body.len() as u32,
            body_crc: crc32(&body),
        };
        let mut out = alloc::vec::Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(&header.to_bytes());
        out.extend_from_slice(&body);
        out
    }
}

/// A `\n`-separated list of names, as stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names<'a>(pub &'a str);

impl<'a> Names<'a> {
    /// The names in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let s = self.0;
        s.split('\n').filter(move |_| !s.is_empty())
    }

    /// How many names there are (an empty string holds none).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The name at `index`.
    pub fn get(&self, index: usize) -> Option<&'a str> {
        self.iter().nth(index)
    }
}

/// Reads element `i` of a little-endian `i32` tensor (0 when out of range,
/// which validation rules out).
#[inline(always)]
pub fn read_i32(bytes: &[u8], i: usize) -> i32 {
    match bytes.get(4 * i..4 * i + 4) {
        Some(&[a, b, c, d]) => i32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Reads element `i` of a little-endian `f32` tensor (0 when out of range,
/// which validation rules out).
#[inline(always)]
pub fn read_f32(bytes: &[u8], i: usize) -> f32 {
    f32::from_bits(read_i32(bytes, i) as u32)
}

/// Helpers for the writer: typed values to little-endian bytes.
#[cfg(feature = "alloc")]
pub mod le {
    use alloc::vec::Vec;

    /// `i32` values as little-endian bytes.
    pub fn from_i32(values: &[i32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// `f32` values as little-endian bytes.
    pub fn from_f32(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// `i8` values as bytes.
    pub fn from_i8(values: &[i8]) -> Vec<u8> {
        values.iter().map(|&v| v as u8).collect()
    }
}
