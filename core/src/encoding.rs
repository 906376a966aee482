//! Categorical inputs: a text column of the training file (a place, a
//! material, a sex) becomes one input channel per training level, plus one
//! for levels the training never saw. The device passes each raw column's
//! value: a number for a numeric column, the level's index for a
//! categorical one (NaN when missing), and [`Encoding::encode`] writes the
//! model's input, exactly as the trainer encoded the training rows.
//!
//! Stored as section [`crate::format::section_kind::ENCODING`] (required:
//! a reader that does not know it must not feed raw values to the model).

use serde::{Deserialize, Serialize};

use crate::error::Buffer;
use crate::format::section_kind;
use crate::{Error, Model};

/// Most raw columns an encoding describes.
pub const MAX_COLUMNS: usize = 64;

/// One raw column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef<'a> {
    /// The column's name in the training file.
    pub name: &'a str,
    /// Empty for a numeric column (one channel). For a categorical column,
    /// its training levels separated by `\n`; an empty level is the
    /// "missing" level. Its channels are one per level, then "other".
    pub levels: &'a str,
}

impl<'a> ColumnDef<'a> {
    /// Whether the column is categorical.
    pub fn is_categorical(&self) -> bool {
        !self.levels.is_empty()
    }

    /// Number of training levels (0 for a numeric column).
    pub fn levels_count(&self) -> usize {
        if self.levels.is_empty() {
            0
        } else {
            self.levels.split('\n').count()
        }
    }

    /// The training levels.
    pub fn levels(&self) -> impl Iterator<Item = &'a str> {
        let levels = self.levels;
        levels.split('\n').filter(move |_| !levels.is_empty())
    }

    /// Model input channels this column takes.
    pub fn channels(&self) -> usize {
        match self.levels_count() {
            0 => 1,
            k => k + 1,
        }
    }
}

/// The encoding section, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodingDef<'a> {
    /// The raw columns, in order.
    #[serde(borrow)]
    pub columns: heapless::Vec<ColumnDef<'a>, MAX_COLUMNS>,
}

#[cfg(feature = "alloc")]
impl EncodingDef<'_> {
    /// The section's bytes (postcard).
    pub fn to_vec(&self) -> alloc::vec::Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }
}

/// A validated encoding of a model's raw inputs.
#[derive(Debug, Clone)]
pub struct Encoding<'a> {
    def: EncodingDef<'a>,
}

impl<'a> Encoding<'a> {
    /// The model's encoding, if it has one; errors name the section.
    pub fn from_model(model: &Model<'a>) -> Result<Option<Self>, Error> {
        let Some(section) = model.def().section(section_kind::ENCODING) else {
            return Ok(None);
        };
        let place = model.def().section_place(section_kind::ENCODING);
        let bad = |field| Error::SectionInvalid { place, field };
        let (def, rest) =
            postcard::take_from_bytes::<EncodingDef<'a>>(section.data).map_err(|_| bad("body"))?;
        if !rest.is_empty() {
            return Err(bad("body"));
        }
        let channels: usize = def.columns.iter().map(ColumnDef::channels).sum();
        let shape = model.input_shape();
        if shape.length != 1 || channels != shape.channels as usize {
            return Err(bad("columns"));
        }
        Ok(Some(Encoding { def }))
    }

    /// The definition.
    pub fn def(&self) -> &EncodingDef<'a> {
        &self.def
    }

    /// Raw values per input: one per column.
    pub fn raw_len(&self) -> usize {
        self.def.columns.len()
    }

    /// The index of level `name` of column `column`, `None` when the
    /// training never saw it (it is then encoded as "other").
    pub fn level(&self, column: usize, name: &str) -> Option<usize> {
        self.def
            .columns
            .get(column)?
            .levels()
            .position(|l| l == name)
    }

    /// Writes the model input for one row of raw values: numeric columns
    /// as they are, categorical ones one-hot (an index out of the training
    /// levels as "other", NaN as the missing level when the training had
    /// one, else as "other").
    pub fn encode(&self, raw: &[f32], out: &mut [f32]) -> Result<(), Error> {
        if raw.len() != self.raw_len() {
            return Err(Error::RunInputLength {
                expected: self.raw_len(),
                found: raw.len(),
            });
        }
        let needed: usize = self.def.columns.iter().map(ColumnDef::channels).sum();
        Buffer::Input.check(needed, out.len())?;
        let mut at = 0;
        for (column, &v) in self.def.columns.iter().zip(raw) {
            let k = column.levels_count();
            if k == 0 {
                out[at] = v;
                at += 1;
                continue;
            }
            let slots = &mut out[at..at + k + 1];
            slots.fill(0.0);
            let index = if v.is_nan() {
                column.levels().position(str::is_empty).unwrap_or(k)
            } else if v >= 0.0 && v < k as f32 && v == (v as usize) as f32 {
                v as usize
            } else {
                k
            };
            slots[index] = 1.0;
            at += k + 1;
        }
        Ok(())
    }
}
