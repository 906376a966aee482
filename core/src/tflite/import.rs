//! The mapping of a TFLite subgraph into vigie layers.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::code;
use super::flatbuffer::{Read, Table};
use crate::builder::{Int8Layer, Int8Model, Int8Tensors, QuantizedModel};
use crate::format::{
    Activation, AddDef, Padding, Pool2dDef, QParams, SlotDef, SoftmaxDef, Task, Window2d,
    MAX_SLOTS, SOFTMAX_OUTPUT,
};
use crate::kernels::add::add_params;
use crate::requant::quantize_multiplier;
use crate::Error;

/// The save slot holding tensor `t`, if one does.
fn slot_of(slots: &[Option<(i32, QParams)>], t: i32) -> Option<usize> {
    slots.iter().position(|k| k.is_some_and(|(x, _)| x == t))
}

/// TFLite's `TensorType` codes vigie reads.
const INT8: i8 = 9;
const INT32: i8 = 2;
/// `BuiltinOptions` union tags.
mod options {
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const SOFTMAX: u8 = 9;
    pub const ADD: u8 = 11;
}
/// `ActivationFunctionType`.
const ACT_NONE: i8 = 0;
const ACT_RELU: i8 = 1;
const ACT_RELU6: i8 = 3;
/// Integer bits of TFLite's softmax input differences (Q5.26).
const SOFTMAX_DIFF_INTEGER_BITS: i32 = 5;

/// An imported model and what the import saw.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The model, validated as a device would load it.
    pub model: QuantizedModel,
    /// Each TFLite operator, in order, and the vigie layer it became
    /// (`None`: it moves no data and became nothing).
    pub operators: Vec<(&'static str, Option<usize>)>,
}

/// One tensor of the subgraph.
struct Tensor<'a> {
    shape: Vec<i32>,
    kind: i8,
    data: &'a [u8],
    scales: Vec<f32>,
    zero_points: Vec<i64>,
    /// The axis per-channel scales run along.
    quantized_dimension: i32,
}

impl Tensor<'_> {
    /// Values in the tensor (saturating: a corrupted shape cannot
    /// overflow, and no size this large passes the checks that follow).
    fn elements(&self) -> usize {
        self.shape.iter().fold(1usize, |n, &d| {
            n.saturating_mul(usize::try_from(d).unwrap_or(0))
        })
    }

    /// `[1, H, W, C]` as `(H, W, C)`.
    fn nhwc(&self) -> Option<(u16, u16, u16)> {
        match self.shape.as_slice() {
            [1, h, w, c] => Some((
                u16::try_from(*h).ok()?,
                u16::try_from(*w).ok()?,
                u16::try_from(*c).ok()?,
            )),
            _ => None,
        }
    }
}

fn unsupported(index: usize, code: i32, missing: &'static str) -> Error {
    Error::ImportUnsupported {
        index: index.min(u16::MAX as usize) as u16,
        code,
        missing,
    }
}

/// A model-level refusal (not one operator's): code −1.
fn model_unsupported(missing: &'static str) -> Error {
    unsupported(0, -1, missing)
}

/// Most dimensions of a tensor vigie reads (TFLite's own kernels take at
/// most 6).
const MAX_RANK: usize = 8;
/// Most quantization parameters of one tensor (one per channel, and
/// channels are 16-bit in vigie).
const MAX_SCALES: usize = u16::MAX as usize;
/// Most operators vigie reads: its format holds [`crate::format::MAX_LAYERS`]
/// layers, and reshapes add a few more.
const MAX_OPERATORS: usize = 4 * crate::format::MAX_LAYERS;
/// Most inputs or outputs of one operator vigie reads.
const MAX_OPERANDS: usize = 8;

