//! `vigie train --from OLD.vigie`: a model made right again on new data.
//! The fixture is the bundled digits read through a faulty sensor: 16
//! pixels (the image's second and third rows) read 6 levels high, clipped
//! at 16. The old model, trained on the clean digits, falls to chance on
//! it; fine-tuned from its own weights with the clean rows rehearsed, the
//! new model reads the faulty digits and still most clean ones, keeps the
//! old inputs and classes, and is signed as an update candidate.

mod common;
use common::{s, says, scratch, succeeds, train_bundled, vigie};

use serde_json::Value;

/// Writes the digits with pixels 16..32 read 6 levels high (clipped at 16).
fn faulty_digits(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(common::data("digits.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let cells: Vec<String> = line
            .split(',')
            .enumerate()
            .map(|(j, c)| match (16..32).contains(&j) {
                true => format!("{}", (c.parse::<f32>().unwrap() + 6.0).min(16.0)),
                false => c.to_owned(),
            })
            .collect();
        out += &format!("{}\n", cells.join(","));
    }
    let path = dir.join("faulty.csv");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn a_model_fine_tuned_from_the_old_one_reads_the_new_data_and_is_a_signed_candidate() {
    let dir = scratch("fine-tune");
    let old = dir.join("old.vigie");
    train_bundled(
        "digits.csv",
        "digit",
        &old,
        &["--quiet", "--time-budget", "5"],
    );
    let faulty = faulty_digits(&dir);
    let key = dir.join("k");
    succeeds(&["keygen", "--out", s(&key)]);
    let new = dir.join("new.vigie");
    let o = succeeds(&[
        "train",
        "--seed",
        "0",
        "--from",
        s(&old),
        "--data",
        s(&faulty),
        "--rehearsal",
        &common::data("digits.csv"),
        "--key",
        s(&key),
        "--out",
        s(&new),
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let compared = v["fine_tune"]["compared"].as_array().unwrap();
    assert_eq!(compared.len(), 2, "{v}");
    let (on_new, on_old) = (&compared[0], &compared[1]);
    let f = |c: &Value, k: &str| c[k].as_f64().unwrap();
    // The old model at chance on the faulty sensor; the new one reads it.
    assert!(f(on_new, "old") < 0.4, "{on_new}");
    assert!(f(on_new, "new") > 0.9, "{on_new}");
    // Most clean digits are still read, on the rows neither model trained
    // on (the old model's own test rows, by its fingerprint): a model that
    // reads both sensors gives up some of the clean accuracy (0.977 to
    // 0.856 here).
    assert!(
        on_old["data"]
            .as_str()
            .unwrap()
            .contains("neither model trained on"),
        "{on_old}"
    );
    assert!(f(on_old, "new") > 0.8, "{on_old}");
    assert!(f(on_old, "old") > 0.95, "{on_old}");
    // Every clean row is either rehearsed or held out.
    let held = on_old["rows"].as_u64().unwrap();
    assert_eq!(
        v["fine_tune"]["rehearsal_rows"].as_u64().unwrap() + held,
        1797
    );

    // The same inputs and classes: a drop-in update for the device.
    let (a, b) = (std::fs::read(&old).unwrap(), std::fs::read(&new).unwrap());
    let (a, b) = (
        vigie_core::Model::from_bytes(&a).unwrap(),
        vigie_core::Model::from_bytes(&b).unwrap(),
    );
    assert!(a.input_names().iter().eq(b.input_names().iter()));
    assert!(a.output_names().iter().eq(b.output_names().iter()));
    // Recorded in the model, and signed.
    let report = vigie_trainer::training_report::training_report(&b).unwrap();
    let fine = report.fine_tune.unwrap();
    assert!(fine.from.ends_with("old.vigie"));
    let o = succeeds(&[
        "verify",
        "--model",
        s(&new),
        "--pub",
        &format!("{}.pub", s(&key)),
    ]);
    says(&String::from_utf8_lossy(&o.stdout), "valid");
}

/// Only what `vigie train` wrote can be fine-tuned: an imported model
/// (no training report) is refused with what to do, and nothing written.
#[test]
fn fine_tuning_an_imported_model_is_refused() {
    let dir = scratch("fine-tune-imported");
    let imported = dir.join("ad01.vigie");
    succeeds(&[
        "import",
        &common::repo("models/mlperf-tiny/ad01_int8.tflite"),
        "--out",
        s(&imported),
    ]);
    let out = dir.join("new.vigie");
    let o = vigie(&[
        "train",
        "--from",
        s(&imported),
        "--data",
        &common::data("digits.csv"),
        "--target",
        "digit",
        "--out",
        s(&out),
    ]);
    assert!(!o.status.success());
    says(&String::from_utf8_lossy(&o.stderr), "no training report");
    assert!(!out.exists());
}
