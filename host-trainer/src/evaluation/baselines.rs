//! Honest baselines on the same split as the model: the majority class (or
//! the training mean), and one cheap model (1-nearest-neighbour for
//! windows, logistic or linear regression for tabular rows). A classifier
//! that does not beat the majority class by a clear margin is a blocking
//! finding: the file is still written, but `vigie train` says so, stores
//! it, and exits with status 3.

use serde::{Deserialize, Serialize};

use crate::training::fit::{Problem, Split};

/// Exit status of `vigie train` when the model is no better than the
/// majority class (the same as `check-data --strict`).
pub const NO_BETTER_EXIT: u8 = 3;

/// Standard errors of the majority rate on the test rows the model must be
/// above it by: below that, its lead may be luck.
const MARGIN_STANDARD_ERRORS: f64 = 2.0;
/// The smallest margin, in accuracy: one point.
const MIN_MARGIN: f64 = 0.01;
/// Full-batch gradient steps of the logistic and linear regressions.
const REGRESSION_STEPS: usize = 300;
/// Their largest learning rate (standardized inputs) and L2 penalty.
const REGRESSION_RATE: f64 = 0.5;
const REGRESSION_L2: f64 = 1e-4;
/// Training rows the 1-nearest-neighbour baseline compares with, at most
/// (evenly spaced): it costs test rows × training rows × inputs.
const NEAREST_ROWS: usize = 5000;

/// Power iterations that estimate the largest eigenvalue of `XᵀX/n`.
const POWER_ITERATIONS: usize = 30;
/// Room above that estimate (power iteration approaches it from below).
const CURVATURE_MARGIN: f64 = 1.25;

/// A gradient step that does not diverge: the curvature of the squared
/// loss is the largest eigenvalue of `XᵀX/n` (inputs and a bias column),
/// and that of the softmax loss at most half of it.
fn safe_rate(train: &Split, width: usize, curvature: f64) -> f64 {
    let n = train.len().max(1) as f64;
    let d = width + 1;
    let mut v = vec![1.0 / (d as f64).sqrt(); d];
    let mut lambda = 1.0;
    for _ in 0..POWER_ITERATIONS {
        let mut w = vec![0.0f64; d];
        for r in 0..train.len() {
            let x = &train.x[r * width..(r + 1) * width];
            let dot = x.iter().zip(&v).map(|(&a, b)| value(a) * b).sum::<f64>() + v[width];
            for (wi, &xi) in w.iter_mut().zip(x) {
                *wi += dot * value(xi);
            }
            w[width] += dot;
        }
        let norm = (w.iter().map(|x| x * x).sum::<f64>()).sqrt() / n;
        if norm.is_nan() || norm <= 1e-12 {
            break;
        }
        lambda = norm;
        v = w.iter().map(|x| x / (norm * n)).collect();
    }
    REGRESSION_RATE.min(1.0 / (curvature * CURVATURE_MARGIN * lambda))
}

/// The baselines of one training, on its test rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baselines {
    /// `accuracy` (classification) or `MAE` (regression).
    pub metric: String,
    /// The majority class's share of the test rows (classification), or
    /// the MAE of predicting the training mean (regression).
    pub majority: f64,
    /// The cheap model's name.
    pub cheap: String,
    /// Its test accuracy (classification) or MAE (regression, in the
    /// target's units).
    pub cheap_score: f64,
    /// The model's int8 test accuracy or MAE, for comparison.
    pub model: f64,
    /// The margin the model had to beat the majority class by.
    pub margin: f64,
    /// The blocking finding, with what to try, when the model is no better
    /// than the majority class.
    pub finding: Option<String>,
    /// A warning, with what to try, when the cheap model beats this one
    /// clearly (not blocking: the model may still be the one that fits the
    /// device).
    #[serde(default)]
    pub behind_cheap: Option<String>,
}

/// How much worse than the cheap linear model a regression's MAE may be
/// before vigie says so: 5%, beyond the noise of a test split's MAE.
const REGRESSION_BEHIND: f64 = 1.05;

