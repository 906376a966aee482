//! The engine: a validated model, run with a caller-provided arena.
//!
//! The arena holds two tensors at a time: the layer's input at one end and
//! its output at the other (ping-pong), with a convolution's input patch
//! between them, so it needs, for the worst layer, `input + output (+
//! patch)` bytes and nothing is ever allocated.

use crate::decision::{CalibrationDef, Decision};
use crate::error::Buffer;
use crate::format::{read_f32, section_kind, split_file, LayerDef, ModelDef, Names, QParams, Task};
use crate::kernels::conv1d::{conv1d_s8, Conv1dShape};
use crate::kernels::dense::{dense_s16, dense_s8};
use crate::kernels::pool::{avg_pool1d_s8, max_pool1d_s8, PoolShape};
use crate::kernels::quantiles::{quantiles_s8, QuantileShape};
use crate::kernels::trees::trees_s8;
use crate::kernels::{pad_left, ChannelQuant};
use crate::math::quantize_affine;
use crate::validate::{validate, Shape, Summary};
use crate::Error;

/// A loaded, validated model. Borrows the file's bytes: a model in flash
/// stays in flash.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    def: ModelDef<'a>,
    summary: Summary,
    calibration: CalibrationDef<'a>,
}

/// Which end of the arena a tensor lives at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Front,
    Back,
}

impl End {
    fn other(self) -> End {
        match self {
            End::Front => End::Back,
            End::Back => End::Front,
        }
    }
}

/// Splits the arena into (input, scratch, output) for a layer reading
/// `n_in` bytes at `from` and writing `n_out` bytes at the other end; the
/// scratch is whatever lies between them.
fn split_arena(
    arena: &mut [i8],
    from: End,
    n_in: usize,
    n_out: usize,
) -> (&[i8], &mut [i8], &mut [i8]) {
    let total = arena.len();
    match from {
        End::Front => {
            let (a, y) = arena.split_at_mut(total - n_out);
            let (x, scratch) = a.split_at_mut(n_in);
            (x, scratch, y)
        }
        End::Back => {
            let (y, b) = arena.split_at_mut(n_out);
            let at = b.len() - n_in;
            let (scratch, x) = b.split_at_mut(at);
            (x, scratch, y)
        }
    }
}

fn tensor_at(arena: &[i8], at: End, n: usize) -> &[i8] {
    match at {
        End::Front => &arena[..n],
        End::Back => &arena[arena.len() - n..],
    }
}

