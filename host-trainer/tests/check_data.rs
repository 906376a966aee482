//! `vigie check-data` and the checks `vigie train` runs, on fixtures made
//! from the real wine data with planted problems: rows shared by the
//! training and test files, a column that copies the target, a constant
//! column, 5% missing cells, and a shifted test set. Each is found with
//! the right column named; the bundled data sets show no leakage.

use std::path::Path;

mod common;
use common::{data, says, scratch, succeeds, vigie};

use serde_json::Value;

/// The wine file as (header, rows of cells).
fn wine() -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(data("winequality-red.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) -> String {
    let mut text = header.join(",") + "\n";
    for r in rows {
        text += &(r.join(",") + "\n");
    }
    std::fs::write(path, text).unwrap();
    path.display().to_string()
}

/// A strong but legitimate sensor of the quality: ten times it plus a
/// reading noise of −3..3, and the reading of a neighbouring quality on
/// one row in 200 (so a one-column rule is right on 99.5% of rows).
fn sensor_reading(quality: i64, line: u64) -> String {
    let h = line.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 33;
    let noise = (h % 7) as i64 - 3;
    let shown = if line % 200 == 0 {
        if quality > 5 {
            quality - 1
        } else {
            quality + 1
        }
    } else {
        quality
    };
    (shown * 10 + noise).to_string()
}

/// Training rows 0..1200 with a target copy, a strong sensor column, a constant column and every
/// 20th `alcohol` cell blank; test rows: 60 of the training rows plus
/// rows 1200.. (`shift` adds 1.5 to their alcohol).
fn fixtures(dir: &Path, shift: bool) -> (String, String) {
    let (mut header, rows) = wine();
    let quality = header.iter().position(|h| h == "quality").unwrap();
    let alcohol = header.iter().position(|h| h == "alcohol").unwrap();
    header.insert(quality, "quality_copy".into());
    header.insert(quality, "calibration_id".into());
    header.insert(quality, "sensor".into());
    let mut line = 0u64;
    let mut plant = |r: &Vec<String>| {
        let mut r = r.clone();
        let q = r[quality].clone();
        line += 1;
        r.insert(quality, q.clone());
        r.insert(quality, "7".into());
        r.insert(quality, sensor_reading(q.parse().unwrap(), line));
        r
    };
    let mut train: Vec<Vec<String>> = rows[..1200].iter().map(&mut plant).collect();
    for r in train.iter_mut().step_by(20) {
        r[alcohol].clear();
    }
    let mut test: Vec<Vec<String>> = rows[1200..].iter().map(&mut plant).collect();
    if shift {
        for r in &mut test {
            let v: f64 = r[alcohol].parse().unwrap();
            r[alcohol] = format!("{}", v + 1.5);
        }
    } else {
        // 60 training rows, as they are in the training file.
        test.extend(
            train[100..]
                .iter()
                .filter(|r| !r[alcohol].is_empty())
                .take(60)
                .cloned(),
        );
    }
    (
        write_csv(&dir.join("train.csv"), &header, &train),
        write_csv(&dir.join("test.csv"), &header, &test),
    )
}

fn findings(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["check-data", "--json"];
    all.extend_from_slice(args);
    let o = succeeds(&all);
    serde_json::from_slice::<Value>(&o.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The findings of `check-data` on the wine fixtures written in a folder
/// named after `test` (with the shifted test file when `shifted`), and the
/// two files' paths.
fn fixture_findings(test: &str, shifted: bool) -> (Vec<Value>, String, String) {
    let dir = scratch(test);
    let (train, test) = fixtures(&dir, shifted);
    let all = findings(&["--data", &train, "--target", "quality", "--test", &test]);
    (all, train, test)
}

fn find<'a>(all: &'a [Value], check: &str) -> Vec<&'a Value> {
    all.iter().filter(|f| f["check"] == check).collect()
}

#[test]
fn planted_problems_are_each_found_with_their_column() {
    let (all, train, test) = fixture_findings("planted", false);

    let overlap = find(&all, "train_test_overlap");
    assert_eq!(overlap.len(), 1);
    assert_eq!(overlap[0]["severity"], "blocking");
    // The 60 copied rows, plus the rows the wine file itself repeats on
    // both sides of line 1200: counted here from the files' text.
    let lines = |p: &str| -> Vec<String> {
        let text = std::fs::read_to_string(p).unwrap();
        text.lines()
            .skip(1)
            .map(|l| l.rsplit_once(',').unwrap().0.to_owned())
            .collect()
    };
    let train_rows: std::collections::HashSet<String> = lines(&train).into_iter().collect();
    let shared = lines(&test)
        .iter()
        .filter(|r| train_rows.contains(*r))
        .count();
    assert!(shared >= 60);
    assert_eq!(overlap[0]["value"].as_f64().unwrap(), shared as f64);

    let leak = find(&all, "target_leakage");
    assert_eq!(leak.len(), 1, "{leak:?}");
    assert_eq!(leak[0]["column"], "quality_copy");
    assert_eq!(leak[0]["severity"], "blocking");
    // The sensor, right on 99.5% of rows with realistic noise, is strong,
    // not a copy: a warning that says how strong.
    let strong = find(&all, "strong_feature");
    assert_eq!(strong.len(), 1, "{strong:?}");
    assert_eq!(strong[0]["column"], "sensor");
    assert_eq!(strong[0]["severity"], "warning");
    let acc = strong[0]["value"].as_f64().unwrap();
    assert!((0.99..0.999).contains(&acc), "{acc}");
    says(
        strong[0]["message"].as_str().unwrap(),
        "a strong feature, not a copy of the target",
    );

    let constant = find(&all, "constant");
    assert_eq!(constant.len(), 1);
    assert_eq!(constant[0]["column"], "calibration_id");

    let missing = find(&all, "missing");
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0]["column"], "alcohol");
    assert!((missing[0]["value"].as_f64().unwrap() - 0.05).abs() < 1e-9);

    // Blocking findings come first.
    assert_eq!(all[0]["severity"], "blocking");
    assert_eq!(all[1]["severity"], "blocking");
}

