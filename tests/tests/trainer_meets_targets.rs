//! The trainer on the bundled data meets the accuracy targets of the
//! trainer issue, with int8 figures measured through vigie-core. (The
//! figures themselves are printed by `vigie train --json`.)

use std::path::PathBuf;

use vigie_tests::data_dir;
use vigie_trainer::evaluation::metrics::{ClassMetrics, RegressionMetrics};
use vigie_trainer::pipeline::{self, CpuBackend, Summary, TrainArgs};
use vigie_trainer::training_report::TestMetrics;

fn args(data: &str, target: &str, out: &str) -> TrainArgs {
    let mut a = TrainArgs::new(data_dir().join(data), target);
    a.out = std::env::temp_dir().join(format!("vigie-{}-{out}", std::process::id()));
    a.cpu_backend = CpuBackend::Flex;
    a
}

/// (int8, float, agreement, drop in points) of a classifier's summary.
fn classes(s: &Summary) -> (&ClassMetrics, &ClassMetrics, f64, f64) {
    match &s.test {
        TestMetrics::Classification {
            int8,
            float: Some(float),
            agreement: Some(a),
            accuracy_drop_points: Some(d),
            ..
        } => (int8, float, *a, *d),
        other => panic!("not a classifier's test metrics: {other:?}"),
    }
}

/// (int8, float) of a regression's summary.
fn regression(s: &Summary) -> (RegressionMetrics, RegressionMetrics) {
    match &s.test {
        TestMetrics::Regression {
            int8,
            float: Some(float),
            ..
        } => (*int8, *float),
        other => panic!("not a regression's test metrics: {other:?}"),
    }
}

/// The digits targets: int8 accuracy, float-to-int8 drop, argmax agreement.
const DIGITS_MIN_INT8_ACCURACY: f64 = 0.97;
const DIGITS_MAX_DROP_POINTS: f64 = 0.5;
const DIGITS_MIN_AGREEMENT: f64 = 0.99;

#[test]
fn digits_mlp_int8_accuracy_drop_and_agreement_meet_targets() {
    let s = pipeline::train(&args("digits.csv", "digit", "digits.vigie")).unwrap();
    let (int8, _, agreement, drop) = classes(&s);
    assert!(int8.accuracy >= DIGITS_MIN_INT8_ACCURACY, "{s:?}");
    assert!(drop <= DIGITS_MAX_DROP_POINTS, "{s:?}");
    assert!(agreement >= DIGITS_MIN_AGREEMENT, "{s:?}");
    // 20% of each class, rounded per class.
    assert_eq!(s.test.rows(), 359);
}

#[test]
fn digits_mlp_trains_on_the_ndarray_backend_too() {
    let mut a = args("digits.csv", "digit", "digits-ndarray.vigie");
    a.cpu_backend = CpuBackend::Ndarray;
    let s = pipeline::train(&a).unwrap();
    assert_eq!(s.backend.as_deref(), Some("ndarray (CPU)"));
    assert!(classes(&s).0.accuracy >= DIGITS_MIN_INT8_ACCURACY, "{s:?}");
}

/// BasicMotions target: int8 test accuracy of the 1-D CNN.
const BASICMOTIONS_MIN_INT8_ACCURACY: f64 = 0.95;

#[test]
fn basicmotions_cnn_int8_accuracy_meets_target() {
    let mut a = args("basicmotions_train.csv", "activity", "basicmotions.vigie");
    a.test = Some(data_dir().join("basicmotions_test.csv"));
    a.test_split = 0.0;
    let s = pipeline::train(&a).unwrap();
    assert!(
        classes(&s).0.accuracy >= BASICMOTIONS_MIN_INT8_ACCURACY,
        "{s:?}"
    );
    assert_eq!(s.test.rows(), 40);
}

/// Winequality as regression: int8 MAE within 5% of the float MAE.
const WINE_MAX_MAE_RATIO: f64 = 1.05;

#[test]
fn winequality_regression_int8_mae_is_within_five_percent_of_float() {
    let mut a = args("winequality-red.csv", "quality", "wine-regression.vigie");
    a.regression = true;
    let s = pipeline::train(&a).unwrap();
    let (int8, float) = regression(&s);
    let ratio = int8.mae / float.mae;
    assert!(
        ratio <= WINE_MAX_MAE_RATIO,
        "int8/float MAE ratio {ratio}: {s:?}"
    );
}

#[test]
fn model_file_reloads_with_its_training_report() {
    let a = args("winequality-red.csv", "quality", "wine-report.vigie");
    pipeline::train(&a).unwrap();
    let bytes = std::fs::read(&a.out).unwrap();
    let model = vigie_core::Model::from_bytes(&bytes).unwrap();
    let report = vigie_trainer::training_report::training_report(&model).expect("report section");
    assert_eq!(report.data.target, "quality");
    assert_eq!(report.seed, 0);
    assert!(report.history.epochs.len() >= report.history.best_epoch);
    // The data file is recorded by name and content, not by the absolute
    // path of the machine that trained it.
    assert_eq!(report.data.file.name, "winequality-red.csv");
    assert_eq!(report.data.file.sha256.len(), 64);
    let moved = std::env::temp_dir().join(format!("vigie-{}-moved.csv", std::process::id()));
    std::fs::copy(data_dir().join("winequality-red.csv"), &moved).unwrap();
    let record = vigie_trainer::training_report::FileRecord::of(&moved).unwrap();
    assert_eq!(record.sha256, report.data.file.sha256);
    let _ = std::fs::remove_file(moved);
    let _ = std::fs::remove_file(PathBuf::from(&a.out));
}
