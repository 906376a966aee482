//! Metrics of predictions against the truth.

use serde::{Deserialize, Serialize};

/// Classification metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Share of rows predicted right.
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1 scores.
    pub macro_f1: f64,
    /// `confusion[truth][prediction]` counts.
    pub confusion: Vec<Vec<usize>>,
}

/// Accuracy, macro-F1 and confusion matrix.
pub fn classification(truth: &[usize], pred: &[usize], classes: usize) -> ClassMetrics {
    let mut confusion = vec![vec![0usize; classes]; classes];
    for (&t, &p) in truth.iter().zip(pred) {
        confusion[t][p] += 1;
    }
    let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
    let f1: Vec<f64> = (0..classes)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let predicted: usize = (0..classes).map(|t| confusion[t][c]).sum();
            let actual: usize = confusion[c].iter().sum();
            if predicted + actual == 0 {
                0.0
            } else {
                2.0 * tp / (predicted + actual) as f64
            }
        })
        .collect();
    ClassMetrics {
        accuracy: correct as f64 / truth.len().max(1) as f64,
        macro_f1: f1.iter().sum::<f64>() / classes.max(1) as f64,
        confusion,
    }
}

/// Regression metrics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
}

/// MAE and RMSE.
pub fn regression(truth: &[f32], pred: &[f32]) -> RegressionMetrics {
    let n = truth.len().max(1) as f64;
    let (mut abs, mut sq) = (0.0, 0.0);
    for (&t, &p) in truth.iter().zip(pred) {
        let d = (t - p) as f64;
        abs += d.abs();
        sq += d * d;
    }
    RegressionMetrics {
        mae: abs / n,
        rmse: (sq / n).sqrt(),
    }
}

/// Float and int8 metrics on the same rows; int8 classes are the
/// session's decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum TestMetrics {
    /// A classifier.
    Classification {
        /// Rows measured.
        rows: usize,
        /// Class names.
        classes: Vec<String>,
        /// The int8 model, through vigie-core.
        int8: ClassMetrics,
        /// The float model (burn), when measured.
        float: Option<ClassMetrics>,
        /// Share of rows where float and int8 pick the same class.
        agreement: Option<f64>,
        /// Float minus int8 accuracy, in points.
        accuracy_drop_points: Option<f64>,
    },
    /// A regression.
    Regression {
        /// Rows measured.
        rows: usize,
        /// The int8 model, through vigie-core.
        int8: RegressionMetrics,
        /// The float model (burn), when measured.
        float: Option<RegressionMetrics>,
        /// Mean absolute difference of float and int8 outputs.
        float_int8_mean_abs_diff: Option<f64>,
    },
}

impl TestMetrics {
    /// Rows measured.
    pub fn rows(&self) -> usize {
        match self {
            TestMetrics::Classification { rows, .. } | TestMetrics::Regression { rows, .. } => {
                *rows
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_averages_per_class_scores() {
        // class 0: tp 2, fp 1, fn 0 → F1 0.8; class 1: tp 1, fp 0, fn 1 → F1 2/3.
        let m = classification(&[0, 0, 1, 1], &[0, 0, 1, 0], 2);
        assert_eq!(m.accuracy, 0.75);
        assert!((m.macro_f1 - (0.8 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(m.confusion, vec![vec![2, 0], vec![1, 1]]);
    }

    #[test]
    fn regression_metrics_match_hand_values() {
        let m = regression(&[1.0, 2.0, 3.0], &[1.0, 3.0, 1.0]);
        assert!((m.mae - 1.0).abs() < 1e-12);
        assert!((m.rmse - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }
}
