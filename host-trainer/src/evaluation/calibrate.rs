//! Errors people can live with: temperature scaling fitted on validation
//! rows, an abstention threshold for a target precision, and a cost matrix,
//! all evaluated through vigie-core (`Output::probability_at`,
//! `Output::decide`) and stored as the model's calibration section.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use vigie_core::Model;

use vigie_core::engine::{level_argmax, level_probability};

use crate::data::{CsvFile, Dataset, Target};
use crate::evaluation::int8::{int8_outputs, Int8};

/// Bins of the expected calibration error.
pub const ECE_BINS: usize = 15;
/// Fewer validation rows than this leave the temperature at 1: a handful
/// of rows, all right, would push it towards 0 (certainty).
pub const MIN_ROWS_FOR_TEMPERATURE: usize = 30;
/// Temperatures searched, as `ln T`: from 1/4 (sharper) to 4 (softer). A
/// temperature outside this range says more about the few rows it was
/// fitted on than about the model.
const LN_T_RANGE: (f64, f64) = (-1.386_294_361_119_890_6, 1.386_294_361_119_890_6);
/// Folds of the cross-validation that decides whether a temperature helps.
pub const FOLDS: usize = 5;
/// Bootstrap resamples of an interval.
pub const BOOTSTRAP: usize = 200;

fn classes(d: &Dataset) -> &[usize] {
    match &d.target {
        Target::Classes { y, .. } => y,
        Target::Values { .. } => &[],
    }
}

/// One validation row's int8 output levels and label, kept so the
/// temperature search does not run the network again.
struct Scored<'l> {
    raw: &'l [i8],
    label: usize,
}

/// Probability of class `i` at temperature `t`, as the core computes it.
fn prob_at(raw: &[i8], scale: f32, i: usize, t: f32) -> f32 {
    level_probability(raw, scale, i, t).unwrap_or(0.0)
}

/// Mean negative log-likelihood of rows at temperature `t`.
fn nll(rows: &[&Scored], scale: f32, t: f32) -> f64 {
    let sum: f64 = rows
        .iter()
        .map(|r| -(prob_at(r.raw, scale, r.label, t).max(1e-12) as f64).ln())
        .sum();
    sum / rows.len().max(1) as f64
}

/// (top probability at `t`, right) of rows.
fn pairs_at(rows: &[&Scored], scale: f32, t: f32) -> Vec<(f32, bool)> {
    rows.iter()
        .map(|r| {
            let top = level_argmax(r.raw);
            (prob_at(r.raw, scale, top, t), top == r.label)
        })
        .collect()
}

/// The temperature minimizing the rows' NLL (golden-section search on
/// `ln T` within [`LN_T_RANGE`]).
fn fit_on(rows: &[&Scored], scale: f32) -> f32 {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = LN_T_RANGE;
    let f = |lt: f64| nll(rows, scale, lt.exp() as f32);
    let mut c = b - g * (b - a);
    let mut e = a + g * (b - a);
    let (mut fc, mut fe) = (f(c), f(e));
    for _ in 0..40 {
        if fc < fe {
            b = e;
            e = c;
            fe = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = e;
            fc = fe;
            e = a + g * (b - a);
            fe = f(e);
        }
    }
    ((a + b) / 2.0).exp() as f32
}

/// How the temperature was chosen, and why.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TemperatureChoice {
    /// The temperature stored (1 when none helps).
    pub temperature: f32,
    /// The temperature fitted on all validation rows (bounded).
    pub fitted: f32,
    /// Whether the fitted one was kept.
    pub kept: bool,
    /// Why, for a person.
    pub reason: String,
    /// Held-out NLL of the cross-validation at temperature 1 and fitted.
    pub cv_nll: (f64, f64),
    /// Held-out ECE of the cross-validation at temperature 1 and fitted,
    /// and the 95% bootstrap half-width of the first (its noise).
    pub cv_ece: (f64, f64, f64),
}

