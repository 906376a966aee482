//! Drift scenarios on real data: streams resampled from held-out rows,
//! altered from a known row on, replayed through `vigie-core` (model and
//! monitor, the code the device runs). Used by `vigie drift-bench` and by
//! the integration tests.

use anyhow::Result;
use serde::Serialize;
use vigie_core::monitor::{Detector, Level, Monitor};
use vigie_core::Model;

use crate::device::Memory;

use crate::data::resample::Resample;
use crate::data::{Dataset, Target};
use crate::rng::Rng;

/// Rows of stable data before the change.
pub const CHANGE_AT: usize = 500;
/// Rows replayed after the change before a run counts as a missed detection.
pub const HORIZON: usize = 4000;
/// Rows of the gradual drift's ramp.
pub const RAMP_ROWS: usize = 2000;
/// Rows of the NaN burst.
pub const NAN_BURST: usize = 20;

/// An alteration of the stream from [`CHANGE_AT`] on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Scenario {
    /// No change.
    Stable,
    /// One feature offset by `sigmas` training standard deviations of its
    /// readings (a window channel: of its samples).
    Offset { feature: usize, sigmas: f32 },
    /// One feature multiplied by `gain`.
    Gain { feature: usize, gain: f32 },
    /// One feature offset by a ramp from 0 to `sigmas` over [`RAMP_ROWS`].
    Gradual { feature: usize, sigmas: f32 },
    /// One feature stuck at its training mean.
    Stuck { feature: usize },
    /// Noise added to one feature so that its standard deviation doubles.
    Noise { feature: usize },
    /// Feature `b` taken from another random row: both marginals kept,
    /// their correlation broken.
    Decorrelate { a: usize, b: usize },
    /// Rows drawn only from the first half of the classes.
    ClassMix,
    /// NaN in one feature for [`NAN_BURST`] rows.
    NanBurst { feature: usize },
}

impl Scenario {
    /// A short name.
    pub fn name(&self) -> String {
        match self {
            Scenario::Stable => "stable".into(),
            Scenario::Offset { sigmas, .. } => format!("offset {sigmas}σ"),
            Scenario::Gain { gain, .. } => format!("gain ×{gain}"),
            Scenario::Gradual { sigmas, .. } => format!("gradual {sigmas}σ over {RAMP_ROWS} rows"),
            Scenario::Stuck { .. } => "stuck at mean".into(),
            Scenario::Noise { .. } => "noise doubled".into(),
            Scenario::Decorrelate { .. } => "decorrelated pair".into(),
            Scenario::ClassMix => "class mix".into(),
            Scenario::NanBurst { .. } => "NaN burst".into(),
        }
    }

    /// The feature(s) a correct alarm names.
    pub fn features(&self) -> Vec<usize> {
        match *self {
            Scenario::Offset { feature, .. }
            | Scenario::Gain { feature, .. }
            | Scenario::Gradual { feature, .. }
            | Scenario::Stuck { feature }
            | Scenario::Noise { feature }
            | Scenario::NanBurst { feature } => vec![feature],
            Scenario::Decorrelate { a, b } => vec![a, b],
            Scenario::Stable | Scenario::ClassMix => vec![],
        }
    }

    /// Detectors whose alarm is the right answer.
    pub fn expected(&self) -> &'static [Detector] {
        match self {
            Scenario::Stable => &[],
            Scenario::Offset { .. } | Scenario::Gradual { .. } => {
                &[Detector::Mean, Detector::Distribution]
            }
            Scenario::Gain { .. } => &[
                Detector::Mean,
                Detector::Variance,
                Detector::Distribution,
                Detector::GuardRange,
                Detector::Reconstruction,
            ],
            Scenario::Stuck { .. } => &[Detector::Variance, Detector::Distribution],
            Scenario::Noise { .. } => &[
                Detector::Variance,
                Detector::Distribution,
                Detector::Reconstruction,
            ],
            Scenario::Decorrelate { .. } => &[Detector::Reconstruction],
            // A new class mix also moves the features: an alarm on them is right too.
            Scenario::ClassMix => &[
                Detector::ClassMix,
                Detector::Confidence,
                Detector::Mean,
                Detector::Distribution,
            ],
            // A model that imputes counts holes in its missing rate.
            Scenario::NanBurst { .. } => &[Detector::GuardNonFinite, Detector::Missing],
        }
    }
}

