//! The trainer on the bundled data meets the accuracy targets of the
//! trainer issue, with int8 figures measured through vigie-core. (The
//! figures themselves are printed by `vigie train --json`.)

use std::path::PathBuf;

use serde_json::Value;
use vigie_tests::data_dir;
use vigie_trainer::pipeline::{self, CpuBackend, TrainArgs};

fn args(data: &str, target: &str, out: &str) -> TrainArgs {
    let mut a = TrainArgs::new(data_dir().join(data), target);
    a.out = std::env::temp_dir().join(format!("vigie-{}-{out}", std::process::id()));
    a.cpu_backend = CpuBackend::Flex;
    a
}

fn f(v: &Value, path: &[&str]) -> f64 {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_f64()
        .unwrap_or_else(|| panic!("{path:?} in {v}"))
}

/// The digits targets: int8 accuracy, float-to-int8 drop, argmax agreement.
const DIGITS_MIN_INT8_ACCURACY: f64 = 0.97;
const DIGITS_MAX_DROP_POINTS: f64 = 0.5;
const DIGITS_MIN_AGREEMENT: f64 = 0.99;

#[test]
fn digits_mlp_int8_accuracy_drop_and_agreement_meet_targets() {
    let s = pipeline::train(&args("digits.csv", "digit", "digits.vigie")).unwrap();
    assert!(
        f(&s, &["int8", "accuracy"]) >= DIGITS_MIN_INT8_ACCURACY,
        "{s}"
    );
    assert!(
        f(&s, &["accuracy_drop_points"]) <= DIGITS_MAX_DROP_POINTS,
        "{s}"
    );
    assert!(f(&s, &["agreement"]) >= DIGITS_MIN_AGREEMENT, "{s}");
    // 20% of each class, rounded per class.
    assert_eq!(s["rows"], 359);
}

#[test]
fn digits_mlp_trains_on_the_ndarray_backend_too() {
    let mut a = args("digits.csv", "digit", "digits-ndarray.vigie");
    a.cpu_backend = CpuBackend::Ndarray;
    let s = pipeline::train(&a).unwrap();
    assert_eq!(s["backend"], "ndarray (CPU)");
    assert!(
        f(&s, &["int8", "accuracy"]) >= DIGITS_MIN_INT8_ACCURACY,
        "{s}"
    );
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
        f(&s, &["int8", "accuracy"]) >= BASICMOTIONS_MIN_INT8_ACCURACY,
        "{s}"
    );
    assert_eq!(s["rows"], 40);
}

/// Winequality as regression: int8 MAE within 5% of the float MAE.
const WINE_MAX_MAE_RATIO: f64 = 1.05;

#[test]
fn winequality_regression_int8_mae_is_within_five_percent_of_float() {
    let mut a = args("winequality-red.csv", "quality", "wine-regression.vigie");
    a.regression = true;
    let s = pipeline::train(&a).unwrap();
    let ratio = f(&s, &["int8", "mae"]) / f(&s, &["float", "mae"]);
    assert!(
        ratio <= WINE_MAX_MAE_RATIO,
        "int8/float MAE ratio {ratio}: {s}"
    );
}

#[test]
fn model_file_reloads_with_its_training_report() {
    let a = args("winequality-red.csv", "quality", "wine-report.vigie");
    pipeline::train(&a).unwrap();
    let bytes = std::fs::read(&a.out).unwrap();
    let model = vigie_core::Model::from_bytes(&bytes).unwrap();
    let report = vigie_trainer::commands::training_report(&model).expect("report section");
    assert_eq!(report["data"]["target"], "quality");
    assert_eq!(report["seed"], 0);
    assert!(
        report["history"]["epochs"].as_array().unwrap().len()
            >= report["history"]["best_epoch"].as_u64().unwrap() as usize
    );
    let _ = std::fs::remove_file(PathBuf::from(&a.out));
}