fn read_tensor<'a>(t: &Table<'a>, buffers: &[Table<'a>]) -> Read<Tensor<'a>> {
    // Tensor: shape 0, type 1, buffer 2, name 3, quantization 4. Lengths
    // are bounded before anything is copied: a file's tables may all point
    // at one long vector.
    if t.len_of(0, "Tensor.shape")? > MAX_RANK {
        return Err(Error::ImportInconsistent {
            what: "a tensor has more than 8 dimensions",
        });
    }
    let buffer = t.u32(2, 0, "Tensor.buffer")? as usize;
    let data = match buffers.get(buffer) {
        // Buffer: data 0 (offset 1 and size 2 are for files over 2 GB).
        Some(b) => b.bytes(0, "Buffer.data")?,
        None => {
            return Err(Error::ImportInconsistent {
                what: "a tensor's buffer index lies past Model.buffers",
            })
        }
    };
    let (scales, zero_points, quantized_dimension) = match t.table(4, "Tensor.quantization")? {
        // QuantizationParameters: scale 2, zero_point 3.
        Some(q) => {
            if q.len_of(2, "QuantizationParameters.scale")? > MAX_SCALES
                || q.len_of(3, "QuantizationParameters.zero_point")? > MAX_SCALES
            {
                return Err(Error::ImportInconsistent {
                    what: "a tensor has more quantization parameters than channels vigie holds",
                });
            }
            (
                q.f32s(2, "QuantizationParameters.scale")?,
                q.i64s(3, "QuantizationParameters.zero_point")?,
                // quantized_dimension 6.
                q.i32(6, 0, "QuantizationParameters.quantized_dimension")?,
            )
        }
        None => (Vec::new(), Vec::new(), 0),
    };
    Ok(Tensor {
        shape: t.i32s(0, "Tensor.shape")?,
        kind: t.i8(1, 0, "Tensor.type")?,
        data,
        scales,
        zero_points,
        quantized_dimension,
    })
}

/// The single affine int8 quantization of an activation tensor.
fn activation_quant(t: &Tensor<'_>, index: usize, op: i32) -> Result<QParams, Error> {
    if t.kind != INT8 {
        return Err(unsupported(
            index,
            op,
            "a tensor is not int8 (vigie runs int8 models)",
        ));
    }
    match (t.scales.as_slice(), t.zero_points.as_slice()) {
        ([s], [zp]) if s.is_finite() && *s > 0.0 => Ok(QParams {
            scale: *s,
            zero_point: i8::try_from(*zp)
                .map_err(|_| unsupported(index, op, "a zero point lies outside int8"))?,
        }),
        _ => Err(unsupported(
            index,
            op,
            "an activation tensor lacks one positive scale and one zero point",
        )),
    }
}

fn activation(code: i8, index: usize, op: i32) -> Result<Activation, Error> {
    match code {
        ACT_NONE => Ok(Activation::None),
        ACT_RELU => Ok(Activation::Relu),
        ACT_RELU6 => Ok(Activation::Relu6),
        _ => Err(unsupported(
            index,
            op,
            "its fused activation is not NONE, RELU or RELU6",
        )),
    }
}

/// The options table of an operator, checked to be of kind `tag`.
fn options<'a>(
    op: &Table<'a>,
    tag: u8,
    index: usize,
    code: i32,
) -> Result<Option<Table<'a>>, Error> {
    // Operator: builtin_options_type 3, builtin_options 4.
    let found = op.u8(3, 0, "Operator.builtin_options_type")?;
    match op.table(4, "Operator.builtin_options")? {
        Some(o) if found == tag => Ok(Some(o)),
        Some(_) => Err(unsupported(
            index,
            code,
            "its options are another operator's",
        )),
        None => Ok(None),
    }
}

fn padding(v: i8, index: usize, code: i32) -> Result<Padding, Error> {
    // Padding: SAME 0, VALID 1.
    match v {
        0 => Ok(Padding::Same),
        1 => Ok(Padding::Valid),
        _ => Err(unsupported(
            index,
            code,
            "its padding is neither SAME nor VALID",
        )),
    }
}

