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
//! State: `bins` `f32` per feature, the current shares.

use super::{Detector, Feature, Monitor, Observation};
use crate::format::read_f32;
use crate::math::ln;

/// Jensen-Shannon divergence (natural log) between `p` (state) and the
/// reference shares `q` (`f32` little-endian).
pub(super) fn jensen_shannon(p: &[f32], q: &[u8]) -> f32 {
    let mut js = 0.0f32;
    for (i, &pi) in p.iter().enumerate() {
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
    for f in 0..m.def.features as usize {
        reset_feature(m, state, f, b);
    }
}

fn reset_feature(m: &Monitor<'_>, state: &mut [f32], f: usize, b: usize) {
    let at = m.layout.histogram + f * b;
    for (i, s) in state[at..at + b].iter_mut().enumerate() {
        *s = read_f32(m.def.proportions, f * b + i);
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
    for (f, feature) in sample.iter().enumerate() {
        if feature.value().is_none() {
            continue;
        }
        let bin = feature.bin as usize;
        let at = m.layout.histogram + f * b;
        let shares = &mut state[at..at + b];
        for s in shares.iter_mut() {
            *s *= 1.0 - lambda;
        }
        shares[bin] += lambda;
        if check {
            let reference = &def.proportions[4 * f * b..4 * (f + 1) * b];
            let js = jensen_shannon(shares, reference);
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
