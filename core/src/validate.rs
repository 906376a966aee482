//! Validation of a decoded model: everything inference will rely on is
//! checked here, once, before anything runs.
//!
//! Every loop is bounded by the length of a slice that was read from the
//! file; every size computation is checked (`u64`, then compared against
//! limits), so no input can make the loader overflow, panic or spin.

use crate::error::Place;
use crate::format::MAX_SLOTS;
use crate::format::{
    read_f32, read_i32, section_kind, LayerDef, ModelDef, Names, Padding, QParams, Task, MAX_LAYERS,
};
use crate::kernels::window_geometry;
use crate::requant::{MAX_SHIFT, MIN_MULTIPLIER, MIN_SHIFT};
use crate::Error;

/// A tensor shape: `channels × length`, channels-first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// Channels.
    pub channels: u32,
    /// Length.
    pub length: u32,
}

/// Multiply-accumulates of one layer between shapes `x` and `y` (0 for a
/// layer without weights): a dense layer's inputs times its outputs, a
/// convolution's outputs times its channels × kernel (padding taps
/// included).
pub fn layer_macs(layer: &LayerDef<'_>, x: Shape, y: Shape) -> u64 {
    let elements = |s: Shape| s.channels as u64 * s.length as u64;
    match layer {
        LayerDef::Dense(_) | LayerDef::Dense16(_) => elements(x).saturating_mul(elements(y)),
        LayerDef::Conv1d(c) => elements(y)
            .saturating_mul(x.channels as u64)
            .saturating_mul(c.kernel as u64),
        LayerDef::Conv2d(c) => elements(y)
            .saturating_mul(c.window.in_channels as u64)
            .saturating_mul(c.window.kernel_height as u64 * c.window.kernel_width as u64),
        LayerDef::DepthwiseConv2d(c) => {
            elements(y).saturating_mul(c.window.kernel_height as u64 * c.window.kernel_width as u64)
        }
        _ => 0,
    }
}

/// The geometry of a 2-D layer's window over the current tensor: its
/// input must hold `in_height × in_width × in_channels` values.
#[cfg(feature = "layers2d")]
fn window_2d(
    layer: u16,
    w: &crate::format::Window2d,
    in_len: u64,
) -> Result<crate::kernels::conv2d::Geometry, Error> {
    let place = Place::Layer(layer);
    for (v, field) in [
        (w.in_height, "in_height"),
        (w.in_width, "in_width"),
        (w.in_channels, "in_channels"),
        (w.kernel_height, "kernel_height"),
        (w.kernel_width, "kernel_width"),
        (w.stride_height, "stride_height"),
        (w.stride_width, "stride_width"),
    ] {
        dim(v, place, field)?;
    }
    if w.in_height as u64 * w.in_width as u64 * w.in_channels as u64 != in_len {
        return Err(Error::ValidateChain { layer });
    }
    // One window's taps times its channels (a convolution's fan-in, a
    // pool's count) stays far below 2^31 and within a tensor's size: SAME
    // padding allows a window larger than its input, and on a 32-bit
    // device a product of u16 sizes could otherwise wrap.
    let taps = w.kernel_height as u64 * w.kernel_width as u64 * w.in_channels as u64;
    if taps > MAX_TENSOR_ELEMENTS {
        return Err(Error::ValidateChain { layer });
    }
    crate::kernels::conv2d::Geometry::of(w).ok_or(Error::ValidateChain { layer })
}

impl Shape {
    /// Number of elements (fits `u32`: validation checked it).
    pub fn len(&self) -> usize {
        self.channels as usize * self.length as usize
    }

    /// Whether the shape holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Largest tensor the engine accepts, in elements. Keeps every index and
/// arena computation far from `u32` overflow on 32-bit targets.
pub const MAX_TENSOR_ELEMENTS: u64 = 1 << 24;

/// What validation learned about a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// `shapes[0]` is the input; `shapes[i + 1]` is the output of layer `i`.
    pub shapes: [Shape; MAX_LAYERS + 1],
    /// Arena bytes inference needs: the working part, then the save slots.
    pub arena_len: usize,
    /// Bytes of each save slot ([`LayerDef::Save`]), placed one after the
    /// other at the end of the arena; 0 for a slot the model never uses.
    pub slot_len: [usize; MAX_SLOTS],
    /// Multiply-accumulates per inference.
    pub macs: u64,
}

