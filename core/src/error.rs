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
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Place {
    /// The input map (`input.*` fields).
    Input,
    /// The layer with this index (0-based) in `layers`.
    Layer(u16),
    /// The output description (`output.*` fields).
    Output,
    /// A section of the file.
    Section {
        /// Its position (0-based) in `sections`.
        index: u16,
        /// Its kind ([`crate::format::section_kind`]).
        kind: u16,
    },
    /// The model as a whole.
    Model,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Input => write!(f, "input"),
            Place::Layer(i) => write!(f, "layer {i}"),
            Place::Output => write!(f, "output"),
            Place::Section { index, kind } => write!(
                f,
                "section {index} ({})",
                crate::format::section_kind::name(*kind)
            ),
            Place::Model => write!(f, "model"),
        }
    }
}

/// A buffer the caller provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Buffer {
    /// The inference arena ([`crate::Model::arena_len`] bytes).
    Arena,
    /// The monitor's state ([`crate::monitor::Monitor::state_len`] floats).
    MonitorState,
    /// One input ([`crate::Model::input_len`] floats).
    Input,
    /// The occluded copy of an input, for an attribution (as long as the
    /// input).
    Scratch,
    /// One value per input channel (a baseline or attributions).
    PerChannel,
    /// The adaptation's state ([`crate::adapt::Adapter::state_len`]
    /// floats).
    Adaptation,
}

impl Buffer {
    /// `Ok` when `found` elements cover the `needed` ones, else the error
    /// that names this buffer.
    pub fn check(self, needed: usize, found: usize) -> Result<(), Error> {
        if found < needed {
            Err(Error::BufferTooSmall {
                buffer: self,
                needed,
                found,
            })
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Buffer::Arena => "arena",
            Buffer::MonitorState => "monitor state",
            Buffer::Input => "input buffer",
            Buffer::Scratch => "attribution scratch buffer",
            Buffer::PerChannel => "per-channel buffer",
            Buffer::Adaptation => "adaptation state",
        })
    }
}

/// Why postcard refused to decode a body (postcard's error kinds, kept so
/// a corrupted file says more than "does not decode").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// The bytes end inside a field.
    UnexpectedEnd,
    /// A length or integer varint is malformed.
    BadVarint,
    /// A boolean is neither 0 nor 1.
    BadBool,
    /// A string is not UTF-8.
    BadUtf8,
    /// An enum tag is unknown (a layer kind this reader does not know).
    BadEnum,
    /// A length is too large for its container (too many layers, names
    /// or sections).
    BadLength,
    /// Another encoding error.
    Other,
}

impl From<postcard::Error> for DecodeError {
    fn from(e: postcard::Error) -> Self {
        use postcard::Error as P;
        match e {
            P::DeserializeUnexpectedEnd => DecodeError::UnexpectedEnd,
            P::DeserializeBadVarint => DecodeError::BadVarint,
            P::DeserializeBadBool => DecodeError::BadBool,
            P::DeserializeBadUtf8 | P::DeserializeBadChar => DecodeError::BadUtf8,
            P::DeserializeBadEnum | P::DeserializeBadOption => DecodeError::BadEnum,
            P::DeserializeBadEncoding | P::SerdeDeCustom => DecodeError::BadLength,
            _ => DecodeError::Other,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::UnexpectedEnd => "it ends inside a field",
            DecodeError::BadVarint => "a malformed varint",
            DecodeError::BadBool => "a malformed boolean",
            DecodeError::BadUtf8 => "a name that is not UTF-8",
            DecodeError::BadEnum => "an unknown kind tag",
            DecodeError::BadLength => "a length out of range",
            DecodeError::Other => "an encoding error",
        })
    }
}

