//! Supervised drift, when the application feeds labels back: an upward
//! CUSUM on the standardized error indicator against the validation error
//! rate.
//!
//! State: one scalar.

use super::{cusum, Detector, Monitor, Observation, SCALAR_ERRORS};

pub(super) fn observe(m: &Monitor<'_>, state: &mut [f32], correct: bool, obs: &mut Observation) {
    let def = &m.def;
    let p0 = def.error_rate.clamp(0.01, 0.99);
    let e = if correct { 0.0 } else { 1.0 };
    let u = (e - p0) / crate::math::sqrt(p0 * (1.0 - p0));
    let at = m.layout.scalars + SCALAR_ERRORS;
    cusum::watch(m, state, at, u, Detector::ErrorRate, obs);
}

/// The reference error rate: the share of held-out decisions that were
/// wrong.
#[cfg(feature = "std")]
pub fn fit(correct: &[bool]) -> f32 {
    correct.iter().filter(|c| !**c).count() as f32 / correct.len().max(1) as f32
}