fn dim(v: u16, place: Place, field: &'static str) -> Result<u32, Error> {
    if v == 0 {
        Err(Error::ValidateDimension { place, field })
    } else {
        Ok(v as u32)
    }
}

fn check_len(place: Place, field: &'static str, bytes: &[u8], expected: u64) -> Result<(), Error> {
    if bytes.len() as u64 != expected {
        return Err(Error::ValidateTensorLength {
            place,
            field,
            expected: expected.min(u32::MAX as u64) as u32,
            found: bytes.len().min(u32::MAX as usize) as u32,
        });
    }
    Ok(())
}

fn check_qparams(q: &QParams, place: Place, field: &'static str) -> Result<(), Error> {
    if !(q.scale.is_finite() && q.scale > 0.0) {
        return Err(Error::ValidateQuantization {
            place,
            field,
            index: 0,
        });
    }
    Ok(())
}

fn check_names(names: &str, expected: u64, place: Place) -> Result<(), Error> {
    let list = Names(names);
    let found = list.len() as u64;
    if found != expected || list.iter().any(|n| n.is_empty()) {
        return Err(Error::ValidateNames {
            place,
            expected: expected.min(u32::MAX as u64) as u32,
            found: found.min(u32::MAX as u64) as u32,
        });
    }
    Ok(())
}

/// Where output channel `o`'s `fan_in` weights lie.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WeightOrder {
    /// Row `o` of `out` rows (dense, convolutions).
    Rows,
    /// Column `o` of `fan_in` rows of `out` (a depthwise convolution's
    /// `taps × out`).
    #[cfg_attr(not(feature = "layers2d"), allow(dead_code))]
    Columns,
}

/// A bound on `|x − zp|` of an int8 input (at most 255): what a weight can
/// be multiplied by in the kernels' sums (the builder keeps its biases
/// within it).
pub(crate) const INT8_REACH: u64 = 256;
/// The same for a 16-bit input ([`LayerDef::Dense16`], zero point 0):
/// `|x| ≤ 32,768`.
pub(crate) const INT16_REACH: u64 = 32_768;

/// Checks the per-channel parameters of a weighted layer: lengths,
/// multipliers, shifts, and that no input (each `|x − zp|` at most `reach`)
/// can overflow the accumulator.
#[allow(clippy::too_many_arguments)]
fn check_channels(
    reach: u64,
    layer: u16,
    out: u32,
    fan_in: u32,
    order: WeightOrder,
    weights: &[u8],
    bias: &[u8],
    multiplier: &[u8],
    shift: &[u8],
) -> Result<(), Error> {
    let place = Place::Layer(layer);
    check_len(place, "weights", weights, out as u64 * fan_in as u64)?;
    check_len(place, "bias", bias, 4 * out as u64)?;
    check_len(place, "multiplier", multiplier, 4 * out as u64)?;
    check_len(place, "shift", shift, out as u64)?;
    for o in 0..out as usize {
        let m = read_i32(multiplier, o);
        if m != 0 && m < MIN_MULTIPLIER {
            return Err(Error::ValidateQuantization {
                place,
                field: "multiplier",
                index: o as u32,
            });
        }
        let s = shift[o] as i8 as i32;
        if !(MIN_SHIFT..=MAX_SHIFT).contains(&s) {
            return Err(Error::ValidateQuantization {
                place,
                field: "shift",
                index: o as u32,
            });
        }
        // |x − zp| ≤ reach (255 for int8 x and zp, 32,768 for int16), so
        // the kernels' Σ (x − zp)·w stays within reach·Σ|w|, and the bias
        // on top.
        let abs = |w: &u8| (*w as i8 as i64).unsigned_abs();
        let abs_w: u64 = match order {
            WeightOrder::Rows => weights[o * fan_in as usize..(o + 1) * fan_in as usize]
                .iter()
                .map(abs)
                .sum(),
            WeightOrder::Columns => weights.iter().skip(o).step_by(out as usize).map(abs).sum(),
        };
        let bound = abs_w * reach + (read_i32(bias, o) as i64).unsigned_abs();
        if bound > i32::MAX as u64 {
            return Err(Error::ValidateAccumulatorRange {
                layer,
                channel: o as u32,
            });
        }
    }
    Ok(())
}

