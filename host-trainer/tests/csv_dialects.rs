//! Files as people have them: semicolon-separated with decimal commas,
//! tab-separated, a byte-order mark with CRLF line ends, text columns and
//! holes (the Palmer penguins), one empty cell among good rows.

use std::path::{Path, PathBuf};

mod common;
use common::{data, repo, s, says, scratch, succeeds, train_quick_wine, vigie};

/// Writes `text` as `name` in `dir`.
fn write(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Trains a quick wine model on `csv` into `dir/m.vigie`, strips it, and
/// returns the device copy's bytes and standard error.
fn device_copy(dir: &Path, csv: &Path) -> (Vec<u8>, String) {
    let model = dir.join("m.vigie");
    let stderr = train_quick_wine(csv, &model, &[]);
    let device = dir.join("d.vigie");
    succeeds(&["strip", "--model", s(&model), "--out", s(&device)]);
    (std::fs::read(device).unwrap(), stderr)
}

#[test]
fn semicolons_with_decimal_commas_tabs_and_bom_with_crlf_train_the_same_model() {
    let plain = std::fs::read_to_string(data("winequality-red.csv")).unwrap();
    let dir = scratch("dialect-plain");
    let (reference, said) = device_copy(&dir, Path::new(&data("winequality-red.csv")));
    assert!(!said.contains("read as"), "{said}");
    let european = plain.replace(',', ";").replace('.', ",");
    let tabs = plain.replace(',', "\t");
    let windows = format!("\u{feff}{}", plain.replace('\n', "\r\n"));
    for (name, text, says) in [
        (
            "semicolons",
            european,
            Some("read as `;`-separated, decimal comma"),
        ),
        ("tabs", tabs, Some("read as tab-separated, decimal point")),
        ("bom-crlf", windows, None),
    ] {
        let dir = scratch(&format!("dialect-{name}"));
        // The same file name: a model is named after its data.
        let csv = write(&dir, "winequality-red.csv", text.as_bytes());
        let (copy, said) = device_copy(&dir, &csv);
        // Same layers, weights, calibration and monitor: the device copy
        // is byte for byte the plain file's (only the host-only report's
        // record of the file differs).
        assert!(copy == reference, "{name}: the device copy differs");
        match says {
            Some(text) => assert!(said.contains(text), "{name}: {said}"),
            None => assert!(!said.contains("read as"), "{name}: {said}"),
        }
    }
}

#[test]
fn a_header_read_as_one_column_holding_semicolons_says_so() {
    let dir = scratch("dialect-forced");
    let plain = std::fs::read_to_string(data("winequality-red.csv")).unwrap();
    let csv = write(&dir, "w.csv", plain.replace(',', ";").as_bytes());
    let o = vigie(&[
        "check-data",
        "--data",
        s(&csv),
        "--target",
        "quality",
        "--delimiter",
        ",",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the header is a single column that contains `;`")
            && err.contains("--delimiter ;"),
        "{err}"
    );
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn penguins_as_they_are_train_with_impute_and_the_device_encodes_their_text_columns_as_the_host() {
    let dir = scratch("penguins");
    let model = dir.join("p.vigie");
    let penguins = data("penguins.csv");
    // Holes in numeric columns still need a decision from the user.
    let o = vigie(&[
        "train",
        "--quiet",
        "--data",
        &penguins,
        "--target",
        "species",
        "--out",
        s(&model),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("missing cells") && err.contains("--impute"),
        "{err}"
    );
    assert!(!err.contains("not a number"), "{err}");
    let o = succeeds(&[
        "train",
        "--quiet",
        "--json",
        "--data",
        &penguins,
        "--target",
        "species",
        "--impute",
        "median",
        "--out",
        s(&model),
    ]);
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        summary["int8"]["accuracy"].as_f64().unwrap() > 0.9,
        "{summary}"
    );

    let bytes = std::fs::read(&model).unwrap();
    let m = vigie_core::Model::from_bytes(&bytes).unwrap();
    let names: Vec<&str> = m.input_names().iter().collect();
    for name in [
        "island=Biscoe",
        "island=Dream",
        "island=Torgersen",
        "island=(other)",
        "sex=(missing)",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }
    let encoding = vigie_core::encoding::Encoding::from_model(&m)
        .unwrap()
        .unwrap();
    assert_eq!(encoding.raw_len(), 7);
    // The host's encoding of every row (what `predict` and training read)
    // against the device's: raw values (a level's index for text) through
    // vigie-core.
    let csv = vigie_trainer::data::CsvFile::read(Path::new(&penguins)).unwrap();
    let (host, _) = vigie_trainer::data::model_inputs(&csv, &m).unwrap();
    let text = std::fs::read_to_string(&penguins).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let width = m.input_len();
    let mut device = vec![0.0f32; width];
    for (r, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        let raw: Vec<f32> = encoding
            .def()
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let cell = cells[header.iter().position(|h| *h == c.name).unwrap()];
                if c.is_categorical() {
                    encoding.level(i, cell).map_or(f32::NAN, |l| l as f32)
                } else {
                    cell.parse().unwrap_or(f32::NAN)
                }
            })
            .collect();
        encoding.encode(&raw, &mut device).unwrap();
        let row = &host[r * width..(r + 1) * width];
        for (a, b) in row.iter().zip(&device) {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "line {}",
                r + 2
            );
        }
    }
    // A level the training never saw is "other" on the device.
    let mut raw = vec![0.0f32; 7];
    raw[0] = 17.0;
    encoding.encode(&raw, &mut device).unwrap();
    assert_eq!(device[3], 1.0, "island=(other)");
}