/// Measures the baselines on `test` (standardized like the model's inputs)
/// and compares the model's int8 score with them. `target_scale` turns
/// standardized regression values back into the target's units.
pub fn measure(
    train: &Split,
    test: &Split,
    p: &Problem,
    model_score: f64,
    target_scale: Option<(f32, f32)>,
) -> Baselines {
    let width = p.channels * p.length;
    if p.classes > 0 {
        let mut counts = vec![0usize; p.classes];
        train.classes.iter().for_each(|&c| counts[c] += 1);
        let majority_class = (0..p.classes).max_by_key(|&c| (counts[c], usize::MAX - c));
        let n = test.len().max(1) as f64;
        let majority = test
            .classes
            .iter()
            .filter(|&&c| Some(c) == majority_class)
            .count() as f64
            / n;
        let (cheap, predicted) = if p.length > 1 {
            (
                "1-nearest-neighbour".to_string(),
                nearest(train, test, width),
            )
        } else {
            (
                "logistic regression".to_string(),
                logistic(train, test, width, p.classes),
            )
        };
        let cheap_score = predicted
            .iter()
            .zip(&test.classes)
            .filter(|(a, b)| a == b)
            .count() as f64
            / n;
        // Two standard errors, but never more than half the room left above
        // the majority rate: on a handful of test rows two standard errors
        // would ask for more than every row right.
        let margin = (MARGIN_STANDARD_ERRORS * (majority * (1.0 - majority) / n).sqrt())
            .max(MIN_MARGIN)
            .min((1.0 - majority) / 2.0);
        let finding = (model_score < majority + margin).then(|| {
            format!(
                "the model is no better than always answering the majority class: test accuracy {:.3} against {:.3} (a clear lead is {:.3} more); {cheap} reaches {:.3}. Check that the label column is the one you mean and that the features carry it; then try more rows, --time-budget, or a larger --mcu",
                model_score, majority, margin, cheap_score
            )
        });
        // The same margin below the cheap model: two standard errors of a
        // rate near it.
        let behind = (MARGIN_STANDARD_ERRORS * (cheap_score * (1.0 - cheap_score) / n).sqrt())
            .max(MIN_MARGIN);
        let behind_cheap = (finding.is_none() && model_score < cheap_score - behind).then(|| {
            format!(
                "{cheap} beats this model on the test rows: accuracy {:.3} against {:.3}. With few training rows the search is noisy: try a larger --time-budget or another --seed; when the cheap model fits your device, it may be the better choice",
                cheap_score, model_score
            )
        });
        Baselines {
            metric: "accuracy".into(),
            majority,
            cheap,
            cheap_score,
            model: model_score,
            margin,
            finding,
            behind_cheap,
        }
    } else {
        let (_, s) = target_scale.unwrap_or((0.0, 1.0));
        let mean = train.values.iter().map(|&v| v as f64).sum::<f64>() / train.len().max(1) as f64;
        let mae = |pred: &dyn Fn(usize) -> f64| -> f64 {
            test.values
                .iter()
                .enumerate()
                .map(|(i, &v)| (pred(i) - v as f64).abs())
                .sum::<f64>()
                / test.len().max(1) as f64
                * s as f64
        };
        let majority = mae(&|_| mean);
        let w = linear(train, width);
        // Finite whatever happens: the report is JSON, which has no NaN.
        let finite = |v: f64| if v.is_finite() { v } else { f64::MAX };
        let majority = finite(majority);
        let cheap_score = finite(mae(&|i| {
            predict_linear(&w, &test.x[i * width..(i + 1) * width])
        }));
        let behind_cheap = (model_score > cheap_score * REGRESSION_BEHIND).then(|| {
            format!(
                "linear regression beats this model on the test rows: MAE {:.4} against {:.4}. Try a larger --time-budget or another --seed; when a linear model is enough, the network may not be needed",
                cheap_score, model_score
            )
        });
        Baselines {
            metric: "MAE".into(),
            majority,
            cheap: "linear regression".into(),
            cheap_score,
            model: model_score,
            margin: 0.0,
            finding: None,
            behind_cheap,
        }
    }
}

/// 1-nearest-neighbour (Euclidean) class of each test row.
fn nearest(train: &Split, test: &Split, width: usize) -> Vec<usize> {
    let stride = train.len().div_ceil(NEAREST_ROWS).max(1);
    (0..test.len())
        .map(|i| {
            let x = &test.x[i * width..(i + 1) * width];
            let mut best = (f64::INFINITY, 0);
            for j in (0..train.len()).step_by(stride) {
                let y = &train.x[j * width..(j + 1) * width];
                let d: f64 = x
                    .iter()
                    .zip(y)
                    .map(|(a, b)| {
                        let d = (a - b) as f64;
                        if d.is_nan() {
                            0.0
                        } else {
                            d * d
                        }
                    })
                    .sum();
                if d < best.0 {
                    best = (d, train.classes[j]);
                }
            }
            best.1
        })
        .collect()
}

fn value(x: f32) -> f64 {
    if x.is_nan() {
        0.0 // standardized inputs: a missing value is the training mean
    } else {
        x as f64
    }
}

/// Multinomial logistic regression by full-batch gradient descent; the
/// class of each test row.
fn logistic(train: &Split, test: &Split, width: usize, k: usize) -> Vec<usize> {
    let rate = safe_rate(train, width, 0.5);
    let d = width + 1;
    let mut w = vec![0.0f64; k * d];
    let n = train.len().max(1) as f64;
    let mut probs = vec![0.0f64; k];
    let mut grad = vec![0.0f64; k * d];
    for _ in 0..REGRESSION_STEPS {
        grad.iter_mut().for_each(|g| *g = 0.0);
        for r in 0..train.len() {
            let x = &train.x[r * width..(r + 1) * width];
            scores(&w, x, d, &mut probs);
            softmax(&mut probs);
            for c in 0..k {
                let e = probs[c] - f64::from(u8::from(train.classes[r] == c));
                let g = &mut grad[c * d..(c + 1) * d];
                for (gi, &xi) in g.iter_mut().zip(x) {
                    *gi += e * value(xi);
                }
                g[width] += e;
            }
        }
        for (wi, gi) in w.iter_mut().zip(&grad) {
            *wi -= rate * (gi / n + REGRESSION_L2 * *wi);
        }
    }
    (0..test.len())
        .map(|i| {
            scores(&w, &test.x[i * width..(i + 1) * width], d, &mut probs);
            (0..k)
                .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
                .unwrap_or(0)
        })
        .collect()
}