impl<'a> Model<'a> {
    /// Loads and validates a model file. Any byte string gives either a
    /// model or an error; nothing is copied out of `bytes`.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, Error> {
        let (_, body) = split_file(bytes)?;
        let def = ModelDef::from_body(body)?;
        Self::from_def(def)
    }

    /// Loads a model only if it is signed by `public_key`
    /// ([`crate::signature::verify`]): an unsigned, malformed, wrongly keyed
    /// or changed file is refused with its own error, before anything else
    /// is decoded.
    pub fn from_bytes_signed(
        bytes: &'a [u8],
        public_key: &[u8; crate::signature::PUBLIC_KEY_LEN],
    ) -> Result<Self, Error> {
        let body = crate::signature::verified_body(bytes, public_key)?;
        Self::from_def(ModelDef::from_body(body)?)
    }

    /// Validates an already decoded model.
    pub fn from_def(def: ModelDef<'a>) -> Result<Self, Error> {
        let summary = validate(&def)?;
        let calibration = match def.section(section_kind::CALIBRATION) {
            Some(s) if def.output.task == Task::Classification => CalibrationDef::parse(
                s.data,
                summary.shapes[def.layers.len()].len(),
                def.section_place(section_kind::CALIBRATION),
            )?,
            _ => CalibrationDef::default(),
        };
        Ok(Model {
            def,
            summary,
            calibration,
        })
    }

    /// The decoded file body.
    pub fn def(&self) -> &ModelDef<'a> {
        &self.def
    }

    /// Bytes of arena [`Model::run`] needs.
    pub fn arena_len(&self) -> usize {
        self.summary.arena_len
    }

    /// Multiply-accumulates per inference.
    pub fn macs(&self) -> u64 {
        self.summary.macs
    }

    /// Number of `f32` values one inference takes (`channels × length`).
    pub fn input_len(&self) -> usize {
        self.summary.shapes[0].len()
    }

    /// Bytes of the quantized input at the front of the arena: one per
    /// value, or two when the first layer reads it at 16 bits
    /// ([`LayerDef::Dense16`]).
    pub fn input_bytes(&self) -> usize {
        let per_value = self
            .def
            .layers
            .first()
            .map_or(1, LayerDef::input_bytes_per_value);
        per_value * self.input_len()
    }

    /// Input shape.
    pub fn input_shape(&self) -> Shape {
        self.summary.shapes[0]
    }

    /// Output shape of layer `i` (`None` past the last layer).
    pub fn layer_output_shape(&self, i: usize) -> Option<Shape> {
        if i < self.def.layers.len() {
            Some(self.summary.shapes[i + 1])
        } else {
            None
        }
    }

    /// Number of output values.
    pub fn output_len(&self) -> usize {
        self.summary.shapes[self.def.layers.len()].len()
    }

    /// Classification or regression.
    pub fn task(&self) -> Task {
        self.def.output.task
    }

    /// Input channel (feature) names.
    pub fn input_names(&self) -> Names<'a> {
        Names(self.def.input.names)
    }

    /// Output (class or target) names.
    pub fn output_names(&self) -> Names<'a> {
        Names(self.def.output.names)
    }

    /// Quantization of the output tensor.
    pub fn output_quant(&self) -> QParams {
        let mut q = self.def.input.quant;
        let mut saved = [q; crate::format::MAX_SLOTS];
        for layer in &self.def.layers {
            q = next_quant(layer, q, &mut saved);
        }
        q
    }

    /// Quantizes raw input values with the model's input map into `out`
    /// ([`Model::input_bytes`] of it): int8, or little-endian int16 when
    /// the first layer reads 16 bits ([`LayerDef::Dense16`]). The first
    /// step of [`Model::run`], exposed for callers that run the layers
    /// themselves ([`Model::run_quantized`]). A NaN is
    /// a missing value: it is replaced by the model's imputed value when the
    /// model has one, and refused otherwise; an infinity is always refused.
    pub fn quantize_input(&self, input: &[f32], out: &mut [i8]) -> Result<(), Error> {
        let shape = self.summary.shapes[0];
        let expected = shape.len();
        if input.len() != expected {
            return Err(Error::RunInputLength {
                expected,
                found: input.len(),
            });
        }
        let map = &self.def.input;
        let imputes = !map.missing.is_empty();
        Buffer::Arena.check(self.input_bytes(), out.len())?;
        let len = shape.length as usize;
        // A value that is not finite is checked only where it is met (on
        // an error, `out` holds a partly quantized input, which no caller
        // reads).
        let value = |x: f32, c: usize, index: usize| {
            if x.is_finite() {
                Ok(x)
            } else if x.is_nan() && imputes {
                Ok(read_f32(map.missing, c))
            } else {
                Err(Error::RunNonFiniteInput { index })
            }
        };
        if let Some(LayerDef::Dense16(_)) = self.def.layers.first() {
            // At 16 bits (the first layer reads it so), little-endian. One
            // loop over the values, the channel by division: measured
            // faster here than a loop per channel, or one without the
            // division for a tabular row (2,560 instructions for digits'
            // 64 values against 5,600 and 2,680).
            let scale = |c: usize| (read_f32(map.scale, c), read_f32(map.offset, c));
            for (i, (x, q)) in input.iter().zip(out.chunks_exact_mut(2)).enumerate() {
                let c = i / len;
                let (a, b) = scale(c);
                let v = crate::math::quantize_affine16(value(*x, c, i)?, a, b).to_le_bytes();
                q[0] = v[0] as i8;
                q[1] = v[1] as i8;
            }
            return Ok(());
        }
        if len == 1 {
            // A tabular row, one value per channel: one loop over the
            // values, without a channel loop around each.
            for (c, (x, q)) in input.iter().zip(out.iter_mut()).enumerate() {
                let (scale, offset) = (read_f32(map.scale, c), read_f32(map.offset, c));
                *q = quantize_affine(value(*x, c, c)?, scale, offset);
            }
            return Ok(());
        }
        for (c, (xs, qs)) in input
            .chunks_exact(len)
            .zip(out.chunks_exact_mut(len))
            .enumerate()
        {
            let (scale, offset) = (read_f32(map.scale, c), read_f32(map.offset, c));
            for (i, (x, q)) in xs.iter().zip(qs.iter_mut()).enumerate() {
                *q = quantize_affine(value(*x, c, c * len + i)?, scale, offset);
            }
        }
        Ok(())
    }

    /// Runs one inference on raw `f32` input (channel-major), using `arena`
    /// as scratch. The result borrows the arena. Missing values (NaN) are
    /// imputed as [`Model::quantize_input`] says.
    pub fn run<'r>(&self, input: &[f32], arena: &'r mut [i8]) -> Result<Output<'a, 'r>, Error> {
        let needed = self.summary.arena_len;
        let expected = self.input_len();
        if input.len() != expected {
            return Err(Error::RunInputLength {
                expected,
                found: input.len(),
            });
        }
        Buffer::Arena.check(needed, arena.len())?;
        let arena = &mut arena[..needed];
        let bytes = self.input_bytes();
        self.quantize_input(input, &mut arena[..bytes])?;
        self.run_quantized_in_place(arena)
    }

    /// Runs the layers on an input already quantized at the front of
    /// `arena` (as [`Model::quantize_input`] writes it).
    pub fn run_quantized<'r>(&self, arena: &'r mut [i8]) -> Result<Output<'a, 'r>, Error> {
        let needed = self.summary.arena_len;
        Buffer::Arena.check(needed, arena.len())?;
        self.run_quantized_in_place(&mut arena[..needed])
    }

    /// The output of the last successful [`Model::run`] on `arena`, read
    /// again (the output tensor stays in the arena until the next run).
    /// On an arena that has not been run, the values are whatever it holds.
    pub fn last_output<'r>(&self, arena: &'r [i8]) -> Result<Output<'a, 'r>, Error> {
        let needed = self.summary.arena_len;
        Buffer::Arena.check(needed, arena.len())?;
        let arena = &arena[..needed];
        let arena = &arena[..self.work_len()];
        let moves = self
            .def
            .layers
            .iter()
            .filter(|l| !matches!(l, LayerDef::Flatten | LayerDef::Save(_)))
            .count();
        let at = if moves % 2 == 0 {
            End::Front
        } else {
            End::Back
        };
        Ok(Output {
            raw: tensor_at(arena, at, self.output_len()),
            quant: self.output_quant(),
            task: self.def.output.task,
            names: Names(self.def.output.names),
            calibration: self.calibration,
            probabilities: self.outputs_probabilities(),
        })
    }

    /// [`Model::run_quantized`], calling `after(i)` once layer `i` has
    /// run (for every layer, in order): a device reads its cycle counter
    /// there to split the cost of an inference by layer. The layers run
    /// exactly as in [`Model::run_quantized`].
    pub fn run_quantized_traced<'r>(
        &self,
        arena: &'r mut [i8],
        after: &mut dyn FnMut(usize),
    ) -> Result<Output<'a, 'r>, Error> {
        let needed = self.summary.arena_len;
        Buffer::Arena.check(needed, arena.len())?;
        self.run_layers(&mut arena[..needed], after)
    }

    /// Multiply-accumulates of layer `i` (0 for a layer without weights;
    /// `None` past the last layer), counted as [`Model::macs`] counts them.
    pub fn layer_macs(&self, i: usize) -> Option<u64> {
        let layer = self.def.layers.get(i)?;
        Some(crate::validate::layer_macs(
            layer,
            self.summary.shapes[i],
            self.summary.shapes[i + 1],
        ))
    }

    /// The kind of layer `i`, as `vigie inspect` names it (`None` past the
    /// last layer).
    pub fn layer_kind(&self, i: usize) -> Option<&'static str> {
        Some(match self.def.layers.get(i)? {
            LayerDef::Dense(_) => "dense",
            LayerDef::Dense16(_) => "dense16",
            LayerDef::Conv1d(_) => "conv1d",
            LayerDef::MaxPool1d(_) => "max_pool1d",
            LayerDef::AvgPool1d(_) => "avg_pool1d",
            LayerDef::GlobalAvgPool1d => "global_avg_pool1d",
            LayerDef::Flatten => "flatten",
            LayerDef::Quantiles1d(_) => "quantiles1d",
            LayerDef::Conv2d(_) => "conv2d",
            LayerDef::DepthwiseConv2d(_) => "depthwise_conv2d",
            LayerDef::AvgPool2d(_) => "avg_pool2d",
            LayerDef::Softmax(_) => "softmax",
            LayerDef::Save(_) => "save",
            LayerDef::Swap(_) => "swap",
            LayerDef::Add(_) => "add",
            LayerDef::Trees(_) => "trees",
        })
    }

    /// Arena bytes before the save slots: the ping-pong part.
    fn work_len(&self) -> usize {
        let slots: usize = self.summary.slot_len.iter().sum();
        self.summary.arena_len - slots
    }

    fn run_quantized_in_place<'r>(&self, arena: &'r mut [i8]) -> Result<Output<'a, 'r>, Error> {
        self.run_layers(arena, &mut |_| {})
    }

    fn run_layers<'r>(
        &self,
        arena: &'r mut [i8],
        after: &mut dyn FnMut(usize),
    ) -> Result<Output<'a, 'r>, Error> {
        let mut at = End::Front;
        let mut quant = self.def.input.quant;
        // The save slots lie after the ping-pong part, one after another.
        let (arena, slots) = arena.split_at_mut(self.work_len());
        #[cfg(feature = "layers2d")]
        let mut saved_quant = [quant; crate::format::MAX_SLOTS];
        #[cfg(not(feature = "layers2d"))]
        let _ = slots;
        for (i, layer) in self.def.layers.iter().enumerate() {
            let shape_in = self.summary.shapes[i];
            let shape_out = self.summary.shapes[i + 1];
            let n_in = shape_in.len() * layer.input_bytes_per_value();
            let n_out = shape_out.len();
            if let LayerDef::Flatten = layer {
                after(i);
                continue; // same bytes, new shape
            }
            #[cfg(feature = "layers2d")]
            if let LayerDef::Save(_) | LayerDef::Swap(_) | LayerDef::Add(_) = layer {
                // A save reads the current tensor and writes nothing in the
                // working part (which validation sizes for the tensor alone).
                let (x, y): (&[i8], &mut [i8]) = match layer {
                    LayerDef::Save(_) => (tensor_at(arena, at, n_in), &mut []),
                    _ => {
                        let (x, _, y) = split_arena(arena, at, n_in, n_out);
                        (x, &mut y[..n_out])
                    }
                };
                let moved = run_slot(layer, x, slots, &self.summary.slot_len, y);
                quant = next_quant(layer, quant, &mut saved_quant);
                if moved {
                    at = at.other();
                }
                after(i);
                continue;
            }
            let (x, scratch, y) = split_arena(arena, at, n_in, n_out);
            let y = &mut y[..n_out];
            match layer {
                LayerDef::Dense(d) | LayerDef::Dense16(d) => {
                    // A 16-bit input has zero point 0 (folded into the
                    // bias) and 256 levels per int8 step; the multipliers
                    // hold its scale already.
                    let wide = matches!(layer, LayerDef::Dense16(_));
                    let input = if wide { quant.at_16_bits() } else { quant };
                    let q = ChannelQuant::new(
                        d.bias,
                        d.multiplier,
                        d.shift,
                        input,
                        d.output,
                        d.activation,
                    );
                    if wide {
                        dense_s16(x, d.weights, &q, scratch, y);
                    } else {
                        dense_s8(x, d.weights, &q, scratch, y);
                    }
                    quant = d.output;
                }
                LayerDef::Conv1d(c) => {
                    let q = ChannelQuant::new(
                        c.bias,
                        c.multiplier,
                        c.shift,
                        quant,
                        c.output,
                        c.activation,
                    );
                    let s = Conv1dShape {
                        in_channels: shape_in.channels as usize,
                        in_len: shape_in.length as usize,
                        out_channels: shape_out.channels as usize,
                        out_len: shape_out.length as usize,
                        kernel: c.kernel as usize,
                        stride: c.stride as usize,
                        pad_left: pad_left(shape_in.length, c.kernel, c.stride, c.padding),
                    };
                    conv1d_s8(x, c.weights, &s, &q, scratch, y);
                    quant = c.output;
                }
                LayerDef::MaxPool1d(p) | LayerDef::AvgPool1d(p) => {
                    let s = PoolShape {
                        channels: shape_in.channels as usize,
                        in_len: shape_in.length as usize,
                        out_len: shape_out.length as usize,
                        kernel: p.kernel as usize,
                        stride: p.stride as usize,
                        pad_left: pad_left(shape_in.length, p.kernel, p.stride, p.padding),
                    };
                    if matches!(layer, LayerDef::MaxPool1d(_)) {
                        max_pool1d_s8(x, &s, y);
                    } else {
                        avg_pool1d_s8(x, &s, y);
                    }
                }
                LayerDef::GlobalAvgPool1d => {
                    let s = PoolShape::global(shape_in.channels as usize, shape_in.length as usize);
                    avg_pool1d_s8(x, &s, y);
                }
                LayerDef::Quantiles1d(q) => {
                    let s = QuantileShape {
                        channels: shape_in.channels as usize,
                        in_len: shape_in.length as usize,
                        count: q.count as usize,
                    };
                    quantiles_s8(x, &s, y);
                }
                LayerDef::Trees(t) => {
                    trees_s8(x, t, y);
                    quant = t.output;
                }
                LayerDef::Conv2d(_)
                | LayerDef::DepthwiseConv2d(_)
                | LayerDef::AvgPool2d(_)
                | LayerDef::Softmax(_)
                | LayerDef::Save(_)
                | LayerDef::Swap(_)
                | LayerDef::Add(_) => {
                    // Validation refuses these without feature `layers2d`.
                    #[cfg(feature = "layers2d")]
                    {
                        quant = run_2d(layer, x, shape_in, quant, scratch, y);
                    }
                }
                LayerDef::Flatten => {}
            }
            at = at.other();
            after(i);
        }
        let n_out = self.output_len();
        let arena: &'r [i8] = arena;
        Ok(Output {
            raw: tensor_at(arena, at, n_out),
            quant,
            task: self.def.output.task,
            names: Names(self.def.output.names),
            calibration: self.calibration,
            probabilities: self.outputs_probabilities(),
        })
    }

    /// Whether the output levels are probabilities already (the last layer
    /// is an int8 softmax, as in imported classifiers).
    fn outputs_probabilities(&self) -> bool {
        cfg!(feature = "layers2d") && matches!(self.def.layers.last(), Some(LayerDef::Softmax(_)))
    }

    /// The calibration applied by [`Output::decide`] (temperature 1, no
    /// abstention, no costs when the file has none).
    pub fn calibration(&self) -> &CalibrationDef<'a> {
        &self.calibration
    }
}

