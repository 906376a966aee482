//! Two-sided CUSUMs per feature on normal scores: one pair for the mean
//! (a shifted or drifting sensor), one pair on `z² − 1` for the variance
//! (a noisy sensor upwards, a stuck one downwards).
//!
//! State: four `f32` per feature, `[mean up, mean down, variance up,
//! variance down]`. A statistic that reaches its drift threshold is reset,
//! so a lasting change raises an alarm again after another delay.

use super::{Detector, Feature, Monitor, Observation};

/// Role bit of a feature in the mean CUSUMs ([`super::MonitorDef::roles`]).
pub const ROLE_MEAN: u8 = 1;
/// Role bit of a feature in the variance CUSUMs.
pub const ROLE_VARIANCE: u8 = 2;

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

/// The standardized indicator of an event whose reference rate is `p0`,
/// `(x − p0) / √(p0 (1 − p0))`: what the error-rate and missing-rate
/// CUSUMs add up per sample.
pub fn indicator(event: bool, p0: f32) -> f32 {
    let x = if event { 1.0 } else { 0.0 };
    (x - p0) / crate::math::sqrt(p0 * (1.0 - p0))
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
        let roles = def.roles.get(f).copied().unwrap_or(0);
        if roles == 0 {
            continue;
        }
        let Some(z) = m.score(f, feature.bin as usize) else {
            continue;
        };
        let s = &mut state[m.layout.cusum + 4 * f..m.layout.cusum + 4 * f + 4];
        let name = [f as u16];
        if roles & ROLE_MEAN != 0 {
            s[0] = step(s[0], z, k);
            s[1] = step(s[1], -z, k);
            if m.record(obs, Detector::Mean, s[0].max(s[1]), &name) {
                s[0] = 0.0;
                s[1] = 0.0;
            }
        }
        if roles & ROLE_VARIANCE != 0 {
            // A 3σ sample already says "spread"; capping keeps a few extreme
            // samples of a lumpy feature from carrying the variance CUSUM alone.
            let u = (z * z).min(VARIANCE_CAP) - 1.0;
            s[2] = step(s[2], u, kv);
            s[3] = step(s[3], -u, kv);
            if m.record(obs, Detector::Variance, s[2].max(s[3]), &name) {
                s[2] = 0.0;
                s[3] = 0.0;
            }
        }
    }
}

/// The feature whose mean or variance CUSUM is furthest along towards its
/// drift threshold, when it has passed the warning fraction
/// ([`super::WARNING_FRACTION`]) and stands out
/// ([`super::pca::NAMING_DOMINANCE`] times the next feature's): what an
/// output detector's alarm (the model grew unsure, its class mix moved)
/// names, since those detectors cannot see the inputs. None otherwise.
pub(super) fn suspect(m: &Monitor<'_>, state: &[f32]) -> Option<u16> {
    let def = &m.def;
    let (tm, tv) = (def.drift[Detector::Mean], def.drift[Detector::Variance]);
    let (mut best, mut second, mut at) = (0.0f32, 0.0f32, 0usize);
    for f in 0..def.features as usize {
        let s = &state[m.layout.cusum + 4 * f..m.layout.cusum + 4 * f + 4];
        let r = (s[0].max(s[1]) / tm).max(s[2].max(s[3]) / tv);
        if !r.is_finite() {
            continue;
        }
        if r > best {
            (second, best, at) = (best, r, f);
        } else if r > second {
            second = r;
        }
    }
    (best >= super::WARNING_FRACTION && best >= super::pca::NAMING_DOMINANCE * second)
        .then_some(at as u16)
}

/// The CUSUMs' centre and scale for one feature: the mean and standard
/// deviation of its training rows' normal scores ([`super::distribution::fit`]).
#[cfg(feature = "std")]
pub fn fit(row_scores: &[f64]) -> (f32, f32) {
    let (m, s) = crate::math::mean_sd(row_scores);
    (m as f32, s as f32)
}

/// A feature whose most common reference bin holds at least this share of
/// the rows is sparse (a pixel that is 0 in most images, a flag): its
/// normal score is one value most of the time and a capped outlier
/// otherwise, so its CUSUMs add up lumps rather than evidence, and they
/// would set the threshold for every other feature. Its distribution
/// detector still watches it.
pub const SPARSE_SHARE: f32 = 0.5;

/// The CUSUM roles of a feature from its reference bin shares and normal
/// score spread: none for a constant or sparse feature, both otherwise.
#[cfg(feature = "std")]
pub fn roles(proportions: &[f32], score_sd: f32) -> u8 {
    let top = proportions.iter().copied().fold(0.0f32, f32::max);
    if score_sd <= 1e-6 || top >= SPARSE_SHARE {
        0
    } else {
        ROLE_MEAN | ROLE_VARIANCE
    }
}

/// The allowance of a CUSUM on a standardized statistic: half the
/// smallest shift worth an alarm (`min_shift`, in standard deviations),
/// plus the largest sampling error of `watched` reference means estimated
/// from `rows` rows (`√(2 ln 2F) / √n`, the expected largest of F normal
/// errors): a stream whose level differs from the reference only by the
/// reference's own error accumulates nothing.
#[cfg(feature = "std")]
pub fn allowance(min_shift: f32, rows: usize, watched: usize) -> f32 {
    let n = rows.max(1) as f64;
    let spread = (2.0 * (2.0 * watched.max(1) as f64).ln()).sqrt();
    (0.5 * min_shift as f64 + spread / n.sqrt()) as f32
}