fn scores(w: &[f64], x: &[f32], d: usize, out: &mut [f64]) {
    for (c, o) in out.iter_mut().enumerate() {
        let wc = &w[c * d..(c + 1) * d];
        *o = wc[d - 1] + wc.iter().zip(x).map(|(a, &b)| a * value(b)).sum::<f64>();
    }
}

/// Softmax of scores, in place.
pub(crate) fn softmax(v: &mut [f64]) {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - m).exp();
        sum += *x;
    }
    v.iter_mut().for_each(|x| *x /= sum.max(1e-300));
}

/// Linear regression by full-batch gradient descent on standardized
/// inputs: weights then bias.
fn linear(train: &Split, width: usize) -> Vec<f64> {
    let rate = safe_rate(train, width, 1.0);
    let mut w = vec![0.0f64; width + 1];
    let n = train.len().max(1) as f64;
    let mut grad = vec![0.0f64; width + 1];
    for _ in 0..REGRESSION_STEPS {
        grad.iter_mut().for_each(|g| *g = 0.0);
        for r in 0..train.len() {
            let x = &train.x[r * width..(r + 1) * width];
            let e = predict_linear(&w, x) - train.values[r] as f64;
            for (gi, &xi) in grad.iter_mut().zip(x) {
                *gi += e * value(xi);
            }
            grad[width] += e;
        }
        for (wi, gi) in w.iter_mut().zip(&grad) {
            *wi -= rate * (gi / n + REGRESSION_L2 * *wi);
        }
    }
    w
}

fn predict_linear(w: &[f64], x: &[f32]) -> f64 {
    let width = w.len() - 1;
    w[width]
        + w[..width]
            .iter()
            .zip(x)
            .map(|(a, &b)| a * value(b))
            .sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(x: Vec<f32>, classes: Vec<usize>) -> Split {
        Split {
            x,
            classes,
            values: vec![],
        }
    }

    /// One value per row, two classes.
    fn two_classes() -> Problem {
        Problem {
            channels: 1,
            length: 1,
            classes: 2,
            class_weights: vec![1.0, 1.0],
        }
    }

    #[test]
    fn nearest_neighbour_and_logistic_regression_separate_two_clusters() {
        let train = split(
            vec![-2.0, -1.9, -2.1, 2.0, 2.1, 1.9],
            vec![0, 0, 0, 1, 1, 1],
        );
        let test = split(vec![-1.5, 1.5], vec![0, 1]);
        assert_eq!(nearest(&train, &test, 1), vec![0, 1]);
        assert_eq!(logistic(&train, &test, 1, 2), vec![0, 1]);
    }

    #[test]
    fn a_model_at_the_majority_rate_is_a_blocking_finding() {
        let p = two_classes();
        let train = split(vec![0.0; 10], vec![0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
        let test = split(
            vec![0.0; 100],
            (0..100).map(|i| usize::from(i >= 70)).collect(),
        );
        let b = measure(&train, &test, &p, 0.70, None);
        assert!((b.majority - 0.70).abs() < 1e-12);
        // 2 standard errors of 0.7 on 100 rows: 0.092.
        assert!((b.margin - 2.0 * (0.21f64 / 100.0).sqrt()).abs() < 1e-12);
        assert!(b.finding.is_some());
        let b = measure(&train, &test, &p, 0.95, None);
        assert!(b.finding.is_none());
    }

    #[test]
    fn a_model_clearly_behind_the_cheap_baseline_is_warned_not_blocked() {
        let p = two_classes();
        // Two clusters that logistic regression separates on every test row.
        let train = split(
            vec![-2.0, -1.9, -2.1, -1.8, 2.0, 2.1, 1.9, 2.2],
            vec![0, 0, 0, 0, 1, 1, 1, 1],
        );
        let test = split(
            (0..100).map(|i| if i < 50 { -2.0 } else { 2.0 }).collect(),
            (0..100).map(|i| usize::from(i >= 50)).collect(),
        );
        let b = measure(&train, &test, &p, 0.80, None);
        assert_eq!(b.cheap_score, 1.0);
        assert!(b.finding.is_none());
        assert!(b
            .behind_cheap
            .as_deref()
            .is_some_and(|w| w.contains("beats this model")));
        // Within the margin of the cheap model: no warning.
        let b = measure(&train, &test, &p, 0.995, None);
        assert!(b.behind_cheap.is_none());
    }
}
