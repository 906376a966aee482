//! The monitor's reference statistics (from the training and validation
//! rows) and its thresholds (calibrated by cross-fitted replays of
//! resampled streams through `vigie-core`'s monitor), stored as the
//! model's monitor section.

use anyhow::{Context, Result};
use serde::Serialize;
use vigie_core::format::le;
use vigie_core::monitor::{
    cusum, distribution, feature_channel, guard, labels, monitored_features, output, pca, spread,
    Detector, FeatureMap, Monitor, MonitorDef, MonitorParams, Thresholds,
};
use vigie_core::session::Inferred;
use vigie_core::{Model, Task};

use crate::data::resample::Resample;
use crate::data::Dataset;
use crate::device::Memory;
use crate::rng::Rng;

/// Fewer validation rows than this fit the output detectors' reference
/// (confidence, error rate) on the training rows too.
pub const MIN_CALIBRATION_ROWS: usize = 30;
/// Quantile bins per feature (the design's simulation: 32 bins tame the
/// tails of real features for the CUSUMs).
pub const BINS: usize = 32;
/// The detector families the other half of the false-alarm budget is
/// shared between: guard range, variance, distribution, class mix,
/// confidence, reconstruction, error rate and missing rate (the mean CUSUMs
/// have the first half).
const FAMILIES: usize = 8;
/// Label feedback raises an error-rate drift alarm no sooner than after this
/// many wrong decisions in a row, even when validation had no mistake.
pub const MIN_ERROR_RUN: f32 = 3.0;
/// A model that imputes raises a missing-rate drift alarm no sooner than
/// after this many rows with holes in a row, even when calibration saw too
/// few holes to set the threshold.
pub const MIN_HOLE_RUN: f32 = 3.0;
/// Rows after which a calibration replay starts again from the reference.
/// A fold whose held-out rows differ from its reference by more than the
/// allowance makes a CUSUM climb for as long as the replay lasts, and that
/// slope, not the stream's noise, would set the threshold (148 instead of
/// 23 on a 178-row set); in control, a CUSUM's excursions last tens of rows,
/// so restarting every thousand rows does not shorten them.
pub const REPLAY_BLOCK: usize = 1000;
/// Bootstrap references of the output detectors per cross-fitting fold;
/// their threshold is the largest value over all of them (each replay as
/// long as the budget says), so it holds for most draws of the reference.
pub const OUTPUT_BOOTSTRAPS: usize = 3;
/// The detectors whose statistic follows the replayed decisions (the
/// confidence and error rate also have their reference re-drawn).
const OUTPUT_DETECTORS: [Detector; 3] = [
    Detector::ClassMix,
    Detector::Confidence,
    Detector::ErrorRate,
];
/// Folds of the cross-fitted calibration: each fold's rows are replayed
/// against a reference fitted without them.
pub const FOLDS: usize = 3;
/// With fewer pooled rows than this, the cross-fitting is repeated on a
/// second shuffle, so that the thresholds see more than three draws of the
/// reference's error.
pub const FEW_ROWS: usize = 300;
/// Default target false-alarm rate of the whole monitor, per row
/// (`--false-alarm-rate`): one drift alarm per 10,000 stable rows.
pub const FALSE_ALARM_RATE: f64 = 1e-4;
/// Default smallest shift worth an alarm, in reference standard
/// deviations (`--min-shift`). A mean CUSUM is quickest on a shift twice
/// its allowance; tuned to 0.8σ it still catches 0.5σ (in a few hundred
/// rows) and reaches 1σ in about 25, where a 0.5σ tuning, with the
/// thresholds the reference's error then needs, takes about 40% longer on
/// 1σ (`vigie drift-bench --min-shift`).
pub const MIN_SHIFT: f32 = 0.8;
/// Allowance of the variance CUSUMs on `z² − 1` before the reference's
/// sampling error (a stuck sensor adds 1 per row, a doubled spread about 3).
pub const VARIANCE_ALLOWANCE: f32 = 0.5;

