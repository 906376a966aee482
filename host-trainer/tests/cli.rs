//! The `vigie` command line on real and broken data: clear messages and a
//! non-zero exit for bad input, nothing half-written, and the same seed
//! giving the same model file byte for byte.

use std::path::Path;
use std::process::Command;

mod common;
use common::{data, prints, refused, repo, says, scratch, succeeds, vigie};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Runs `vigie train` expecting failure; returns standard error, and checks
/// no model (or temporary file) was left behind.
fn train_fails(dir: &Path, extra: &[&str]) -> String {
    let out = dir.join("model.vigie");
    let out_s = out.display().to_string();
    let mut args = vec!["train", "--quiet", "--out", &out_s];
    args.extend_from_slice(extra);
    let o = vigie(&args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "a model was written despite the error");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    err
}

/// Writes `text` as `file` in a fresh folder named after `test`, and trains
/// on it for `target` with `extra` flags, expecting failure (see
/// [`train_fails`]).
fn train_on_text_fails(test: &str, file: &str, text: &str, target: &str, extra: &[&str]) -> String {
    let dir = scratch(test);
    let f = write(&dir, file, text);
    let mut args = vec!["--data", f.as_str(), "--target", target];
    args.extend_from_slice(extra);
    train_fails(&dir, &args)
}

/// Rows of a small, valid two-class table.
fn table(rows: &[(&str, &str, &str)]) -> String {
    let mut s = String::from("a,b,label\n");
    for (a, b, l) in rows {
        s.push_str(&format!("{a},{b},{l}\n"));
    }
    s
}

fn good_rows() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut v = Vec::new();
    for i in 0..20 {
        v.push((
            ["1", "2", "3", "4"][i % 4],
            ["0.5", "1.5", "2.5"][i % 3],
            if i % 2 == 0 { "yes" } else { "no" },
        ));
    }
    v
}

#[test]
fn missing_file_is_named() {
    let dir = scratch("missing-file");
    let err = train_fails(&dir, &["--data", "/no/such/file.csv", "--target", "y"]);
    says(&err, "cannot read /no/such/file.csv");
}

#[test]
fn empty_file_is_refused() {
    let err = train_on_text_fails("empty", "empty.csv", "", "y", &[]);
    says(&err, "empty.csv: the file is empty");
}

#[test]
fn file_without_header_is_refused() {
    let err = train_on_text_fails(
        "no-header",
        "noheader.csv",
        "1,2,0\n3,4,1\n5,6,0\n",
        "y",
        &[],
    );
    says(&err, "noheader.csv:1: the first line holds numbers");
    says(&err, "add a header line");
}

#[test]
fn unknown_target_lists_columns_and_suggests_the_nearest() {
    let dir = scratch("unknown-target");
    let err = train_fails(
        &dir,
        &["--data", &data("winequality-red.csv"), "--target", "qualty"],
    );
    says(&err, "no target column `qualty`; did you mean `quality`?");
    says(&err, "Columns: fixed_acidity, volatile_acidity");
}

#[test]
fn non_numeric_cell_names_file_line_and_column() {
    let mut rows = good_rows();
    rows[6].1 = "abc";
    let err = train_on_text_fails("non-numeric", "bad.csv", &table(&rows), "label", &[]);
    says(
        &err,
        "bad.csv:8:2: column `b` holds `abc`, which is not a number",
    );
}

