//! Input guard, per sample: non-finite values (NaN, infinity) and values far
//! outside the training range; and, for a model that imputes missing
//! values, an upward CUSUM on the standardized indicator "this row has a
//! hole" against the reference's rate, so that holes as frequent as in
//! training raise nothing and a sensor that starts dropping out does.
//!
//! State: one scalar (the missing-rate CUSUM).

use super::{cusum, Detector, Feature, Monitor, Observation, MAX_NAMED, SCALAR_MISSING};
use crate::format::read_f32;

pub(super) fn observe(
    m: &Monitor<'_>,
    state: &mut [f32],
    input: &[f32],
    sample: &[Feature],
    obs: &mut Observation,
) {
    let mut non_finite: heapless::Vec<u16, MAX_NAMED> = heapless::Vec::new();
    let mut holes: heapless::Vec<u16, MAX_NAMED> = heapless::Vec::new();
    for (i, x) in input.iter().enumerate() {
        let f = (i / m.features.length) as u16;
        // A NaN is a hole the model fills when it imputes; an infinity is
        // never one.
        let list = if x.is_nan() && m.imputes {
            &mut holes
        } else if !x.is_finite() {
            &mut non_finite
        } else {
            continue;
        };
        if !list.contains(&f) {
            let _ = list.push(f);
        }
    }
    if !non_finite.is_empty() {
        m.record(obs, Detector::GuardNonFinite, 1.0, &non_finite);
    }
    if m.imputes {
        let u = cusum::indicator(!holes.is_empty(), reference_rate(m.def.missing_rate));
        let at = m.layout.scalars + SCALAR_MISSING;
        state[at] = cusum::step(state[at], u, m.def.params.aux_k);
        if m.record(obs, Detector::Missing, state[at], &holes) {
            state[at] = 0.0;
        }
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

/// Smallest missing rate the CUSUM is centred on: a model that imputes
/// saw holes, even if too few to estimate their rate.
pub const MIN_MISSING_RATE: f32 = 1e-3;

/// The missing rate the CUSUM is centred on: the stored one, kept off 0
/// and 1.
pub fn reference_rate(missing_rate: f32) -> f32 {
    missing_rate.clamp(MIN_MISSING_RATE, 0.99)
}

/// The reference missing rate: the share of reference rows with a hole,
/// counted as half a row when there is none (a model imputes because its
/// training data had holes, however rare).
#[cfg(feature = "std")]
pub fn fit_missing(holes: &[bool]) -> f32 {
    let n = holes.len().max(1) as f32;
    let k = holes.iter().filter(|h| **h).count() as f32;
    (k.max(0.5) / n).min(1.0)
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