/// The tuning constants for a monitor whose feature reference has
/// `feature_rows` rows over `watched` CUSUM features and whose output
/// reference has `output_rows` rows: allowances from `min_shift` and the
/// references' sampling error ([`cusum::allowance`]).
pub fn params(
    min_shift: f32,
    feature_rows: usize,
    watched: usize,
    output_rows: usize,
) -> MonitorParams {
    let mean_k = cusum::allowance(min_shift, feature_rows, watched);
    // z² − 1 has a standard deviation of √2 for a normal score.
    let variance_k = VARIANCE_ALLOWANCE
        + std::f32::consts::SQRT_2 * (cusum::allowance(0.0, feature_rows, watched));
    MonitorParams {
        min_shift,
        mean_k,
        variance_k,
        aux_k: cusum::allowance(min_shift, output_rows.min(feature_rows), 1),
        ewma: 1.0 / 64.0,
        check_every: 8,
    }
}

/// The standard error, in standard deviations, that a cross-fitting
/// fold's replay adds to the stored monitor's check: the error of the
/// difference of the means of a reference and a stream sample, with
/// `(fit, held)` rows in the fold and `(pool, held_out)` rows for the
/// stored monitor; 0 when the fold's is not the larger.
fn fold_error((fit, held): (usize, usize), (pool, held_out): (usize, usize)) -> f32 {
    let inv = |n: usize| 1.0 / n.max(1) as f64;
    let fold = (inv(fit) + inv(held)).sqrt();
    let stored = (inv(pool) + inv(held_out)).sqrt();
    (fold - stored).max(0.0) as f32
}

/// The expected largest of `features` standard normal errors in absolute
/// value, `√(2 ln 2F)` ([`cusum::allowance`]'s factor).
fn spread(features: usize) -> f32 {
    (2.0 * (2.0 * features.max(1) as f32).ln()).sqrt()
}

/// The name of each monitored feature of a model: its input channels
/// (their means), then for windows `<channel>.sd`, each channel's spread.
pub fn feature_names(model: &Model<'_>) -> Vec<String> {
    let names: Vec<String> = model.input_names().iter().map(str::to_owned).collect();
    let shape = model.input_shape();
    let f = monitored_features(shape.channels as usize, shape.length as usize);
    (0..f)
        .map(|j| match feature_channel(names.len(), j) {
            (c, false) => names[c].clone(),
            (c, true) => format!("{}.sd", names[c]),
        })
        .collect()
}

/// How to fit and calibrate a monitor.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Target false-alarm rate of the whole monitor, per sample.
    pub false_alarm_rate: f64,
    /// Smallest shift worth an alarm, in reference standard deviations.
    pub min_shift: f32,
    /// Seed of the fold shuffles and the replays.
    pub seed: u64,
    /// Whether to calibrate thresholds (false: the reference alone, to
    /// size the section).
    pub calibrate: bool,
    /// Held-out rows the monitor's false alarms are checked on (its
    /// streams' sample size), when known; otherwise as many as the
    /// reference's rows.
    pub held_out_rows: Option<usize>,
    /// Threads the calibration replays run on (`None`: one per core). The
    /// thresholds are the same on any number ([`replay`]).
    pub replay_workers: Option<usize>,
}

/// A training row's decision by a model that did not train on it:
/// `(class, probability)` (`None`: skipped). The confidence reference,
/// when validation rows are too few, then sees the confidence of new rows,
/// not of memorized ones.
pub type OutOfFold = Option<(usize, f32)>;

/// The monitor section and what to report about it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct BuiltMonitor {
    /// The section bytes (postcard `MonitorDef`).
    #[serde(skip)]
    pub section: Vec<u8>,
    /// State bytes on the device.
    pub state_bytes: usize,
    /// Section bytes in flash.
    pub section_bytes: usize,
    /// Principal components kept, and the variance they explain.
    pub components: usize,
    /// Explained variance share.
    pub explained_variance: f64,
    /// Rows replayed for calibration, over all folds.
    pub calibration_rows: usize,
    /// Rows of each cross-fitting fold whose streams were replayed.
    pub calibration_folds: Vec<usize>,
    /// Features retired from the CUSUMs (constant or sparse).
    pub retired_features: usize,
    /// Smallest shift worth an alarm, in reference standard deviations.
    pub min_shift: f32,
    /// Drift thresholds.
    pub drift: ThresholdsJson,
    /// Validation error rate.
    pub error_rate: f32,
    /// Drift alarms on held-out rows (the test rows), when measured.
    pub held_out: Option<HeldOutAlarms>,
}