/// Everything that can go wrong in `vigie-core`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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
    LoadMalformedBody {
        /// What postcard reported.
        kind: DecodeError,
    },
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
    /// A buffer the caller gave is smaller than the model needs.
    BufferTooSmall {
        /// Which buffer.
        buffer: Buffer,
        /// Elements needed (bytes for the arena, floats otherwise).
        needed: usize,
        /// Elements given.
        found: usize,
    },
    /// A section does not decode, or a field of it is out of range.
    SectionInvalid {
        /// The section.
        place: Place,
        /// Which field (or `"body"` when it does not decode).
        field: &'static str,
    },
    /// A classification result was asked of a regression model.
    RunNotClassification,
    /// Adaptation was asked of a model without an adaptation section.
    AdaptationMissing,
    /// A replay (recorded input stream) file is not valid.
    ReplayMalformed {
        /// What is wrong.
        what: &'static str,
    },
    /// A device report frame could not be written or read
    /// ([`crate::report`]).
    ReportFrame {
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
    /// A signed model was asked for and the file carries no signature
    /// (header flag bit 0 is clear).
    SignatureMissing,
    /// The file's trailer is not a signature trailer
    /// ([`crate::signature::TRAILER_LEN`] bytes starting `ED25`).
    SignatureMalformed {
        /// Trailer bytes found.
        len: u32,
    },
    /// The file is signed with another key than the one the device trusts.
    SignatureWrongKey,
    /// The signature does not match the file: it was changed after signing.
    SignatureInvalid,
    /// An update candidate is larger than a model slot.
    UpdateTooLarge {
        /// Candidate bytes.
        len: u32,
        /// Slot bytes.
        slot: u32,
    },
    /// An update candidate has no probe section for its dry run (sign it
    /// with this vigie: `vigie sign` adds one).
    UpdateProbeMissing,
    /// An update candidate's dry run on its probe input did not give the
    /// output its probe records: it does not compute what it was built to.
    UpdateProbeMismatch,
    /// Neither model slot holds a model that verifies and loads.
    UpdateNoRunnableModel,
    /// The flash refused an operation (on a device: a write or erase
    /// error; in the simulation: the power went).
    FlashFailed,
    /// A TFLite file (`vigie import`) is truncated or corrupted: reading
    /// `what` at byte `at` ran out of the file or pointed outside it.
    ImportMalformed {
        /// What was being read (`"Model.subgraphs"`).
        what: &'static str,
        /// Byte offset in the file.
        at: u32,
    },
    /// A TFLite file reads but contradicts itself: `what` (an index past
    /// its list, a tensor whose data does not fit its shape).
    ImportInconsistent {
        /// What does not agree.
        what: &'static str,
    },
    /// A TFLite model uses what vigie cannot run exactly: operator `index`
    /// (in execution order) of builtin code `code`, and what is missing.
    ImportUnsupported {
        /// Operator index in the subgraph's execution order.
        index: u16,
        /// TFLite builtin operator code (`BuiltinOperator` in its schema).
        code: i32,
        /// What vigie lacks for it, as a statement (code −1: the model
        /// as a whole).
        missing: &'static str,
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
            LoadMalformedBody { kind } => write!(f, "model body does not decode ({kind}); the file is corrupted or was written by an incompatible vigie"),
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
            BufferTooSmall { buffer, needed, found } => {
                let unit = if buffer == Buffer::Arena { "bytes" } else { "floats" };
                write!(
                    f,
                    "{buffer} of {found} {unit} is too small: the model needs {needed} (`vigie inspect` prints every size)"
                )
            }
            SectionInvalid { place, field } => write!(
                f,
                "{place}: `{field}` is not valid; retrain the model or update vigie"
            ),
            RunNotClassification => write!(f, "this model does regression; it has no class to report"),
            AdaptationMissing => write!(f, "adaptation needs the model's adaptation section and its drift monitor; train it with `vigie train --adapt`"),
            ReplayMalformed { what } => write!(f, "replay stream {what}; regenerate it with `vigie stream`"),
            ReportFrame { what } => write!(f, "report frame {what}; it is skipped (the next frame starts after the next zero byte)"),
            BuildInvalid { place, field } => write!(f, "{place}: `{field}` is not valid for building a model"),
            UpdateTooLarge { len, slot } => write!(f, "the update candidate is {len} bytes and a model slot holds {slot}; make the model smaller or the slots larger"),
            UpdateProbeMissing => write!(f, "the update candidate has no probe for its dry run; sign it with `vigie sign`, which adds one"),
            UpdateProbeMismatch => write!(f, "the update candidate's dry run did not give the output its probe records; the model is not the one that was signed, or this core computes differently"),
            UpdateNoRunnableModel => write!(f, "neither model slot holds a signed model that loads; flash one with the debugger"),
            FlashFailed => write!(f, "the flash refused an erase or a write"),
            SignatureMissing => write!(f, "the model is not signed; sign it with `vigie sign --model M --key K`"),
            SignatureMalformed { len } => write!(f, "the model's trailer ({len} bytes) is not an Ed25519 signature trailer; sign the model again"),
            SignatureWrongKey => write!(f, "the model is signed with another key than the trusted one; sign it with the key whose public half the device holds"),
            SignatureInvalid => write!(f, "the model's signature does not match its bytes: the file was changed after it was signed"),
            ImportMalformed { what, at } => write!(f, "TFLite file: reading {what} at byte {at} ran past the end of the file or pointed outside it; the file is truncated or corrupted (export it again)"),
            ImportInconsistent { what } => write!(f, "TFLite file: {what}; the file is corrupted or was not written by a TFLite converter (export it again)"),
            ImportUnsupported { code: -1, missing, .. } => {
                write!(f, "TFLite model: {missing}; vigie imports nothing")
            }
            ImportUnsupported { index, code, missing } => {
                write!(f, "TFLite operator {index} (")?;
                match crate::tflite::operator_name(code) {
                    Some(name) => write!(f, "{name}")?,
                    None => write!(f, "builtin code {code}")?,
                }
                write!(f, "): {missing}; vigie cannot run this model exactly, so it imports nothing")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
