//! The monitor's reference statistics (from the training split) and its
//! thresholds (calibrated by replaying resampled validation streams through
//! `vigie-core`'s monitor), stored as the model's monitor section.

// Matrix code (covariance, Jacobi rotations) reads best with indices.
#![allow(clippy::needless_range_loop)]

use anyhow::{Context, Result};
use serde::Serialize;
use vigie_core::format::{le, read_f32};
use vigie_core::math::quantize_affine;
use vigie_core::monitor::{
    bin_of, channel_mean, Detector, Monitor, MonitorDef, MonitorParams, Thresholds,
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
/// Most principal components stored (about 90% of the variance is kept,
/// capped so the file stays small).
pub const MAX_COMPONENTS: usize = 32;
/// Share of the standardized variance the components should explain.
pub const PCA_VARIANCE: f64 = 0.9;
/// Drift thresholds are the largest statistic seen on the calibration
/// replay times this margin, since the replay is finite.
pub const THRESHOLD_MARGIN: f32 = 1.1;
/// Warning thresholds are this fraction of the drift thresholds.
pub const WARNING_FRACTION: f32 = 0.6;
/// Distance outside the training range, in ranges, that is a drift alarm
/// on its own.
pub const GROSS_RANGE: f32 = 10.0;
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

/// Standard normal quantile (Acklam's rational approximation, relative
/// error below 1.2e-9). The coefficients are kept as published.
#[allow(clippy::excessive_precision)]
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// Eigenvalues and eigenvectors (as rows) of a symmetric matrix, largest
/// first (cyclic Jacobi).
pub fn symmetric_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for _sweep in 0..60 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j][j].total_cmp(&a[i][i]));
    let values = order.iter().map(|&i| a[i][i]).collect();
    let vectors = order
        .iter()
        .map(|&i| (0..n).map(|k| v[k][i]).collect())
        .collect();
    (values, vectors)
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    (
        m,
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt(),
    )
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

