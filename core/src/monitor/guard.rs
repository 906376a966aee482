//! Input guard, per sample: non-finite values (NaN, infinity) and values far
//! outside the training range. Stateless.

use super::{Detector, Feature, Monitor, Observation, MAX_NAMED};
use crate::format::read_f32;

pub(super) fn observe(m: &Monitor<'_>, input: &[f32], sample: &[Feature], obs: &mut Observation) {
    let mut non_finite: heapless::Vec<u16, MAX_NAMED> = heapless::Vec::new();
    for (i, x) in input.iter().enumerate() {
        let f = (i / m.length) as u16;
        if !x.is_finite() && !non_finite.contains(&f) {
            let _ = non_finite.push(f);
        }
    }
    if !non_finite.is_empty() {
        m.record(obs, Detector::GuardNonFinite, 1.0, &non_finite);
    }
    let def = &m.def;
    let (mut worst, mut worst_f) = (0.0f32, 0u16);
    for (f, feature) in sample.iter().enumerate() {
        let Some(v) = feature.value() else {
            continue;
        };
        let (lo, hi) = (read_f32(def.min, f), read_f32(def.max, f));
        // A near-constant feature is judged against its standard deviation
        // (1 when it never varied), not a zero span.
        let span = (hi - lo).max(read_f32(def.std, f)).max(1e-6);
        let outside = (lo - v).max(v - hi) / span;
        if outside > worst {
            worst = outside;
            worst_f = f as u16;
        }
    }
    if worst > 0.0 {
        m.record(obs, Detector::GuardRange, worst, &[worst_f]);
    }
}

/// Distance outside the training range, in ranges, that is a drift alarm
/// on its own (a unit or wiring error).
pub const GROSS_RANGE: f32 = 10.0;

/// One feature's training statistics in raw units: mean, standard
/// deviation (1 for a constant feature), minimum and maximum.
#[cfg(feature = "std")]
pub fn fit(values: &[f32]) -> (f32, f32, f32, f32) {
    let raw: Vec<f64> = values.iter().map(|&x| x as f64).collect();
    let (m, s) = crate::math::mean_sd(&raw);
    (
        m as f32,
        if s > 1e-12 { s as f32 } else { 1.0 },
        values.iter().copied().fold(f32::INFINITY, f32::min),
        values.iter().copied().fold(f32::NEG_INFINITY, f32::max),
    )
}

/// The guard's stated margin: a value more than this share of the training
/// range outside it (below the minimum or above the maximum) is a warning.
/// On a pixel trained on 0..16, 17 and −1 warn (1/16 of the range out).
pub const RANGE_MARGIN: f32 = 0.05;

/// The guard's (warning, drift) thresholds, in training ranges outside the
/// range: a warning past the stated margin ([`RANGE_MARGIN`]); drift only
/// for a gross excursion, [`GROSS_RANGE`] ranges out or twice the largest
/// excursion seen on held-out calibration rows (`worst`), whichever is
/// further, since held-out rows of sparse features step past the training
/// range now and then.
pub fn thresholds(worst: f32) -> (f32, f32) {
    (RANGE_MARGIN, (2.0 * worst).max(GROSS_RANGE))
}