/// Thresholds by detector name, for the training report.
pub type ThresholdsJson = std::collections::BTreeMap<String, f32>;

fn thresholds_json(t: &Thresholds) -> ThresholdsJson {
    // A detector that is off (an infinite threshold) is left out: JSON has
    // no infinity.
    Detector::ALL
        .iter()
        .filter(|&&d| t[d].is_finite())
        .map(|&d| (d.name().to_owned(), t[d]))
        .collect()
}

/// A monitor definition being built, with every field empty.
fn empty_def(features: u16, params: MonitorParams) -> MonitorDef<Vec<u8>> {
    MonitorDef {
        features,
        bins: BINS as u16,
        edges: vec![],
        proportions: vec![],
        scores: vec![],
        score_mean: vec![],
        score_sd: vec![],
        roles: vec![],
        mean: vec![],
        std: vec![],
        min: vec![],
        max: vec![],
        coupling: vec![],
        classes: 0,
        prior: vec![],
        confidence_mean: 0.0,
        confidence_sd: 0.0,
        confidence_deciles: vec![],
        confidence_edges: vec![],
        confidence_scores: vec![],
        components: 0,
        basis: vec![],
        residual_share: vec![],
        residual_log_mean: 0.0,
        residual_log_sd: 0.0,
        error_rate: 0.0,
        missing_rate: 0.0,
        params,
        drift: Thresholds::NEVER,
        warning: Thresholds::NEVER,
    }
}

/// The decided (class, probability), when the session decided a class.
fn decided(i: &Inferred<'_>) -> Option<(usize, f32)> {
    i.decision().map(|d| (d.index, d.probability))
}

/// The rows a monitor may learn from, each with the session's decision
/// (computed once: inference is deterministic) and whether it was right.
struct Pool<'a> {
    d: &'a Dataset,
    /// Dataset row of each pool entry.
    rows: Vec<usize>,
    decided: Vec<Inferred<'a>>,
    correct: Vec<bool>,
    /// Monitored features and the input's shape.
    features: usize,
    channels: usize,
    length: usize,
}

impl Pool<'_> {
    /// Monitored feature `j` of pool entry `i`, as `map` computes it.
    fn value(&self, map: &FeatureMap<'_>, i: usize, j: usize) -> Option<f32> {
        map.value(self.d.row(self.rows[i]), j)
    }

    /// The spreads' coupling ([`spread::fit`]) fitted on pool entries `on`
    /// (empty for one value per channel).
    fn coupling(&self, input_scale: &[u8], on: &[usize]) -> Vec<u8> {
        if self.length <= 1 {
            return vec![];
        }
        // Each channel's log-spread, as the device computes it (a row with
        // one missing or infinite is left out).
        let rows: Vec<Vec<f32>> = on
            .iter()
            .filter_map(|&i| {
                self.d
                    .row(self.rows[i])
                    .chunks_exact(self.length)
                    .enumerate()
                    .map(|(c, xs)| {
                        spread::log_spread(xs, vigie_core::format::read_f32(input_scale, c))
                            .filter(|l| l.is_finite())
                    })
                    .collect()
            })
            .collect();
        le::from_f32(&spread::fit(&rows, self.channels))
    }
}