/// Computes the reference statistics and calibrates the thresholds.
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
    let (mut edges, mut props, mut scores) = (Vec::new(), Vec::new(), Vec::new());
    let (mut score_mean, mut score_sd) = (Vec::new(), Vec::new());
    let (mut means, mut stds, mut mins, mut maxs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for j in 0..f {
        let v = &column(j);
        let (scale, offset) = (read_f32(input.scale, j), read_f32(input.offset, j));
        let mut q: Vec<i8> = v
            .iter()
            .map(|&x| quantize_affine(x, scale, offset))
            .collect();
        q.sort_unstable();
        let n = q.len().max(1);
        let e: Vec<u8> = (1..BINS)
            .map(|b| q.get(b * n / BINS).copied().unwrap_or(0) as u8)
            .collect();
        let mut counts = [0usize; BINS];
        q.iter().for_each(|&x| counts[bin_of(x, &e)] += 1);
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
        let row_z: Vec<f64> = q.iter().map(|&x| z[bin_of(x, &e)]).collect();
        let (zm, zs) = mean_sd(&row_z);
        let raw: Vec<f64> = v.iter().map(|&x| x as f64).collect();
        let (m, s) = mean_sd(&raw);
        edges.extend(e);
        props.extend(p.iter().map(|&x| x as f32));
        scores.extend(z.iter().map(|&x| x as f32));
        score_mean.push(zm as f32);
        score_sd.push(zs as f32);
        means.push(m as f32);
        stds.push(if s > 1e-12 { s as f32 } else { 1.0 });
        mins.push(v.iter().copied().fold(f32::INFINITY, f32::min));
        maxs.push(v.iter().copied().fold(f32::NEG_INFINITY, f32::max));
    }
    o.edges = edges;
    o.proportions = le::from_f32(&props);
    o.scores = le::from_f32(&scores);
    o.score_mean = le::from_f32(&score_mean);
    o.score_sd = le::from_f32(&score_sd);

    // Principal components of the standardized features, streamed over
    // the training rows (a row's standardized features are recomputed on
    // each pass rather than stored).
    let standardized = |r: usize, x: &mut [f64]| {
        for (j, xj) in x.iter_mut().enumerate() {
            let v = channel_mean(&d.row(r)[j * len..(j + 1) * len]).unwrap_or(means[j]);
            *xj = (v - means[j]) as f64 / stds[j] as f64;
        }
    };
    let mut x = vec![0.0f64; f];
    let mut cov = vec![vec![0.0; f]; f];
    for &r in train {
        standardized(r, &mut x);
        for a in 0..f {
            for b in a..f {
                cov[a][b] += x[a] * x[b];
            }
        }
    }
    let n = train.len().max(1) as f64;
    for a in 0..f {
        for b in a..f {
            cov[a][b] /= n;
            cov[b][a] = cov[a][b];
        }
    }
    let (eig, vecs) = symmetric_eigen(cov);
    let total: f64 = eig.iter().map(|v| v.max(0.0)).sum::<f64>().max(1e-12);
    let mut kept = 0;
    let mut explained = 0.0;
    while kept < eig.len().saturating_sub(1).min(MAX_COMPONENTS) && explained < PCA_VARIANCE {
        explained += eig[kept].max(0.0) / total;
        kept += 1;
    }
    o.components = kept as u16;
    o.basis = le::from_f32(
        &vecs[..kept]
            .iter()
            .flatten()
            .map(|&v| v as f32)
            .collect::<Vec<_>>(),
    );
    let mut share = vec![0.0f64; f];
    let mut logs = Vec::with_capacity(train.len());
    for &row in train {
        standardized(row, &mut x);
        let mut r = x.clone();
        for v in &vecs[..kept] {
            let p: f64 = v.iter().zip(&x).map(|(a, b)| a * b).sum();
            r.iter_mut().zip(v).for_each(|(ri, vi)| *ri -= p * vi);
        }
        r.iter()
            .enumerate()
            .for_each(|(j, ri)| share[j] += ri * ri / n);
        logs.push((r.iter().map(|v| v * v).sum::<f64>() + 1e-3).ln());
    }
    let (lm, ls) = mean_sd(&logs);
    o.residual_share = le::from_f32(&share.iter().map(|&v| v as f32).collect::<Vec<_>>());
    o.residual_log_mean = lm as f32;
    o.residual_log_sd = ls as f32;
    o.mean = le::from_f32(&means);
    o.std = le::from_f32(&stds);
    o.min = le::from_f32(&mins);
    o.max = le::from_f32(&maxs);

    // Outputs on training data, through the core.
    let classification = model.task() == Task::Classification;
    if classification {
        let k = model.output_len();
        o.classes = k as u16;
        let mut prior = vec![0.0f32; k];
        let mut conf = Vec::new();
        // The session's decision on each training row, streamed.
        let mut memory = Memory::new(model, None);
        let mut session = memory.session(model, None)?;
        for &r in train {
            if let Some((c, p)) = decided(&session.infer(d.row(r))?) {
                prior[c] += 1.0;
                conf.push(p as f64);
            }
        }
        let total = conf.len().max(1) as f32;
        prior.iter_mut().for_each(|p| *p /= total);
        o.prior = le::from_f32(&prior);
        conf.sort_by(f64::total_cmp);
        let deciles: Vec<f32> = (1..=10)
            .map(|i| {
                conf.get((i * conf.len() / 10).min(conf.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(0.0) as f32
            })
            .collect();
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
    o.error_rate = val_correct.iter().filter(|c| !**c).count() as f32 / val.len().max(1) as f32;
    if classification {
        // The model is more confident on the rows it learned from than on
        // new ones: the confidence CUSUM is centred on held-out behaviour.
        let conf: Vec<f64> = val_pred.iter().flatten().map(|&(_, p)| p as f64).collect();
        let (cm, cs) = mean_sd(&conf);
        o.confidence_mean = cm as f32;
        o.confidence_sd = cs.max(1e-3) as f32;
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
    let mut drift = Thresholds::NEVER;
    for d in Detector::ALL {
        drift[d] = (worst[d.index()] * THRESHOLD_MARGIN).max(1e-3);
    }
    // Any non-finite value is drift on its own.
    drift[Detector::GuardNonFinite] = 1.0;
    // One value outside the range is an outlier worth a warning; drift
    // needs a gross excursion (a unit or wiring error), since held-out rows
    // of sparse features step past the training range now and then.
    let range = 2.0 * worst[Detector::GuardRange.index()];
    drift[Detector::GuardRange] = range.max(GROSS_RANGE);
    let mut warning = Thresholds(drift.0.map(|t| t * WARNING_FRACTION));
    warning[Detector::GuardNonFinite] = 1.0;
    warning[Detector::GuardRange] = range.max(1.0);
    o.drift = drift;
    o.warning = warning;
    let def = o.borrowed();
    let monitor = Monitor::new(def.clone(), model)?;
    let section = def.to_vec();
    Ok(BuiltMonitor {
        state_bytes: monitor.state_bytes(),
        section_bytes: section.len(),
        section,
        components: kept,
        explained_variance: explained,
        calibration_rows: rows,
        drift: thresholds_json(&drift),
        error_rate: o.error_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_matches_known_values() {
        assert!(normal_quantile(0.5).abs() < 1e-9);
        assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-8);
        assert!((normal_quantile(0.001) + 3.090232306167813).abs() < 1e-8);
    }

    #[test]
    fn eigen_of_a_correlated_pair() {
        let (values, vectors) = symmetric_eigen(vec![vec![1.0, 0.8], vec![0.8, 1.0]]);
        assert!((values[0] - 1.8).abs() < 1e-12 && (values[1] - 0.2).abs() < 1e-12);
        assert!((vectors[0][0].abs() - 0.5f64.sqrt()).abs() < 1e-12);
    }
}
