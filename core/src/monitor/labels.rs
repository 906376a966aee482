//! Supervised drift, when the application feeds labels back: an upward
//! CUSUM on the standardized error indicator against the validation error
//! rate.
//!
//! State: one scalar.

use super::{cusum, Detector, Monitor, Observation, SCALAR_ERRORS};

pub(super) fn observe(m: &Monitor<'_>, state: &mut [f32], correct: bool, obs: &mut Observation) {
    let def = &m.def;
    let u = cusum::indicator(!correct, reference_rate(def.error_rate));
    let at = m.layout.scalars + SCALAR_ERRORS;
    cusum::watch(m, state, at, u, Detector::ErrorRate, obs);
}

/// The error rate the CUSUM is centred on: the stored one, kept off 0 and
/// 1 (a validation set without a mistake still allows some).
pub fn reference_rate(error_rate: f32) -> f32 {
    error_rate.clamp(0.01, 0.99)
}

/// The reference error rate: the share of held-out decisions that were
/// wrong.
#[cfg(feature = "std")]
pub fn fit(correct: &[bool]) -> f32 {
    correct.iter().filter(|c| !**c).count() as f32 / correct.len().max(1) as f32
}