/// A 95% bootstrap interval of the ECE of `pairs` (seeded, so the same
/// rows give the same interval).
pub fn ece_interval(pairs: &[(f32, bool)], seed: u64) -> (f64, f64) {
    if pairs.is_empty() {
        return (0.0, 0.0);
    }
    let mut rng = crate::rng::Rng(seed ^ 0xEC_E5EED);
    let mut values: Vec<f64> = (0..BOOTSTRAP)
        .map(|_| {
            let sample: Vec<(f32, bool)> = (0..pairs.len())
                .map(|_| pairs[rng.below(pairs.len())])
                .collect();
            ece(&sample)
        })
        .collect();
    values.sort_by(f64::total_cmp);
    (
        values[BOOTSTRAP * 25 / 1000],
        values[(BOOTSTRAP * 975 / 1000).min(BOOTSTRAP - 1)],
    )
}

/// Chooses the softmax temperature on validation rows: fitted (within
/// 1/4 to 4) by NLL, and kept only when a [`FOLDS`]-fold cross-validation
/// over those rows says it lowers held-out log-loss by more than twice the
/// standard error of the per-row gain, and does not raise held-out ECE
/// beyond the ECE's own noise (its bootstrap half-width). The training
/// rows take no part: the network fitted them, and its confidence there
/// says nothing about new rows.
/// Otherwise 1, with the reason.
pub fn choose_temperature(
    model: &Model<'_>,
    d: &Dataset,
    val: &[usize],
    seed: u64,
) -> Result<TemperatureChoice> {
    let keep_one = |reason: String| TemperatureChoice {
        temperature: 1.0,
        fitted: 1.0,
        kept: false,
        reason,
        cv_nll: (0.0, 0.0),
        cv_ece: (0.0, 0.0, 0.0),
    };
    if val.len() < MIN_ROWS_FOR_TEMPERATURE {
        return Ok(keep_one(format!(
            "only {} validation rows (fewer than {MIN_ROWS_FOR_TEMPERATURE}): too few to fit a temperature",
            val.len()
        )));
    }
    let y = classes(d);
    let scale = model.output_quant().scale;
    let int8 = int8_outputs(model, d, val)?;
    let scored: Vec<Scored> = int8
        .levels
        .chunks(model.output_len())
        .zip(val)
        .map(|(raw, &r)| Scored { raw, label: y[r] })
        .collect();
    let all: Vec<&Scored> = scored.iter().collect();
    let fitted = fit_on(&all, scale);
    // Cross-validation: fit on four folds, measure on the fifth; the
    // per-row log-loss differences say whether the gain is more than noise.
    let (mut held_one, mut held_fit) = (Vec::new(), Vec::new());
    let (mut nll_one, mut nll_fit) = (0.0, 0.0);
    let mut gains: Vec<f64> = Vec::with_capacity(scored.len());
    for fold in 0..FOLDS {
        let in_fold = |i: &usize| i % FOLDS == fold;
        let train: Vec<&Scored> = scored
            .iter()
            .enumerate()
            .filter(|(i, _)| !in_fold(i))
            .map(|(_, r)| r)
            .collect();
        let test: Vec<&Scored> = scored
            .iter()
            .enumerate()
            .filter(|(i, _)| in_fold(i))
            .map(|(_, r)| r)
            .collect();
        let t = fit_on(&train, scale);
        for r in &test {
            let (a, b) = (nll(&[r], scale, 1.0), nll(&[r], scale, t));
            nll_one += a;
            nll_fit += b;
            gains.push(a - b);
        }
        held_one.extend(pairs_at(&test, scale, 1.0));
        held_fit.extend(pairs_at(&test, scale, t));
    }
    let n = scored.len() as f64;
    let cv_nll = (nll_one / n, nll_fit / n);
    let (gain, gain_sd) = vigie_core::math::mean_sd(&gains);
    let gain_se = gain_sd / n.sqrt();
    let (lo, hi) = ece_interval(&held_one, seed);
    let noise = (hi - lo) / 2.0;
    let cv_ece = (ece(&held_one), ece(&held_fit), noise);
    let mut choice = keep_one(String::new());
    choice.fitted = fitted;
    choice.cv_nll = cv_nll;
    choice.cv_ece = cv_ece;
    if gain <= 2.0 * gain_se {
        choice.reason = format!(
            "the fitted temperature {fitted:.3} does not lower held-out log-loss beyond its noise ({:.4} at 1, {:.4} fitted, ±{:.4}; {FOLDS}-fold cross-validation on {} validation rows)",
            cv_nll.0,
            cv_nll.1,
            2.0 * gain_se,
            val.len()
        );
    } else if cv_ece.1 > cv_ece.0 + noise {
        choice.reason = format!(
            "the fitted temperature {fitted:.3} raises held-out ECE beyond its noise ({:.4} at 1, {:.4} fitted, noise ±{noise:.4})",
            cv_ece.0, cv_ece.1
        );
    } else {
        choice.temperature = fitted;
        choice.kept = true;
        choice.reason = format!(
            "lowers held-out log-loss from {:.4} to {:.4} ({FOLDS}-fold cross-validation on {} validation rows) without raising ECE beyond its noise",
            cv_nll.0,
            cv_nll.1,
            val.len()
        );
    }
    Ok(choice)
}