/// Held-out rows and what the scenarios need to know about the data.
pub struct Source<'a> {
    /// The data set.
    pub data: &'a Dataset,
    /// Held-out rows to resample (not used for training or calibration).
    pub rows: Vec<usize>,
    /// How a stable stream draws them.
    pub resample: Resample,
    /// Training mean and standard deviation of each monitored feature (raw).
    pub mean: Vec<f32>,
    /// Training standard deviation.
    pub std: Vec<f32>,
}

impl<'a> Source<'a> {
    /// The held-out rows of a trained model's data (its test split, or its
    /// test file), with each feature's training statistics; and the most
    /// correlated pair among the `eligible` features.
    pub fn held_out(
        p: &'a crate::training::prepared::Prepared,
        eligible: &[bool],
    ) -> (Source<'a>, (usize, usize)) {
        let (mean, std, pair) = feature_stats(&p.data, &p.splits.train, eligible);
        let (data, rows) = p.test_rows();
        let resample = Resample::new(data, &rows, &p.data, &p.splits.train);
        (
            Source {
                data,
                rows,
                resample,
                mean,
                std,
            },
            pair,
        )
    }
}

/// What one run saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Drift alarms before the change.
    pub false_alarms: usize,
    /// Rows from the change to the first drift alarm (`None`: missed).
    pub delay: Option<usize>,
    /// The first alarm's detector.
    pub detector: Option<&'static str>,
    /// Whether the detector is one of the expected ones.
    pub right_detector: bool,
    /// Features it named.
    pub features: Vec<usize>,
    /// Whether it named the altered feature (or one of the pair) first.
    pub right_feature: bool,
}

/// Adds one to `name`'s count.
fn count(by: &mut Vec<(String, usize)>, name: &str) {
    match by.iter_mut().find(|(n, _)| n == name) {
        Some(e) => e.1 += 1,
        None => by.push((name.to_owned(), 1)),
    }
}

/// A row of the stream, altered as the scenario says.
fn row(src: &Source<'_>, s: &Scenario, t: usize, rng: &mut Rng, first_half: &[usize]) -> Vec<f32> {
    let d = src.data;
    let changed = t >= CHANGE_AT;
    let pick = if changed && *s == Scenario::ClassMix && !first_half.is_empty() {
        first_half[rng.below(first_half.len())]
    } else {
        src.rows[src.resample.pick(rng)]
    };
    let mut x = d.row(pick).to_vec();
    if !changed {
        return x;
    }
    let len = d.length;
    let channel = |x: &mut Vec<f32>, f: usize, op: &mut dyn FnMut(f32) -> f32| {
        for v in &mut x[f * len..(f + 1) * len] {
            *v = op(*v);
        }
    };
    match *s {
        Scenario::Offset { feature, sigmas } => {
            let o = sigmas * src.std[feature];
            channel(&mut x, feature, &mut |v| v + o);
        }
        Scenario::Gain { feature, gain } => channel(&mut x, feature, &mut |v| v * gain),
        Scenario::Gradual { feature, sigmas } => {
            let o =
                sigmas * src.std[feature] * ((t - CHANGE_AT) as f32 / RAMP_ROWS as f32).min(1.0);
            channel(&mut x, feature, &mut |v| v + o);
        }
        Scenario::Stuck { feature } => {
            let m = src.mean[feature];
            channel(&mut x, feature, &mut |_| m);
        }
        Scenario::Noise { feature } => {
            // Var(x + e) = 4·Var(x) for e ~ N(0, 3·Var(x)).
            let sd = 3f64.sqrt() * src.std[feature] as f64;
            let mut noise = Rng(rng.next_u64());
            channel(&mut x, feature, &mut |v| v + (noise.normal() * sd) as f32);
        }
        Scenario::Decorrelate { b, .. } => {
            let other = d.row(src.rows[rng.below(src.rows.len())]);
            x[b * len..(b + 1) * len].copy_from_slice(&other[b * len..(b + 1) * len]);
        }
        Scenario::NanBurst { feature } if t < CHANGE_AT + NAN_BURST => {
            channel(&mut x, feature, &mut |_| f32::NAN)
        }
        _ => {}
    }
    x
}

