//! TFLite models in, vigie models out (`vigie import`).
//!
//! A `.tflite` file is a FlatBuffer of TensorFlow Lite's schema
//! (`tensorflow/lite/schema/schema.fbs`, file identifier `TFL3`). The
//! reader (`flatbuffer`, feature `std`) is bounds-checked and needs no
//! generated code; the fields it reads are named here with their order in
//! that schema. `import` maps the operators vigie-core runs into its
//! layer list, keeping every scale, zero point, per-channel multiplier and
//! fused activation exactly, and refuses the rest with
//! [`crate::Error::ImportUnsupported`]: the operator, its index and what is
//! missing. Nothing is approximated.
//!
//! Supported so far, as a chain of layers: `FULLY_CONNECTED`, `CONV_2D`,
//! `DEPTHWISE_CONV_2D` (int8 activations, symmetric int8 weights per
//! tensor or per output channel, int32 bias, fused `NONE`, `RELU` or
//! `RELU6`, no dilation), `AVERAGE_POOL_2D`, `RESHAPE` (which moves no
//! data) and a final int8 `SOFTMAX`. That runs MLPerf Tiny's
//! anomaly-detection autoencoder, keyword spotter and visual wake words
//! MobileNet (30 layers: with feature `layers2d` a model holds 32); its
//! ResNet is refused at its first `ADD` (a skip connection).

#[cfg(feature = "std")]
pub mod flatbuffer;

#[cfg(feature = "std")]
mod import;
#[cfg(feature = "std")]
pub use import::{import, Imported};

/// TFLite's name of a builtin operator code (`BuiltinOperator`), for
/// messages; `None` for codes past this table.
pub fn operator_name(code: i32) -> Option<&'static str> {
    const NAMES: [&str; 128] = [
        "ADD",
        "AVERAGE_POOL_2D",
        "CONCATENATION",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "DEPTH_TO_SPACE",
        "DEQUANTIZE",
        "EMBEDDING_LOOKUP",
        "FLOOR",
        "FULLY_CONNECTED",
        "HASHTABLE_LOOKUP",
        "L2_NORMALIZATION",
        "L2_POOL_2D",
        "LOCAL_RESPONSE_NORMALIZATION",
        "LOGISTIC",
        "LSH_PROJECTION",
        "LSTM",
        "MAX_POOL_2D",
        "MUL",
        "RELU",
        "RELU_N1_TO_1",
        "RELU6",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RNN",
        "SOFTMAX",
        "SPACE_TO_DEPTH",
        "SVDF",
        "TANH",
        "CONCAT_EMBEDDINGS",
        "SKIP_GRAM",
        "CALL",
        "CUSTOM",
        "EMBEDDING_LOOKUP_SPARSE",
        "PAD",
        "UNIDIRECTIONAL_SEQUENCE_RNN",
        "GATHER",
        "BATCH_TO_SPACE_ND",
        "SPACE_TO_BATCH_ND",
        "TRANSPOSE",
        "MEAN",
        "SUB",
        "DIV",
        "SQUEEZE",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "STRIDED_SLICE",
        "BIDIRECTIONAL_SEQUENCE_RNN",
        "EXP",
        "TOPK_V2",
        "SPLIT",
        "LOG_SOFTMAX",
        "DELEGATE",
        "BIDIRECTIONAL_SEQUENCE_LSTM",
        "CAST",
        "PRELU",
        "MAXIMUM",
        "ARG_MAX",
        "MINIMUM",
        "LESS",
        "NEG",
        "PADV2",
        "GREATER",
        "GREATER_EQUAL",
        "LESS_EQUAL",
        "SELECT",
        "SLICE",
        "SIN",
        "TRANSPOSE_CONV",
        "SPARSE_TO_DENSE",
        "TILE",
        "EXPAND_DIMS",
        "EQUAL",
        "NOT_EQUAL",
        "LOG",
        "SUM",
        "SQRT",
        "RSQRT",
        "SHAPE",
        "POW",
        "ARG_MIN",
        "FAKE_QUANT",
        "REDUCE_PROD",
        "REDUCE_MAX",
        "PACK",
        "LOGICAL_OR",
        "ONE_HOT",
        "LOGICAL_AND",
        "LOGICAL_NOT",
        "UNPACK",
        "REDUCE_MIN",
        "FLOOR_DIV",
        "REDUCE_ANY",
        "SQUARE",
        "ZEROS_LIKE",
        "FILL",
        "FLOOR_MOD",
        "RANGE",
        "RESIZE_NEAREST_NEIGHBOR",
        "LEAKY_RELU",
        "SQUARED_DIFFERENCE",
        "MIRROR_PAD",
        "ABS",
        "SPLIT_V",
        "UNIQUE",
        "CEIL",
        "REVERSE_V2",
        "ADD_N",
        "GATHER_ND",
        "COS",
        "WHERE",
        "RANK",
        "ELU",
        "REVERSE_SEQUENCE",
        "MATRIX_DIAG",
        "QUANTIZE",
        "MATRIX_SET_DIAG",
        "ROUND",
        "HARD_SWISH",
        "IF",
        "WHILE",
        "NON_MAX_SUPPRESSION_V4",
        "NON_MAX_SUPPRESSION_V5",
        "SCATTER_ND",
        "SELECT_V2",
        "DENSIFY",
        "SEGMENT_SUM",
        "BATCH_MATMUL",
        "PLACEHOLDER_FOR_GREATER_OP_CODES",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
}

/// Builtin operator codes vigie maps.
pub mod code {
    /// `ADD`.
    pub const ADD: i32 = 0;
    /// `AVERAGE_POOL_2D`.
    pub const AVERAGE_POOL_2D: i32 = 1;
    /// `CONV_2D`.
    pub const CONV_2D: i32 = 3;
    /// `DEPTHWISE_CONV_2D`.
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    /// `FULLY_CONNECTED`.
    pub const FULLY_CONNECTED: i32 = 9;
    /// `RESHAPE`.
    pub const RESHAPE: i32 = 22;
    /// `SOFTMAX`.
    pub const SOFTMAX: i32 = 25;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names_follow_the_schema_numbers() {
        assert_eq!(
            operator_name(code::FULLY_CONNECTED),
            Some("FULLY_CONNECTED")
        );
        assert_eq!(operator_name(code::SOFTMAX), Some("SOFTMAX"));
        assert_eq!(operator_name(code::CONV_2D), Some("CONV_2D"));
        assert_eq!(operator_name(114), Some("QUANTIZE"));
        assert_eq!(operator_name(-1), None);
        assert_eq!(operator_name(500), None);
    }
}