/// Most trees one [`LayerDef::Trees`] may hold.
pub const MAX_TREES: usize = 4096;

/// Checks a tree ensemble reading `in_len` values: every root and child
/// names a node, every child lies after its parent (so every walk ends
/// within the node count), every test reads an input value, and every
/// leaf names a row of scores.
fn check_trees(layer: u16, t: &crate::format::TreesDef<'_>, in_len: u64) -> Result<(), Error> {
    use crate::format::{TREE_LEAF, TREE_NODE_BYTES};
    let place = Place::Layer(layer);
    let bad = |field| Error::ValidateDimension { place, field };
    let classes = dim(t.classes, place, "classes")? as usize;
    let trees = t.trees();
    if t.roots.len() % 2 != 0 || trees == 0 || trees > MAX_TREES {
        return Err(bad("roots"));
    }
    let nodes = t.node_count();
    if t.nodes.len() % TREE_NODE_BYTES != 0 || nodes == 0 || nodes > u16::MAX as usize {
        return Err(bad("nodes"));
    }
    if t.leaves.is_empty() || t.leaves.len() % classes != 0 {
        return Err(bad("leaves"));
    }
    let rows = t.leaves.len() / classes;
    if (0..trees).any(|i| t.root(i).is_none_or(|r| r >= nodes)) {
        return Err(bad("roots"));
    }
    for i in 0..nodes {
        let Some((feature, _, right)) = t.node(i) else {
            return Err(bad("nodes"));
        };
        let right = right as usize;
        if feature == TREE_LEAF {
            if right >= rows {
                return Err(bad("nodes.leaf"));
            }
        } else if feature as u64 >= in_len {
            return Err(bad("nodes.feature"));
        } else if i + 1 >= nodes || right <= i || right >= nodes {
            return Err(bad("nodes.right"));
        }
    }
    Ok(())
}

fn shape_after_window(
    layer: u16,
    input: Shape,
    kernel: u16,
    stride: u16,
    padding: Padding,
) -> Result<u32, Error> {
    let place = Place::Layer(layer);
    let k = dim(kernel, place, "kernel")?;
    let s = dim(stride, place, "stride")?;
    window_geometry(input.length, k, s, padding)
        .map(|(len, _)| len)
        .ok_or(Error::ValidateChain { layer })
}