/// A trained model and its monitor, replayed on streams drawn from held-out
/// rows through the session, as the device runs them.
pub struct Bench<'a> {
    /// The model.
    pub model: &'a Model<'a>,
    /// Its monitor.
    pub monitor: &'a Monitor<'a>,
    /// Where the rows come from.
    pub src: &'a Source<'a>,
}

impl Bench<'_> {
    /// Runs one stream of `CHANGE_AT + HORIZON` rows (or `rows` for a stable
    /// stream) and reports the first drift alarm after the change.
    pub fn run(&self, s: &Scenario, seed: u64, rows: usize) -> Result<Outcome> {
        let (model, src) = (self.model, self.src);
        let mut memory = Memory::new(model, Some(self.monitor));
        let mut session = memory.session(model, Some(self.monitor))?;
        let mut out = Outcome {
            false_alarms: 0,
            delay: None,
            detector: None,
            right_detector: false,
            features: vec![],
            right_feature: false,
        };
        for (t, x) in self.stream(s, seed, rows).enumerate() {
            let step = session.step(&x)?;
            let Some(obs) = step.observation.filter(|o| o.level == Level::Drift) else {
                continue;
            };
            if t < CHANGE_AT || *s == Scenario::Stable {
                out.false_alarms += 1;
                continue;
            }
            let d = obs.detector.expect("a drift level names its detector");
            out.delay = Some(t - CHANGE_AT);
            out.detector = Some(d.name());
            out.right_detector = s.expected().contains(&d);
            // A window's spread feature names its channel.
            let channels = src.data.channels.len();
            out.features = obs
                .features
                .iter()
                .map(|&f| vigie_core::monitor::feature_channel(channels, f as usize).0)
                .collect();
            let want = s.features();
            out.right_feature =
                want.is_empty() || out.features.first().is_some_and(|f| want.contains(f));
            break;
        }
        Ok(out)
    }
}

impl Bench<'_> {
    /// The rows of a scenario's stream (seeded): what [`Bench::run`]
    /// replays, and what `drift-bench --dump` writes for the peers.
    pub fn stream<'s>(
        &'s self,
        s: &'s Scenario,
        seed: u64,
        rows: usize,
    ) -> impl Iterator<Item = Vec<f32>> + 's {
        let src = self.src;
        let mut rng = Rng(seed);
        let k = self.model.output_len();
        let first_half: Vec<usize> = match &src.data.target {
            Target::Classes { y, .. } => src
                .rows
                .iter()
                .copied()
                .filter(|&r| y[r] < k.div_ceil(2))
                .collect(),
            Target::Values { .. } => vec![],
        };
        (0..rows).map(move |t| row(src, s, t, &mut rng, &first_half))
    }
}

/// Drift alarms per 10,000 rows of a stable stream of `replayed` rows
/// resampled (seeded, as `resample` draws) from `rows` of `d` through a session with the model
/// and its monitor, and their count by detector. Each distinct row's
/// decision is computed once: inference is deterministic, so the monitor
/// sees what `Session::step` would show it.
pub fn stable_alarms(
    model: &Model<'_>,
    monitor: &Monitor<'_>,
    d: &Dataset,
    (rows, resample): (&[usize], &Resample),
    replayed: usize,
    seed: u64,
) -> Result<(f64, Vec<(String, usize)>)> {
    anyhow::ensure!(!rows.is_empty(), "no held-out rows to replay");
    let decided = crate::device::decisions(model, rows.iter().map(|&r| d.row(r)))?;
    let mut rng = Rng(seed);
    let mut memory = Memory::new(model, Some(monitor));
    let mut session = memory.session(model, Some(monitor))?;
    let mut by: Vec<(String, usize)> = Vec::new();
    let mut alarms = 0;
    for _ in 0..replayed {
        let i = resample.pick(&mut rng);
        let verdict = session.watch(d.row(rows[i]), &decided[i])?;
        if let Some(obs) = verdict.observation.filter(|o| o.level == Level::Drift) {
            alarms += 1;
            count(&mut by, obs.detector.map_or("?", |d| d.name()));
        }
    }
    Ok((alarms as f64 * 10_000.0 / replayed.max(1) as f64, by))
}