/// What a weighted operator's tensors share: the weights (`per` output
/// channels, each its scale at `scale_of(o)`), the bias and the
/// multipliers. `f32_product`: TFLite multiplies a per-tensor fully
/// connected layer's input and weight scales in `f32`
/// (`GetQuantizedConvolutionMultipler`), everything else in `f64`
/// (`PopulateConvolutionQuantizationParams`).
#[allow(clippy::too_many_arguments)]
fn weighted(
    index: usize,
    code: i32,
    w: &Tensor<'_>,
    bias: Option<&Tensor<'_>>,
    out: usize,
    input: QParams,
    output: QParams,
    activation: Activation,
) -> Result<Int8Tensors, Error> {
    if w.kind != INT8 || w.data.is_empty() {
        return Err(unsupported(
            index,
            code,
            "its weights are not constant int8",
        ));
    }
    if w.zero_points.iter().any(|&z| z != 0) {
        return Err(unsupported(
            index,
            code,
            "its weights are not symmetric (a zero point other than 0)",
        ));
    }
    let per_tensor = w.scales.len() == 1;
    // Per-channel scales run along the output channels: axis 0 of a
    // convolution's or a dense layer's weights, 3 of a depthwise one's.
    let axis = if code == code::DEPTHWISE_CONV_2D {
        3
    } else {
        0
    };
    if !per_tensor && w.quantized_dimension != axis {
        return Err(unsupported(
            index,
            code,
            "its per-channel weight scales do not run along the output channels",
        ));
    }
    if !(per_tensor || w.scales.len() == out)
        || w.scales.iter().any(|s| !(s.is_finite() && *s > 0.0))
    {
        return Err(unsupported(
            index,
            code,
            "its weights lack one positive scale per tensor or per output channel",
        ));
    }
    let bias = match bias {
        None => alloc::vec![0i32; out],
        Some(b) => {
            if b.kind != INT32 || b.data.len() != 4 * out {
                return Err(unsupported(
                    index,
                    code,
                    "its bias is not int32 with one value per output channel",
                ));
            }
            b.data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
    };
    let f32_product = per_tensor && code == code::FULLY_CONNECTED;
    let (mut multiplier, mut shift) = (Vec::with_capacity(out), Vec::with_capacity(out));
    for o in 0..out {
        let s_w = w.scales[if per_tensor { 0 } else { o }];
        // On MLPerf Tiny's autoencoder a product in f64 where TFLite's is
        // in f32 moves one multiplier of the last layer by 29 and one
        // output in 64,000 by a step.
        let product = if f32_product {
            (input.scale * s_w) as f64
        } else {
            input.scale as f64 * s_w as f64
        };
        let (m, s) = quantize_multiplier(product / output.scale as f64)?;
        multiplier.push(m);
        shift.push(s);
    }
    Ok(Int8Tensors {
        weights: w.data.iter().map(|&b| b as i8).collect(),
        bias,
        multiplier,
        shift,
        output,
        activation,
    })
}

/// TFLite's int8 softmax parameters for `beta` over an input of scale
/// `input_scale` (`PreprocessSoftmaxScaling` and `CalculateInputRadius`,
/// as a build that rounds twice computes them).
fn softmax_params(beta: f32, input_scale: f32) -> Option<SoftmaxDef> {
    let max_real = ((1u64 << 31) - 1) as f64;
    let real =
        (beta as f64 * input_scale as f64 * (1u64 << (31 - SOFTMAX_DIFF_INTEGER_BITS)) as f64)
            .min(max_real);
    let (m, shift) = quantize_multiplier(real).ok()?;
    if shift < 0 {
        return None;
    }
    let radius = ((1i64 << SOFTMAX_DIFF_INTEGER_BITS) - 1) as f64
        * (1i64 << (31 - SOFTMAX_DIFF_INTEGER_BITS)) as f64
        / (1i64 << shift) as f64;
    Some(SoftmaxDef {
        input_multiplier: m,
        input_left_shift: shift,
        diff_min: -(floor(radius) as i32),
    })
}

fn floor(v: f64) -> f64 {
    let t = v as i64 as f64;
    if t > v {
        t - 1.0
    } else {
        t
    }
}

/// The window of a 2-D operator from `x` to `y`, checked against the
/// output size TFLite's padding rule gives.
#[allow(clippy::too_many_arguments)]
fn window(
    index: usize,
    code: i32,
    x: &Tensor<'_>,
    y: &Tensor<'_>,
    kernel: (i32, i32),
    stride: (i32, i32),
    padding: Padding,
) -> Result<Window2d, Error> {
    let ((h, w, c), (oh, ow, _)) = match (x.nhwc(), y.nhwc()) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            return Err(unsupported(
                index,
                code,
                "its input or output is not a batch-1 NHWC tensor",
            ))
        }
    };
    let u = |v: i32| u16::try_from(v).ok().filter(|&v| v > 0);
    let (Some(kh), Some(kw), Some(sh), Some(sw)) =
        (u(kernel.0), u(kernel.1), u(stride.0), u(stride.1))
    else {
        return Err(unsupported(
            index,
            code,
            "its window or stride is not positive",
        ));
    };
    let win = Window2d {
        in_height: h,
        in_width: w,
        in_channels: c,
        kernel_height: kh,
        kernel_width: kw,
        stride_height: sh,
        stride_width: sw,
        padding,
    };
    match crate::kernels::conv2d::Geometry::of(&win) {
        Some(g) if g.out_h == oh as usize && g.out_w == ow as usize => Ok(win),
        _ => Err(unsupported(
            index,
            code,
            "its output size is not what its window, stride and padding give",
        )),
    }
}