/// Validates a decoded model and computes its shapes, arena size and MACs.
pub fn validate(def: &ModelDef<'_>) -> Result<Summary, Error> {
    let input = &def.input;
    let channels = dim(input.channels, Place::Input, "channels")?;
    let length = dim(input.length, Place::Input, "length")?;
    check_len(Place::Input, "scale", input.scale, 4 * channels as u64)?;
    check_len(Place::Input, "offset", input.offset, 4 * channels as u64)?;
    for c in 0..channels as usize {
        let (scale, offset) = (read_f32(input.scale, c), read_f32(input.offset, c));
        if !scale.is_finite() {
            return Err(Error::ValidateQuantization {
                place: Place::Input,
                field: "scale",
                index: c as u32,
            });
        }
        if !offset.is_finite() {
            return Err(Error::ValidateQuantization {
                place: Place::Input,
                field: "offset",
                index: c as u32,
            });
        }
    }
    if !input.missing.is_empty() {
        check_len(Place::Input, "missing", input.missing, 4 * channels as u64)?;
        if let Some(c) = (0..channels as usize).find(|&c| !read_f32(input.missing, c).is_finite()) {
            return Err(Error::ValidateQuantization {
                place: Place::Input,
                field: "missing",
                index: c as u32,
            });
        }
    }
    check_qparams(&input.quant, Place::Input, "quant.scale")?;
    check_names(input.names, channels as u64, Place::Input)?;

    if def.layers.is_empty() {
        return Err(Error::ValidateModel {
            what: "the model has no layer",
        });
    }

    let mut shapes = [Shape::default(); MAX_LAYERS + 1];
    let mut current = Shape { channels, length };
    shapes[0] = current;
    let mut macs: u64 = 0;
    let mut arena: u64 = 0;
    // Whether the current tensor is channels-last (written by a 2-D
    // layer): then only a 2-D layer, a dense layer, a flatten or a softmax
    // may read it.
    let mut channels_last = false;
    // What each save slot holds (its shape and whether it is channels
    // last), and the most bytes it ever holds.
    let mut slots: [Option<(Shape, bool)>; MAX_SLOTS] = [None; MAX_SLOTS];
    let mut slot_len = [0u64; MAX_SLOTS];

    for (i, layer) in def.layers.iter().enumerate() {
        let li = i as u16;
        let place = Place::Layer(li);
        let in_len = current.channels as u64 * current.length as u64;
        let slot = |s: u8| {
            slots
                .get(s as usize)
                .ok_or(Error::ValidateDimension {
                    place,
                    field: "slot",
                })
                .copied()
        };

        let reads_channels_first = matches!(
            layer,
            LayerDef::Conv1d(_)
                | LayerDef::MaxPool1d(_)
                | LayerDef::AvgPool1d(_)
                | LayerDef::GlobalAvgPool1d
                | LayerDef::Quantiles1d(_)
        );
        if channels_last && reads_channels_first {
            return Err(Error::ValidateChain { layer: li });
        }

        let next = match layer {
            LayerDef::Dense(d) | LayerDef::Dense16(d) => {
                // A 16-bit input is the model's, so only the first layer
                // reads one.
                let reach = match layer {
                    LayerDef::Dense16(_) if i > 0 => {
                        return Err(Error::ValidateChain { layer: li });
                    }
                    LayerDef::Dense16(_) => INT16_REACH,
                    _ => INT8_REACH,
                };
                let fan_in = dim(d.in_features, place, "in_features")?;
                let out = dim(d.out_features, place, "out_features")?;
                if fan_in as u64 != in_len {
                    return Err(Error::ValidateChain { layer: li });
                }
                let (w, b, m, sh) = (d.weights, d.bias, d.multiplier, d.shift);
                check_channels(reach, li, out, fan_in, WeightOrder::Rows, w, b, m, sh)?;
                check_qparams(&d.output, place, "output.scale")?;
                Shape {
                    channels: out,
                    length: 1,
                }
            }
            LayerDef::Conv1d(c) => {
                let in_c = dim(c.in_channels, place, "in_channels")?;
                let out_c = dim(c.out_channels, place, "out_channels")?;
                if in_c != current.channels {
                    return Err(Error::ValidateChain { layer: li });
                }
                let out_len = shape_after_window(li, current, c.kernel, c.stride, c.padding)?;
                let fan_in = in_c * c.kernel as u32;
                let (w, b, m, sh) = (c.weights, c.bias, c.multiplier, c.shift);
                check_channels(INT8_REACH, li, out_c, fan_in, WeightOrder::Rows, w, b, m, sh)?;
                check_qparams(&c.output, place, "output.scale")?;
                Shape {
                    channels: out_c,
                    length: out_len,
                }
            }
            LayerDef::MaxPool1d(p) | LayerDef::AvgPool1d(p) => {
                let out_len = shape_after_window(li, current, p.kernel, p.stride, p.padding)?;
                Shape {
                    channels: current.channels,
                    length: out_len,
                }
            }
            LayerDef::GlobalAvgPool1d => Shape {
                channels: current.channels,
                length: 1,
            },
            LayerDef::Flatten => Shape {
                channels: current.channels * current.length,
                length: 1,
            },
            LayerDef::Quantiles1d(q) => {
                if q.count == 0 || q.count as u32 > current.length {
                    return Err(Error::ValidateDimension {
                        place,
                        field: "count",
                    });
                }
                Shape {
                    channels: current.channels,
                    length: q.count as u32,
                }
            }
            LayerDef::Trees(t) => {
                check_trees(li, t, in_len)?;
                check_qparams(&t.output, place, "output.scale")?;
                Shape {
                    channels: t.classes as u32,
                    length: 1,
                }
            }
            #[cfg(not(feature = "layers2d"))]
            LayerDef::Conv2d(_)
            | LayerDef::DepthwiseConv2d(_)
            | LayerDef::AvgPool2d(_)
            | LayerDef::Softmax(_)
            | LayerDef::Save(_)
            | LayerDef::Swap(_)
            | LayerDef::Add(_) => {
                return Err(Error::ValidateModel {
                    what: "the model has 2-D layers or a softmax (an imported model), and this vigie-core was built without feature `layers2d`",
                })
            }
            #[cfg(feature = "layers2d")]
            LayerDef::Conv2d(c) => {
                let g = window_2d(li, &c.window, in_len)?;
                let out_c = dim(c.out_channels, place, "out_channels")?;
                let fan_in = (g.k_h * g.k_w * g.in_c) as u64;
                if fan_in > u32::MAX as u64 {
                    return Err(Error::ValidateChain { layer: li });
                }
                let [w, b, m, sh] = c.parts().ok_or(Error::ValidateTensorLength {
                    place,
                    field: "tensors",
                    expected: (c.weights_len() + 9 * out_c as u64).min(u32::MAX as u64)
                        as u32,
                    found: c.tensors.len().min(u32::MAX as usize) as u32,
                })?;
                check_channels(INT8_REACH, li, out_c, fan_in as u32, WeightOrder::Rows, w, b, m, sh)?;
                check_qparams(&c.output, place, "output.scale")?;
                Shape {
                    channels: out_c,
                    length: (g.out_h * g.out_w) as u32,
                }
            }
            #[cfg(feature = "layers2d")]
            LayerDef::DepthwiseConv2d(c) => {
                let g = window_2d(li, &c.window, in_len)?;
                let m = dim(c.depth_multiplier, place, "depth_multiplier")?;
                let out_c = g.in_c as u64 * m as u64;
                let taps = (g.k_h * g.k_w) as u64;
                if out_c > u16::MAX as u64 || taps * out_c > u32::MAX as u64 {
                    return Err(Error::ValidateChain { layer: li });
                }
                let [w, b, m, sh] = c.parts().ok_or(Error::ValidateTensorLength {
                    place,
                    field: "tensors",
                    expected: (c.weights_len() + 9 * out_c).min(u32::MAX as u64) as u32,
                    found: c.tensors.len().min(u32::MAX as usize) as u32,
                })?;
                let (out, taps) = (out_c as u32, taps as u32);
                check_channels(INT8_REACH, li, out, taps, WeightOrder::Columns, w, b, m, sh)?;
                check_qparams(&c.output, place, "output.scale")?;
                Shape {
                    channels: out_c as u32,
                    length: (g.out_h * g.out_w) as u32,
                }
            }
            #[cfg(feature = "layers2d")]
            LayerDef::AvgPool2d(p) => {
                let g = window_2d(li, &p.window, in_len)?;
                Shape {
                    channels: g.in_c as u32,
                    length: (g.out_h * g.out_w) as u32,
                }
            }
            #[cfg(feature = "layers2d")]
            LayerDef::Softmax(p) => {
                // Over the last axis: the channels of a channels-last
                // tensor, the values of a flat one.
                if !channels_last && current.length != 1 {
                    return Err(Error::ValidateChain { layer: li });
                }
                if !(0..=31).contains(&p.input_left_shift)
                    || (p.input_multiplier != 0 && p.input_multiplier < MIN_MULTIPLIER)
                    || p.diff_min > 0
                {
                    return Err(Error::ValidateQuantization {
                        place,
                        field: "input_multiplier",
                        index: 0,
                    });
                }
                current
            }
            #[cfg(feature = "layers2d")]
            LayerDef::Save(s) => {
                slot(s.slot)?;
                current
            }
            #[cfg(feature = "layers2d")]
            LayerDef::Swap(s) => match slot(s.slot)? {
                Some((shape, _)) => shape,
                None => return Err(Error::ValidateChain { layer: li }),
            },
            #[cfg(feature = "layers2d")]
            LayerDef::Add(a) => {
                match slot(a.slot)? {
                    Some((shape, cl)) if shape == current && cl == channels_last => {}
                    _ => return Err(Error::ValidateChain { layer: li }),
                }
                let operand = |o: &crate::format::AddOperand| {
                    (-128..=127).contains(&o.zero_point)
                        && (o.multiplier == 0 || o.multiplier >= MIN_MULTIPLIER)
                        && (-31..=0).contains(&o.shift)
                };
                let (q, field) = (&a, "multiplier");
                if !operand(&q.current)
                    || !operand(&q.saved)
                    || !(0..=crate::kernels::add::MAX_LEFT_SHIFT).contains(&q.left_shift)
                    || !(q.output_multiplier == 0 || q.output_multiplier >= MIN_MULTIPLIER)
                    || !(-31..=0).contains(&q.output_shift)
                {
                    return Err(Error::ValidateQuantization {
                        place,
                        field,
                        index: 0,
                    });
                }
                check_qparams(&a.output, place, "output.scale")?;
                current
            }
        };
        let next_channels_last = match layer {
            LayerDef::Conv2d(_) | LayerDef::DepthwiseConv2d(_) | LayerDef::AvgPool2d(_) => true,
            LayerDef::Softmax(_) | LayerDef::Save(_) | LayerDef::Add(_) => channels_last,
            LayerDef::Swap(s) => slot(s.slot)?.is_some_and(|(_, cl)| cl),
            _ => false,
        };
        if let LayerDef::Save(s) | LayerDef::Swap(s) = layer {
            let s = s.slot as usize;
            if let (Some(held), Some(len)) = (slots.get_mut(s), slot_len.get_mut(s)) {
                *held = Some((current, channels_last));
                *len = (*len).max(in_len);
            }
        }
        channels_last = next_channels_last;
        let out_len = next.channels as u64 * next.length as u64;
        if out_len > MAX_TENSOR_ELEMENTS || in_len > MAX_TENSOR_ELEMENTS {
            return Err(Error::ValidateModel {
                what: "a tensor is larger than 2^24 elements",
            });
        }
        macs = macs.saturating_add(layer_macs(layer, current, next));
        // Flatten moves no data; every other layer reads one end of the
        // arena and writes the other, so it needs in + out bytes; a dense
        // layer also widens its input between the two
        // (`dense_scratch_bytes`), a convolution its input patches
        // (`conv1d_scratch_bytes`).
        let scratch = match layer {
            LayerDef::Dense(d) | LayerDef::Dense16(d) => {
                crate::kernels::dense::dense_scratch_bytes(d.in_features as usize) as u64
            }
            LayerDef::Conv1d(c) => crate::kernels::conv1d::conv1d_scratch_bytes(
                current.channels as usize,
                c.kernel as usize,
            ) as u64,
            // A 2-D convolution gathers a patch and widens it; a depthwise
            // one keeps an accumulator per channel (`kernels::conv2d`).
            #[cfg(feature = "layers2d")]
            LayerDef::Conv2d(c) => crate::kernels::conv2d::Geometry::of(&c.window)
                .map_or(0, |g| crate::kernels::conv2d::conv2d_scratch_bytes(&g))
                as u64,
            #[cfg(feature = "layers2d")]
            LayerDef::DepthwiseConv2d(c) => {
                crate::kernels::conv2d::Geometry::of(&c.window).map_or(0, |g| {
                    crate::kernels::conv2d::depthwise_scratch_bytes(&g, c.depth_multiplier as usize)
                }) as u64
            }
            _ => 0,
        };
        let in_bytes = in_len * layer.input_bytes_per_value() as u64;
        if !matches!(layer, LayerDef::Flatten | LayerDef::Save(_)) {
            arena = arena.max(in_bytes + out_len + scratch);
        } else {
            arena = arena.max(in_len);
        }
        current = next;
        shapes[i + 1] = current;
    }

    let outputs = current.channels as u64 * current.length as u64;
    if def.output.task == Task::Classification && outputs < 2 {
        return Err(Error::ValidateModel {
            what: "a classifier needs at least two outputs",
        });
    }
    check_names(def.output.names, outputs, Place::Output)?;

    for (i, section) in def.sections.iter().enumerate() {
        let known = matches!(
            section.kind,
            section_kind::MONITOR
                | section_kind::TRAINING_REPORT
                | section_kind::CALIBRATION
                | section_kind::DATA_CHECKS
                | section_kind::ENCODING
                | section_kind::TRAINING_ROWS
                | section_kind::PROBE
                | section_kind::ADAPTATION
        );
        if section.required && !known {
            return Err(Error::LoadUnknownRequiredSection {
                index: i as u16,
                kind: section.kind,
            });
        }
    }

    // The slots follow the working part (each at most 2^24 bytes).
    let arena = arena + slot_len.iter().sum::<u64>();
    let arena_len = usize::try_from(arena).map_err(|_| Error::ValidateModel {
        what: "arena size overflows",
    })?;
    Ok(Summary {
        shapes,
        arena_len,
        slot_len: slot_len.map(|l| l as usize),
        macs,
    })
}