/// Summary of many runs of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Runs.
    pub runs: usize,
    /// Median delay in rows (over detected runs).
    pub median_delay: Option<f64>,
    /// 90th percentile delay.
    pub p90_delay: Option<f64>,
    /// Runs without a drift alarm within the horizon.
    pub missed: usize,
    /// Runs whose first alarm came from an expected detector.
    pub right_detector: usize,
    /// Runs whose first alarm named the altered feature first.
    pub right_feature: usize,
    /// Runs whose first alarm named no feature (an output detector, or a
    /// reconstruction alarm that cannot say which input moved).
    pub unnamed: usize,
    /// Drift alarms before the change, per 10,000 stable rows.
    pub false_alarms_per_10k: f64,
    /// Detectors of the first alarms, with counts.
    pub detectors: Vec<(String, usize)>,
}

fn percentile(sorted: &[usize], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = (p * (sorted.len() - 1) as f64).round() as usize;
    Some(sorted[i] as f64)
}

impl Bench<'_> {
    /// Runs a scenario `runs` times with seeds `seed..seed + runs`.
    pub fn scenario(&self, s: &Scenario, runs: usize, seed: u64) -> Result<Summary> {
        Ok(Summary::of(s, &self.outcomes(s, runs, seed)?))
    }

    /// Each of `runs` runs of a scenario, with seeds `seed..seed + runs`.
    pub fn outcomes(&self, s: &Scenario, runs: usize, seed: u64) -> Result<Vec<Outcome>> {
        (0..runs)
            .map(|i| self.run(s, seed.wrapping_add(i as u64), CHANGE_AT + HORIZON))
            .collect()
    }
}

impl Summary {
    /// The summary of a scenario's runs.
    pub fn of(s: &Scenario, outcomes: &[Outcome]) -> Summary {
        let runs = outcomes.len();
        let mut delays = Vec::new();
        let (mut right_d, mut right_f, mut fa, mut unnamed) = (0, 0, 0, 0);
        let mut detectors: Vec<(String, usize)> = Vec::new();
        for o in outcomes {
            fa += o.false_alarms;
            if let Some(d) = o.delay {
                delays.push(d);
                right_d += usize::from(o.right_detector);
                right_f += usize::from(o.right_feature);
                unnamed += usize::from(o.features.is_empty());
                count(&mut detectors, o.detector.unwrap_or("?"));
            }
        }
        delays.sort_unstable();
        Summary {
            scenario: s.name(),
            runs,
            median_delay: percentile(&delays, 0.5),
            p90_delay: percentile(&delays, 0.9),
            missed: runs - delays.len(),
            right_detector: right_d,
            right_feature: right_f,
            unnamed,
            false_alarms_per_10k: fa as f64 * 10_000.0 / (runs * CHANGE_AT).max(1) as f64,
            detectors,
        }
    }
}

impl Bench<'_> {
    /// Drift alarms per 10,000 rows of a long stable stream, and by detector.
    pub fn false_alarm_rate(&self, rows: usize, seed: u64) -> Result<(f64, Vec<(String, usize)>)> {
        stable_alarms(
            self.model,
            self.monitor,
            self.src.data,
            (&self.src.rows, &self.src.resample),
            rows,
            seed,
        )
    }
}

/// The standard scenarios for a data set: the feature with the largest
/// training variance in normal-score terms is altered, and the most
/// correlated pair is decorrelated (not with a single feature: a feature
/// cannot be decorrelated from itself); for windows, a ×2 gain on the
/// channel whose values swing most around zero.
pub fn standard_scenarios(
    feature: usize,
    pair: (usize, usize),
    classification: bool,
    zero_mean_window: Option<usize>,
) -> Vec<Scenario> {
    let mut v = vec![
        Scenario::Offset {
            feature,
            sigmas: 1.0,
        },
        Scenario::Offset {
            feature,
            sigmas: 0.5,
        },
        Scenario::Gain { feature, gain: 1.5 },
        Scenario::Gradual {
            feature,
            sigmas: 2.0,
        },
        Scenario::Stuck { feature },
        Scenario::Noise { feature },
    ];
    if pair.0 != pair.1 {
        v.push(Scenario::Decorrelate {
            a: pair.0,
            b: pair.1,
        });
    }
    if let Some(feature) = zero_mean_window {
        // A gain on an axis that swings around 0 leaves its mean alone.
        v.push(Scenario::Gain { feature, gain: 2.0 });
    }
    if classification {
        v.push(Scenario::ClassMix);
    }
    v.push(Scenario::NanBurst { feature });
    v
}

