//! Output drift: the exponentially weighted mix of predicted classes
//! against the training prior (Jensen-Shannon, as for the features), and a
//! downward CUSUM on the standardized top-class probability (a model that
//! grows unsure).
//!
//! State: `classes` `f32` (current mix) and one scalar (the CUSUM).

use super::distribution::jensen_shannon;
use super::{cusum, Detector, Monitor, Observation, SCALAR_CONFIDENCE};
use crate::format::read_f32;

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
        let js = jensen_shannon(mix, def.prior);
        if m.record(obs, Detector::ClassMix, js, &[]) {
            reset(m, state);
        }
    }
    if confidence.is_finite() && def.confidence_sd > 0.0 {
        let z = (confidence - def.confidence_mean) / def.confidence_sd;
        let at = m.layout.scalars + SCALAR_CONFIDENCE;
        cusum::watch(m, state, at, -z, Detector::Confidence, obs);
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

/// The confidence CUSUM's centre and scale: the mean and standard
/// deviation of the decided class's probability on held-out rows (the
/// model is more confident on the rows it learned from).
#[cfg(feature = "std")]
pub fn fit_confidence(confidences: &[f64]) -> (f32, f32) {
    let (m, s) = crate::math::mean_sd(confidences);
    (m as f32, s.max(1e-3) as f32)
}
