//! `vigie eval --group`: each group's metrics through vigie-core, the gaps
//! between groups with bootstrap intervals, and a blocking finding only
//! when a gap's whole interval lies above `--max-gap`. The fixture is the
//! bundled digits with a planted group: two in five rows of one site carry
//! a wrong label (a noisier annotator there).

mod common;
use common::{s, says, scratch, succeeds, train_bundled, vigie};

use serde_json::Value;

/// The exit status of a blocking finding (`check-data --strict` too).
const BLOCKING_EXIT: i32 = 3;

/// Writes digits with a `site` column (`a` and `b` alternately) and an
/// `age` column of many values; every pixel is nudged by `nudge`, so that
/// no row is taken for a training row, and with `noisy_b` two in five rows
/// of site `b` carry another digit's label.
fn planted(dir: &std::path::Path, name: &str, noisy_b: bool, nudge: f32) -> std::path::PathBuf {
    let text = std::fs::read_to_string(common::repo("data/digits.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut out = format!("{header},site,age\n");
    for (i, line) in lines.enumerate() {
        let site = if i % 2 == 0 { "a" } else { "b" };
        let mut cells: Vec<String> = line.split(',').map(String::from).collect();
        let mut label: u32 = cells.pop().unwrap().parse().unwrap();
        if noisy_b && site == "b" && (i / 2) % 5 < 2 {
            label = (label + 1 + (i as u32 / 10) % 9) % 10;
        }
        for c in cells.iter_mut() {
            let v: f32 = c.parse().unwrap();
            *c = format!("{}", v + nudge);
        }
        out += &format!("{},{label},{site},{}\n", cells.join(","), 20 + (i * 7) % 50);
    }
    let path = dir.join(name);
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn a_group_the_model_fails_is_a_blocking_finding_and_a_fair_split_is_not() {
    let dir = scratch("groups");
    let model = dir.join("d.vigie");
    train_bundled("digits.csv", "digit", &model, &["--quiet"]);
    let eval = |data: &std::path::Path, group: &str| {
        vigie(&[
            "eval",
            "--json",
            "--model",
            s(&model),
            "--data",
            s(data),
            "--group",
            group,
        ])
    };

    // Site b's labels noisier: its accuracy falls, the gap's interval
    // lies above 0.1, and eval exits with the blocking status.
    let biased = planted(&dir, "biased.csv", true, 0.25);
    let o = eval(&biased, "site");
    assert_eq!(
        o.status.code(),
        Some(BLOCKING_EXIT),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let g = &v["groups"];
    let by: Vec<&Value> = g["by_group"].as_array().unwrap().iter().collect();
    assert_eq!(by.len(), 2);
    let accuracy = |name: &str| {
        by.iter().find(|b| b["group"] == name).unwrap()["accuracy"]
            .as_f64()
            .unwrap()
    };
    let (a, b) = (accuracy("site=a"), accuracy("site=b"));
    assert!(a > 0.9 && b < a - 0.2, "site a {a}, site b {b}");
    let gap = g["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "accuracy_difference")
        .unwrap();
    assert!(
        (gap["value"].as_f64().unwrap() - (a - b)).abs() < 1e-9,
        "{gap}"
    );
    assert!(
        gap["interval"][0].as_f64().unwrap() > 0.1 && gap["blocking"] == true,
        "{gap}"
    );
    // Equalized odds shows the group too: its true positive rates fall.
    let odds = g["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "equalized_odds_difference")
        .unwrap();
    assert!(odds["blocking"] == true, "{odds}");
    let fnr = |name: &str| -> f64 {
        let b = by.iter().find(|b| b["group"] == name).unwrap();
        let v = b["false_negative_rate"].as_array().unwrap();
        v.iter().map(|x| x.as_f64().unwrap()).sum::<f64>() / v.len() as f64
    };
    assert!(
        fnr("site=b") > fnr("site=a") + 0.2,
        "{} against {}",
        fnr("site=b"),
        fnr("site=a")
    );
    // fairlearn's names for the other two gaps.
    for name in ["demographic_parity_difference", "equalized_odds_difference"] {
        assert!(
            g["gaps"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == name),
            "{name}"
        );
    }
    // Each group has per-class rates, one per digit.
    assert_eq!(by[0]["false_negative_rate"].as_array().unwrap().len(), 10);

    // The same sites without the noise: no gap blocks, exit 0.
    let fair = planted(&dir, "fair.csv", false, 0.25);
    let o = eval(&fair, "site");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["groups"]["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["blocking"] == false));

    // A numeric column of many values is binned at its quartiles, and the
    // bins are stated.
    let o = succeeds(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&fair),
        "--group",
        "age",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    says(
        &text,
        "age: numeric with 50 values, binned at its quartiles",
    );
    says(&text, "equalized_odds_difference");
}

#[test]
fn a_group_column_that_is_not_in_the_file_is_named() {
    let dir = scratch("groups-missing");
    let model = dir.join("d.vigie");
    train_bundled("digits.csv", "digit", &model, &["--quiet"]);
    let o = vigie(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        &common::repo("data/digits.csv"),
        "--group",
        "sitee",
    ]);
    assert!(!o.status.success());
    says(&String::from_utf8_lossy(&o.stderr), "sitee");
}

/// `check-data --group` on digits with a planted `site`: site `b` holds
/// every 3 and a tenth of the rest (its label mix differs), and site `c`
/// is 12 rows with an empty pixel each (too small, and its cells missing
/// where the others' are not).
#[test]
fn check_data_per_group_names_the_skewed_the_small_and_the_holed_group() {
    let dir = scratch("groups-check");
    let text = std::fs::read_to_string(common::repo("data/digits.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{},site\n", lines.next().unwrap());
    for (i, line) in lines.enumerate() {
        let label = line.rsplit(',').next().unwrap();
        let (row, site) = if i < 12 {
            (line.to_owned(), "c")
        } else if label == "3" || i % 10 == 0 {
            (line.to_owned(), "b")
        } else {
            (line.to_owned(), "a")
        };
        // Site c: its second pixel emptied.
        let row = if site == "c" {
            let mut cells: Vec<&str> = row.split(',').collect();
            cells[1] = "";
            cells.join(",")
        } else {
            row
        };
        out += &format!("{row},{site}\n");
    }
    let path = dir.join("sites.csv");
    std::fs::write(&path, out).unwrap();
    let o = succeeds(&[
        "check-data",
        "--json",
        "--data",
        s(&path),
        "--target",
        "digit",
        "--drop",
        "site",
        "--group",
        "site",
    ]);
    let findings: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let named = |check: &str, group: &str| {
        findings
            .iter()
            .find(|f| f["check"] == check && f["message"].as_str().unwrap().starts_with(group))
            .unwrap_or_else(|| panic!("no {check} for {group}: {findings:?}"))
            .clone()
    };
    let mix = named("group_label_mix", "site=b");
    says(mix["message"].as_str().unwrap(), "class 3");
    let small = named("group_too_small", "site=c");
    says(small["message"].as_str().unwrap(), "about 385 test rows");
    named("group_missing", "site=c");
    let share = named("group_share", "site=a");
    assert!(share["value"].as_f64().unwrap() > 0.7, "{share}");
    // Site a is neither small nor holed (its mix, which lacks the 3s,
    // differs from the others' too).
    let about_a = |f: &&Value| f["message"].as_str().unwrap().starts_with("site=a");
    assert!(!findings
        .iter()
        .filter(about_a)
        .any(|f| f["check"] == "group_too_small" || f["check"] == "group_missing"));
}

/// `train --group site --audit-only`: the site is not an input, the test
/// split's groups are measured through the int8 model and stored in the
/// model; a gap above --max-gap writes the file and exits with status 3,
/// and `--allow-gap` accepts it, recorded in the model.
#[test]
fn train_measures_groups_on_the_test_split_and_a_gap_blocks_unless_allowed() {
    let dir = scratch("groups-train");
    // Nudged apart from the test file, so that no row is in both.
    let fair = planted(&dir, "fair.csv", false, 0.5);
    let biased = planted(&dir, "biased.csv", true, 0.25);
    let model = dir.join("m.vigie");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--quiet",
            "--data",
            s(&fair),
            "--test",
            s(&biased),
            "--target",
            "digit",
            "--time-budget",
            "5",
            "--group",
            "site",
            "--audit-only",
            "--drop",
            "age",
            "--force",
            "--out",
            s(&model),
        ];
        args.extend_from_slice(extra);
        vigie(&args)
    };
    let o = train(&[]);
    assert_eq!(
        o.status.code(),
        Some(BLOCKING_EXIT),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    says(&String::from_utf8_lossy(&o.stdout), "BLOCKING");
    let bytes = std::fs::read(&model).unwrap();
    let m = vigie_core::Model::from_bytes(&bytes).unwrap();
    assert!(!m.input_names().iter().any(|n| n == "site" || n == "age"));
    let report = vigie_trainer::training_report::training_report(&m).unwrap();
    let g = report.groups.unwrap();
    assert!(g.blocking() && !g.allowed);
    assert_eq!(g.by_group.len(), 2);

    let o = train(&["--allow-gap"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    says(&String::from_utf8_lossy(&o.stdout), "allowed");
    let bytes = std::fs::read(&model).unwrap();
    let m = vigie_core::Model::from_bytes(&bytes).unwrap();
    let g = vigie_trainer::training_report::training_report(&m)
        .unwrap()
        .groups
        .unwrap();
    assert!(g.blocking() && g.allowed);

    // The model card's per-group section: the plot and both groups.
    let page = dir.join("card.html");
    succeeds(&["report", "--model", s(&model), "--out", s(&page)]);
    let html = std::fs::read_to_string(&page).unwrap();
    let at = html.find("<section id=\"groups\">").unwrap();
    let section = &html[at..at + html[at..].find("</section>").unwrap()];
    // One plot per metric: accuracy, ECE and the three per-class rates.
    assert_eq!(section.matches("<svg").count(), 5, "one plot per metric");
    says(section, "site=a");
    says(section, "site=b");
    says(section, "equalized_odds_difference");
    says(section, "allowed (--allow-gap)");

    // `report --data --group` measures the rows given instead, and the
    // page renders in headless Chromium with the section's plot.
    let page = dir.join("card-data.html");
    succeeds(&[
        "report",
        "--model",
        s(&model),
        "--data",
        s(&biased),
        "--group",
        "site",
        "--out",
        s(&page),
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    says(&html, "rows of");
    let Some(browser) = common::chromium() else {
        eprintln!("SKIPPED rendering: no chromium (apt-get install chromium)");
        return;
    };
    let dom = std::process::Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    let at = dom
        .find("id=\"groups\"")
        .expect("rendered DOM lacks the groups section");
    let section = &dom[at..at + dom[at..].find("</section>").unwrap()];
    assert!(
        section.contains("<svg") && section.contains("site=b"),
        "{section}"
    );
}

/// A fixture that `bench/groups_fairlearn.py` wrote
/// (`host-trainer/tests/data/FILE`: `group,y_true,y_pred`): each row's
/// group index and its other cells, the expected figures
/// (`fairlearn_expected.json`), and the three groups a, b and c.
fn fairlearn_fixture(
    file: &str,
) -> (
    Vec<(usize, Vec<String>)>,
    Value,
    vigie_trainer::evaluation::groups::Groups,
) {
    let read = |f: &str| {
        std::fs::read_to_string(common::repo(&format!("host-trainer/tests/data/{f}"))).unwrap()
    };
    let names = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
    let cells = read(file)
        .lines()
        .skip(1)
        .map(|l| {
            let mut c = l.split(',').map(String::from);
            let group = c.next().unwrap();
            (names.iter().position(|n| *n == group).unwrap(), c.collect())
        })
        .collect();
    let expected = serde_json::from_str(&read("fairlearn_expected.json")).unwrap();
    let groups = vigie_trainer::evaluation::groups::Groups {
        columns: vec!["group".into()],
        notes: vec![],
        names,
        of_row: vec![],
    };
    (cells, expected, groups)
}

/// A vigie figure against fairlearn's, to 1e-12.
fn close(a: f64, b: &Value, what: &str) {
    let b = b.as_f64().unwrap();
    assert!((a - b).abs() < 1e-12, "{what}: vigie {a}, fairlearn {b}");
}

/// Agreement with fairlearn to 1e-12 on the same 600 binary predictions in
/// three groups: MetricFrame's by-group accuracy, selection rate, false
/// positive and false negative rates (positive label 1), and the
/// accuracy, demographic parity and equalized-odds differences. The
/// expected figures come from `bench/groups_fairlearn.py` (fairlearn
/// 0.12.0), which also wrote the predictions.
#[test]
fn the_group_metrics_and_gaps_are_fairlearns() {
    use vigie_trainer::evaluation::groups::{report, Row};
    let (cells, expected, groups) = fairlearn_fixture("fairlearn_predictions.csv");
    let rows: Vec<Row> = cells
        .iter()
        .map(|(group, c)| Row {
            group: *group,
            truth: c[0].parse().unwrap(),
            decided: c[1].parse().unwrap(),
            confidence: 0.5,
        })
        .collect();
    assert_eq!(rows.len(), 600);
    let classes = vec!["0".to_owned(), "1".to_owned()];
    let r = report(&rows, &groups, &classes, 0.1);
    for g in &r.by_group {
        let e = &expected["by_group"][&g.group];
        close(g.accuracy, &e["accuracy"], "accuracy");
        close(g.selection_rate[1], &e["selection_rate"], "selection_rate");
        close(
            g.false_positive_rate[1],
            &e["false_positive_rate"],
            "false_positive_rate",
        );
        close(
            g.false_negative_rate[1],
            &e["false_negative_rate"],
            "false_negative_rate",
        );
    }
    assert_eq!(r.by_group.len(), 3);
    for gap in &r.gaps {
        close(gap.value, &expected[&gap.name], &gap.name);
    }
    assert_eq!(r.gaps.len(), 3);
}

/// The same agreement for a regression, on 450 predictions in three
/// groups with their own errors and biases (`fairlearn_regression.csv`,
/// from the same script): MetricFrame's by-group mean absolute error and
/// mean error, and their differences between groups.
#[test]
fn the_regression_group_metrics_and_gaps_are_fairlearns() {
    use vigie_trainer::evaluation::groups::{report_values, ValueRow};
    let (cells, expected, groups) = fairlearn_fixture("fairlearn_regression.csv");
    let expected = &expected["regression"];
    let rows: Vec<ValueRow> = cells
        .iter()
        .map(|(group, c)| ValueRow {
            group: *group,
            truth: c[0].parse().unwrap(),
            predicted: c[1].parse().unwrap(),
        })
        .collect();
    assert_eq!(rows.len(), 450);
    let r = report_values(&rows, &groups, 0.1);
    for g in &r.by_group {
        let e = &expected["by_group"][&g.group];
        let v = g.regression.as_ref().unwrap();
        close(v.mean_absolute_error, &e["mean_absolute_error"], "MAE");
        close(v.mean_error, &e["mean_error"], "mean error");
        let i = v.mean_absolute_error_interval;
        assert!(i.0 <= v.mean_absolute_error && v.mean_absolute_error <= i.1);
    }
    assert_eq!(r.by_group.len(), 3);
    assert_eq!(r.gaps.len(), 2);
    for gap in &r.gaps {
        close(gap.value, &expected[&gap.name], &gap.name);
    }
    // Group b's error is three times a's: the MAE gap blocks at 0.1 of the
    // target's standard deviation (about 2.9 for a uniform truth in
    // [0, 10)).
    assert!(r.gaps[0].blocking, "{:?}", r.gaps[0]);
}

/// Red wine quality as a regression, measured on rows it was not trained
/// on with a planted `site` (`a` and `b` alternately). With the quality
/// of two in five site-b rows moved by 2 (a sloppier taster there), its
/// mean absolute error rises, the `mean_absolute_error_difference`'s
/// interval lies above 0.1 of the target's standard deviation, and eval
/// exits with the blocking status; without it nothing blocks.
#[test]
fn a_regression_group_with_noisier_targets_blocks_and_a_fair_split_does_not() {
    let dir = scratch("groups-regression");
    let text = std::fs::read_to_string(common::data("winequality-red.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let (mut train, mut fair, mut noisy) = (
        format!("{header}\n"),
        format!("{header},site\n"),
        format!("{header},site\n"),
    );
    let mut held_out = 0;
    for (i, line) in lines.enumerate() {
        if i % 10 < 6 {
            train += &format!("{line}\n");
            continue;
        }
        let j = held_out;
        held_out += 1;
        let site = if j % 2 == 0 { "a" } else { "b" };
        let (cells, quality) = line.rsplit_once(',').unwrap();
        let quality: f32 = quality.parse().unwrap();
        let moved = if site == "b" && (j / 2) % 5 < 2 {
            quality + if (j / 2) % 5 == 0 { 2.0 } else { -2.0 }
        } else {
            quality
        };
        fair += &format!("{line},{site}\n");
        noisy += &format!("{cells},{moved},{site}\n");
    }
    let paths = ["train.csv", "fair.csv", "noisy.csv"].map(|n| dir.join(n));
    for (p, t) in paths.iter().zip([&train, &fair, &noisy]) {
        std::fs::write(p, t).unwrap();
    }
    let model = dir.join("w.vigie");
    succeeds(&[
        "train",
        "--quiet",
        "--seed",
        "0",
        "--task",
        "regression",
        "--data",
        s(&paths[0]),
        "--target",
        "quality",
        "--time-budget",
        "5",
        "--out",
        s(&model),
    ]);
    let eval = |data: &std::path::Path| {
        vigie(&[
            "eval",
            "--json",
            "--model",
            s(&model),
            "--data",
            s(data),
            "--group",
            "site",
        ])
    };
    let o = eval(&paths[2]);
    assert_eq!(
        o.status.code(),
        Some(BLOCKING_EXIT),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let g = &v["groups"];
    let mae = |name: &str| {
        g["by_group"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["group"] == name)
            .unwrap()["regression"]["mean_absolute_error"]
            .as_f64()
            .unwrap()
    };
    // Two in five rows off by 2 add about 0.8 to site b's error.
    assert!(mae("site=b") > mae("site=a") + 0.5, "{g}");
    let gap = &g["gaps"][0];
    assert_eq!(gap["name"], "mean_absolute_error_difference");
    assert!(gap["blocking"] == true, "{gap}");

    let o = eval(&paths[1]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["groups"]["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["blocking"] == false));
    let text = String::from_utf8_lossy(
        &succeeds(&[
            "eval",
            "--model",
            s(&model),
            "--data",
            s(&paths[1]),
            "--group",
            "site",
        ])
        .stdout,
    )
    .into_owned();
    says(&text, "mean absolute error");
    says(&text, "gaps in the target's units");
}

/// Penguins by sex: 11 rows have no sex recorded. Their group is named
/// `sex=(empty)`, is too small to take part in the gaps, and has no row of
/// some species, so some of its rates are undefined; the model trained
/// with `--group sex` still keeps its whole training report, and the card
/// shows the section with a plot per metric.
#[test]
fn an_empty_group_value_is_named_and_its_undefined_rates_keep_the_report() {
    let dir = scratch("groups-penguins");
    let model = dir.join("p.vigie");
    let o = succeeds(&[
        "train",
        "--seed",
        "0",
        "--data",
        &common::data("penguins.csv"),
        "--target",
        "species",
        "--impute",
        "median",
        "--time-budget",
        "5",
        "--group",
        "sex",
        "--out",
        s(&model),
    ]);
    says(&String::from_utf8_lossy(&o.stdout), "sex=(empty)");
    let bytes = std::fs::read(&model).unwrap();
    let m = vigie_core::Model::from_bytes(&bytes).unwrap();
    let report = vigie_trainer::training_report::training_report(&m)
        .expect("the training report reads back");
    let g = report.groups.unwrap();
    let empty = g
        .by_group
        .iter()
        .find(|b| b.group == "sex=(empty)")
        .unwrap();
    assert!(empty.too_small);
    let page = dir.join("card.html");
    succeeds(&["report", "--model", s(&model), "--out", s(&page)]);
    let html = std::fs::read_to_string(&page).unwrap();
    let at = html.find("<section id=\"groups\">").unwrap();
    let section = &html[at..at + html[at..].find("</section>").unwrap()];
    // Accuracy, ECE, selection, false positive and false negative rates.
    assert_eq!(section.matches("<svg").count(), 5, "{section}");
    for caption in [
        "accuracy per group",
        "ECE per group",
        "selection rate of class",
        "false positive rate of class",
        "false negative rate of class",
    ] {
        says(section, caption);
    }
    says(section, "sex=(empty)");
}
