//! Windowed distribution drift per feature: exponentially weighted shares
//! of the reference quantile bins, compared with the training shares by the
//! Jensen-Shannon divergence.
//!
//! Why Jensen-Shannon rather than PSI or chi-square: quantized and
//! integer-valued features leave reference bins empty, where PSI and
//! chi-square divide by zero and need an arbitrary smoothing constant; JS is
//! defined for empty bins, symmetric, and bounded by ln 2, so one threshold
//! serves every feature.
//!
//! State: `bins` `f32` per feature, the current shares divided by one
//! scale shared by every feature (a scalar of the state): decaying every
//! share of every feature each sample is then one multiplication of the
//! scale, and a sample adds `λ / scale` to its bin (64 features × 32 bins
//! cost 9,000 instructions a sample on Cortex-M4 the direct way). The
//! stored values are brought back to the scale 1 before it gets small.

use super::{Detector, Feature, Monitor, Observation, SCALAR_HISTOGRAM_SCALE};
use crate::format::read_f32;
use crate::math::ln;

/// Below this, the histogram scale is folded back into the stored shares
/// (about every 4,400 samples with the default λ = 1/64), long before the
/// stored values (`λ / scale` a sample) could overflow.
const RESCALE_BELOW: f32 = 1e-30;

/// Jensen-Shannon divergence (natural log) between the shares `p · scale`
/// (state) and the reference shares `q` (`f32` little-endian).
pub(super) fn jensen_shannon(p: &[f32], scale: f32, q: &[u8]) -> f32 {
    let mut js = 0.0f32;
    for (i, &stored) in p.iter().enumerate() {
        let pi = stored * scale;
        let qi = read_f32(q, i);
        let mi = 0.5 * (pi + qi);
        if pi > 0.0 {
            js += 0.5 * pi * ln(pi / mi);
        }
        if qi > 0.0 {
            js += 0.5 * qi * ln(qi / mi);
        }
    }
    js.max(0.0)
}

pub(super) fn reset(m: &Monitor<'_>, state: &mut [f32]) {
    let b = m.def.bins as usize;
    state[m.layout.scalars + SCALAR_HISTOGRAM_SCALE] = 1.0;
    for f in 0..m.def.features as usize {
        reset_feature(m, state, f, b);
    }
}

/// Sets feature `f`'s shares to the reference's, under the current scale.
fn reset_feature(m: &Monitor<'_>, state: &mut [f32], f: usize, b: usize) {
    let scale = state[m.layout.scalars + SCALAR_HISTOGRAM_SCALE];
    let at = m.layout.histogram + f * b;
    for (i, s) in state[at..at + b].iter_mut().enumerate() {
        *s = read_f32(m.def.proportions, f * b + i) / scale;
    }
}

pub(super) fn observe(
    m: &Monitor<'_>,
    state: &mut [f32],
    sample: &[Feature],
    check: bool,
    obs: &mut Observation,
) {
    let def = &m.def;
    let b = def.bins as usize;
    let lambda = def.params.ewma;
    let f_all = def.features as usize;
    let at_scale = m.layout.scalars + SCALAR_HISTOGRAM_SCALE;
    let mut scale = state[at_scale] * (1.0 - lambda);
    if scale.is_nan() || scale < RESCALE_BELOW {
        // Fold the scale into the stored shares (also repairs a state
        // whose scale is not a positive number).
        let fold = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            0.0
        };
        let histograms = m.layout.histogram..m.layout.histogram + f_all * b;
        state[histograms].iter_mut().for_each(|s| *s *= fold);
        scale = 1.0;
        if fold == 0.0 {
            reset(m, state);
        }
    }
    state[at_scale] = scale;
    let add = lambda / scale;
    for (f, feature) in sample.iter().enumerate() {
        let at = m.layout.histogram + f * b;
        let shares = &mut state[at..at + b];
        if feature.value().is_none() {
            // A missing value leaves the feature's shares as they were:
            // undo the decay the scale gave them.
            shares.iter_mut().for_each(|s| *s /= 1.0 - lambda);
            continue;
        }
        let bin = feature.bin as usize;
        shares[bin] += add;
        if check {
            let reference = &def.proportions[4 * f * b..4 * (f + 1) * b];
            let js = jensen_shannon(shares, scale, reference);
            if m.record(obs, Detector::Distribution, js, &[f as u16]) {
                reset_feature(m, state, f, b);
            }
        }
    }
}

/// One feature's reference bins, fitted on a host from the training rows'
/// raw values (see [`fit`]).
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq)]
pub struct Bins {
    /// `bins − 1` int8 edges in the quantized input domain.
    pub edges: Vec<u8>,
    /// The share of rows in each bin.
    pub proportions: Vec<f32>,
    /// The normal score of each bin's middle quantile.
    pub scores: Vec<f32>,
    /// Each row's normal score (what the CUSUMs are fitted on).
    pub row_scores: Vec<f64>,
}

/// Quantile bins of one feature: its raw training values are quantized
/// with the model's input map (`scale`, `offset`), cut into `bins`
/// equal-count bins, and each bin is given the standard normal quantile of
/// its middle.
#[cfg(feature = "std")]
pub fn fit(values: &[f32], scale: f32, offset: f32, bins: usize) -> Bins {
    use crate::math::{normal_quantile, quantize_affine};
    let mut q: Vec<i8> = values
        .iter()
        .map(|&x| quantize_affine(x, scale, offset))
        .collect();
    q.sort_unstable();
    let n = q.len().max(1);
    let edges: Vec<u8> = (1..bins)
        .map(|b| q.get(b * n / bins).copied().unwrap_or(0) as u8)
        .collect();
    let mut counts = vec![0usize; bins];
    q.iter()
        .for_each(|&x| counts[super::bin_of(x, &edges)] += 1);
    let p: Vec<f64> = counts.iter().map(|&c| c as f64 / n as f64).collect();
    let mut cum = 0.0;
    let z: Vec<f64> = p
        .iter()
        .map(|&pb| {
            let mid = (cum + pb / 2.0).clamp(0.5 / n as f64, 1.0 - 0.5 / n as f64);
            cum += pb;
            normal_quantile(mid)
        })
        .collect();
    let row_scores = q.iter().map(|&x| z[super::bin_of(x, &edges)]).collect();
    Bins {
        edges,
        proportions: p.iter().map(|&x| x as f32).collect(),
        scores: z.iter().map(|&x| x as f32).collect(),
        row_scores,
    }
}