/// Imports a `.tflite` file's bytes as a vigie model named `name`.
pub fn import(bytes: &[u8], name: &str) -> Result<Imported, Error> {
    let root = Table::root(bytes)?;
    if bytes.get(4..8) != Some(b"TFL3".as_slice()) {
        return Err(Error::ImportMalformed {
            what: "the file identifier (TFL3)",
            at: 4,
        });
    }
    // Model: version 0, operator_codes 1, subgraphs 2, buffers 4.
    if root.u32(0, 0, "Model.version")? != 3 {
        return Err(model_unsupported("its schema version is not 3"));
    }
    let codes: Vec<i32> = root
        .tables(1, "Model.operator_codes")?
        .iter()
        .map(|c| {
            // OperatorCode: deprecated_builtin_code 0, builtin_code 3; the
            // larger of the two is the operator.
            let old = c.i8(0, 0, "OperatorCode.deprecated_builtin_code")? as i32;
            let new = c.i32(3, 0, "OperatorCode.builtin_code")?;
            Ok(old.max(new))
        })
        .collect::<Read<_>>()?;
    let subgraphs = root.tables(2, "Model.subgraphs")?;
    let [graph] = subgraphs.as_slice() else {
        return Err(model_unsupported(
            "it has more than one subgraph (vigie runs one)",
        ));
    };
    let buffers = root.tables(4, "Model.buffers")?;
    // SubGraph: tensors 0, inputs 1, outputs 2, operators 3.
    // Tensors are read when an operator names them: a file's tensors may
    // all point at one long vector, and most are never needed.
    let tensor_tables = graph.tables(0, "SubGraph.tensors")?;
    let (inputs, outputs) = (
        graph.i32s(1, "SubGraph.inputs")?,
        graph.i32s(2, "SubGraph.outputs")?,
    );
    let ([input], [output]) = (inputs.as_slice(), outputs.as_slice()) else {
        return Err(model_unsupported(
            "it has more than one input or output tensor",
        ));
    };
    let bad_index = Error::ImportInconsistent {
        what: "an operator's tensor index lies past SubGraph.tensors",
    };
    let tensor = |i: i32| -> Result<Tensor<'_>, Error> {
        let t = usize::try_from(i)
            .ok()
            .and_then(|i| tensor_tables.get(i))
            .ok_or(bad_index)?;
        read_tensor(t, &buffers)
    };
    let input_tensor = tensor(*input)?;
    let input_quant = activation_quant(&input_tensor, 0, -1)?;
    if graph.len_of(3, "SubGraph.operators")? > MAX_OPERATORS {
        return Err(model_unsupported(
            "it has more operators than vigie's model format can hold as layers",
        ));
    }
    let mut layers = Vec::new();
    let mut operators = Vec::new();
    let (mut current, mut quant) = (*input, input_quant);
    let mut softmax_last = false;
    let ops = graph.tables(3, "SubGraph.operators")?;
    // The tensors each operator reads as data (a RESHAPE's second input is
    // its shape; a layer's others are weights), and how many readers each
    // tensor has left: a tensor read again later is kept in a save slot.
    let data_inputs = |op: &Table<'_>, code: i32| -> Result<Vec<i32>, Error> {
        let ins = op.i32s(1, "Operator.inputs")?;
        let n = if code == code::ADD { 2 } else { 1 };
        Ok(ins.into_iter().take(n).collect())
    };
    let mut readers: Vec<(i32, usize)> = Vec::new();
    for op in &ops {
        let opcode = op.u32(0, 0, "Operator.opcode_index")? as usize;
        let code = codes.get(opcode).copied().unwrap_or(-1);
        if op.len_of(1, "Operator.inputs")? > MAX_OPERANDS {
            return Err(Error::ImportInconsistent {
                what: "an operator has more than 8 inputs or outputs",
            });
        }
        for t in data_inputs(op, code)? {
            match readers.iter_mut().find(|(x, _)| *x == t) {
                Some((_, n)) => *n += 1,
                None => readers.push((t, 1)),
            }
        }
    }
    let left = |readers: &[(i32, usize)], t: i32| {
        readers.iter().find(|(x, _)| *x == t).map_or(0, |(_, n)| *n)
    };
    // The tensor each save slot holds, with its quantization.
    let mut slots: [Option<(i32, QParams)>; MAX_SLOTS] = [None; MAX_SLOTS];
    for (index, op) in ops.iter().enumerate() {
        // Operator: opcode_index 0, inputs 1, outputs 2.
        let opcode = op.u32(0, 0, "Operator.opcode_index")? as usize;
        let code = *codes.get(opcode).ok_or(Error::ImportInconsistent {
            what: "an operator's opcode index lies past Model.operator_codes",
        })?;
        if op.len_of(1, "Operator.inputs")? > MAX_OPERANDS
            || op.len_of(2, "Operator.outputs")? > MAX_OPERANDS
        {
            return Err(Error::ImportInconsistent {
                what: "an operator has more than 8 inputs or outputs",
            });
        }
        let (ins, outs) = (
            op.i32s(1, "Operator.inputs")?,
            op.i32s(2, "Operator.outputs")?,
        );
        let name = super::operator_name(code).unwrap_or("an unknown operator");
        let missing = match code {
            code::FULLY_CONNECTED
            | code::RESHAPE
            | code::CONV_2D
            | code::DEPTHWISE_CONV_2D
            | code::AVERAGE_POOL_2D
            | code::SOFTMAX
            | code::ADD => None,
            _ => Some("vigie-core has no such layer"),
        };
        if let Some(missing) = missing {
            return Err(unsupported(index, code, missing));
        }
        if softmax_last {
            return Err(unsupported(
                index,
                code,
                "it follows a SOFTMAX (vigie runs a softmax only as the last layer)",
            ));
        }
        let ([x, ..], [y]) = (ins.as_slice(), outs.as_slice()) else {
            return Err(unsupported(
                index,
                code,
                "it has more than one output, or no input",
            ));
        };
        // This operator's reads are done once it runs.
        let reads = data_inputs(op, code)?;
        for t in &reads {
            if let Some((_, n)) = readers.iter_mut().find(|(x, _)| x == t) {
                *n = n.saturating_sub(1);
            }
        }
        let no_slot = || {
            unsupported(
                index,
                code,
                "it needs more tensors kept for later than vigie's save slots hold (format::MAX_SLOTS)",
            )
        };
        let free_slot = |slots: &[Option<(i32, QParams)>; MAX_SLOTS]| {
            slots.iter().position(Option::is_none).ok_or_else(no_slot)
        };
        // Brings tensor `t` from its save slot to the current place,
        // leaving the current tensor in that slot when it is read again.
        let bring = |t: i32,
                     current: &mut i32,
                     quant: &mut QParams,
                     slots: &mut [Option<(i32, QParams)>; MAX_SLOTS],
                     layers: &mut Vec<Int8Layer>,
                     readers: &[(i32, usize)]|
         -> Result<(), Error> {
            if t == *current {
                return Ok(());
            }
            let s = slot_of(slots, t).ok_or(unsupported(
                    index,
                    code,
                    "its input is a constant or no earlier operator's output (vigie reads computed tensors)",
                ))?;
            let (_, q) = slots[s].take().unwrap_or((t, *quant));
            if left(readers, *current) > 0 {
                slots[s] = Some((*current, *quant));
            }
            layers.push(Int8Layer::Swap(SlotDef { slot: s as u8 }));
            *current = t;
            *quant = q;
            Ok(())
        };
        let x = reads.first().copied().unwrap_or(*x);
        // For an ADD, the operand already current stays current and the
        // other is read from its slot.
        let (x, other) = match reads.as_slice() {
            [a, b] if *b == current && *a != current => (*b, Some(*a)),
            [a, b] => (*a, Some(*b)),
            _ => (x, None),
        };
        bring(
            x,
            &mut current,
            &mut quant,
            &mut slots,
            &mut layers,
            &readers,
        )?;
        let keep = left(&readers, x) > 0 || other == Some(x);
        if keep && slot_of(&slots, x).is_none() {
            let s = free_slot(&slots)?;
            slots[s] = Some((x, quant));
            layers.push(Int8Layer::Save(SlotDef { slot: s as u8 }));
        }
        let other = match other {
            Some(o) => {
                let s = slot_of(&slots, o).ok_or(unsupported(
                        index,
                        code,
                        "its second input is a constant or no earlier operator's output (vigie adds two computed tensors)",
                    ))?;
                let (_, q) = slots[s].unwrap_or((o, quant));
                if left(&readers, o) == 0 {
                    slots[s] = None;
                }
                Some((o, s, q))
            }
            None => None,
        };
        let (x_owned, y_owned) = (tensor(x)?, tensor(*y)?);
        let (x_t, y_t) = (&x_owned, &y_owned);
        let weights = || ins.get(1).map(|&i| tensor(i)).transpose();
        let bias = || {
            ins.get(2)
                .copied()
                .filter(|&i| i >= 0)
                .map(tensor)
                .transpose()
        };
        let layer = match code {
            code::ADD => {
                let Some((o, slot, o_quant)) = other else {
                    return Err(unsupported(index, code, "it has one input"));
                };
                let o_t = tensor(o)?;
                if o_t.shape != x_t.shape || y_t.shape != x_t.shape {
                    return Err(unsupported(
                        index,
                        code,
                        "its inputs and output differ in shape (vigie adds without broadcasting)",
                    ));
                }
                // AddOptions: fused_activation_function 0.
                let act = match options(op, options::ADD, index, code)? {
                    Some(o) => o.i8(0, 0, "AddOptions.fused_activation_function")?,
                    None => ACT_NONE,
                };
                let q_out = activation_quant(y_t, index, code)?;
                let p = add_params(quant, o_quant, q_out, activation(act, index, code)?).ok_or(
                    unsupported(index, code, "its scales give no multiplier below one"),
                )?;
                Some(Int8Layer::Add(AddDef {
                    slot: slot as u8,
                    ..p
                }))
            }
            code::RESHAPE => {
                // The data does not move; TFLite requires the same
                // quantization.
                let q = activation_quant(y_t, index, code)?;
                if q != quant || y_t.elements() != x_t.elements() {
                    return Err(unsupported(
                        index,
                        code,
                        "it changes the quantization or the size",
                    ));
                }
                None
            }
            code::FULLY_CONNECTED => {
                let o = options(op, options::FULLY_CONNECTED, index, code)?;
                // FullyConnectedOptions: fused_activation_function 0,
                // weights_format 1.
                if let Some(o) = &o {
                    if o.i8(1, 0, "FullyConnectedOptions.weights_format")? != 0 {
                        return Err(unsupported(
                            index,
                            code,
                            "its weights are shuffled (weights_format)",
                        ));
                    }
                }
                let act = match &o {
                    Some(o) => o.i8(0, 0, "FullyConnectedOptions.fused_activation_function")?,
                    None => ACT_NONE,
                };
                let w = weights()?.ok_or(unsupported(index, code, "it has no weights tensor"))?;
                let w = &w;
                let [out, fan_in] = w.shape.as_slice() else {
                    return Err(unsupported(
                        index,
                        code,
                        "its weights are not two-dimensional",
                    ));
                };
                let (out, fan_in) = (*out.max(&0) as usize, *fan_in.max(&0) as usize);
                if out == 0 || fan_in != x_t.elements() || out != y_t.elements() {
                    return Err(unsupported(
                        index,
                        code,
                        "its input or output size does not match its weights (vigie runs batch 1)",
                    ));
                }
                if w.data.len() != out.saturating_mul(fan_in) {
                    return Err(Error::ImportInconsistent {
                        what: "a FULLY_CONNECTED layer's weight data does not fit its shape",
                    });
                }
                let q_out = activation_quant(y_t, index, code)?;
                let b = bias()?;
                let tensors = weighted(
                    index,
                    code,
                    w,
                    b.as_ref(),
                    out,
                    quant,
                    q_out,
                    activation(act, index, code)?,
                )?;
                Some(Int8Layer::Dense {
                    in_features: fan_in,
                    out_features: out,
                    tensors,
                })
            }
            code::CONV_2D | code::DEPTHWISE_CONV_2D => {
                let depthwise = code == code::DEPTHWISE_CONV_2D;
                let tag = if depthwise {
                    options::DEPTHWISE_CONV_2D
                } else {
                    options::CONV_2D
                };
                let o = options(op, tag, index, code)?.ok_or(unsupported(
                    index,
                    code,
                    "it has no options",
                ))?;
                // Conv2DOptions: padding 0, stride_w 1, stride_h 2,
                // fused_activation_function 3, dilation_w 4, dilation_h 5.
                // DepthwiseConv2DOptions: padding 0, stride_w 1, stride_h 2,
                // depth_multiplier 3, fused_activation_function 4,
                // dilation_w 5, dilation_h 6.
                let (act_id, dil) = if depthwise { (4, 5) } else { (3, 4) };
                let pad = padding(o.i8(0, 0, "Conv2DOptions.padding")?, index, code)?;
                let stride = (
                    o.i32(2, 1, "Conv2DOptions.stride_h")?,
                    o.i32(1, 1, "Conv2DOptions.stride_w")?,
                );
                if o.i32(dil, 1, "Conv2DOptions.dilation_w_factor")? != 1
                    || o.i32(dil + 1, 1, "Conv2DOptions.dilation_h_factor")? != 1
                {
                    return Err(unsupported(index, code, "it is dilated"));
                }
                let act = activation(
                    o.i8(act_id, 0, "Conv2DOptions.fused_activation_function")?,
                    index,
                    code,
                )?;
                let w = weights()?.ok_or(unsupported(index, code, "it has no weights tensor"))?;
                let w = &w;
                let [a, kh, kw, b] = w.shape.as_slice() else {
                    return Err(unsupported(
                        index,
                        code,
                        "its weights are not four-dimensional",
                    ));
                };
                let win = window(index, code, x_t, y_t, (*kh, *kw), stride, pad)?;
                let out_c = y_t.nhwc().map_or(0, |(_, _, c)| c);
                let (in_c, taps) = (
                    win.in_channels,
                    win.kernel_height as usize * win.kernel_width as usize,
                );
                let expected = if depthwise {
                    // 1 × kh × kw × out, out a multiple of in.
                    *a == 1 && *b == out_c as i32 && out_c % in_c == 0
                } else {
                    *a == out_c as i32 && *b == in_c as i32
                };
                let n = if depthwise {
                    taps.saturating_mul(out_c as usize)
                } else {
                    (out_c as usize)
                        .saturating_mul(taps)
                        .saturating_mul(in_c as usize)
                };
                if !expected || w.data.len() != n {
                    return Err(unsupported(
                        index,
                        code,
                        "its weights' shape does not match its input and output",
                    ));
                }
                let q_out = activation_quant(y_t, index, code)?;
                let bias = bias()?;
                let tensors = weighted(
                    index,
                    code,
                    w,
                    bias.as_ref(),
                    out_c as usize,
                    quant,
                    q_out,
                    act,
                )?;
                Some(if depthwise {
                    Int8Layer::DepthwiseConv2d {
                        window: win,
                        depth_multiplier: out_c / in_c,
                        tensors,
                    }
                } else {
                    Int8Layer::Conv2d {
                        window: win,
                        out_channels: out_c,
                        tensors,
                    }
                })
            }
            code::AVERAGE_POOL_2D => {
                let o = options(op, options::POOL_2D, index, code)?.ok_or(unsupported(
                    index,
                    code,
                    "it has no options",
                ))?;
                // Pool2DOptions: padding 0, stride_w 1, stride_h 2,
                // filter_width 3, filter_height 4, fused_activation_function 5.
                let pad = padding(o.i8(0, 0, "Pool2DOptions.padding")?, index, code)?;
                let stride = (
                    o.i32(2, 1, "Pool2DOptions.stride_h")?,
                    o.i32(1, 1, "Pool2DOptions.stride_w")?,
                );
                let kernel = (
                    o.i32(4, 0, "Pool2DOptions.filter_height")?,
                    o.i32(3, 0, "Pool2DOptions.filter_width")?,
                );
                let act = activation(
                    o.i8(5, 0, "Pool2DOptions.fused_activation_function")?,
                    index,
                    code,
                )?;
                let win = window(index, code, x_t, y_t, kernel, stride, pad)?;
                if y_t.nhwc().map(|(_, _, c)| c) != Some(win.in_channels) {
                    return Err(unsupported(
                        index,
                        code,
                        "its output has another channel count than its input",
                    ));
                }
                if activation_quant(y_t, index, code)? != quant {
                    return Err(unsupported(
                        index,
                        code,
                        "its output's quantization differs from its input's",
                    ));
                }
                Some(Int8Layer::AvgPool2d(Pool2dDef {
                    window: win,
                    activation: act,
                }))
            }
            _ => {
                // SOFTMAX, over the last axis. vigie runs it on a flat row
                // written by a dense layer; elsewhere its rows could differ
                // from TFLite's (a RESHAPE moves no data and becomes no
                // layer).
                let flat = matches!(x_t.shape.as_slice(), [1, n] if *n as usize == x_t.elements());
                if !flat || !matches!(layers.last(), Some(Int8Layer::Dense { .. })) {
                    return Err(unsupported(
                        index,
                        code,
                        "it does not take a [1, N] tensor written by a FULLY_CONNECTED layer",
                    ));
                }
                if y_t.elements() != x_t.elements() {
                    return Err(Error::ImportInconsistent {
                        what: "a SOFTMAX output has another size than its input",
                    });
                }
                // SoftmaxOptions: beta 0.
                let beta = match options(op, options::SOFTMAX, index, code)? {
                    Some(o) => o.f32(0, 0.0, "SoftmaxOptions.beta")?,
                    None => 0.0,
                };
                if activation_quant(y_t, index, code)? != SOFTMAX_OUTPUT {
                    return Err(unsupported(
                        index,
                        code,
                        "its output is not quantized as 1/256 from -128",
                    ));
                }
                let p = softmax_params(beta, quant.scale).ok_or(unsupported(
                    index,
                    code,
                    "its beta and input scale give no fixed-point multiplier",
                ))?;
                softmax_last = true;
                Some(Int8Layer::Softmax(p))
            }
        };
        match layer {
            Some(l) => {
                quant = match &l {
                    Int8Layer::Dense { tensors, .. }
                    | Int8Layer::Conv2d { tensors, .. }
                    | Int8Layer::DepthwiseConv2d { tensors, .. } => tensors.output,
                    Int8Layer::Softmax(_) => SOFTMAX_OUTPUT,
                    Int8Layer::Add(a) => a.output,
                    Int8Layer::AvgPool2d(_) | Int8Layer::Save(_) | Int8Layer::Swap(_) => quant,
                };
                operators.push((name, Some(layers.len())));
                layers.push(l);
            }
            None => operators.push((name, None)),
        }
        current = *y;
    }
    if current != *output {
        return Err(model_unsupported(
            "its last operator does not write the subgraph's output",
        ));
    }
    if layers.len() > crate::format::MAX_LAYERS {
        return Err(model_unsupported(
            "it has more layers than vigie-core's model format holds (format::MAX_LAYERS)",
        ));
    }
    let output_len = tensor(*output)?.elements();
    // Names are made per value below: sizes past what the model format
    // holds are refused before anything is allocated for them.
    if output_len > u16::MAX as usize {
        return Err(model_unsupported("its output has more than 65,535 values"));
    }
    // A flat input is one value per named channel; any other shape is one
    // channel of its values in TFLite's order (NHWC).
    let n = input_tensor.elements();
    if n > u16::MAX as usize {
        return Err(model_unsupported("its input has more than 65,535 values"));
    }
    let (input_names, input_length) = match input_tensor.shape.as_slice() {
        [1, _] => ((0..n).map(|i| format!("in{i}")).collect(), 1),
        _ => (
            alloc::vec![String::from("input")],
            u16::try_from(n)
                .map_err(|_| model_unsupported("its input has more than 65,535 values"))?,
        ),
    };
    let (task, prefix) = if softmax_last {
        (Task::Classification, "class")
    } else {
        (Task::Regression, "out")
    };
    let int8 = Int8Model {
        name: String::from(name),
        input_names,
        input_length,
        input_quant,
        layers,
        task,
        output_names: (0..output_len).map(|i| format!("{prefix}{i}")).collect(),
    };
    Ok(Imported {
        model: int8.build()?,
        operators,
    })
}