/// The result of one inference: the int8 output tensor (in the arena) and
/// what it means.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a, 'r> {
    raw: &'r [i8],
    quant: QParams,
    task: Task,
    names: Names<'a>,
    calibration: CalibrationDef<'a>,
    /// The levels are an int8 softmax's probabilities, not scores.
    probabilities: bool,
}

/// The index of the highest int8 level (ties: lowest index), as
/// [`Output::argmax`] picks it; for a host that kept a row's output levels.
pub fn level_argmax(raw: &[i8]) -> usize {
    let mut best = 0;
    for (i, &q) in raw.iter().enumerate() {
        if q > raw[best] {
            best = i;
        }
    }
    best
}

/// Softmax probability of output `i` of int8 levels `raw` (output scale
/// `scale`) at temperature `t`, exactly as [`Output::probability_at`]
/// computes it; for a host that kept a row's output levels.
pub fn level_probability(raw: &[i8], scale: f32, i: usize, t: f32) -> Option<f32> {
    let s = Softmax::of(raw, scale, t, false)?;
    Some(s.probability(*raw.get(i)?))
}

/// The parts of a softmax over int8 levels that all its probabilities
/// share: `p(q) = exp(scale · (q − max)) / sum` for scores; for the levels
/// of an int8 softmax (`1/256` from −128), `p(q) ∝ (q + 128)^(1/t)`.
struct Softmax {
    max: i32,
    scale: f32,
    sum: f32,
    /// The levels are probabilities (then `scale` is `1 / t`).
    probabilities: bool,
}