/// Reliability diagram data of (top probability, right) pairs: per
/// non-empty bin of [`ECE_BINS`] equal-width bins, (mean confidence,
/// accuracy, rows).
pub fn reliability(pairs: &[(f32, bool)]) -> Vec<(f64, f64, usize)> {
    let mut bins = vec![(0usize, 0.0f64, 0usize); ECE_BINS];
    for &(p, ok) in pairs {
        let b = ((p as f64 * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        bins[b].0 += 1;
        bins[b].1 += p as f64;
        bins[b].2 += usize::from(ok);
    }
    bins.iter()
        .filter(|b| b.0 > 0)
        .map(|&(c, conf, right)| (conf / c as f64, right as f64 / c as f64, c))
        .collect()
}

/// Expected calibration error: the row-weighted gap between confidence
/// and accuracy over the reliability bins.
pub fn ece(pairs: &[(f32, bool)]) -> f64 {
    let n = pairs.len().max(1) as f64;
    reliability(pairs)
        .iter()
        .map(|&(conf, acc, rows)| (rows as f64 / n) * (acc - conf).abs())
        .sum()
}

/// The lowest probability threshold whose answered validation rows reach
/// `target` precision (the widest coverage that does); 1.0 when none does.
pub fn abstention_threshold(pairs: &[(f32, bool)], target: f64) -> f32 {
    let mut sorted: Vec<(f32, bool)> = pairs.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut right, mut best) = (0usize, 1.0f32);
    for (i, &(p, ok)) in sorted.iter().enumerate() {
        right += usize::from(ok);
        let next_differs = sorted.get(i + 1).is_none_or(|n| n.0 < p);
        if next_differs && right as f64 / (i + 1) as f64 >= target {
            best = p;
        }
    }
    best
}

/// Reads a cost matrix: a header `true\\decided,<class>,…` and one row per
/// true class, `<class>,<cost>,…`, classes named as in the data.
pub fn read_cost_matrix(path: &Path, names: &[String]) -> Result<Vec<f32>> {
    let csv = CsvFile::read(path)?;
    let k = names.len();
    let here = |line: usize| format!("{}:{line}", path.display());
    let cols: Vec<usize> = names
        .iter()
        .map(|n| {
            csv.headers
                .iter()
                .skip(1)
                .position(|h| h == n)
                .map(|i| i + 1)
                .with_context(|| {
                    format!(
                        "{}: no column for class `{n}`; the header must be `true\\decided,{}`",
                        here(1),
                        names.join(",")
                    )
                })
        })
        .collect::<Result<_>>()?;
    let mut m = vec![f32::NAN; k * k];
    csv.for_each_row(|r, rec| {
        let line = r + 2;
        let first = csv.text(rec, r, 0)?;
        let Some(t) = names.iter().position(|n| n == first) else {
            bail!(
                "{}:1: row `{first}` is not a class (classes: {})",
                here(line),
                names.join(", ")
            );
        };
        for (j, &c) in cols.iter().enumerate() {
            let cell = csv.text(rec, r, c)?;
            let v: f32 = csv.number(cell).filter(|v| *v >= 0.0).with_context(|| {
                format!(
                    "{}:{}: cost `{cell}` is not a number ≥ 0",
                    here(line),
                    c + 1
                )
            })?;
            m[t * k + j] = v;
        }
        Ok(())
    })?;
    if let Some(i) = m.iter().position(|v| v.is_nan()) {
        bail!(
            "{}: no row for true class `{}`; give one row per class",
            path.display(),
            names[i / k]
        );
    }
    Ok(m)
}

/// What the device decides over rows, as the decision rules stored in the
/// model make it: coverage and precision on answered rows when it
/// abstains, the mean cost when it has a cost matrix.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct DecisionFigures {
    /// Rows decided.
    pub rows: usize,
    /// Share of rows answered (not abstained).
    pub coverage: f64,
    /// Accuracy on the answered rows.
    pub precision_answered: Option<f64>,
    /// Abstention threshold stored in the model (0: never abstains).
    pub abstain_below: f32,
    /// Mean cost per row under the model's cost matrix (`None` without one).
    pub mean_cost: Option<f64>,
    /// Rows answered, and right among them.
    pub answered: (usize, usize),
}

