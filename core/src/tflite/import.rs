//! The mapping of a TFLite subgraph into vigie layers.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::code;
use super::flatbuffer::{Read, Table};
use crate::builder::{Int8Dense, Int8Model, QuantizedModel};
use crate::format::{Activation, QParams, Task};
use crate::requant::quantize_multiplier;
use crate::Error;

/// TFLite's `TensorType` codes vigie reads.
const INT8: i8 = 9;
const INT32: i8 = 2;
/// `BuiltinOptions` union tag of `FullyConnectedOptions`.
const FULLY_CONNECTED_OPTIONS: u8 = 8;
/// `ActivationFunctionType`.
const ACT_NONE: i8 = 0;
const ACT_RELU: i8 = 1;
const ACT_RELU6: i8 = 3;

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
}

impl Tensor<'_> {
    fn elements(&self) -> usize {
        self.shape
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(0))
            .product()
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

fn read_tensor<'a>(t: &Table<'a>, buffers: &[Table<'a>]) -> Read<Tensor<'a>> {
    // Tensor: shape 0, type 1, buffer 2, name 3, quantization 4.
    let buffer = t.u32(2, 0, "Tensor.buffer")? as usize;
    let data = match buffers.get(buffer) {
        // Buffer: data 0 (offset 1 and size 2 are for files over 2 GB).
        Some(b) => b.bytes(0, "Buffer.data")?,
        None => {
            return Err(Error::ImportMalformed {
                what: "Tensor.buffer (an index past Model.buffers)",
                at: 0,
            })
        }
    };
    let (scales, zero_points) = match t.table(4, "Tensor.quantization")? {
        // QuantizationParameters: scale 2, zero_point 3.
        Some(q) => (
            q.f32s(2, "QuantizationParameters.scale")?,
            q.i64s(3, "QuantizationParameters.zero_point")?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    Ok(Tensor {
        shape: t.i32s(0, "Tensor.shape")?,
        kind: t.i8(1, 0, "Tensor.type")?,
        data,
        scales,
        zero_points,
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

fn fully_connected(
    index: usize,
    op: &Table<'_>,
    ins: &[i32],
    tensors: &[Tensor<'_>],
    input: QParams,
    output: &Tensor<'_>,
) -> Result<Int8Dense, Error> {
    let f = code::FULLY_CONNECTED;
    let tensor = |i: i32| usize::try_from(i).ok().and_then(|i| tensors.get(i));
    // Operator: builtin_options_type 3, builtin_options 4.
    let tag = op.u8(3, 0, "Operator.builtin_options_type")?;
    let activation = match op.table(4, "Operator.builtin_options")? {
        Some(o) if tag == FULLY_CONNECTED_OPTIONS => {
            // FullyConnectedOptions: fused_activation_function 0,
            // weights_format 1.
            if o.i8(1, 0, "FullyConnectedOptions.weights_format")? != 0 {
                return Err(unsupported(
                    index,
                    f,
                    "its weights are shuffled (weights_format)",
                ));
            }
            o.i8(
                0,
                ACT_NONE,
                "FullyConnectedOptions.fused_activation_function",
            )?
        }
        Some(_) => return Err(unsupported(index, f, "its options are another operator's")),
        None => ACT_NONE,
    };
    let activation = match activation {
        ACT_NONE => Activation::None,
        ACT_RELU => Activation::Relu,
        ACT_RELU6 => Activation::Relu6,
        _ => {
            return Err(unsupported(
                index,
                f,
                "its fused activation is not NONE, RELU or RELU6",
            ))
        }
    };
    let w = ins.get(1).and_then(|&i| tensor(i)).ok_or(unsupported(
        index,
        f,
        "it has no weights tensor",
    ))?;
    if w.kind != INT8 || w.shape.len() != 2 || w.data.is_empty() {
        return Err(unsupported(
            index,
            f,
            "its weights are not constant int8 of two dimensions",
        ));
    }
    let (out, fan_in) = (w.shape[0].max(0) as usize, w.shape[1].max(0) as usize);
    if w.data.len() != out * fan_in || out == 0 || fan_in == 0 {
        return Err(Error::ImportMalformed {
            what: "FULLY_CONNECTED weights (data length against shape)",
            at: 0,
        });
    }
    if w.zero_points.iter().any(|&z| z != 0) {
        return Err(unsupported(
            index,
            f,
            "its weights are not symmetric (a zero point other than 0)",
        ));
    }
    let w_scale = |o: usize| match w.scales.len() {
        1 => Some(w.scales[0]),
        n if n == out => Some(w.scales[o]),
        _ => None,
    };
    if w_scale(0).is_none() || w.scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(unsupported(
            index,
            f,
            "its weights lack one positive scale per tensor or per output",
        ));
    }
    let bias = match ins.get(2).copied().filter(|&i| i >= 0) {
        None => alloc::vec![0i32; out],
        Some(i) => {
            let b = tensor(i).ok_or(unsupported(index, f, "its bias tensor is missing"))?;
            if b.kind != INT32 || b.data.len() != 4 * out {
                return Err(unsupported(
                    index,
                    f,
                    "its bias is not int32 with one value per output",
                ));
            }
            b.data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
    };
    let output_quant = activation_quant(output, index, f)?;
    let (mut multiplier, mut shift) = (Vec::with_capacity(out), Vec::with_capacity(out));
    let per_tensor = w.scales.len() == 1;
    for o in 0..out {
        let s_w = w_scale(o).unwrap_or(1.0);
        // As TFLite and TFLM compute it. Per tensor
        // (`GetQuantizedConvolutionMultipler`), the input and weight scales
        // are multiplied in f32 and only then widened: on MLPerf Tiny's
        // autoencoder a product in f64 moves one multiplier of the last
        // layer by 29 and one output of 64,000 by a step. Per channel
        // (`PopulateConvolutionQuantizationParams`), every factor is f64.
        let product = if per_tensor {
            (input.scale * s_w) as f64
        } else {
            input.scale as f64 * s_w as f64
        };
        let real = product / output_quant.scale as f64;
        let (m, s) = quantize_multiplier(real)?;
        multiplier.push(m);
        shift.push(s);
    }
    Ok(Int8Dense {
        in_features: fan_in,
        out_features: out,
        weights: w.data.iter().map(|&b| b as i8).collect(),
        bias,
        multiplier,
        shift,
        output: output_quant,
        activation,
    })
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
    let tensors = graph
        .tables(0, "SubGraph.tensors")?
        .iter()
        .map(|t| read_tensor(t, &buffers))
        .collect::<Read<Vec<_>>>()?;
    let (inputs, outputs) = (
        graph.i32s(1, "SubGraph.inputs")?,
        graph.i32s(2, "SubGraph.outputs")?,
    );
    let ([input], [output]) = (inputs.as_slice(), outputs.as_slice()) else {
        return Err(model_unsupported(
            "it has more than one input or output tensor",
        ));
    };
    let tensor = |i: i32| usize::try_from(i).ok().and_then(|i| tensors.get(i));
    let bad_index = Error::ImportMalformed {
        what: "a tensor index past SubGraph.tensors",
        at: 0,
    };
    let input_tensor = tensor(*input).ok_or(bad_index)?;
    let input_quant = activation_quant(input_tensor, 0, -1)?;
    let mut layers = Vec::new();
    let mut operators = Vec::new();
    let (mut current, mut quant) = (*input, input_quant);
    for (index, op) in graph.tables(3, "SubGraph.operators")?.iter().enumerate() {
        // Operator: opcode_index 0, inputs 1, outputs 2.
        let opcode = op.u32(0, 0, "Operator.opcode_index")? as usize;
        let code = *codes.get(opcode).ok_or(Error::ImportMalformed {
            what: "Operator.opcode_index (past Model.operator_codes)",
            at: 0,
        })?;
        let (ins, outs) = (
            op.i32s(1, "Operator.inputs")?,
            op.i32s(2, "Operator.outputs")?,
        );
        let name = super::operator_name(code).unwrap_or("an unknown operator");
        let missing = match code {
            code::FULLY_CONNECTED | code::RESHAPE => None,
            code::CONV_2D | code::DEPTHWISE_CONV_2D => {
                Some("2-D convolutions are not in vigie-core yet")
            }
            code::AVERAGE_POOL_2D => Some("2-D pooling is not in vigie-core yet"),
            code::ADD => Some(
                "ADD (a skip connection, a graph that is not a chain) is not in vigie-core yet",
            ),
            code::SOFTMAX => Some("int8 SOFTMAX as TFLM computes it is not in vigie-core yet"),
            _ => Some("vigie-core has no such layer"),
        };
        if let Some(missing) = missing {
            return Err(unsupported(index, code, missing));
        }
        let ([x, ..], [y]) = (ins.as_slice(), outs.as_slice()) else {
            return Err(unsupported(
                index,
                code,
                "it has more than one output, or no input",
            ));
        };
        if *x != current {
            return Err(unsupported(
                index,
                code,
                "its input is not the previous operator's output (vigie runs a chain of layers)",
            ));
        }
        let out_tensor = tensor(*y).ok_or(bad_index)?;
        if code == code::RESHAPE {
            // The data does not move; TFLite requires the same quantization.
            let q = activation_quant(out_tensor, index, code)?;
            let in_tensor = tensor(*x).ok_or(bad_index)?;
            if q != quant || out_tensor.elements() != in_tensor.elements() {
                return Err(unsupported(
                    index,
                    code,
                    "it changes the quantization or the size",
                ));
            }
            operators.push((name, None));
        } else {
            let in_tensor = tensor(*x).ok_or(bad_index)?;
            let dense = fully_connected(index, op, &ins, &tensors, quant, out_tensor)?;
            if dense.in_features != in_tensor.elements()
                || dense.out_features != out_tensor.elements()
            {
                return Err(unsupported(
                    index,
                    code,
                    "its input or output size does not match its weights (vigie runs batch 1)",
                ));
            }
            quant = dense.output;
            operators.push((name, Some(layers.len())));
            layers.push(dense);
        }
        current = *y;
    }
    if current != *output {
        return Err(model_unsupported(
            "its last operator does not write the subgraph's output",
        ));
    }
    let output_len = tensor(*output).ok_or(bad_index)?.elements();
    let int8 = Int8Model {
        name: String::from(name),
        input_names: (0..input_tensor.elements())
            .map(|i| format!("in{i}"))
            .collect(),
        input_quant,
        layers,
        task: Task::Regression,
        output_names: (0..output_len).map(|i| format!("out{i}")).collect(),
    };
    Ok(Imported {
        model: int8.build()?,
        operators,
    })
}
