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