/// The reference statistics of a monitor (every field but the
/// thresholds), fitted on pool entries `on` for the features, `basis_on`
/// for the principal components, `residual_on` for the residual level
/// (rows the basis did not learn from, when there are enough: it fits its
/// own rows better than new ones), and `outputs` for the confidence and
/// the error rate (rows the model did not learn from, likewise). Each detector fits itself (`vigie_core::monitor::<detector>::fit`).
fn reference(
    model: &Model<'_>,
    pool: &Pool<'_>,
    (on, basis_on, residual_on, outputs): (&[usize], &[usize], &[usize], &[usize]),
    params: MonitorParams,
) -> (MonitorDef<Vec<u8>>, pca::Pca) {
    let f = pool.features;
    let input = &model.def().input;
    let mut o = empty_def(f as u16, params);
    let coupling = pool.coupling(input.scale, on);
    o.coupling.clone_from(&coupling);
    let map = FeatureMap {
        channels: pool.channels,
        length: pool.length,
        input_scale: input.scale,
        input_offset: input.offset,
        coupling: &coupling,
    };
    let (mut props, mut scores, mut score_mean, mut score_sd) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut means, mut stds, mut mins, mut maxs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for j in 0..f {
        // One feature at a time: memory stays one column, whatever the rows.
        let v: Vec<f32> = on.iter().filter_map(|&i| pool.value(&map, i, j)).collect();
        let (scale, offset) = map.bin_map(j);
        let bins = distribution::fit(&v, scale, offset, BINS);
        let (zm, zs) = cusum::fit(&bins.row_scores);
        let (m, s, lo, hi) = guard::fit(&v);
        o.roles.push(cusum::roles(&bins.proportions, zs));
        o.edges.extend(bins.edges);
        props.extend(bins.proportions);
        scores.extend(bins.scores);
        score_mean.push(zm);
        score_sd.push(zs);
        means.push(m);
        stds.push(s);
        mins.push(lo);
        maxs.push(hi);
    }
    o.proportions = le::from_f32(&props);
    o.scores = le::from_f32(&scores);
    o.score_mean = le::from_f32(&score_mean);
    o.score_sd = le::from_f32(&score_sd);
    o.mean = le::from_f32(&means);
    o.std = le::from_f32(&stds);
    o.min = le::from_f32(&mins);
    o.max = le::from_f32(&maxs);

    // Principal components of the standardized features, streamed.
    // Retired features are left out, as the device does (`pca::observe`).
    let standardized = |rows: &[usize], i: usize, x: &mut [f64]| {
        for (j, xj) in x.iter_mut().enumerate() {
            let v = pool.value(&map, rows[i], j).unwrap_or(means[j]);
            *xj = if pca::takes_part(Some(o.roles[j]), map.is_spread(j)) {
                (v - means[j]) as f64 / stds[j] as f64
            } else {
                0.0
            };
        }
    };
    let mut pca = pca::fit(f, basis_on.len(), |i, x| standardized(basis_on, i, x));
    pca.residuals(residual_on.len(), |i, x| standardized(residual_on, i, x));
    o.components = pca.components as u16;
    o.basis = le::from_f32(&pca.basis);
    o.residual_share = le::from_f32(&pca.residual_share);
    o.residual_log_mean = pca.log_mean;
    o.residual_log_sd = pca.log_sd;

    // The class mix of the session's decisions on the feature rows; the
    // confidence and error rate on the output rows.
    if model.task() == Task::Classification {
        let k = model.output_len();
        o.classes = k as u16;
        let (prior, deciles) =
            output::fit_mix(on.iter().filter_map(|&i| decided(&pool.decided[i])), k);
        o.prior = le::from_f32(&prior);
        o.confidence_deciles = le::from_f32(&deciles);
    }
    output_reference(model, pool, outputs, &mut o);
    if !input.missing.is_empty() {
        let holes: Vec<bool> = on
            .iter()
            .map(|&i| pool.d.row(pool.rows[i]).iter().any(|v| v.is_nan()))
            .collect();
        o.missing_rate = guard::fit_missing(&holes);
    }
    (o, pca)
}

/// The output detectors' reference (confidence, error rate) from pool
/// entries `outputs`, rows the model did not learn from where there are
/// enough (it is surer on those it did).
fn output_reference(
    model: &Model<'_>,
    pool: &Pool<'_>,
    outputs: &[usize],
    o: &mut MonitorDef<Vec<u8>>,
) {
    if model.task() == Task::Classification {
        let conf: Vec<f32> = outputs
            .iter()
            .filter_map(|&i| decided(&pool.decided[i]).map(|(_, p)| p))
            .collect();
        let c = output::fit_confidence(&conf);
        (o.confidence_mean, o.confidence_sd) = (c.mean, c.sd);
        o.confidence_edges = c.edges;
        o.confidence_scores = le::from_f32(&c.scores);
    }
    let correct: Vec<bool> = outputs.iter().map(|&i| pool.correct[i]).collect();
    o.error_rate = labels::fit(&correct);
}