impl Softmax {
    /// The softmax of int8 levels of output scale `scale` at temperature
    /// `t` (`None` for no level).
    fn of(raw: &[i8], scale: f32, t: f32, probabilities: bool) -> Option<Softmax> {
        let mut s = Softmax {
            max: *raw.iter().max()? as i32,
            scale: if probabilities { 1.0 / t } else { scale / t },
            sum: 0.0,
            probabilities,
        };
        s.sum = raw.iter().map(|&q| s.exp(q)).sum();
        Some(s)
    }

    fn exp(&self, q: i8) -> f32 {
        // Only an imported model ends with a softmax (feature `layers2d`).
        if cfg!(feature = "layers2d") && self.probabilities {
            let w = (q as i32 + 128) as f32;
            return if self.scale == 1.0 || w == 0.0 {
                w
            } else {
                crate::math::exp(crate::math::ln(w) * self.scale)
            };
        }
        crate::math::exp(self.scale * (q as i32 - self.max) as f32)
    }

    fn probability(&self, q: i8) -> f32 {
        if self.sum > 0.0 {
            self.exp(q) / self.sum
        } else {
            0.0
        }
    }
}

impl<'a> Output<'a, '_> {
    /// The raw int8 output values.
    pub fn raw(&self) -> &[i8] {
        self.raw
    }

    /// Quantization of the raw values.
    pub fn quant(&self) -> QParams {
        self.quant
    }

    /// Number of output values.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether there is no output value (never, for a validated model).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Dequantized output value `i` (a class score, or a regression value).
    pub fn value(&self, i: usize) -> Option<f32> {
        self.raw.get(i).map(|&q| self.quant.dequantize(q))
    }

    /// All dequantized values.
    pub fn values(&self) -> impl Iterator<Item = f32> + '_ {
        self.raw.iter().map(|&q| self.quant.dequantize(q))
    }

    /// Classification or regression.
    pub fn task(&self) -> Task {
        self.task
    }

    /// The index of the highest raw score (ties: lowest index).
    pub fn argmax(&self) -> usize {
        level_argmax(self.raw)
    }

    /// Softmax probability of output `i` over the dequantized scores
    /// divided by the model's temperature (1 without a calibration
    /// section): the probabilities [`Output::decide`] weighs. Computed from level differences, so any valid scale gives
    /// a value in `[0, 1]`.
    pub fn probability(&self, i: usize) -> Option<f32> {
        self.probability_at(i, self.calibration.temperature)
    }

    /// Softmax probability of output `i` at temperature `t`.
    pub fn probability_at(&self, i: usize, t: f32) -> Option<f32> {
        let s = self.softmax(t)?;
        Some(s.probability(*self.raw.get(i)?))
    }

    /// What every probability of one softmax shares, computed once.
    fn softmax(&self, t: f32) -> Option<Softmax> {
        Softmax::of(self.raw, self.quant.scale, t, self.probabilities)
    }

    /// The one decision of a classifier, under the model's calibration:
    /// the class of least expected cost (the most probable one without a
    /// cost matrix), its probability at the model's temperature, and
    /// whether the model abstains. [`crate::Session::step`] takes this
    /// decision and feeds the same one to the monitor; read it there.
    pub fn decide(&self) -> Result<Decision<'a>, Error> {
        if self.task != Task::Classification {
            return Err(Error::RunNotClassification);
        }
        let k = self.raw.len();
        let c = &self.calibration;
        let softmax = self.softmax(c.temperature);
        let p = |i: usize| match (&softmax, self.raw.get(i)) {
            (Some(s), Some(&q)) => s.probability(q),
            _ => 0.0,
        };
        let expected = |j: usize| -> f32 { (0..k).map(|i| p(i) * c.cost(i, j, k)).sum() };
        let index = if c.costs.is_empty() {
            self.argmax()
        } else {
            let mut best = 0;
            let mut best_cost = expected(0);
            for j in 1..k {
                let e = expected(j);
                if e < best_cost {
                    best = j;
                    best_cost = e;
                }
            }
            best
        };
        let probability = p(index);
        Ok(Decision {
            index,
            probability,
            name: self.names.get(index).unwrap_or(""),
            abstained: probability < c.abstain_below,
            expected_cost: expected(index),
            mostly_imputed: false,
        })
    }
}

