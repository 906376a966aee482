//! No command writes over one of its own inputs, whatever the path looks
//! like (the same name, a symbolic link, a hard link), and none replaces an
//! existing file of another kind without `--force`. Each refused input is
//! byte for byte what it was.

use std::path::{Path, PathBuf};

mod common;
use common::{data, refused, refused_line, s, says, scratch, succeeds, train_quick_wine};

/// `vigie predict` of `model` over `csv` into `out`.
fn predict_args<'a>(model: &'a Path, csv: &'a Path, out: &'a Path) -> [&'a str; 7] {
    [
        "predict",
        "--model",
        s(model),
        "--data",
        s(csv),
        "--out",
        s(out),
    ]
}

/// A copy of the wine data in a scratch folder, as a user's own file.
fn wine_copy(dir: &Path) -> PathBuf {
    let p = dir.join("w.csv");
    std::fs::copy(data("winequality-red.csv"), &p).unwrap();
    p
}

/// A scratch folder holding a copy of the wine data and a quick model
/// trained on it: (folder, data, model).
fn wine_and_model(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = scratch(name);
    let csv = wine_copy(&dir);
    let model = dir.join("m.vigie");
    train_quick_wine(&csv, &model, &[]);
    (dir, csv, model)
}

#[test]
fn train_refuses_to_write_its_model_over_the_training_data_even_with_force() {
    let dir = scratch("out-train");
    let csv = wine_copy(&dir);
    let before = std::fs::read(&csv).unwrap();
    let train = |out: &Path| {
        format!(
            "train --quiet --data {} --target quality --out {}",
            s(&csv),
            s(out)
        )
    };
    for extra in ["", " --force"] {
        let err = refused_line(&format!("{}{extra}", train(&csv)));
        says(&err, "that is the file given as --data");
        says(&err, "--force never overwrites an input");
    }
    // Through a symbolic link and a hard link too.
    let link = dir.join("link.csv");
    std::os::unix::fs::symlink(&csv, &link).unwrap();
    let hard = dir.join("hard.csv");
    std::fs::hard_link(&csv, &hard).unwrap();
    for out in [&link, &hard] {
        let err = refused_line(&train(out));
        says(&err, "given as --data");
    }
    assert_eq!(std::fs::read(&csv).unwrap(), before);
}

#[test]
fn predict_report_strip_and_stream_refuse_to_write_over_their_inputs() {
    let (_, csv, model) = wine_and_model("out-commands");
    let (csv_bytes, model_bytes) = (std::fs::read(&csv).unwrap(), std::fs::read(&model).unwrap());
    let (m, c) = (s(&model), s(&csv));
    let cases = [
        format!("predict --model {m} --data {c} --out {c}"),
        format!("predict --model {m} --data {c} --out {m}"),
        format!("report --model {m} --out {m}"),
        format!("report --model {m} --data {c} --out {c}"),
        format!("strip --model {m} --out {m}"),
        format!(
            "stream --model {m} --data {c} --target quality --fault-channel alcohol --offset 1 --out {c}"
        ),
    ];
    for line in cases {
        let err = refused_line(&line);
        assert!(err.contains("that is the file given as"), "{line}: {err}");
        refused_line(&format!("{line} --force"));
    }
    assert_eq!(std::fs::read(&csv).unwrap(), csv_bytes);
    assert_eq!(std::fs::read(&model).unwrap(), model_bytes);
}

#[test]
fn an_existing_file_of_another_kind_needs_force_and_the_same_kind_does_not() {
    let (dir, csv, model) = wine_and_model("out-kinds");
    // An unrelated model where the card would go: refused, then replaced
    // with --force.
    let other = dir.join("other.vigie");
    std::fs::copy(&model, &other).unwrap();
    let err = refused(&["report", "--model", s(&model), "--out", s(&other)]);
    assert!(
        err.contains("holds a vigie model, not an HTML page") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&other).unwrap(),
        std::fs::read(&model).unwrap()
    );
    succeeds(&[
        "report",
        "--model",
        s(&model),
        "--out",
        s(&other),
        "--force",
    ]);
    assert!(std::fs::read_to_string(&other)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    // Another data file where predictions would go: refused without --force.
    let notes = dir.join("notes.csv");
    std::fs::write(&notes, "a,b\n1,2\n").unwrap();
    let err = refused(&predict_args(&model, &csv, &notes));
    says(&err, "holds a text or CSV file");
    // Predictions over earlier predictions: the same kind, no --force.
    let preds = dir.join("p.csv");
    for _ in 0..2 {
        succeeds(&predict_args(&model, &csv, &preds));
    }
    // Retraining over an earlier model is the same kind.
    train_quick_wine(&csv, &model, &[]);
}