#[test]
fn check_data_lists_levels_and_flags_a_level_only_the_test_file_has() {
    let dir = scratch("levels");
    let text = std::fs::read_to_string(data("penguins.csv")).unwrap();
    let (head, rows) = text.split_once('\n').unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    // Every fifth row is a test row; the test file's Biscoe is renamed.
    let pick = |test: bool| -> Vec<String> {
        rows.iter()
            .enumerate()
            .filter(|(i, _)| (i % 5 == 0) == test)
            .map(|(_, r)| {
                if test {
                    r.replacen("Biscoe", "Anvers", 1)
                } else {
                    r.to_string()
                }
            })
            .collect()
    };
    let train = format!("{head}\n{}\n", pick(false).join("\n"));
    let test = format!("{head}\n{}\n", pick(true).join("\n"));
    let (train, test) = (
        write(&dir, "train.csv", train.as_bytes()),
        write(&dir, "test.csv", test.as_bytes()),
    );
    let o = succeeds(&[
        "check-data",
        "--json",
        "--data",
        s(&train),
        "--test",
        s(&test),
        "--target",
        "species",
    ]);
    let findings: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let find = |check: &str, column: &str| {
        findings
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check && f["column"] == column)
            .cloned()
    };
    let island = find("categorical", "island").expect("island is listed");
    assert!(island["message"]
        .as_str()
        .unwrap()
        .contains("Biscoe, Dream, Torgersen"));
    let unseen = find("unseen_level", "island").expect("Anvers is flagged");
    assert!(
        unseen["message"].as_str().unwrap().contains("`Anvers`"),
        "{unseen}"
    );
    assert!(find("constant", "island=(other)").is_none());
}

#[test]
fn drop_leaves_columns_out_without_listing_the_others() {
    let dir = scratch("drop");
    let model = dir.join("p.vigie");
    succeeds(&[
        "train",
        "--quiet",
        "--data",
        &data("penguins.csv"),
        "--target",
        "species",
        "--impute",
        "median",
        "--drop",
        "year, island",
        "--config",
        &repo("examples/quick.toml"),
        "--out",
        s(&model),
    ]);
    let bytes = std::fs::read(&model).unwrap();
    let m = vigie_core::Model::from_bytes(&bytes).unwrap();
    let names: Vec<&str> = m.input_names().iter().collect();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("island") || *n == "year"),
        "{names:?}"
    );
    assert!(names.contains(&"bill_length_mm"));
}

#[test]
fn one_empty_cell_marks_its_row_and_the_others_are_predicted() {
    let dir = scratch("holes");
    let csv = Path::new(&data("winequality-red.csv")).to_owned();
    let model = dir.join("w.vigie");
    train_quick_wine(&csv, &model, &[]);
    // Line 42 loses its alcohol.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let alcohol = header.iter().position(|h| *h == "alcohol").unwrap();
    let mut cells: Vec<String> = lines[41].split(',').map(String::from).collect();
    cells[alcohol].clear();
    lines[41] = cells.join(",");
    let holes = write(&dir, "holes.csv", (lines.join("\n") + "\n").as_bytes());
    let o = succeeds(&["predict", "--model", s(&model), "--data", s(&holes)]);
    let out = String::from_utf8(o.stdout).unwrap();
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 1599);
    assert_eq!(
        rows[40],
        "40,,,,no prediction: `alcohol` is empty and the model does not impute"
    );
    assert!(rows
        .iter()
        .enumerate()
        .all(|(i, r)| i == 40 || !r.contains("no prediction")));
    let o = vigie(&[
        "predict",
        "--strict",
        "--model",
        s(&model),
        "--data",
        s(&holes),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    says(&err, "holes.csv:42: `alcohol` is empty");
}

#[test]
fn wide_window_rows_longer_than_the_detection_sample_are_detected_too() {
    // BasicMotions rows are about 5 KB: 20 of them overflow the 64 KiB the
    // dialect is detected on, so the sample ends inside a row.
    let plain_path = data("basicmotions_train.csv");
    let plain = std::fs::read_to_string(&plain_path).unwrap();
    let dir = scratch("dialect-wide");
    let csv = write(
        &dir,
        "basicmotions_train.csv",
        plain.replace(',', ";").replace('.', ",").as_bytes(),
    );
    let check = |path: &str| {
        let o = succeeds(&[
            "check-data",
            "--json",
            "--data",
            path,
            "--target",
            "activity",
        ]);
        (o.stdout, String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (reference, _) = check(&plain_path);
    let (findings, said) = check(s(&csv));
    assert!(findings == reference, "the `;` copy reads differently");
    says(&said, "read as `;`-separated, decimal comma");
}
