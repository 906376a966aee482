//! The monitor's reference statistics (from the training split) and its
//! thresholds (calibrated by replaying resampled validation streams through
//! `vigie-core`'s monitor), stored as the model's monitor section.

use anyhow::{Context, Result};
use serde::Serialize;
use vigie_core::format::{le, read_f32};
use vigie_core::math::mean_sd;
use vigie_core::monitor::{
    channel_mean, cusum, distribution, guard, labels, output, pca, Detector, Monitor, MonitorDef,
    MonitorParams, Thresholds,
};
use vigie_core::session::Inferred;
use vigie_core::{Model, Task};

use crate::data::Dataset;
use crate::device::Memory;
use crate::rng::Rng;

/// Fewer validation rows than this calibrate the monitor on the training
/// rows too (see `build`).
pub const MIN_CALIBRATION_ROWS: usize = 30;
/// Quantile bins per feature (the design's simulation: 32 bins tame the
/// tails of real features for the CUSUMs).
pub const BINS: usize = 32;
/// The detectors the whole-monitor false-alarm budget is shared between.
const FAMILIES: usize = 7;

/// The tuning constants used for every model.
pub const PARAMS: MonitorParams = MonitorParams {
    // Half of a 0.5σ shift: 1σ and 0.5σ offsets both accumulate.
    mean_k: 0.35,
    variance_k: 0.5,
    aux_k: 0.5,
    ewma: 1.0 / 64.0,
    check_every: 8,
};

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
    /// Rows replayed for calibration.
    pub calibration_rows: usize,
    /// Drift thresholds.
    pub drift: ThresholdsJson,
    /// Validation error rate.
    pub error_rate: f32,
}

/// Thresholds by detector name, for the training report.
pub type ThresholdsJson = std::collections::BTreeMap<String, f32>;

fn thresholds_json(t: &Thresholds) -> ThresholdsJson {
    Detector::ALL
        .iter()
        .map(|&d| (d.name().to_owned(), t[d]))
        .collect()
}

/// A monitor definition being built, with every field empty.
fn empty_def(features: u16) -> MonitorDef<Vec<u8>> {
    MonitorDef {
        features,
        bins: BINS as u16,
        edges: vec![],
        proportions: vec![],
        scores: vec![],
        score_mean: vec![],
        score_sd: vec![],
        mean: vec![],
        std: vec![],
        min: vec![],
        max: vec![],
        classes: 0,
        prior: vec![],
        confidence_mean: 0.0,
        confidence_sd: 0.0,
        confidence_deciles: vec![],
        components: 0,
        basis: vec![],
        residual_share: vec![],
        residual_log_mean: 0.0,
        residual_log_sd: 0.0,
        error_rate: 0.0,
        params: PARAMS,
        drift: Thresholds::NEVER,
        warning: Thresholds::NEVER,
    }
}

/// What the session decides for each row: inference and the model's one
/// decision (temperature, costs, abstention), as the device takes it.
fn decisions<'a>(model: &Model<'a>, d: &Dataset, rows: &[usize]) -> Result<Vec<Inferred<'a>>> {
    let mut memory = Memory::new(model, None);
    let mut session = memory.session(model, None)?;
    rows.iter().map(|&r| Ok(session.infer(d.row(r))?)).collect()
}

/// The decided (class, probability), when the session decided a class.
fn decided(i: &Inferred<'_>) -> Option<(usize, f32)> {
    i.decision().map(|d| (d.index, d.probability))
}

