//! Decisions people can live with: calibrated probabilities (temperature
//! scaling), abstention below a confidence threshold, and the decision that
//! minimizes expected cost under a cost matrix. Stored in the model as
//! section [`crate::format::section_kind::CALIBRATION`] (postcard), fitted
//! by the trainer on validation data, applied by [`crate::Output::decide`]
//! on the device.

use serde::{Deserialize, Serialize};

use crate::error::Place;
use crate::format::read_f32;
use crate::Error;

/// The calibration section, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationDef<'a> {
    /// Softmax temperature: probabilities are `softmax(score / T)`; 1
    /// changes nothing. Finite and positive.
    pub temperature: f32,
    /// The model abstains when the chosen class's probability is below
    /// this (0: never). In `[0, 1]`.
    pub abstain_below: f32,
    /// `classes × classes` f32 little-endian, row = true class, column =
    /// decision: the cost of deciding the column when the row is true.
    /// Empty: decide the most probable class.
    #[serde(borrow)]
    pub costs: &'a [u8],
}

impl Default for CalibrationDef<'_> {
    fn default() -> Self {
        CalibrationDef {
            temperature: 1.0,
            abstain_below: 0.0,
            costs: &[],
        }
    }
}

impl<'a> CalibrationDef<'a> {
    /// Decodes and checks a section for a model with `classes` outputs;
    /// errors name `place` and the field at fault.
    pub fn parse(data: &'a [u8], classes: usize, place: Place) -> Result<Self, Error> {
        let bad = |field| Error::SectionInvalid { place, field };
        let (c, rest): (CalibrationDef<'a>, _) =
            postcard::take_from_bytes(data).map_err(|_| bad("body"))?;
        if !rest.is_empty() {
            return Err(bad("body"));
        }
        if !(c.temperature.is_finite() && c.temperature > 0.0) {
            return Err(bad("temperature"));
        }
        if !(0.0..=1.0).contains(&c.abstain_below) {
            return Err(bad("abstain_below"));
        }
        if !c.costs.is_empty() {
            if c.costs.len() != 4 * classes * classes {
                return Err(bad("costs"));
            }
            let n = classes * classes;
            if (0..n).any(|i| {
                let v = read_f32(c.costs, i);
                !(v.is_finite() && v >= 0.0)
            }) {
                return Err(bad("costs"));
            }
        }
        Ok(c)
    }

    /// Cost of deciding `decided` when `truth` is true (0 without a matrix
    /// for a right decision, 1 for a wrong one).
    pub fn cost(&self, truth: usize, decided: usize, classes: usize) -> f32 {
        if self.costs.is_empty() {
            return if truth == decided { 0.0 } else { 1.0 };
        }
        read_f32(self.costs, truth * classes + decided)
    }

    /// The section's bytes (postcard).
    #[cfg(feature = "alloc")]
    pub fn to_vec(&self) -> alloc::vec::Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }
}

/// What a classifier decided for one input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision<'a> {
    /// The decided class: the most probable one, or with a cost matrix the
    /// one of least expected cost.
    pub index: usize,
    /// Its calibrated probability.
    pub probability: f32,
    /// Its name.
    pub name: &'a str,
    /// Whether the model abstains (probability below the threshold): the
    /// caller should not act on `index`.
    pub abstained: bool,
    /// Expected cost of the decision under the calibrated probabilities
    /// (with the 0/1 cost when the model has no cost matrix).
    pub expected_cost: f32,
    /// More than half of the numeric inputs were missing and imputed
    /// with training values: the decision rests on averages, not on this
    /// input, so the session abstains ([`crate::Session::decide`]).
    pub mostly_imputed: bool,
}
