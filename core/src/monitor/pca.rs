//! Multivariate drift: the residual of the standardized input after
//! projection on the training principal components. Two features that
//! stop moving together keep their own distributions, so no per-feature
//! test sees it, but the residual grows. An upward CUSUM on the
//! standardized log residual raises the alarm; an exponentially weighted
//! excess of each feature's squared residual over its training level names
//! the features that broke away.
//!
//! State: one `f32` per feature (residual excess) and one scalar (CUSUM).

use super::{
    cusum, Detector, Feature, Monitor, Observation, MAX_FEATURES, MAX_NAMED, SCALAR_RECONSTRUCTION,
};
use crate::format::read_f32;
use crate::math::ln;

/// EWMA weight of the per-feature residuals used to name features.
pub const NAMING_EWMA: f32 = 1.0 / 32.0;

pub(super) fn reset(m: &Monitor<'_>, state: &mut [f32]) {
    let f = m.def.features as usize;
    state[m.layout.residual..m.layout.residual + f].fill(0.0);
}

pub(super) fn observe(
    m: &Monitor<'_>,
    state: &mut [f32],
    sample: &[Feature],
    obs: &mut Observation,
) {
    let def = &m.def;
    let (f, c) = (sample.len(), def.components as usize);
    if c == 0 || def.residual_log_sd <= 0.0 {
        return;
    }
    let mut x = [0.0f32; MAX_FEATURES];
    for (j, (xj, feature)) in x[..f].iter_mut().zip(sample).enumerate() {
        let Some(v) = feature.value() else {
            return;
        };
        *xj = (v - read_f32(def.mean, j)) / read_f32(def.std, j).max(1e-12);
    }
    let mut r = x;
    for i in 0..c {
        let row = &def.basis[4 * i * f..4 * (i + 1) * f];
        let p: f32 = (0..f).map(|j| read_f32(row, j) * x[j]).sum();
        for (j, rj) in r[..f].iter_mut().enumerate() {
            *rj -= p * read_f32(row, j);
        }
    }
    let total: f32 = r[..f].iter().map(|v| v * v).sum();
    // Naming reacts faster than the windowed detectors: the features
    // behind the last few samples' residual are the ones to name.
    let lambda = NAMING_EWMA;
    let shares = &mut state[m.layout.residual..m.layout.residual + f];
    for (j, s) in shares.iter_mut().enumerate() {
        // Excess over the training level, in standardized units: a feature
        // that broke away carries it, while features the projection merely
        // smears a large value onto carry little.
        let excess = r[j] * r[j] - read_f32(def.residual_share, j);
        *s = (1.0 - lambda) * *s + lambda * excess;
    }
    let u = (ln(total + 1e-3) - def.residual_log_mean) / def.residual_log_sd;
    let at = m.layout.scalars + SCALAR_RECONSTRUCTION;
    state[at] = cusum::step(state[at], u, def.params.aux_k);
    // Name the features whose residual grew most, largest first.
    let mut named: heapless::Vec<u16, MAX_NAMED> = heapless::Vec::new();
    let mut taken = [false; MAX_FEATURES];
    for _ in 0..2.min(f) {
        let mut best: Option<usize> = None;
        for j in 0..f {
            if !taken[j]
                && best.is_none_or(|b| state[m.layout.residual + j] > state[m.layout.residual + b])
            {
                best = Some(j);
            }
        }
        if let Some(b) = best {
            taken[b] = true;
            let _ = named.push(b as u16);
        }
    }
    if m.record(obs, Detector::Reconstruction, state[at], &named) {
        state[at] = 0.0;
        reset(m, state);
    }
}
