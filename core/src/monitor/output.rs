//! Output drift: the exponentially weighted mix of predicted classes
//! against the training prior (Jensen-Shannon, as for the features), and a
//! downward CUSUM on the standardized top-class probability (a model that
//! grows unsure).
//!
//! State: `classes` `f32` (current mix) and one scalar (the CUSUM).

use super::distribution::jensen_shannon;
use super::{bin_of, cusum, Detector, Monitor, Observation, MAX_SCORE, SCALAR_CONFIDENCE};
use crate::format::read_f32;
use crate::math::quantize_affine;

/// The probability in the int8 domain of the confidence bins: `p · 255 − 128`.
pub const CONFIDENCE_SCALE: f32 = 255.0;
/// See [`CONFIDENCE_SCALE`].
pub const CONFIDENCE_OFFSET: f32 = -128.0;
/// Quantile bins of the confidence.
pub const CONFIDENCE_BINS: usize = 16;

pub(super) fn reset(m: &Monitor<'_>, state: &mut [f32]) {
    let k = m.def.classes as usize;
    for (c, s) in state[m.layout.classes..m.layout.classes + k]
        .iter_mut()
        .enumerate()
    {
        *s = read_f32(m.def.prior, c);
    }
}

pub(super) fn observe(
    m: &Monitor<'_>,
    state: &mut [f32],
    class: usize,
    confidence: f32,
    check: bool,
    obs: &mut Observation,
) {
    let def = &m.def;
    let k = def.classes as usize;
    if k == 0 || class >= k {
        return;
    }
    let lambda = def.params.ewma;
    let mix = &mut state[m.layout.classes..m.layout.classes + k];
    for s in mix.iter_mut() {
        *s *= 1.0 - lambda;
    }
    mix[class] += lambda;
    if check {
        let js = jensen_shannon(mix, 1.0, def.prior);
        if m.record(obs, Detector::ClassMix, js, &[]) {
            reset(m, state);
        }
    }
    let bins = def.confidence_scores.len() / 4;
    if confidence.is_finite() && bins >= 2 {
        let q = quantize_affine(confidence, CONFIDENCE_SCALE, CONFIDENCE_OFFSET);
        let z = read_f32(def.confidence_scores, bin_of(q, def.confidence_edges));
        let at = m.layout.scalars + SCALAR_CONFIDENCE;
        cusum::watch(
            m,
            state,
            at,
            -z.clamp(-MAX_SCORE, MAX_SCORE),
            Detector::Confidence,
            obs,
        );
    }
}

/// The class mix and confidence deciles of the decisions a session took on
/// the training rows (`classes` outputs), fitted on a host.
#[cfg(feature = "std")]
pub fn fit_mix(
    decisions: impl Iterator<Item = (usize, f32)>,
    classes: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut prior = vec![0.0f32; classes];
    let mut conf = Vec::new();
    for (c, p) in decisions {
        if let Some(slot) = prior.get_mut(c) {
            *slot += 1.0;
        }
        conf.push(p as f64);
    }
    let total = conf.len().max(1) as f32;
    prior.iter_mut().for_each(|p| *p /= total);
    conf.sort_by(f64::total_cmp);
    let deciles = (1..=10)
        .map(|i| {
            conf.get((i * conf.len() / 10).min(conf.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0) as f32
        })
        .collect();
    (prior, deciles)
}

/// The confidence reference, from the decided class's probability on
/// held-out rows (the model is more confident on the rows it learned
/// from): its mean and standard deviation (for reports), and its quantile
/// bins' edges and standardized normal scores, what the CUSUM adds up.
#[cfg(feature = "std")]
pub fn fit_confidence(confidences: &[f32]) -> Confidence {
    let raw: Vec<f64> = confidences.iter().map(|&p| p as f64).collect();
    let (m, s) = crate::math::mean_sd(&raw);
    let bins = super::distribution::fit(
        confidences,
        CONFIDENCE_SCALE,
        CONFIDENCE_OFFSET,
        CONFIDENCE_BINS,
    );
    let (zm, zs) = crate::math::mean_sd(&bins.row_scores);
    let zs = if zs > 1e-6 { zs } else { 1.0 };
    Confidence {
        mean: m as f32,
        sd: s.max(1e-3) as f32,
        edges: bins.edges,
        scores: bins
            .scores
            .iter()
            .map(|&z| ((z as f64 - zm) / zs) as f32)
            .collect(),
    }
}

/// The confidence reference ([`fit_confidence`]).
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq)]
pub struct Confidence {
    /// Mean probability.
    pub mean: f32,
    /// Its standard deviation.
    pub sd: f32,
    /// `CONFIDENCE_BINS − 1` edges.
    pub edges: Vec<u8>,
    /// Standardized normal score of each bin.
    pub scores: Vec<f32>,
}
