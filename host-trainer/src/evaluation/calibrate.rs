//! Errors people can live with: temperature scaling fitted on validation
//! rows, an abstention threshold for a target precision, and a cost matrix,
//! all evaluated through vigie-core (`Output::probability_at`,
//! `Output::decide`) and stored as the model's calibration section.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use vigie_core::Model;

use crate::data::{CsvFile, Dataset, Target};

/// Bins of the expected calibration error.
pub const ECE_BINS: usize = 15;
/// Fewer validation rows than this leave the temperature at 1: a handful
/// of rows, all right, would push it towards 0 (certainty).
pub const MIN_ROWS_FOR_TEMPERATURE: usize = 30;
/// Temperatures searched, as `ln T`.
const LN_T_RANGE: (f64, f64) = (-3.0, 3.0);

/// One row through the core: per-class probabilities at temperature `t`.
fn probabilities(model: &Model<'_>, arena: &mut [i8], x: &[f32], t: f32) -> Result<Vec<f32>> {
    let out = model.run(x, arena)?;
    Ok((0..out.len())
        .map(|i| out.probability_at(i, t).unwrap_or(0.0))
        .collect())
}

fn classes(d: &Dataset) -> &[usize] {
    match &d.target {
        Target::Classes { y, .. } => y,
        Target::Values { .. } => &[],
    }
}

/// Mean negative log-likelihood of `rows` at temperature `t`.
fn nll(model: &Model<'_>, d: &Dataset, rows: &[usize], t: f32) -> Result<f64> {
    let mut arena = vec![0i8; model.arena_len()];
    let y = classes(d);
    let mut sum = 0.0;
    for &r in rows {
        let p = probabilities(model, &mut arena, d.row(r), t)?;
        sum -= (p[y[r]].max(1e-12) as f64).ln();
    }
    Ok(sum / rows.len().max(1) as f64)
}

/// The temperature minimizing validation NLL (golden-section search on
/// `ln T`), or 1 with too few rows.
pub fn fit_temperature(model: &Model<'_>, d: &Dataset, val: &[usize]) -> Result<f32> {
    if val.len() < MIN_ROWS_FOR_TEMPERATURE {
        return Ok(1.0);
    }
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = LN_T_RANGE;
    let f = |lt: f64| nll(model, d, val, lt.exp() as f32);
    let mut c = b - g * (b - a);
    let mut e = a + g * (b - a);
    let (mut fc, mut fe) = (f(c)?, f(e)?);
    for _ in 0..40 {
        if fc < fe {
            b = e;
            e = c;
            fe = fc;
            c = b - g * (b - a);
            fc = f(c)?;
        } else {
            a = c;
            c = e;
            fc = fe;
            e = a + g * (b - a);
            fe = f(e)?;
        }
    }
    Ok(((a + b) / 2.0).exp() as f32)
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
}

/// What calibration did, measured on the test rows through the core.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Report {
    /// Fitted temperature (1: not fitted).
    pub temperature: f32,
    /// Validation rows it was fitted on.
    pub fitted_on: usize,
    /// ECE at temperature 1.
    pub ece_before: f64,
    /// ECE at the fitted temperature.
    pub ece_after: f64,
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
    /// Mean cost on test rows with the argmax rule (when a cost matrix is given).
    pub cost_argmax: Option<f64>,
    /// Mean cost with the least-expected-cost rule.
    pub cost_rule: Option<f64>,
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
    let mut arena = vec![0i8; model.arena_len()];
    let cal = *model.calibration();
    let k = model.output_len();
    let (mut before, mut after) = (vec![], vec![]);
    let (mut answered, mut answered_right) = (0usize, 0usize);
    let (mut cost_argmax, mut cost_rule) = (0.0f64, 0.0f64);
    for &r in rows {
        let out = model.run(d.row(r), &mut arena)?;
        let top = out.argmax();
        before.push((out.probability_at(top, 1.0).unwrap_or(0.0), top == y[r]));
        after.push((out.probability(top).unwrap_or(0.0), top == y[r]));
        let decision = out.decide()?;
        if !decision.abstained {
            answered += 1;
            answered_right += usize::from(decision.index == y[r]);
        }
        cost_argmax += cal.cost(y[r], top, k) as f64;
        cost_rule += cal.cost(y[r], decision.index, k) as f64;
    }
    let n = rows.len().max(1) as f64;
    let has_costs = !cal.costs.is_empty();
    Ok(Report {
        temperature: cal.temperature,
        fitted_on,
        ece_before: ece(&before),
        ece_after: ece(&after),
        reliability_before: reliability(&before),
        reliability_after: reliability(&after),
        abstain_below: cal.abstain_below,
        target_precision,
        coverage: answered as f64 / n,
        precision_answered: (answered > 0).then(|| answered_right as f64 / answered as f64),
        cost_argmax: has_costs.then_some(cost_argmax / n),
        cost_rule: has_costs.then_some(cost_rule / n),
    })
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
