//! The one error type of the core.
//!
//! Every failure of loading, validation or inference is a value of [`Error`];
//! nothing in the core panics on input data. Variant names start with the
//! phase they belong to (`Load…`, `Validate…`, `Run…`, `Build…`), and each
//! carries the place it refers to (the layer index and field name), so a
//! person reading the message knows where to look.

use core::fmt;

/// Which part of a model an error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The input map (`input.*` fields).
    Input,
    /// The layer with this index (0-based) in `layers`.
    Layer(u16),
    /// The output description (`output.*` fields).
    Output,
    /// The section with this index (0-based) in `sections`.
    Section(u16),
    /// The model as a whole.
    Model,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Input => write!(f, "input"),
            Place::Layer(i) => write!(f, "layer {i}"),
            Place::Output => write!(f, "output"),
            Place::Section(i) => write!(f, "section {i}"),
            Place::Model => write!(f, "model"),
        }
    }
}

/// Everything that can go wrong in `vigie-core`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The byte string is shorter than the fixed header.
    LoadTooShort {
        /// Bytes present.
        len: usize,
    },
    /// The first four bytes are not the vigie magic `VIGI`.
    LoadBadMagic,
    /// The format version is not one this reader understands.
    LoadUnsupportedVersion {
        /// Version found in the header.
        version: u16,
    },
    /// The header sets flag bits this reader does not know.
    LoadUnsupportedFlags {
        /// Flags found in the header.
        flags: u16,
    },
    /// The header's body length does not match the bytes present.
    LoadLengthMismatch {
        /// Body length announced by the header.
        declared: u32,
        /// Bytes present after the header.
        available: usize,
    },
    /// The CRC-32 of the body does not match the header.
    LoadChecksumMismatch {
        /// Checksum stored in the header.
        stored: u32,
        /// Checksum computed over the body.
        computed: u32,
    },
    /// The body is not a valid postcard encoding of a model (a truncated
    /// field, an unknown layer kind, invalid UTF-8, too many layers…).
    LoadMalformedBody,
    /// The body decoded but bytes were left over inside it.
    LoadTrailingBody,
    /// A section marked as required has a kind this reader does not know.
    LoadUnknownRequiredSection {
        /// Index of the section.
        index: u16,
        /// Its kind.
        kind: u16,
    },
    /// A dimension is zero, or out of its allowed range.
    ValidateDimension {
        /// Where.
        place: Place,
        /// Which field.
        field: &'static str,
    },
    /// A tensor's byte length does not match its shape.
    ValidateTensorLength {
        /// Where.
        place: Place,
        /// Which tensor.
        field: &'static str,
        /// Bytes expected from the shape.
        expected: u32,
        /// Bytes present.
        found: u32,
    },
    /// A quantization parameter is out of range (scale not finite and
    /// positive, multiplier outside `[2^30, 2^31)`, shift outside
    /// `[-31, 30]`, non-finite input map…).
    ValidateQuantization {
        /// Where.
        place: Place,
        /// Which field.
        field: &'static str,
        /// Index of the offending element inside the field (0 for scalars).
        index: u32,
    },
    /// A layer's expected input does not match the previous layer's output.
    ValidateChain {
        /// The layer whose input does not fit.
        layer: u16,
    },
    /// The weights and bias of an output channel could overflow the int32
    /// accumulator for some input.
    ValidateAccumulatorRange {
        /// The layer.
        layer: u16,
        /// The output channel.
        channel: u32,
    },
    /// The names list does not have one name per channel or output.
    ValidateNames {
        /// Where.
        place: Place,
        /// Names expected.
        expected: u32,
        /// Names found.
        found: u32,
    },
    /// The model has no layer, or a sizes computation overflowed.
    ValidateModel {
        /// What is wrong.
        what: &'static str,
    },
    /// The input slice does not have `channels * length` values.
    RunInputLength {
        /// Values expected.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// An input value is NaN or infinite.
    RunNonFiniteInput {
        /// Index of the first such value.
        index: usize,
    },
    /// The arena is smaller than [`crate::Model::arena_len`].
    RunArenaTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        found: usize,
    },
    /// A classification result was asked of a regression model.
    RunNotClassification,
    /// A replay (recorded input stream) file is not valid.
    ReplayMalformed {
        /// What is wrong.
        what: &'static str,
    },
    /// A float parameter given to the builder is not finite, or a shape is
    /// inconsistent.
    BuildInvalid {
        /// Where.
        place: Place,
        /// Which field.
        field: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match *self {
            LoadTooShort { len } => write!(
                f,
                "model file too short: {len} bytes, the header alone is {} bytes; is this a .vigie file?",
                crate::format::HEADER_LEN
            ),
            LoadBadMagic => write!(f, "not a vigie model: the file does not start with `VIGI`"),
            LoadUnsupportedVersion { version } => write!(
                f,
                "model format version {version} is not supported (this reader knows version {}); rebuild the model or update vigie",
                crate::format::FORMAT_VERSION
            ),
            LoadUnsupportedFlags { flags } => write!(
                f,
                "header flags {flags:#06x} are not known to this reader; update vigie"
            ),
            LoadLengthMismatch { declared, available } => write!(
                f,
                "header says the body is {declared} bytes but {available} bytes follow it; the file is truncated or has extra bytes"
            ),
            LoadChecksumMismatch { stored, computed } => write!(
                f,
                "body checksum mismatch (header {stored:#010x}, computed {computed:#010x}); the file is corrupted, copy it again"
            ),
            LoadMalformedBody => write!(f, "model body does not decode; the file is corrupted or was written by an incompatible vigie"),
            LoadTrailingBody => write!(f, "model body has bytes left over after decoding"),
            LoadUnknownRequiredSection { index, kind } => write!(
                f,
                "section {index} has kind {kind}, which this reader does not know and the file marks as required; update vigie"
            ),
            ValidateDimension { place, field } => {
                write!(f, "{place}: `{field}` is zero or out of range")
            }
            ValidateTensorLength { place, field, expected, found } => write!(
                f,
                "{place}: `{field}` has {found} bytes, its shape needs {expected}"
            ),
            ValidateQuantization { place, field, index } => write!(
                f,
                "{place}: `{field}`[{index}] is not a valid quantization parameter"
            ),
            ValidateChain { layer } => write!(
                f,
                "layer {layer}: its input shape does not match the previous layer's output"
            ),
            ValidateAccumulatorRange { layer, channel } => write!(
                f,
                "layer {layer}: output channel {channel} could overflow the int32 accumulator"
            ),
            ValidateNames { place, expected, found } => write!(
                f,
                "{place}: {found} names for {expected} values"
            ),
            ValidateModel { what } => write!(f, "model: {what}"),
            RunInputLength { expected, found } => write!(
                f,
                "input has {found} values, the model takes {expected}"
            ),
            RunNonFiniteInput { index } => write!(f, "input value {index} is NaN or infinite"),
            RunArenaTooSmall { needed, found } => write!(
                f,
                "arena of {found} bytes is too small: the model needs {needed}"
            ),
            RunNotClassification => write!(f, "this model does regression; it has no class to report"),
            ReplayMalformed { what } => write!(f, "replay stream {what}; regenerate it with `vigie stream`"),
            BuildInvalid { place, field } => write!(f, "{place}: `{field}` is not valid for building a model"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