/// What the session decided on `rows` (of `int8`, in that order) against
/// labels `y`, as the model's decision rules make it.
pub fn decision_figures(
    model: &Model<'_>,
    int8: &Int8<'_>,
    rows: &[usize],
    y: &[usize],
) -> DecisionFigures {
    let cal = model.calibration();
    let k = model.output_len();
    let (mut answered, mut right, mut cost) = (0usize, 0usize, 0.0f64);
    for (dec, &r) in int8.decisions.iter().zip(rows) {
        if !dec.abstained {
            answered += 1;
            right += usize::from(dec.index == y[r]);
        }
        cost += f64::from(cal.cost(y[r], dec.index, k));
    }
    let n = rows.len().max(1) as f64;
    DecisionFigures {
        rows: rows.len(),
        coverage: answered as f64 / n,
        precision_answered: (answered > 0).then(|| right as f64 / answered as f64),
        abstain_below: cal.abstain_below,
        mean_cost: (!cal.costs.is_empty()).then_some(cost / n),
        answered: (answered, right),
    }
}

/// What calibration did, measured on the test rows through the core.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Report {
    /// The stored temperature (1: none helped).
    pub temperature: f32,
    /// How it was chosen, and why.
    pub temperature_choice: Option<TemperatureChoice>,
    /// Validation rows it was fitted on.
    pub fitted_on: usize,
    /// ECE at temperature 1.
    pub ece_before: f64,
    /// ECE at the fitted temperature.
    pub ece_after: f64,
    /// 95% bootstrap interval of `ece_before`.
    pub ece_before_interval: (f64, f64),
    /// 95% bootstrap interval of `ece_after`.
    pub ece_after_interval: (f64, f64),
    /// Reliability bins before (confidence, accuracy, rows).
    pub reliability_before: Vec<(f64, f64, usize)>,
    /// Reliability bins after.
    pub reliability_after: Vec<(f64, f64, usize)>,
    /// Abstention threshold (0: never abstains).
    pub abstain_below: f32,
    /// Target precision asked for.
    pub target_precision: Option<f64>,
    /// Share of test rows answered.
    pub coverage: f64,
    /// Accuracy on the answered test rows.
    pub precision_answered: Option<f64>,
    /// Its 95% Wilson interval.
    pub precision_interval: Option<(f64, f64)>,
    /// Test rows answered.
    pub answered: usize,
    /// Set when the target precision is not met: the interval lies below it.
    pub warning: Option<String>,
    /// Mean cost on test rows with the argmax rule (when a cost matrix is given).
    pub cost_argmax: Option<f64>,
    /// Mean cost with the least-expected-cost rule.
    pub cost_rule: Option<f64>,
    /// Standard error of `cost_rule − cost_argmax`, from the per-row
    /// differences of the two rules on the same rows (paired): how far
    /// apart one test split can put two rules that cost the same.
    #[serde(default)]
    pub cost_difference_se: Option<f64>,
}

