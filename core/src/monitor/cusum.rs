//! Two-sided CUSUMs per feature on normal scores: one pair for the mean
//! (a shifted or drifting sensor), one pair on `z² − 1` for the variance
//! (a noisy sensor upwards, a stuck one downwards).
//!
//! State: four `f32` per feature, `[mean up, mean down, variance up,
//! variance down]`. A statistic that reaches its drift threshold is reset,
//! so a lasting change raises an alarm again after another delay.

use super::{Detector, Feature, Monitor, Observation};

/// Largest squared score a sample adds to the variance CUSUM.
pub const VARIANCE_CAP: f32 = 9.0;

/// One step of a one-sided CUSUM.
#[inline]
pub(super) fn step(s: f32, x: f32, k: f32) -> f32 {
    let v = s + x - k;
    if v > 0.0 {
        v
    } else {
        0.0
    }
}

/// Steps the one-sided CUSUM of the auxiliary detector `d` at `state[at]`
/// by `x` (allowance `aux_k`), records it, and resets it at drift.
pub(super) fn watch(
    m: &Monitor<'_>,
    state: &mut [f32],
    at: usize,
    x: f32,
    d: Detector,
    obs: &mut Observation,
) {
    state[at] = step(state[at], x, m.def.params.aux_k);
    if m.record(obs, d, state[at], &[]) {
        state[at] = 0.0;
    }
}

pub(super) fn observe(
    m: &Monitor<'_>,
    state: &mut [f32],
    sample: &[Feature],
    obs: &mut Observation,
) {
    let def = &m.def;
    let (k, kv) = (def.params.mean_k, def.params.variance_k);
    for (f, feature) in sample.iter().enumerate() {
        if feature.value().is_none() {
            continue;
        }
        let Some(z) = m.score(f, feature.bin as usize) else {
            continue;
        };
        let s = &mut state[m.layout.cusum + 4 * f..m.layout.cusum + 4 * f + 4];
        s[0] = step(s[0], z, k);
        s[1] = step(s[1], -z, k);
        // A 3σ sample already says "spread"; capping keeps a few extreme
        // samples of a lumpy feature from carrying the variance CUSUM alone.
        let u = (z * z).min(VARIANCE_CAP) - 1.0;
        s[2] = step(s[2], u, kv);
        s[3] = step(s[3], -u, kv);
        let name = [f as u16];
        if m.record(obs, Detector::Mean, s[0].max(s[1]), &name) {
            s[0] = 0.0;
            s[1] = 0.0;
        }
        if m.record(obs, Detector::Variance, s[2].max(s[3]), &name) {
            s[2] = 0.0;
            s[3] = 0.0;
        }
    }
}

/// The CUSUMs' centre and scale for one feature: the mean and standard
/// deviation of its training rows' normal scores ([`super::distribution::fit`]).
#[cfg(feature = "std")]
pub fn fit(row_scores: &[f64]) -> (f32, f32) {
    let (m, s) = crate::math::mean_sd(row_scores);
    (m as f32, s as f32)
}