/// Raises detector `d`'s thresholds to at least the CUSUM's value after
/// `run` events in a row at reference rate `p0` (the detector's own
/// increments, [`cusum::indicator`], less its allowance).
fn run_floor(o: &mut MonitorDef<Vec<u8>>, d: Detector, p0: f32, run: f32) {
    let floor = run * (cusum::indicator(true, p0) - o.params.aux_k);
    o.drift[d] = o.drift[d].max(floor);
    o.warning[d] = o.warning[d].max(vigie_core::monitor::WARNING_FRACTION * floor);
}

/// A cluster bootstrap of pool entries: as many groups as there are,
/// drawn with replacement, each with all its entries (rows that repeat one
/// another are one group).
fn cluster_bootstrap(groups: &[Vec<usize>], rng: &mut Rng) -> Vec<usize> {
    (0..groups.len())
        .flat_map(|_| groups[rng.below(groups.len())].iter().copied())
        .collect()
}

/// The largest value of each detector's statistic over a replay of
/// `rows` rows through a session bound to `def` (no thresholds), and the
/// mean CUSUMs' largest over the first `mean_rows`. Each replayed row's
/// input is resampled from pool entries `stream` as `draw` says (in the
/// class mix of the reference's rows, as a stable stream is), and the decision (and
/// its label) the monitor sees with it from `decisions`: the model's
/// decisions on the rows it trained on are surer and more often right
/// than on new rows, so the output detectors replay held-out decisions
/// while the input detectors replay every row. On a stable stream inputs
/// and decisions are each stationary, and each detector sees only its own.
///
/// The replay runs in blocks of [`REPLAY_BLOCK`] rows, each from the
/// reference (as after an alarm), on `workers` threads (`None`: one per
/// core). One thread draws one random stream through every block; with
/// several, each block's stream starts where that one would reach it
/// ([`Rng::skipped`]: a row takes the same number of draws), and a largest
/// value does not depend on the order it is taken in, so the result is the
/// same on any number (a test compares them), and `rng` is left where the
/// one stream leaves it.
fn replay(
    model: &Model<'_>,
    pool: &Pool<'_>,
    def: &MonitorDef<Vec<u8>>,
    (stream, decisions): (&[usize], &[usize]),
    (rows, mean_rows): (usize, usize),
    (draw, rng): (&Resample, &mut Rng),
    workers: Option<usize>,
) -> Result<[f32; Detector::COUNT]> {
    let probe =
        Monitor::new(def.borrowed(), model).context("monitor reference does not validate")?;
    let draws_per_row = draw.draws_per_pick() + 1;
    let first_draw = rng.clone();
    *rng = first_draw.skipped(rows as u64 * draws_per_row);
    let blocks = rows.div_ceil(REPLAY_BLOCK);
    let workers = crate::parallel::threads(workers, blocks);
    // One worker's blocks: the largest values over all its rows, and the
    // mean CUSUMs' over its rows before `mean_rows`.
    let work = |first: usize| -> Result<([f32; Detector::COUNT], f32)> {
        let mut memory = Memory::new(model, Some(&probe));
        let mut worst = [0.0f32; Detector::COUNT];
        let mut worst_mean = 0.0f32;
        // After a restart, the windowed detectors' mixes start at the
        // reference's shares: their first two windows are not a stream's.
        let warm = (2.0 / def.params.ewma) as usize;
        let windowed = [Detector::Distribution.index(), Detector::ClassMix.index()];
        // One worker draws one stream through every block, the plain
        // replay (the twin the tests compare with); several start each
        // block's stream where that one reaches it.
        let mut sequential = first_draw.clone();
        for block in (first..blocks).step_by(workers) {
            let start = block * REPLAY_BLOCK;
            let mut skipped = first_draw.skipped(start as u64 * draws_per_row);
            let rng = if workers == 1 {
                &mut sequential
            } else {
                &mut skipped
            };
            let mut session = memory.session(model, Some(&probe))?;
            for t in start..(start + REPLAY_BLOCK).min(rows) {
                let i = stream[draw.pick(rng)];
                let j = decisions[rng.below(decisions.len())];
                let verdict = session.watch(pool.d.row(pool.rows[i]), &pool.decided[j])?;
                let obs = verdict.observation.context("the probe monitor is bound")?;
                let lab = session.observe_label(pool.correct[j])?;
                for (d, (w, v)) in worst
                    .iter_mut()
                    .zip(obs.values.iter().zip(lab.values.iter()))
                    .enumerate()
                {
                    if t - start >= warm || !windowed.contains(&d) {
                        *w = w.max(v.0.max(*v.1));
                    }
                }
                if t < mean_rows {
                    worst_mean = worst_mean.max(worst[Detector::Mean.index()]);
                }
            }
        }
        Ok((worst, worst_mean))
    };
    let parts = crate::parallel::map(workers, Some(workers), work);
    let mut worst = [0.0f32; Detector::COUNT];
    let mut worst_mean = 0.0f32;
    for part in parts {
        let (w, m) = part?;
        worst.iter_mut().zip(w).for_each(|(a, b)| *a = a.max(b));
        worst_mean = worst_mean.max(m);
    }
    if mean_rows < rows {
        worst[Detector::Mean.index()] = worst_mean;
    }
    Ok(worst)
}