/// Evaluates a calibrated model on `rows` of `d` through the core.
pub fn evaluate(
    model: &Model<'_>,
    d: &Dataset,
    rows: &[usize],
    fitted_on: usize,
    target_precision: Option<f64>,
) -> Result<Report> {
    let y = classes(d);
    let cal = *model.calibration();
    let k = model.output_len();
    let scale = model.output_quant().scale;
    // Through the session: what the device decides on these rows.
    let int8 = int8_outputs(model, d, rows)?;
    let (mut before, mut after) = (vec![], vec![]);
    let mut cost_argmax = 0.0f64;
    // Per row: the rule's cost less argmax's.
    let mut differences = Vec::with_capacity(rows.len());
    for ((raw, &r), decision) in int8.levels.chunks(k).zip(rows).zip(&int8.decisions) {
        let top = level_argmax(raw);
        let p = |t: f32| level_probability(raw, scale, top, t).unwrap_or(0.0);
        before.push((p(1.0), top == y[r]));
        after.push((p(cal.temperature), top == y[r]));
        let argmax = cal.cost(y[r], top, k) as f64;
        cost_argmax += argmax;
        differences.push(cal.cost(y[r], decision.index, k) as f64 - argmax);
    }
    // The sample deviation over √n: the population one over √(n − 1).
    let cost_difference_se = (!cal.costs.is_empty() && differences.len() > 1).then(|| {
        let (_, sd) = vigie_core::math::mean_sd(&differences);
        sd / (differences.len() as f64 - 1.0).sqrt()
    });
    let decided = decision_figures(model, &int8, rows, y);
    let (answered, answered_right) = decided.answered;
    let n = rows.len().max(1) as f64;
    let has_costs = !cal.costs.is_empty();
    let precision_interval = (answered > 0).then(|| wilson(answered_right as f64, answered as f64));
    let warning = match (target_precision, precision_interval) {
        (Some(p), Some((_, hi))) if hi < p => Some(format!(
            "the target precision {p} is not met: {answered_right} of {answered} answered test rows are right ({:.4}, 95% interval {:.4} to {hi:.4}); ask for less, or give more validation rows",
            answered_right as f64 / answered as f64,
            precision_interval.map_or(0.0, |i| i.0)
        )),
        (Some(p), None) => Some(format!(
            "the target precision {p} is not met: the model abstains on every test row"
        )),
        _ => None,
    };
    Ok(Report {
        temperature: cal.temperature,
        temperature_choice: None,
        fitted_on,
        ece_before: ece(&before),
        ece_after: ece(&after),
        ece_before_interval: ece_interval(&before, 1),
        ece_after_interval: ece_interval(&after, 1),
        answered,
        precision_interval,
        warning,
        reliability_before: reliability(&before),
        reliability_after: reliability(&after),
        abstain_below: cal.abstain_below,
        target_precision,
        coverage: decided.coverage,
        precision_answered: decided.precision_answered,
        cost_argmax: has_costs.then_some(cost_argmax / n),
        cost_rule: decided.mean_cost,
        cost_difference_se,
    })
}

/// The 95% Wilson score interval of a proportion `k / n`.
pub fn wilson(k: f64, n: f64) -> (f64, f64) {
    let z = 1.959_963_984_540_054;
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The session's decision on `rows`: (its probability, whether it is
/// right), as the device decides (temperature and costs applied).
pub fn top_pairs(model: &Model<'_>, d: &Dataset, rows: &[usize]) -> Result<Vec<(f32, bool)>> {
    let y = classes(d);
    let mut memory = crate::device::Memory::new(model, None);
    let mut session = memory.session(model, None)?;
    rows.iter()
        .map(|&r| {
            let inferred = session.infer(d.row(r))?;
            Ok(match inferred.decision() {
                Some(dec) => (dec.probability, dec.index == y[r]),
                None => (0.0, false),
            })
        })
        .collect()
}
