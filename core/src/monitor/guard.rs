//! Input guard, per sample: non-finite values (NaN, infinity) and values far
//! outside the training range. Stateless.

use super::{Detector, Feature, Monitor, Observation, MAX_NAMED};
use crate::format::read_f32;

pub(super) fn observe(m: &Monitor<'_>, input: &[f32], sample: &[Feature], obs: &mut Observation) {
    let mut non_finite: heapless::Vec<u16, MAX_NAMED> = heapless::Vec::new();
    for (i, x) in input.iter().enumerate() {
        let f = (i / m.length) as u16;
        if !x.is_finite() && !non_finite.contains(&f) {
            let _ = non_finite.push(f);
        }
    }
    if !non_finite.is_empty() {
        m.record(obs, Detector::GuardNonFinite, 1.0, &non_finite);
    }
    let def = &m.def;
    let (mut worst, mut worst_f) = (0.0f32, 0u16);
    for (f, feature) in sample.iter().enumerate() {
        let Some(v) = feature.value() else {
            continue;
        };
        let (lo, hi) = (read_f32(def.min, f), read_f32(def.max, f));
        // A near-constant feature is judged against a few of its standard
        // deviations (1 when it never varied), not a zero span.
        let span = (hi - lo).max(6.0 * read_f32(def.std, f)).max(1e-6);
        let outside = (lo - v).max(v - hi) / span;
        if outside > worst {
            worst = outside;
            worst_f = f as u16;
        }
    }
    if worst > 0.0 {
        m.record(obs, Detector::GuardRange, worst, &[worst_f]);
    }
}