/// The monitored value of each feature (channel mean) of each row.
fn feature_rows(d: &Dataset, rows: &[usize]) -> Vec<Vec<f32>> {
    let len = d.length;
    rows.iter()
        .map(|&r| {
            let x = d.row(r);
            (0..d.channels.len())
                .map(|c| {
                    vigie_core::monitor::channel_mean(&x[c * len..(c + 1) * len])
                        .unwrap_or(f32::NAN)
                })
                .collect()
        })
        .collect()
}

/// Training mean and standard deviation of each channel's readings
/// (missing ones left out), and the most correlated pair of channel means
/// among the `eligible` features (continuous ones: a pair of nearly
/// constant features correlates by accident). The deviation is the
/// readings' own, as a sensor's offset is meant: for a tabular feature it
/// is the feature's; for a window channel it is the spread of its samples,
/// not of its window means (which is near 0 on per-window normalized
/// series).
fn feature_stats(
    d: &Dataset,
    train: &[usize],
    eligible: &[bool],
) -> (Vec<f32>, Vec<f32>, (usize, usize)) {
    let len = d.length;
    let f = d.channels.len();
    let (mut mean, mut sd) = (Vec::with_capacity(f), Vec::with_capacity(f));
    for c in 0..f {
        let vals: Vec<f64> = train
            .iter()
            .flat_map(|&r| d.row(r)[c * len..(c + 1) * len].iter())
            .filter(|v| v.is_finite())
            .map(|&v| v as f64)
            .collect();
        let (m, s) = vigie_core::math::mean_sd(&vals);
        mean.push(m);
        sd.push(s.max(1e-12));
    }
    let rows = feature_rows(d, train);
    let pair_stats: Vec<(f64, f64)> = (0..f)
        .map(|j| {
            let v: Vec<f64> = rows
                .iter()
                .map(|r| r[j] as f64)
                .filter(|v| v.is_finite())
                .collect();
            let (m, s) = vigie_core::math::mean_sd(&v);
            (m, s.max(1e-12))
        })
        .collect();
    let mut pair = (0, f.min(2) - 1);
    let mut best = -1.0;
    for a in (0..f).filter(|&a| eligible[a]) {
        for b in (a + 1..f).filter(|&b| eligible[b]) {
            let ((ma, sa), (mb, sb)) = (pair_stats[a], pair_stats[b]);
            let both: Vec<f64> = rows
                .iter()
                .map(|r| (r[a] as f64 - ma) * (r[b] as f64 - mb))
                .filter(|v| v.is_finite())
                .collect();
            let c = both.iter().sum::<f64>() / both.len().max(1) as f64 / (sa * sb);
            if c.abs() > best {
                best = c.abs();
                pair = (a, b);
            }
        }
    }
    (
        mean.iter().map(|&v| v as f32).collect(),
        sd.iter().map(|&v| v as f32).collect(),
        pair,
    )
}

/// For windows, the channel whose values swing most around zero: the
/// smallest |mean| of its values against their spread over the training
/// windows. `None` for tabular data.
pub fn zero_mean_channel(d: &Dataset, train: &[usize]) -> Option<usize> {
    let len = d.length;
    if len <= 1 {
        return None;
    }
    (0..d.channels.len())
        .map(|c| {
            let vals: Vec<f64> = train
                .iter()
                .flat_map(|&r| d.row(r)[c * len..(c + 1) * len].iter().map(|&v| v as f64))
                .collect();
            let (m, s) = vigie_core::math::mean_sd(&vals);
            (c, m.abs() / s.max(1e-12))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_feature_has_no_decorrelated_pair_scenario() {
        let decorrelates =
            |v: &[Scenario]| v.iter().any(|s| matches!(s, Scenario::Decorrelate { .. }));
        // A univariate window (OSULeaf): the pair is the feature twice.
        let one = standard_scenarios(0, (0, 0), true, Some(0));
        assert!(!decorrelates(&one), "{one:?}");
        assert!(one.iter().any(|s| matches!(s, Scenario::ClassMix)));
        let two = standard_scenarios(0, (0, 1), true, None);
        assert!(decorrelates(&two), "{two:?}");
        assert_eq!(two.len(), one.len(), "gain ×2 out, the pair in");
    }
}