#[test]
fn missing_cells_are_refused_with_count_and_first_place_unless_imputed() {
    let dir = scratch("missing-cells");
    let mut rows = good_rows();
    rows[3].0 = "";
    rows[9].1 = "";
    let f = write(&dir, "holes.csv", &table(&rows));
    let err = train_fails(&dir, &["--data", &f, "--target", "label"]);
    says(
        &err,
        "holes.csv: 2 missing cells (the first on line 5, column `a`)",
    );
    says(&err, "--impute mean|median");
    let out = dir.join("imputed.vigie").display().to_string();
    let o = vigie(&[
        "train", "--quiet", "--data", &f, "--target", "label", "--impute", "median", "--out", &out,
    ]);
    // Trained and written; with 4 test rows the model may not show a clear
    // lead over the majority class, which exits with status 3.
    assert!(
        matches!(o.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let inspect = vigie(&["inspect", &out, "--json"]);
    assert!(inspect.status.success());
}

#[test]
fn single_class_is_refused() {
    let dir = scratch("single-class");
    let rows: Vec<_> = good_rows()
        .into_iter()
        .map(|(a, b, _)| (a, b, "yes"))
        .collect();
    let f = write(&dir, "one.csv", &table(&rows));
    let err = train_fails(&dir, &["--data", &f, "--target", "label"]);
    says(&err, "has a single class (`yes`)");
}

#[test]
fn test_file_with_other_columns_is_refused() {
    let dir = scratch("test-columns");
    let f = write(&dir, "train.csv", &table(&good_rows()));
    let t = write(
        &dir,
        "test.csv",
        &table(&good_rows()).replacen("a,b,label", "a,c,label", 1),
    );
    let err = train_fails(&dir, &["--data", &f, "--target", "label", "--test", &t]);
    says(&err, "its columns differ from the training file");
    says(&err, "missing: [\"b\"], extra: [\"c\"]");
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_says_how_to_build_it() {
    let err = train_on_text_fails(
        "cuda",
        "train.csv",
        &table(&good_rows()),
        "label",
        &["--device", "cuda"],
    );
    says(&err, "built without CUDA support; rebuild with");
    says(&err, "--features cuda");
}

#[test]
fn same_seed_gives_the_same_model_file_byte_for_byte_wherever_data_and_model_are() {
    let dir = scratch("same-seed");
    let mut files = Vec::new();
    // The bundled file, and a copy of it in another folder written to
    // another model name: the same bytes.
    let copy = dir.join("elsewhere");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(data("digits.csv"), copy.join("digits.csv")).unwrap();
    for (run, csv, name) in [
        ("a", data("digits.csv"), "digits.vigie"),
        (
            "b",
            copy.join("digits.csv").display().to_string(),
            "other-name.vigie",
        ),
    ] {
        std::fs::create_dir_all(dir.join(run)).unwrap();
        let out = dir.join(run).join(name);
        succeeds(&[
            "train",
            "--quiet",
            "--data",
            &csv,
            "--target",
            "digit",
            "--seed",
            "3",
            "--out",
            &out.display().to_string(),
        ]);
        files.push(std::fs::read(out).unwrap());
    }
    assert!(files[0] == files[1], "the two files differ");
    // No --config: the model search ran, and is part of what is the same.
    let model = vigie_core::Model::from_bytes(&files[0]).unwrap();
    let report = vigie_trainer::training_report::training_report(&model).unwrap();
    assert!(report.search.is_some_and(|t| t.trials.len() > 3));
}

#[test]
fn small_slips_get_plain_answers() {
    let dir = scratch("slips");
    // `--features "a, b"`: spaces after the commas are fine.
    let out = dir.join("w.vigie").display().to_string();
    succeeds(&[
        "train",
        "--quiet",
        "--data",
        &data("winequality-red.csv"),
        "--target",
        "quality",
        "--features",
        "alcohol, sulphates",
        "--config",
        &repo("examples/quick.toml"),
        "--out",
        &out,
    ]);
    // A column missing from a numbered family is named as such, not
    // "did you mean" a neighbour.
    let text = std::fs::read_to_string(data("digits.csv")).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let cut = header.iter().position(|h| *h == "px10").unwrap();
    let without: String = text
        .lines()
        .map(|l| {
            let mut c: Vec<&str> = l.split(',').collect();
            c.remove(cut);
            c.join(",") + "\n"
        })
        .collect();
    let csv = write(&dir, "no-px10.csv", &without);
    let model = repo("firmware-demo/models/digits.vigie");
    let o = vigie(&["predict", "--model", &model, "--data", &csv]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    says(&err, "no model input column `px10`: the file has 63 `px…` columns (px0 to px63) but not this one");
    assert!(!err.contains("did you mean"), "{err}");
    // Defaults are shown, and the configuration explains itself.
    let help = String::from_utf8_lossy(&vigie(&["train", "--help"]).stdout).into_owned();
    says(&help, "[default: 0.2, or 0 with --test]");
    let config = String::from_utf8_lossy(&vigie(&["train", "--print-config"]).stdout).into_owned();
    assert!(!config.contains("src/") && config.contains("patience: epochs without"));
    // drift-bench prints words, not debug output.
    let o = succeeds(&[
        "drift-bench",
        "--data",
        &data("winequality-red.csv"),
        "--target",
        "quality",
        "--runs",
        "1",
        "--stable-rows",
        "1000",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains("[(\"") && out.contains("by detector:"),
        "{out}"
    );
}

#[test]
fn print_config_shows_every_section_and_parses_back() {
    let o = vigie(&["train", "--print-config"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    for key in [
        "[model]",
        "hidden = [",
        "[training]",
        "optimizer = \"adam\"",
        "patience =",
        "[quantization]",
    ] {
        assert!(text.contains(key), "{key} missing from:\n{text}");
    }
    let dir = scratch("config");
    let f = write(&dir, "default.toml", &text);
    let parsed = vigie_trainer::training::config::Config::from_file(Path::new(&f)).unwrap();
    assert_eq!(parsed, vigie_trainer::training::config::Config::default());
}

#[test]
fn config_errors_name_file_line_and_column() {
    let dir = scratch("bad-config");
    let f = write(
        &dir,
        "bad.toml",
        "[training]\nepochs = 10\nlearning_rat = 0.1\n",
    );
    let err = vigie_trainer::training::config::Config::from_file(Path::new(&f))
        .unwrap_err()
        .to_string();
    says(&err, "bad.toml:3:1: unknown field `learning_rat`");
}

#[test]
fn demo_trains_quantizes_inspects_and_runs_the_model() {
    let dir = scratch("demo");
    // In a folder that does not exist yet, as the default `target/demo/`
    // when cargo builds elsewhere (`CARGO_TARGET_DIR`).
    let out = dir
        .join("not-yet")
        .join("digits.vigie")
        .display()
        .to_string();
    prints(
        &["demo", "--out", &out],
        &[
            "test accuracy   float",
            "MACs         6464 per inference",
            "arena        323 bytes",
            "row    0: decided 0",
        ],
    );
    assert!(Path::new(&out).exists());
}

#[test]
fn eval_and_predict_run_the_saved_model_through_the_core() {
    let dir = scratch("eval-predict");
    let out = dir.join("wine.vigie").display().to_string();
    let wine = data("winequality-red.csv");
    let o = succeeds(&[
        "train", "--quiet", "--data", &wine, "--target", "quality", "--out", &out, "--json",
    ]);
    let trained: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let o = succeeds(&["eval", "--model", &out, "--data", &wine, "--json"]);
    let eval: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(eval["rows_given"], 1599);
    // Measured on the rows the model was not trained on.
    let fresh = eval["rows"].as_u64().unwrap();
    assert_eq!(fresh + eval["training_rows"].as_u64().unwrap(), 1599);
    assert!(fresh > 200 && fresh < 500, "{eval}");
    assert_eq!(eval["task"], "classification");
    assert_eq!(eval["file_bytes"], trained["file_bytes"]);
    assert_eq!(eval["device_bytes"], trained["device_bytes"]);
    assert!(eval["int8"]["accuracy"].as_f64().unwrap() > 0.5, "{eval}");
    // The float figures are the training-time ones, apart.
    assert!(eval["float"].is_null());
    assert!(eval["training_test"]["float"]["accuracy"].is_number());
    let preds = dir.join("predictions.csv");
    succeeds(&[
        "predict",
        "--model",
        &out,
        "--data",
        &wine,
        "--out",
        &preds.display().to_string(),
    ]);
    let text = std::fs::read_to_string(preds).unwrap();
    assert_eq!(text.lines().count(), 1600);
    assert!(
        text.starts_with("row,decision,class,probability,note\n0,"),
        "{}",
        &text[..60]
    );
}

#[test]
fn firmware_models_and_streams_are_what_make_assets_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = scratch("firmware-assets");
    let o = Command::new("bash")
        .arg(root.join("firmware-demo/make-assets.sh"))
        .env("VIGIE", env!("CARGO_BIN_EXE_vigie"))
        .env("VIGIE_ASSETS", &dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in [
        "basicmotions.vigie",
        "basicmotions.replay",
        "digits.vigie",
        "digits.replay",
        "basicmotions-adapt.vigie",
        "basicmotions-adapt.replay",
    ] {
        let committed = std::fs::read(root.join("firmware-demo/models").join(name)).unwrap();
        assert!(
            std::fs::read(dir.join(name)).unwrap() == committed,
            "firmware-demo/models/{name} is stale: run firmware-demo/make-assets.sh"
        );
    }
}

/// The stream with its missing cell (data row 100) filled from the row's
/// original line, so that the shift is its only fault.
fn stream_without_row_100(stream: &str) -> String {
    let mut lines: Vec<String> = stream.lines().map(String::from).collect();
    let cells: Vec<&str> = lines[101].split(',').collect();
    let filled: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.is_empty() {
                "2.0".to_owned()
            } else {
                c.to_string()
            }
        })
        .collect();
    lines[101] = filled.join(",");
    lines.join("\n") + "\n"
}

#[test]
fn monitor_replays_a_stream_and_reports_alarms_with_rows_detectors_and_features() {
    let dir = scratch("monitor");
    let model = dir.join("wine.vigie").display().to_string();
    let wine = data("winequality-red.csv");
    succeeds(&[
        "train", "--quiet", "--data", &wine, "--target", "quality", "--out", &model,
    ]);
    // A stream of bundled rows in a scrambled order (the file's own order
    // drifts: it is not a stable stream): a missing cell on data row 100,
    // then alcohol shifted by 2 (about 2σ) from data row 400 on.
    let text = std::fs::read_to_string(&wine).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let all: Vec<&str> = lines.collect();
    let lines = (0..700).map(|i| all[(i * 7919) % all.len()]);
    let alcohol = header.split(',').position(|c| c == "alcohol").unwrap();
    let sugar = header
        .split(',')
        .position(|c| c == "residual_sugar")
        .unwrap();
    let mut stream = format!("{header}\n");
    for (i, line) in lines.enumerate() {
        let mut cells: Vec<String> = line.split(',').map(String::from).collect();
        if i == 100 {
            cells[sugar].clear();
        }
        if i >= 400 {
            cells[alcohol] = format!("{}", cells[alcohol].parse::<f32>().unwrap() + 2.0);
        }
        stream.push_str(&cells.join(","));
        stream.push('\n');
    }
    let s = write(&dir, "stream.csv", &stream);
    let o = succeeds(&[
        "monitor", "--model", &model, "--data", &s, "--json", "--events",
    ]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let v = lines.last().unwrap();
    assert_eq!(v["event"], "summary");
    assert_eq!(v["rows"], 700);
    let alarms: Vec<&serde_json::Value> = lines.iter().filter(|l| l["event"] == "alarm").collect();
    let guard = alarms
        .iter()
        .find(|a| a["detector"] == "guard-non-finite")
        .expect("the missing cell is flagged");
    assert_eq!(guard["row"], 100);
    assert_eq!(guard["level"], "drift");
    assert_eq!(guard["features"], serde_json::json!(["residual_sugar"]));
    let first_drift_after = alarms
        .iter()
        .find(|a| a["level"] == "drift" && a["row"].as_u64().unwrap() >= 400)
        .expect("the shift is detected");
    assert!(
        first_drift_after["row"].as_u64().unwrap() < 400 + 30,
        "{first_drift_after}"
    );
    assert_eq!(
        first_drift_after["features"][0], "alcohol",
        "{first_drift_after}"
    );
    // Two episodes: the missing cell, and the shift (still open at the end).
    let starts: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["event"] == "episode_start")
        .collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert_eq!(starts[1]["features"][0], "alcohol");
    assert_eq!(v["still_open"], true);

    // Without --events, one line per episode: the shift says which input
    // moved, which way and by how much.
    let shift_only = write(&dir, "shift.csv", &stream_without_row_100(&stream));
    let o = succeeds(&["monitor", "--model", &model, "--data", &shift_only]);
    let text = String::from_utf8_lossy(&o.stdout);
    let drifts: Vec<&str> = text.lines().filter(|l| l.contains(" DRIFT ")).collect();
    assert_eq!(drifts.len(), 1, "one fault, one episode:\n{text}");
    says(drifts[0], "alcohol up ");
    // +2 on alcohol, whose training sd is about 1.07: about 1.9 sd,
    // measured over the 10 to 30 rows since the change, whose own error is
    // about 1/3 sd each way.
    let size: f64 = drifts[0]
        .split("alcohol up ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((1.0..3.0).contains(&size), "{}", drifts[0]);
    says(&text, "700 rows: 1 drift episode (the last still open");

    // A stream without a model column, and one with a word in a number column.
    let no_alcohol = write(&dir, "short.csv", &stream.replace("alcohol", "alcool"));
    let o = vigie(&["monitor", "--model", &model, "--data", &no_alcohol]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no model input column `alcohol`"),
        "{err}"
    );
    let mut bad = stream.clone();
    let at = bad.find('\n').unwrap() + 1;
    bad.replace_range(at..at + 3, "abc");
    let bad = write(&dir, "bad.csv", &bad);
    let o = vigie(&["monitor", "--model", &model, "--data", &bad]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("bad.csv:2:1: column `fixed_acidity` holds `abc`"),
        "{err}"
    );
}

#[test]
fn strip_drops_host_only_sections_and_keeps_what_the_device_computes() {
    let dir = scratch("strip");
    let full = dir.join("full.vigie").display().to_string();
    let small = dir.join("small.vigie").display().to_string();
    let wine = data("winequality-red.csv");
    succeeds(&[
        "train", "--quiet", "--data", &wine, "--target", "quality", "--out", &full,
    ]);
    succeeds(&["strip", "--model", &full, "--out", &small]);
    let (a, b) = (
        std::fs::read(&full).unwrap(),
        std::fs::read(&small).unwrap(),
    );
    assert!(b.len() * 2 < a.len(), "{} -> {} bytes", a.len(), b.len());
    let (ma, mb) = (
        vigie_core::Model::from_bytes(&a).unwrap(),
        vigie_core::Model::from_bytes(&b).unwrap(),
    );
    let kinds = |m: &vigie_core::Model<'_>| -> Vec<u16> {
        m.def().sections.iter().map(|s| s.kind).collect()
    };
    use vigie_core::format::section_kind::{CALIBRATION, MONITOR};
    assert_eq!(kinds(&mb), vec![CALIBRATION, MONITOR]);
    assert_eq!(ma.def().layers, mb.def().layers);
    // The same inference and monitor, line for line, on a real stream.
    let stream = dir.join("s.replay").display().to_string();
    succeeds(&[
        "stream",
        "--model",
        &full,
        "--data",
        &wine,
        "--target",
        "quality",
        "--fault-channel",
        "alcohol",
        "--offset",
        "1",
        "--out",
        &stream,
    ]);
    let replay = |m: &str| vigie(&["replay", "--model", m, "--stream", &stream]).stdout;
    assert_eq!(replay(&full), replay(&small));
}

/// The decided class of each window, from `vigie replay`'s lines (the
/// firmware prints the same lines: `tests/tests/firmware_matches_host.rs`).
fn replayed_classes(model: &str, stream: &str) -> Vec<String> {
    let o = succeeds(&["replay", "--model", model, "--stream", stream]);
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("window"))
        .map(|l| {
            let after = l.split(": class ").nth(1).expect("a class line");
            after.split(' ').nth(1).unwrap().to_owned()
        })
        .collect()
}

#[test]
fn predict_decides_the_same_class_as_replay_and_the_firmware_on_both_streams() {
    let dir = scratch("predict-replay");
    for name in ["basicmotions", "digits"] {
        let model = repo(&format!("firmware-demo/models/{name}.vigie"));
        let stream = repo(&format!("firmware-demo/models/{name}.replay"));
        let bytes = std::fs::read(&model).unwrap();
        let m = vigie_core::Model::from_bytes(&bytes).unwrap();
        let length = m.input_shape().length as usize;
        let header: Vec<String> = m
            .input_names()
            .iter()
            .flat_map(|c| {
                (0..length).map(move |t| {
                    if length == 1 {
                        c.to_owned()
                    } else {
                        format!("{c}_t{t}")
                    }
                })
            })
            .collect();
        // The stream's windows as a CSV (shortest round-trip floats: the
        // same bits).
        let raw = std::fs::read(&stream).unwrap();
        let r = vigie_core::replay::Replay::from_bytes(&raw).unwrap();
        let mut csv = header.join(",") + "\n";
        let mut x = vec![0.0f32; r.values_per_window()];
        for w in 0..r.len() {
            r.window(w, &mut x).unwrap();
            let cells: Vec<String> = x.iter().map(|v| format!("{v}")).collect();
            csv += &(cells.join(",") + "\n");
        }
        let csv_path = write(&dir, &format!("{name}.csv"), &csv);
        let o = succeeds(&["predict", "--model", &model, "--data", &csv_path]);
        let predicted: Vec<String> = String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().to_owned())
            .collect();
        let replayed = replayed_classes(&model, &stream);
        assert_eq!(predicted.len(), r.len());
        assert_eq!(predicted, replayed, "{name}");
    }
}

#[test]
fn inspect_prints_every_buffer_size_and_the_decision_rules() {
    let model = repo("firmware-demo/models/digits.vigie");
    prints(
        &["inspect", &model],
        &[
            "input        64 f32 values per inference",
            "arena        323 bytes",
            "monitor      2384 f32 of state (9536 bytes of RAM)",
            "decision     temperature ",
            "never abstains; the most probable class (no cost matrix)",
        ],
    );
    let o = vigie(&["inspect", "--json", &model]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["device"]["monitor_state_floats"], 2384);
    assert_eq!(v["device"]["calibration"]["cost_matrix"], false);
}

#[test]
fn monitor_reads_a_pipe_and_reports_the_first_episode_before_the_input_ends() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};

    // The committed digits model; digits rows with pixel px36 tripled from
    // data row 300 on, fed through standard input.
    let model = repo("firmware-demo/models/digits.vigie");
    let text = std::fs::read_to_string(data("digits.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_owned();
    let px36 = header.split(',').position(|c| c == "px36").unwrap();
    let rows: Vec<String> = lines
        .take(800)
        .enumerate()
        .map(|(i, l)| {
            let mut cells: Vec<String> = l.split(',').map(String::from).collect();
            if i >= 300 {
                cells[px36] = format!("{}", cells[px36].parse::<f32>().unwrap() * 3.0);
            }
            cells.join(",")
        })
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["monitor", "--model", &model, "--data", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (seen_tx, seen_rx) = mpsc::channel::<()>();
    let ended = Arc::new(AtomicBool::new(false));
    let writer = {
        let ended = ended.clone();
        std::thread::spawn(move || {
            writeln!(stdin, "{header}").unwrap();
            for r in &rows[..600] {
                writeln!(stdin, "{r}").unwrap();
            }
            stdin.flush().unwrap();
            // The rest of the stream only once an episode was reported (or
            // after a minute, and then the test fails below).
            let _ = seen_rx.recv_timeout(std::time::Duration::from_secs(60));
            for r in &rows[600..] {
                writeln!(stdin, "{r}").unwrap();
            }
            ended.store(true, Ordering::SeqCst);
        })
    };
    let mut before_end = None;
    let mut last = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if before_end.is_none() && line.contains("\"episode_start\"") {
            before_end = Some(!ended.load(Ordering::SeqCst));
            let _ = seen_tx.send(());
        }
        last = line;
    }
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(before_end, Some(true), "no episode before the input ended");
    let summary: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(summary["rows"], 800);
    let start = &summary["episodes"][0];
    assert_eq!(start["changes"][0]["feature"], "px36", "{summary}");
    assert_eq!(start["changes"][0]["direction"], "up");
}

#[test]
fn import_writes_a_tflite_model_that_inspect_shows_and_refuses_one_it_cannot_run() {
    let dir = scratch("import");
    let out = dir.join("ad01.vigie").display().to_string();
    let ad01 = repo("models/mlperf-tiny/ad01_int8.tflite");
    prints(
        &["import", &ad01, "--out", &out],
        &[
            "10 operators of",
            "became 10 layers",
            "264192 MACs per inference",
            "operator  9 FULLY_CONNECTED  -> layer 9 (dense)",
        ],
    );
    prints(
        &["inspect", &out],
        &["input    640 × 1", "640→128 Relu", "264192 per inference"],
    );
    // 2-D layers and a softmax: a classifier.
    let kws = dir.join("kws.vigie").display().to_string();
    prints(
        &[
            "import",
            &repo("models/mlperf-tiny/kws_ref_model.tflite"),
            "--out",
            &kws,
        ],
        &["became 12 layers", "-> layer 11 (softmax)"],
    );
    prints(
        &["inspect", &kws],
        &[
            "(classification)",
            "depthwise_conv2d",
            "2656768 per inference",
        ],
    );
    // Skip connections: the ResNet's ADDs become save slots and adds.
    let resnet = dir.join("resnet.vigie").display().to_string();
    let tflite = repo("models/mlperf-tiny/pretrainedResnet_quant.tflite");
    prints(
        &["import", &tflite, "--out", &resnet],
        &[
            "became 20 layers",
            "operator  3 ADD              -> layer 4 (add)",
        ],
    );
    prints(
        &["inspect", &resnet],
        &["keep in slot 0", "exchange with slot 0", "+ slot 0 Relu"],
    );
    // An operator vigie lacks (the ResNet's AVERAGE_POOL_2D made a
    // MAX_POOL_2D: OperatorCode 2's two code fields): named, and nothing
    // written.
    let mut bytes = std::fs::read(&tflite).unwrap();
    bytes[98_449] = 17;
    bytes[98_440] = 17;
    let patched = dir.join("maxpool.tflite");
    std::fs::write(&patched, bytes).unwrap();
    let kws_out = dir.join("maxpool.vigie");
    let err = refused(&[
        "import",
        &patched.display().to_string(),
        "--out",
        &kws_out.display().to_string(),
    ]);
    says(
        &err,
        "TFLite operator 12 (MAX_POOL_2D): vigie-core has no such layer",
    );
    assert!(!kws_out.exists());
    // Not a TFLite file at all.
    let err = refused(&[
        "import",
        &data("digits.csv"),
        "--out",
        &kws_out.display().to_string(),
    ]);
    says(&err, "truncated or corrupted");
    assert!(!kws_out.exists());
    // Never over its input.
    let err = refused(&["import", &ad01, "--out", &ad01, "--force"]);
    says(&err, "that is the file given as");
}

#[test]
fn keygen_sign_and_verify_refuse_what_they_must() {
    let dir = scratch("keys");
    let key = dir.join("k").display().to_string();
    let other = dir.join("o").display().to_string();
    prints(&["keygen", "--out", &key], &["secret key", "k.pub"]);
    succeeds(&["keygen", "--out", &other]);
    // A key is never overwritten.
    let err = refused(&["keygen", "--out", &key]);
    says(&err, "never overwrites a key");
    let model = dir.join("m.vigie").display().to_string();
    std::fs::write(
        &model,
        std::fs::read(repo("firmware-demo/models/digits.vigie")).unwrap(),
    )
    .unwrap();
    let public = format!("{key}.pub");
    // The demo model is signed with the demo key, not this one.
    says(
        &refused(&["verify", "--model", &model, "--pub", &public]),
        "another key",
    );
    prints(&["sign", "--model", &model, "--key", &key], &["signed by"]);
    prints(
        &["verify", "--model", &model, "--pub", &public],
        &["and valid"],
    );
    says(
        &refused(&[
            "verify",
            "--model",
            &model,
            "--pub",
            &format!("{other}.pub"),
        ]),
        "another key",
    );
    // Keys swapped: named by file and line.
    says(
        &refused(&["sign", "--model", &model, "--key", &public]),
        "line 1: this is a public key file",
    );
    // A changed byte in the body: refused before the signature is checked.
    let mut bytes = std::fs::read(&model).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&model, &bytes).unwrap();
    says(
        &refused(&["verify", "--model", &model, "--pub", &public]),
        "refused",
    );
}