/// The quantization after `layer`, given the current one `q`; `saved`
/// holds each save slot's, and follows the layer.
fn next_quant(layer: &LayerDef<'_>, q: QParams, saved: &mut [QParams]) -> QParams {
    match layer {
        LayerDef::Dense(d) | LayerDef::Dense16(d) => d.output,
        LayerDef::Conv1d(c) => c.output,
        LayerDef::Conv2d(c) => c.output,
        LayerDef::DepthwiseConv2d(c) => c.output,
        LayerDef::Softmax(_) => crate::format::SOFTMAX_OUTPUT,
        LayerDef::Add(a) => a.output,
        LayerDef::Save(s) => {
            if let Some(v) = saved.get_mut(s.slot as usize) {
                *v = q;
            }
            q
        }
        LayerDef::Swap(s) => match saved.get_mut(s.slot as usize) {
            Some(v) => core::mem::replace(v, q),
            None => q,
        },
        _ => q,
    }
}

/// Runs a save-slot layer (feature `layers2d`): `x` is the current tensor,
/// `y` the other end of the working part, `slots` the slots' bytes (of
/// `slot_len` each, one after another). Returns whether the output was
/// written to `y` (a save leaves the current tensor where it is).
#[cfg(feature = "layers2d")]
fn run_slot(
    layer: &LayerDef<'_>,
    x: &[i8],
    slots: &mut [i8],
    slot_len: &[usize; crate::format::MAX_SLOTS],
    y: &mut [i8],
) -> bool {
    let region = |s: u8, slots: &mut [i8]| -> Option<core::ops::Range<usize>> {
        let s = s as usize;
        let start: usize = slot_len.get(..s)?.iter().sum();
        let len = *slot_len.get(s)?;
        (start + len <= slots.len()).then_some(start..start + len)
    };
    match layer {
        LayerDef::Save(s) => {
            if let Some(r) = region(s.slot, slots) {
                let n = x.len();
                slots[r][..n].copy_from_slice(x);
            }
            false
        }
        LayerDef::Swap(s) => {
            if let Some(r) = region(s.slot, slots) {
                let slot = &mut slots[r];
                let n = y.len();
                y.copy_from_slice(&slot[..n]);
                slot[..x.len()].copy_from_slice(x);
            }
            true
        }
        LayerDef::Add(a) => {
            if let Some(r) = region(a.slot, slots) {
                crate::kernels::add::add_s8(x, &slots[r], a, y);
            }
            true
        }
        _ => false,
    }
}