#[test]
fn a_shifted_test_set_is_named_by_its_column() {
    let (all, _, _) = fixture_findings("shift", true);
    let shift = find(&all, "shift");
    assert!(!shift.is_empty());
    // The largest shift is the planted one.
    assert_eq!(shift[0]["column"], "alcohol", "{shift:?}");
    assert!(find(&all, "train_test_overlap").is_empty());
}

#[test]
fn strict_fails_and_train_refuses_leakage_unless_allowed() {
    let dir = scratch("refuse");
    let (train, test) = fixtures(&dir, false);
    let o = vigie(&[
        "check-data",
        "--data",
        &train,
        "--target",
        "quality",
        "--test",
        &test,
        "--strict",
    ]);
    assert_eq!(o.status.code(), Some(3));

    let model = dir.join("m.vigie").display().to_string();
    let base = [
        "train", "--data", &train, "--target", "quality", "--test", &test, "--impute", "mean",
        "--quiet", "--out", &model,
    ];
    let o = vigie(&base);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("quality_copy") && err.contains("--allow-leakage"),
        "{err}"
    );
    says(&err, "test rows also appear in the training file");
    assert!(!Path::new(&model).exists());

    let mut allowed = base.to_vec();
    allowed.extend(["--allow-leakage", "--config"]);
    let cfg = dir.join("short.toml");
    std::fs::write(&cfg, "[training]\nepochs = 5\n").unwrap();
    let cfg = cfg.display().to_string();
    allowed.push(&cfg);
    succeeds(&allowed);
    // The findings travel in the model.
    let bytes = std::fs::read(&model).unwrap();
    let m = vigie_core::Model::from_bytes(&bytes).unwrap();
    let section = m
        .def()
        .section(vigie_core::format::section_kind::DATA_CHECKS)
        .unwrap();
    let stored: Vec<Value> = serde_json::from_slice(section.data).unwrap();
    assert!(stored.iter().any(|f| f["column"] == "quality_copy"));
    assert!(stored.iter().any(|f| f["check"] == "train_test_overlap"));
}

#[test]
fn bundled_data_sets_show_no_leakage() {
    for args in [
        vec!["--data", &*data("digits.csv"), "--target", "digit"],
        vec![
            "--data",
            &*data("winequality-red.csv"),
            "--target",
            "quality",
        ],
        vec![
            "--data",
            &*data("winequality-red.csv"),
            "--target",
            "quality",
            "--task",
            "regression",
        ],
        vec![
            "--data",
            &*data("basicmotions_train.csv"),
            "--test",
            &*data("basicmotions_test.csv"),
            "--target",
            "activity",
        ],
    ] {
        let all = findings(&args);
        let blocking: Vec<_> = all.iter().filter(|f| f["severity"] == "blocking").collect();
        assert!(blocking.is_empty(), "{args:?}: {blocking:?}");
    }
    // The wine file's 240 repeated rows are reported (and kept on one side
    // of the split by vigie train).
    let wine = findings(&[
        "--data",
        &data("winequality-red.csv"),
        "--target",
        "quality",
    ]);
    assert_eq!(find(&wine, "duplicates")[0]["value"], 240.0);
    assert!(find(&wine, "imbalance")[0]["value"].as_f64().unwrap() > 60.0);
}