/// Fits the monitor's reference on the training and validation rows and
/// calibrates its thresholds by cross-fitting: those rows are cut into
/// [`FOLDS`] folds; for each fold a reference is fitted without it and
/// streams resampled from it are replayed through a session (the output
/// detectors against a bootstrap of the held-out decisions). The thresholds so carry both the stream's
/// noise and the reference's own sampling error, as a deployment sees
/// them. The stored reference is fitted on all rows, so it errs less than
/// the folds' references did.
pub fn build(
    model: &Model<'_>,
    d: &Dataset,
    train: &[usize],
    val: &[usize],
    opts: Options,
    out_of_fold: Option<&[OutOfFold]>,
) -> Result<BuiltMonitor> {
    let shape = model.input_shape();
    let (channels, length) = (shape.channels as usize, shape.length as usize);
    let rows: Vec<usize> = train.iter().chain(val).copied().collect();
    let mut decided_rows = crate::device::decisions(model, rows.iter().map(|&r| d.row(r)))?;
    // The confidence of training rows as a model that did not train on
    // them gives it: a forest's leaves hold its training rows, so on them
    // it is all but certain, and a confidence reference fitted there cries
    // drift on every new row (77 false alarms per 10,000 on ACSF1). The
    // decided class stays the row's own: the out-of-fold classes carry the
    // error of a model grown on two thirds of the rows, and a class-mix
    // reference fitted on them raised 85 alarms per 10,000 there instead.
    if let Some(oof) = out_of_fold.filter(|o| o.len() == train.len()) {
        for (inferred, o) in decided_rows.iter_mut().zip(oof) {
            if let (Some(vigie_core::session::Answer::Class(d)), Some((_, probability))) =
                (&mut inferred.answer, o)
            {
                d.probability = *probability;
            }
        }
    }
    let correct: Vec<bool> = match &d.target {
        crate::data::Target::Classes { y, .. } => rows
            .iter()
            .zip(&decided_rows)
            .map(|(&r, i)| decided(i).is_some_and(|(c, _)| c == y[r]))
            .collect(),
        crate::data::Target::Values { .. } => vec![true; rows.len()],
    };
    let pool = Pool {
        d,
        rows,
        decided: decided_rows,
        correct,
        features: monitored_features(channels, length),
        channels,
        length,
    };
    let all: Vec<usize> = (0..pool.rows.len()).collect();
    let val_entries: Vec<usize> = (train.len()..pool.rows.len()).collect();
    // The output detectors learn from rows the model did not train on
    // (it is more confident on those it did), unless there are too few.
    let train_entries: Vec<usize> = (0..train.len()).collect();
    let (outputs, basis_rows): (&[usize], &[usize]) = if val.len() >= MIN_CALIBRATION_ROWS {
        (&val_entries, &train_entries)
    } else {
        (&all, &all)
    };
    let held_apart = outputs.len() < all.len();
    // The reference does not depend on the allowances, which depend on
    // how many features it lets carry a CUSUM: fitted once, then given them.
    let provisional = params(opts.min_shift, all.len(), pool.features, outputs.len());
    let rows_of = (&all[..], basis_rows, outputs, outputs);
    let (mut o, pca) = reference(model, &pool, rows_of, provisional);
    let watched = o.roles.iter().filter(|&&r| r != 0).count();
    let params = params(opts.min_shift, all.len(), watched, outputs.len());
    o.params = params;

    let rate = opts.false_alarm_rate.max(1e-7);
    // The budget is shared by the detector families. The mean CUSUMs, the
    // detectors of most real drifts, get half of it: their threshold is the
    // largest value over `2 / rate` rows. The other families share the other
    // half: each is held to `2 · FAMILIES / rate` rows.
    let total_rows = ((2 * FAMILIES) as f64 / rate).ceil() as usize;
    let total_mean_rows = (2.0 / rate).ceil() as usize;
    let mut replays = Vec::new();
    if opts.calibrate {
        // Cross-fitting: the inputs of each fold of all rows are replayed
        // against a reference fitted without them, so the thresholds carry
        // the sampling error of a reference and of a finite stream. The
        // output detectors' reference is a bootstrap resample of the
        // held-out rows, replayed against those rows: the error of a
        // reference of that many rows (Gandy and Kvaløy, 2013).
        // Rows that repeat another's features stay in its fold, as the
        // data split keeps them on one side: a fold's replay then shows
        // the clumped sampling error that a test split of such data has
        // (phishing: 1,250 rows, 625 distinct).
        let firsts = crate::data::checks::first_occurrences(d);
        let group_of: Vec<usize> = pool.rows.iter().map(|&r| firsts[r].unwrap_or(r)).collect();
        let mut shuffled: Vec<usize> = {
            let mut seen = std::collections::HashSet::new();
            group_of
                .iter()
                .copied()
                .filter(|g| seen.insert(*g))
                .collect()
        };
        let mut fold_of_group = std::collections::HashMap::new();
        let output_groups: Vec<Vec<usize>> = {
            let mut at = std::collections::HashMap::new();
            let mut groups: Vec<Vec<usize>> = Vec::new();
            for &e in outputs {
                let i = *at.entry(group_of[e]).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[i].push(e);
            }
            groups
        };
        let repeats = if all.len() < FEW_ROWS { 2 } else { 1 };
        let draws = FOLDS * repeats;
        let per = (total_rows.div_ceil(draws), total_mean_rows.div_ceil(draws));
        let mut rng = Rng(opts.seed ^ 0xCA11_B8A7E);
        // The bootstrap draws from its own stream, so that the replayed
        // input streams do not depend on how the outputs are resampled.
        let mut draw = Rng(opts.seed ^ 0xB007_5742);
        let mut worst = [0.0f32; Detector::COUNT];
        for _ in 0..repeats {
            rng.shuffle(&mut shuffled);
            fold_of_group.clear();
            for (i, &g) in shuffled.iter().enumerate() {
                fold_of_group.insert(g, i % FOLDS);
            }
            for fold in 0..FOLDS {
                let held: Vec<usize> = all
                    .iter()
                    .copied()
                    .filter(|&e| fold_of_group[&group_of[e]] == fold)
                    .collect();
                let mut out = vec![false; pool.rows.len()];
                held.iter().for_each(|&e| out[e] = true);
                let without = |rows: &[usize]| -> Vec<usize> {
                    rows.iter().copied().filter(|&e| !out[e]).collect()
                };
                let fit_on = without(&all);
                if held.is_empty() || fit_on.is_empty() {
                    // Fewer distinct rows than folds.
                    continue;
                }
                let basis_on = without(basis_rows);
                let residual_on = if held_apart {
                    without(outputs)
                } else {
                    fit_on.clone()
                };
                let bootstrap = cluster_bootstrap(&output_groups, &mut draw);
                // A fold's replay sees the error of a reference of
                // `fit_on` rows and of a stream drawn from `held` rows. The
                // stored monitor, checked on a stream resampled from the
                // held-out rows, sees that of a reference of all rows and
                // of that sample. Where the fold's error is the larger
                // (few rows: 27 against 13 when 40 train and 40 test), the
                // fold's CUSUMs get the allowance of the difference:
                // otherwise one feature's drift over the whole replay sets
                // the threshold (787 instead of 35 on BasicMotions).
                let extra = fold_error(
                    (fit_on.len(), held.len()),
                    (all.len(), opts.held_out_rows.unwrap_or(all.len())),
                );
                let fold_params = MonitorParams {
                    mean_k: params.mean_k + extra * spread(watched),
                    variance_k: params.variance_k
                        + std::f32::consts::SQRT_2 * extra * spread(watched),
                    ..params
                };
                let (def, _) = reference(
                    model,
                    &pool,
                    (&fit_on, &basis_on, &residual_on, &bootstrap),
                    fold_params,
                );
                // The held-out rows are drawn in the class mix of the rows
                // the fold's reference learned from, as a stable stream is
                // (with few rows, a fold's own class mix is off by enough
                // to move every class-dependent feature).
                let rows_of = |entries: &[usize]| -> Vec<usize> {
                    entries.iter().map(|&e| pool.rows[e]).collect()
                };
                let sampler = Resample::new(d, &rows_of(&held), d, &rows_of(&fit_on));
                // The output detectors' reference is a bootstrap of a few
                // hundred decisions at most: its error, not the stream's
                // noise, sets their thresholds, so each fold replays
                // several draws of it and keeps the largest value over all
                // of them: a threshold that holds for most draws of the
                // reference, in the manner of Gandy and Kvaløy (2013), not
                // one tuned to a single draw. The input detectors take the
                // first replay.
                let mut def = def;
                for b in 0..OUTPUT_BOOTSTRAPS {
                    if b > 0 {
                        let again = cluster_bootstrap(&output_groups, &mut draw);
                        output_reference(model, &pool, &again, &mut def);
                    }
                    let w = replay(
                        model,
                        &pool,
                        &def,
                        (&held, outputs),
                        per,
                        (&sampler, &mut rng),
                        opts.replay_workers,
                    )?;
                    for (d, (a, v)) in worst.iter_mut().zip(w).enumerate() {
                        if b == 0 || OUTPUT_DETECTORS.iter().any(|o| o.index() == d) {
                            *a = a.max(v);
                        }
                    }
                }
                replays.push(held.len());
            }
        }
        (o.drift, o.warning) = Thresholds::calibrated(&worst);
        // A validation set without a mistake leaves the error-rate CUSUM
        // without a calibrated level: one mistake is not drift either.
        let p0 = labels::reference_rate(o.error_rate);
        run_floor(&mut o, Detector::ErrorRate, p0, MIN_ERROR_RUN);
        let m = Detector::Missing;
        if model.def().input.missing.is_empty() {
            // A model that does not impute calls every hole non-finite.
            (o.drift[m], o.warning[m]) = (f32::INFINITY, f32::INFINITY);
        } else {
            let p0 = guard::reference_rate(o.missing_rate);
            run_floor(&mut o, m, p0, MIN_HOLE_RUN);
        }
    }
    let def = o.borrowed();
    let monitor = Monitor::new(def.clone(), model)?;
    let section = def.to_vec();
    let retired = o.roles.iter().filter(|&&r| r == 0).count();
    Ok(BuiltMonitor {
        state_bytes: monitor.state_bytes(),
        section_bytes: section.len(),
        section,
        components: pca.components,
        explained_variance: pca.explained,
        calibration_rows: if opts.calibrate {
            total_rows * OUTPUT_BOOTSTRAPS
        } else {
            0
        },
        calibration_folds: replays,
        retired_features: retired,
        min_shift: opts.min_shift,
        drift: thresholds_json(&o.drift),
        error_rate: o.error_rate,
        held_out: None,
    })
}

/// Drift alarms on a stable stream resampled from rows that neither the
/// reference nor the thresholds saw.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct HeldOutAlarms {
    /// Distinct held-out rows resampled.
    pub rows: usize,
    /// Rows replayed.
    pub replayed: usize,
    /// Drift alarms per 10,000 rows.
    pub per_10k: f64,
    /// Alarms by detector.
    pub by_detector: Vec<(String, usize)>,
}