/// Runs one of the 2-D layers of imported models (feature `layers2d`) and
/// returns its output's quantization.
#[cfg(feature = "layers2d")]
fn run_2d(
    layer: &LayerDef<'_>,
    x: &[i8],
    shape_in: crate::validate::Shape,
    quant: crate::format::QParams,
    scratch: &mut [i8],
    y: &mut [i8],
) -> crate::format::QParams {
    use crate::kernels::conv2d::{avg_pool2d_s8, conv2d_s8, depthwise_conv2d_s8, Geometry};
    match layer {
        LayerDef::Conv2d(c) => {
            if let (Some([w, b, m, sh]), Some(g)) = (c.parts(), Geometry::of(&c.window)) {
                let q = ChannelQuant::new(b, m, sh, quant, c.output, c.activation);
                conv2d_s8(x, w, &g, c.out_channels as usize, &q, scratch, y);
            }
            c.output
        }
        LayerDef::DepthwiseConv2d(c) => {
            if let (Some([w, b, m, sh]), Some(g)) = (c.parts(), Geometry::of(&c.window)) {
                let q = ChannelQuant::new(b, m, sh, quant, c.output, c.activation);
                let dm = c.depth_multiplier as usize;
                depthwise_conv2d_s8(x, w, &g, dm, &q, scratch, y);
            }
            c.output
        }
        LayerDef::AvgPool2d(p) => {
            let (lo, hi) =
                crate::requant::activation_range(p.activation, quant.scale, quant.zero_point);
            if let Some(g) = Geometry::of(&p.window) {
                avg_pool2d_s8(x, &g, lo, hi, y);
            }
            quant
        }
        LayerDef::Softmax(p) => {
            // Over the last axis: the channels (a channels-last tensor's,
            // or a flat tensor's values).
            crate::kernels::softmax::softmax_s8(x, shape_in.channels as usize, p, y);
            crate::format::SOFTMAX_OUTPUT
        }
        _ => quant,
    }
}