/// Computes the reference statistics and calibrates the thresholds. Each
/// detector fits itself (`vigie_core::monitor::<detector>::fit`); this
/// function chooses the rows and runs the calibration replay through a
/// session.
pub fn build(
    model: &Model<'_>,
    d: &Dataset,
    train: &[usize],
    val: &[usize],
    false_alarm_rate: f64,
    seed: u64,
) -> Result<BuiltMonitor> {
    let shape = model.input_shape();
    let (f, len) = (shape.channels as usize, shape.length as usize);
    let input = &model.def().input;
    // The raw feature value (channel mean) of each training row, one
    // feature at a time: memory stays one column, whatever the rows.
    let column = |j: usize| -> Vec<f32> {
        train
            .iter()
            .filter_map(|&r| channel_mean(&d.row(r)[j * len..(j + 1) * len]))
            .collect()
    };
    let mut o = empty_def(f as u16);
    let (mut props, mut scores, mut score_mean, mut score_sd) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut means, mut stds, mut mins, mut maxs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for j in 0..f {
        let v = column(j);
        let (scale, offset) = (read_f32(input.scale, j), read_f32(input.offset, j));
        let bins = distribution::fit(&v, scale, offset, BINS);
        let (zm, zs) = cusum::fit(&bins.row_scores);
        let (m, s, lo, hi) = guard::fit(&v);
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

    // Principal components of the standardized features, over streamed
    // training rows.
    let pca = pca::fit(f, train.len(), |i, x| {
        let row = d.row(train[i]);
        for (j, xj) in x.iter_mut().enumerate() {
            let v = channel_mean(&row[j * len..(j + 1) * len]).unwrap_or(means[j]);
            *xj = (v - means[j]) as f64 / stds[j] as f64;
        }
    });
    o.components = pca.components as u16;
    o.basis = le::from_f32(&pca.basis);
    o.residual_share = le::from_f32(&pca.residual_share);
    o.residual_log_mean = pca.log_mean;
    o.residual_log_sd = pca.log_sd;

    // The class mix and confidence of the session's decisions on the
    // training rows, streamed.
    let classification = model.task() == Task::Classification;
    if classification {
        let k = model.output_len();
        o.classes = k as u16;
        let mut memory = Memory::new(model, None);
        let mut session = memory.session(model, None)?;
        let mut decided_rows = Vec::with_capacity(train.len());
        for &r in train {
            if let Some(dec) = decided(&session.infer(d.row(r))?) {
                decided_rows.push(dec);
            }
        }
        let (prior, deciles) = output::fit_mix(decided_rows.into_iter(), k);
        o.prior = le::from_f32(&prior);
        o.confidence_deciles = le::from_f32(&deciles);
    }

    // Validation: error rate, range exceedance, and the calibration replay.
    // A handful of validation rows (BasicMotions leaves 4) replayed tens of
    // thousands of times is not a stream: below MIN_CALIBRATION_ROWS the
    // pool takes the training rows too, which are drawn from the same
    // inputs (the model is more confident on them, so the output
    // detectors' thresholds come out tighter: conservative).
    let pool: Vec<usize>;
    let val: &[usize] = if val.len() < MIN_CALIBRATION_ROWS {
        pool = train.iter().chain(val).copied().collect();
        &pool
    } else {
        val
    };
    let val_decided = decisions(model, d, val)?;
    let val_pred: Vec<Option<(usize, f32)>> = val_decided.iter().map(decided).collect();
    let val_correct: Vec<bool> = match &d.target {
        crate::data::Target::Classes { y, .. } => val
            .iter()
            .zip(&val_pred)
            .map(|(&r, p)| p.is_some_and(|(c, _)| c == y[r]))
            .collect(),
        crate::data::Target::Values { .. } => vec![true; val.len()],
    };
    o.error_rate = labels::fit(&val_correct);
    if classification {
        let conf: Vec<f64> = val_pred.iter().flatten().map(|&(_, p)| p as f64).collect();
        (o.confidence_mean, o.confidence_sd) = output::fit_confidence(&conf);
    }

    // The calibration replay centres the feature CUSUMs on the validation
    // rows' own level: a few hundred rows differ from the training
    // reference by sampling error alone (up to 0.2σ per feature on the
    // bundled data), and a CUSUM that sees that offset for 70,000 resampled
    // rows would set its threshold on an artefact of the small pool rather
    // than on its own fluctuation. The stored reference stays the training one.
    let mut centred = o.clone();
    let probe_train =
        Monitor::new(o.borrowed(), model).context("monitor reference does not validate")?;
    // Only the level is centred: the spread keeps the training reference, so
    // the variance CUSUMs are calibrated against the pool's own spread
    // mismatch (conservative).
    let vm: Vec<f32> = (0..f)
        .map(|j| {
            let z: Vec<f64> = val
                .iter()
                .filter_map(|&r| channel_mean(&d.row(r)[j * len..(j + 1) * len]))
                .map(|v| probe_train.raw_score(j, v) as f64)
                .collect();
            mean_sd(&z).0 as f32
        })
        .collect();
    centred.score_mean = le::from_f32(&vm);
    let probe =
        Monitor::new(centred.borrowed(), model).context("monitor reference does not validate")?;
    // The replay goes through the session, as the device will: the
    // monitor sees each row with the decision the session took for it
    // (computed once per pool row above, since inference is
    // deterministic).
    let mut memory = Memory::new(model, Some(&probe));
    let mut session = memory.session(model, Some(&probe))?;
    // The budget is shared by the detector families. The mean CUSUMs, the
    // detectors of most real drifts, get half of it: their threshold is the
    // largest value over `2 / rate` rows. The other families share the other
    // half: each is held to `2 · FAMILIES / rate` rows.
    let rate = false_alarm_rate.max(1e-7);
    let mean_rows = (2.0 / rate).ceil() as usize;
    let rows = ((2 * FAMILIES) as f64 / rate).ceil() as usize;
    let mut rng = Rng(seed ^ 0xCA11_B8A7E);
    let mut worst = [0.0f32; Detector::COUNT];
    let mut worst_mean = 0.0f32;
    for t in 0..rows {
        if t == mean_rows {
            worst_mean = worst[Detector::Mean.index()];
        }
        let i = rng.below(val.len());
        let verdict = session.watch(d.row(val[i]), &val_decided[i])?;
        let obs = verdict.observation.context("the probe monitor is bound")?;
        let lab = session.observe_label(val_correct[i])?;
        for (w, v) in worst
            .iter_mut()
            .zip(obs.values.iter().zip(lab.values.iter()))
        {
            *w = w.max(v.0.max(*v.1));
        }
    }
    worst[Detector::Mean.index()] = worst_mean;
    (o.drift, o.warning) = Thresholds::calibrated(&worst);
    let def = o.borrowed();
    let monitor = Monitor::new(def.clone(), model)?;
    let section = def.to_vec();
    Ok(BuiltMonitor {
        state_bytes: monitor.state_bytes(),
        section_bytes: section.len(),
        section,
        components: pca.components,
        explained_variance: pca.explained,
        calibration_rows: rows,
        drift: thresholds_json(&o.drift),
        error_rate: o.error_rate,
    })
}
