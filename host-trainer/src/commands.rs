//! `vigie eval`, `vigie predict` and `vigie demo`: model files run through
//! vigie-core on CSV data.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use vigie_core::format::section_kind;
use vigie_core::{Model, Task};

use crate::data::{self, CsvFile, Spec};
use crate::inspect;
use crate::pipeline::{self, TrainArgs};

/// The training report stored in a model, if any.
pub fn training_report(model: &Model<'_>) -> Option<Value> {
    let section = model.def().section(section_kind::TRAINING_REPORT)?;
    serde_json::from_slice(section.data).ok()
}

/// Prints a train or eval summary for people.
pub fn print_summary(s: &Value) {
    let f = |v: &Value| v.as_f64().map_or("-".into(), |x| format!("{x:.4}"));
    if s["task"] == "classification" {
        println!(
            "test accuracy   float {}   int8 {}   (argmax agreement {})",
            f(&s["float"]["accuracy"]),
            f(&s["int8"]["accuracy"]),
            f(&s["agreement"])
        );
        println!(
            "test macro-F1   float {}   int8 {}",
            f(&s["float"]["macro_f1"]),
            f(&s["int8"]["macro_f1"])
        );
    } else {
        println!(
            "test MAE        float {}   int8 {}",
            f(&s["float"]["mae"]),
            f(&s["int8"]["mae"])
        );
        println!(
            "test RMSE       float {}   int8 {}",
            f(&s["float"]["rmse"]),
            f(&s["int8"]["rmse"])
        );
    }
    if let Some(g) = s.get("generalization_gap").filter(|g| !g.is_null()) {
        println!(
            "best epoch      {} of {}: train loss {}, validation loss {} (gap {})",
            g["epoch"],
            s["epochs_run"],
            f(&g["train_loss"]),
            f(&g["val_loss"]),
            f(&g["loss_gap"])
        );
    }
    let c = &s["calibration"];
    if !c.is_null() {
        println!(
            "calibration     temperature {} (fitted on {} validation rows): ECE {} before, {} after",
            f(&c["temperature"]),
            c["fitted_on"],
            f(&c["ece_before"]),
            f(&c["ece_after"])
        );
        if c["abstain_below"].as_f64().is_some_and(|t| t > 0.0) {
            println!(
                "abstention      below probability {}: answers {} of test rows, right on {} of those",
                f(&c["abstain_below"]),
                f(&c["coverage"]),
                f(&c["precision_answered"])
            );
        }
        if !c["cost_rule"].is_null() {
            println!(
                "expected cost   {} per test row with the cost matrix, {} with argmax",
                f(&c["cost_rule"]),
                f(&c["cost_argmax"])
            );
        }
    }
    let findings = s["data_checks"].as_array().map_or(0, |a| a.len());
    if findings > 0 {
        println!("data checks     {findings} findings stored in the model (vigie check-data prints them)");
    }
    if !s["train_seconds"].is_null() {
        println!(
            "training        {} s on {}",
            f(&s["train_seconds"]),
            s["backend"].as_str().unwrap_or("?")
        );
    }
    println!(
        "model           {} ({} bytes of flash, {} bytes of arena, {} MACs per inference)",
        s["model"].as_str().unwrap_or("?"),
        s["flash_bytes"],
        s["arena_bytes"],
        s["macs"]
    );
}

/// Reads a CSV for a model: features matched by name, and the target.
fn dataset_for(model: &Model<'_>, path: &Path, target: &str) -> Result<data::Dataset> {
    let csv = CsvFile::read(path)?;
    let channels: Vec<&str> = model.input_names().iter().collect();
    let length = model.input_shape().length as usize;
    let cols = data::model_columns(&csv, &channels, length)?;
    let spec = Spec {
        target: target.to_owned(),
        features: Some(cols.iter().map(|&c| csv.headers[c].clone()).collect()),
        regression: model.task() == Task::Regression,
        classes: (model.task() == Task::Classification)
            .then(|| model.output_names().iter().map(String::from).collect()),
    };
    data::load(&csv, &spec)
}

/// `vigie eval`.
pub fn eval(
    model_path: &Path,
    data_path: &Path,
    target: Option<&str>,
    as_json: bool,
) -> Result<()> {
    let bytes = inspect::read_model_file(model_path)?;
    let model = inspect::load(model_path, &bytes)?;
    let report = training_report(&model);
    let stored_target = report
        .as_ref()
        .and_then(|r| r["data"]["target"].as_str().map(String::from));
    let Some(target) = target.map(String::from).or(stored_target) else {
        bail!(
            "{}: the model does not record its target column; pass --target COLUMN",
            model_path.display()
        );
    };
    let d = dataset_for(&model, data_path, &target)?;
    let rows: Vec<usize> = (0..d.len()).collect();
    let int8 = pipeline::int8_outputs(&model, &d, &rows)?;
    let mut s = pipeline::compare(&d, &rows, None, &int8, model.output_len());
    if let data::Target::Classes { y, .. } = &d.target {
        s["decisions"] = json!(decision_figures(&model, &int8, &rows, y));
    }
    if let Some(r) = &report {
        // The file holds only the int8 model; the float figures are those
        // measured at training time on its test split.
        s["float"] = r["test"]["float"].clone();
        s["agreement"] = r["test"]["agreement"].clone();
        s["float_source"] = json!("training report (test split at training time)");
    }
    s["model"] = json!(model_path.display().to_string());
    s["flash_bytes"] = json!(bytes.len());
    s["arena_bytes"] = json!(model.arena_len());
    s["macs"] = json!(model.macs());
    if as_json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "{} rows of {}, through vigie-core (int8)",
            d.len(),
            data_path.display()
        );
        print_summary(&s);
    }
    Ok(())
}

/// What the device decides over rows, as the decision rules stored in the
/// model make it: coverage and precision on answered rows when it
/// abstains, the mean cost when it has a cost matrix.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecisionFigures {
    /// Rows decided.
    pub rows: usize,
    /// Share of rows answered (not abstained).
    pub coverage: f64,
    /// Accuracy on the answered rows.
    pub precision_answered: Option<f64>,
    /// Abstention threshold stored in the model (0: never abstains).
    pub abstain_below: f32,
    /// Mean cost per row under the model's cost matrix (`None` without one).
    pub mean_cost: Option<f64>,
}

/// Decision figures of the session's decisions on `rows` against labels `y`.
pub fn decision_figures(
    model: &Model<'_>,
    int8: &pipeline::Int8,
    rows: &[usize],
    y: &[usize],
) -> DecisionFigures {
    let cal = model.calibration();
    let k = model.output_len();
    let (mut answered, mut right, mut cost) = (0usize, 0usize, 0.0f64);
    for (dec, &r) in int8.decisions.iter().zip(rows) {
        if !dec.abstained {
            answered += 1;
            right += usize::from(dec.index == y[r]);
        }
        cost += f64::from(cal.cost(y[r], dec.index, k));
    }
    let n = rows.len().max(1) as f64;
    DecisionFigures {
        rows: rows.len(),
        coverage: answered as f64 / n,
        precision_answered: (answered > 0).then(|| right as f64 / answered as f64),
        abstain_below: cal.abstain_below,
        mean_cost: (!cal.costs.is_empty()).then_some(cost / n),
    }
}

/// `vigie predict`: one line per row, through a vigie-core session (the
/// device's decision: temperature, cost matrix and abstention applied).
pub fn predict(model_path: &Path, data_path: &Path, out: Option<&Path>) -> Result<()> {
    let bytes = inspect::read_model_file(model_path)?;
    let model = inspect::load(model_path, &bytes)?;
    let csv = CsvFile::read(data_path)?;
    let channels: Vec<&str> = model.input_names().iter().collect();
    let cols = data::model_columns(&csv, &channels, model.input_shape().length as usize)?;
    let (x, _) = data::read_features(&csv, &cols)?;
    let width = cols.len();
    let mut memory = crate::device::Memory::new(&model, None);
    let mut session = memory.session(&model, None)?;
    let mut text = String::new();
    let names: Vec<&str> = model.output_names().iter().collect();
    match model.task() {
        // `decision` is the class to act on, or `abstain`; `class` is the
        // decided class either way.
        Task::Classification => writeln!(text, "row,decision,class,probability,note")?,
        Task::Regression => writeln!(text, "row,{},note", names.join(","))?,
    }
    for (r, row) in x.chunks(width).enumerate() {
        let inferred = session
            .infer(row)
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", data_path.display(), r + 2))?;
        let note = match inferred.inference {
            vigie_core::Inference::Ran => String::new(),
            vigie_core::Inference::Imputed { missing } => {
                format!("{missing} missing values imputed")
            }
            vigie_core::Inference::Skipped { index } => {
                let col = &csv.headers[cols[index as usize]];
                let what = if row[index as usize].is_nan() {
                    "empty"
                } else {
                    "not finite"
                };
                format!("no prediction: `{col}` is {what} and the model does not impute")
            }
        };
        match (inferred.answer, model.task()) {
            (Some(vigie_core::Answer::Class(d)), _) => {
                let decision = if d.abstained { "abstain" } else { d.name };
                writeln!(
                    text,
                    "{r},{decision},{},{:.4},{note}",
                    d.name, d.probability
                )?;
            }
            (Some(vigie_core::Answer::Value(_)), _) => {
                let v: Vec<String> = session.output()?.values().map(|v| format!("{v}")).collect();
                writeln!(text, "{r},{},{note}", v.join(","))?;
            }
            (None, Task::Classification) => writeln!(text, "{r},,,,{note}")?,
            (None, Task::Regression) => writeln!(text, "{r},{}{note}", ",".repeat(names.len()))?,
        }
    }
    match out {
        Some(path) => {
            pipeline::write_atomically(path, text.as_bytes())?;
            eprintln!(
                "{} predictions written to {}",
                x.len() / width.max(1),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// The bundled data folder: `data/` of the repository.
pub fn data_dir() -> Result<PathBuf> {
    let candidates = [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data"),
        PathBuf::from("data"),
    ];
    candidates
        .into_iter()
        .find(|p| p.join("digits.csv").exists())
        .context("cannot find the bundled data folder `data/` (run from the repository)")
}

/// `vigie demo`: the main job on bundled data.
pub fn demo(out: &Path) -> Result<()> {
    let data = data_dir()?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    println!(
        "== 1. train an MLP on {} (80/20 stratified split, seed 0)",
        data.join("digits.csv").display()
    );
    let mut args = TrainArgs::new(data.join("digits.csv"), "digit");
    args.out = out.to_owned();
    args.quiet = false;
    let built = pipeline::build(&args)?;
    pipeline::write_atomically(out, &built.bytes)?;
    print_summary(&built.summary);
    println!("\n== 2. the int8 model file");
    inspect::run(out, false)?;
    println!("\n== 3. run it through vigie-core, as the device does");
    let bytes = inspect::read_model_file(out)?;
    let model = inspect::load(out, &bytes)?;
    let csv = CsvFile::read(&args.data)?;
    let cols = data::model_columns(&csv, &model.input_names().iter().collect::<Vec<_>>(), 1)?;
    let (x, _) = data::read_features(&csv, &cols)?;
    let label = csv.column("digit", "target")?;
    let mut memory = crate::device::Memory::new(&model, None);
    let mut session = memory.session(&model, None)?;
    for (r, row) in x.chunks(cols.len()).enumerate().step_by(199).take(8) {
        let step = session.step(row)?;
        let c = step.decision().context("a classifier decides")?;
        println!(
            "row {r:>4}: decided {} with probability {:.3} (label {})",
            c.name, c.probability, csv.rows[r][label]
        );
    }
    println!("\n== 4. watch it: held-out rows replayed through the model and its drift monitor");
    demo_monitor(&model, &built)?;
    println!(
        "\nNext: `vigie monitor --model {} --data STREAM.csv` replays your own stream.",
        out.display()
    );
    Ok(())
}

fn demo_monitor(model: &Model<'_>, built: &pipeline::Built) -> Result<()> {
    use crate::drift::{self, Scenario, Source, CHANGE_AT};
    use vigie_core::monitor::Monitor;

    let monitor = Monitor::from_model(model)?.context("the model has no monitor")?;
    let p = &built.prepared;
    let (src, _) = Source::held_out(p, &vec![true; p.data.channels.len()]);
    println!("monitor state {} bytes of RAM", monitor.state_bytes());
    let stable = 20_000;
    let (fa, _) = drift::false_alarm_rate(model, &monitor, &src, stable, 1)?;
    println!("stable stream of {stable} rows: {fa:.2} drift alarms per 10,000 rows");
    let feature = p
        .data
        .channels
        .iter()
        .position(|c| c == "px52")
        .unwrap_or(0);
    for scenario in [
        Scenario::Offset {
            feature,
            sigmas: 1.0,
        },
        Scenario::Stuck { feature },
        Scenario::ClassMix,
        Scenario::NanBurst { feature },
    ] {
        let o = drift::run(
            model,
            &monitor,
            &src,
            &scenario,
            1,
            CHANGE_AT + drift::HORIZON,
        )?;
        let named: Vec<&str> = o
            .features
            .iter()
            .map(|&f| p.data.channels[f].as_str())
            .collect();
        match o.delay {
            Some(d) => println!(
                "{:<18} from row {CHANGE_AT}: drift raised {d} rows later by {} naming [{}]",
                scenario.name(),
                o.detector.unwrap_or("?"),
                named.join(", ")
            ),
            None => println!("{:<18} from row {CHANGE_AT}: not detected", scenario.name()),
        }
    }
    Ok(())
}

/// Normal-score spread above which a feature counts as continuous (a
/// feature spread over the 32 reference bins scores about 0.95; one
/// that is mostly a single value scores far less).
pub const CONTINUOUS_SCORE_SD: f32 = 0.8;

/// `vigie drift-bench`: trains a model like `vigie train`, then replays
/// drift scenarios built from its held-out rows through vigie-core.
pub fn drift_bench(
    args: &TrainArgs,
    feature: Option<&str>,
    runs: usize,
    stable_rows: usize,
    as_json: bool,
) -> Result<()> {
    use crate::drift;
    use vigie_core::monitor::Monitor;

    let built = pipeline::build(args)?;
    let model = Model::from_bytes(&built.bytes)?;
    let monitor = Monitor::from_model(&model)?.context("the model has no monitor section")?;
    let p = &built.prepared;
    let names = &p.data.channels;
    let score_sd = |j: usize| vigie_core::format::read_f32(monitor.def().score_sd, j);
    let eligible: Vec<bool> = (0..names.len())
        .map(|j| score_sd(j) >= CONTINUOUS_SCORE_SD)
        .collect();
    let (src, pair) = drift::Source::held_out(p, &eligible);
    let feature = match feature {
        Some(name) => names
            .iter()
            .position(|n| n == name)
            .with_context(|| format!("no feature `{name}`; features: {}", names.join(", ")))?,
        // The most continuous feature: the largest normal-score spread.
        None => (0..names.len())
            .max_by(|&a, &b| score_sd(a).total_cmp(&score_sd(b)))
            .unwrap_or(0),
    };
    let classification = model.task() == Task::Classification;
    let mut results = Vec::new();
    for s in drift::standard_scenarios(feature, pair, classification) {
        results.push(drift::bench(&model, &monitor, &src, &s, runs, args.seed)?);
    }
    let (fa, by) =
        drift::false_alarm_rate(&model, &monitor, &src, stable_rows, args.seed ^ 0xFA15E)?;
    let report = json!({
        "data": args.data.display().to_string(),
        "held_out_rows": src.rows.len(),
        "feature": names[feature],
        "pair": [names[pair.0], names[pair.1]],
        "monitor_state_bytes": monitor.state_bytes(),
        "stable_rows": stable_rows,
        "false_alarms_per_10k": fa,
        "false_alarms_by_detector": by,
        "scenarios": results,
    });
    if as_json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "{}: {} held-out rows resampled; altered feature `{}`, pair `{}`/`{}`; monitor state {} bytes",
        args.data.display(),
        src.rows.len(),
        names[feature],
        names[pair.0],
        names[pair.1],
        monitor.state_bytes()
    );
    println!("false alarms: {fa:.3} per 10,000 stable rows over {stable_rows} rows {by:?}");
    println!(
        "{:<28} {:>7} {:>7} {:>7} {:>9} {:>9} {:>8}  first detectors",
        "scenario", "median", "p90", "missed", "detector", "feature", "FA/10k"
    );
    let opt = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.0}"));
    for r in &results {
        println!(
            "{:<28} {:>7} {:>7} {:>7} {:>6}/{:<2} {:>6}/{:<2} {:>8.2}  {:?}",
            r.scenario,
            opt(r.median_delay),
            opt(r.p90_delay),
            r.missed,
            r.right_detector,
            r.runs,
            r.right_feature,
            r.runs,
            r.false_alarms_per_10k,
            r.detectors
        );
    }
    Ok(())
}

/// `vigie monitor`: replays the rows of a CSV file through the model and
/// its monitor in vigie-core, as the device would, and reports each alarm.
pub fn monitor(
    model_path: &Path,
    data_path: &Path,
    labels: Option<&str>,
    as_json: bool,
) -> Result<()> {
    use vigie_core::monitor::{Detector, Level, Monitor};

    let bytes = inspect::read_model_file(model_path)?;
    let model = inspect::load(model_path, &bytes)?;
    let monitor = Monitor::from_model(&model)
        .map_err(|e| anyhow::anyhow!("{}: monitor section: {e}", model_path.display()))?
        .with_context(|| {
            format!(
                "{}: the model has no monitor; train it with this vigie",
                model_path.display()
            )
        })?;
    let csv = CsvFile::read(data_path)?;
    let channels: Vec<&str> = model.input_names().iter().collect();
    let cols = data::model_columns(&csv, &channels, model.input_shape().length as usize)?;
    // Missing cells stay NaN: the input guard sees them, as on the device.
    let (x, _) = data::read_features(&csv, &cols)?;
    let names: Vec<&str> = model.output_names().iter().collect();
    let label_col = labels.map(|l| csv.column(l, "label")).transpose()?;
    let width = cols.len();
    let mut memory = crate::device::Memory::new(&model, Some(&monitor));
    let mut session = memory.session(&model, Some(&monitor))?;
    let mut alarms = Vec::new();
    // A warning is reported when it starts, not on every row it lasts.
    let mut warned: u16 = 0;
    for (r, row) in x.chunks(width).enumerate() {
        let step = session.step(row)?;
        let class = step.decision().map(|d| d.index);
        let mut seen: Vec<_> = step.observation.into_iter().collect();
        if let (Some(col), Some(class)) = (label_col, class) {
            let truth = &csv.rows[r][col];
            if !names.iter().any(|n| n == truth) {
                bail!(
                    "{}:{}: label `{truth}` is not one of the model's classes ({})",
                    data_path.display(),
                    r + 2,
                    names.join(", ")
                );
            }
            seen.push(session.observe_label(names[class] == truth)?);
        }
        let fired = seen.iter().fold(0u16, |bits, o| bits | o.fired);
        let new_warning = |o: &vigie_core::monitor::Observation| {
            o.level == Level::Warning && o.detector.is_some_and(|d| warned & d as u16 == 0)
        };
        let report: Vec<_> = seen
            .into_iter()
            .filter(|o| o.level == Level::Drift || new_warning(o))
            .collect();
        warned = fired;
        for obs in report {
            let detector = obs.detector.map_or("?", Detector::name);
            let features: Vec<&str> = obs.features.iter().map(|&f| channels[f as usize]).collect();
            alarms.push(json!({
                "row": r,
                "level": if obs.level == Level::Drift { "drift" } else { "warning" },
                "detector": detector,
                "features": features,
                "score": obs.score,
            }));
        }
    }
    let rows = x.len() / width.max(1);
    if as_json {
        println!(
            "{}",
            serde_json::to_string(&json!({"rows": rows, "alarms": alarms}))?
        );
        return Ok(());
    }
    for a in &alarms {
        println!(
            "row {:>6}  {:<7}  {:<16}  {:<24}  score {:.2}",
            a["row"],
            a["level"].as_str().unwrap_or(""),
            a["detector"].as_str().unwrap_or(""),
            a["features"]
                .as_array()
                .map(|f| f
                    .iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(","))
                .unwrap_or_default(),
            a["score"].as_f64().unwrap_or(0.0)
        );
    }
    let drifts = alarms.iter().filter(|a| a["level"] == "drift").count();
    println!(
        "{rows} rows, {} alarms ({drifts} drift, {} warnings started)",
        alarms.len(),
        alarms.len() - drifts
    );
    Ok(())
}

/// `vigie stream`: a replay file of held-out rows, clean then faulty.
pub fn stream(
    args: &TrainArgs,
    model_path: &Path,
    windows: usize,
    (fault_channel, gain, offset): (&str, f32, f32),
    out: &Path,
) -> Result<()> {
    let bytes = inspect::read_model_file(model_path)?;
    let model = inspect::load(model_path, &bytes)?;
    let prepared = pipeline::prepare(args)?;
    data::check_model_inputs(&prepared.data, &model, model_path)?;
    let channels: Vec<&str> = model.input_names().iter().collect();
    let Some(channel) = channels.iter().position(|c| *c == fault_channel) else {
        bail!(
            "--fault-channel `{fault_channel}` is not an input of {} (inputs: {})",
            model_path.display(),
            channels.join(", ")
        );
    };
    if !gain.is_finite() || !offset.is_finite() || (gain == 1.0 && offset == 0.0) {
        bail!("--gain and --offset must be finite numbers, and make a fault (a gain other than 1 or an offset other than 0)");
    }
    let fault = crate::replay::Fault {
        channel,
        gain,
        offset,
    };
    let (windows, fault_from) = crate::replay::fault_stream(&prepared, windows, fault)?;
    let file = vigie_core::replay::to_bytes(&windows, Some(fault_from), Some(channel as u16));
    pipeline::write_atomically(out, &file)?;
    println!(
        "{}: {} windows ({} clean, then {} with `{fault_channel}` ×{gain} {offset:+}, then stuck), {} bytes",
        out.display(),
        windows.len(),
        fault_from,
        windows.len() - fault_from,
        file.len()
    );
    Ok(())
}

/// `vigie replay`: a stream through a model and its monitor, as on a device.
pub fn replay(model_path: &Path, stream_path: &Path) -> Result<()> {
    let bytes = inspect::read_model_file(model_path)?;
    let model = inspect::load(model_path, &bytes)?;
    let stream = std::fs::read(stream_path)
        .with_context(|| format!("{}: cannot read the stream", stream_path.display()))?;
    let lines = crate::replay::replay_lines(&model, &stream)
        .with_context(|| format!("{}", stream_path.display()))?;
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

/// Exit status of `vigie check-data --strict` on a blocking finding.
pub const STRICT_EXIT: u8 = 3;

/// `vigie check-data`.
pub fn check_data(
    data_path: &Path,
    target: &str,
    test: Option<&Path>,
    regression: bool,
    as_json: bool,
    strict: bool,
) -> Result<()> {
    let csv = CsvFile::read(data_path)?;
    let spec = Spec {
        target: target.to_owned(),
        features: None,
        regression,
        classes: None,
    };
    let data = data::load(&csv, &spec)?;
    let test_data = test
        .map(|path| data::load_test(&csv, &data, &spec, path))
        .transpose()?;
    let findings = crate::checks::run(&data, test_data.as_ref());
    if as_json {
        println!("{}", serde_json::to_string(&findings)?);
    } else if findings.is_empty() {
        println!("no findings");
    } else {
        for f in &findings {
            let severity = match f.severity {
                crate::checks::Severity::Blocking => "BLOCKING",
                crate::checks::Severity::Warning => "warning ",
                crate::checks::Severity::Info => "info    ",
            };
            println!("{severity} {:<18} {}", f.check, f.message);
        }
    }
    let blocking = crate::checks::blocking(&findings).len();
    if strict && blocking > 0 {
        eprintln!("check-data: {blocking} blocking findings (--strict)");
        std::process::exit(STRICT_EXIT.into());
    }
    Ok(())
}

/// `vigie explain`.
pub fn explain(
    model_path: &Path,
    data_path: &Path,
    target: Option<&str>,
    row: Option<usize>,
    seed: u64,
    as_json: bool,
) -> Result<()> {
    let bytes = inspect::read_model_file(model_path)?;
    let model = inspect::load(model_path, &bytes)?;
    let d = crate::explain::load_for_model(&model, model_path, data_path, target)?;
    let names: Vec<&str> = model.input_names().iter().collect();
    if let Some(r) = row {
        if r >= d.len() {
            bail!(
                "--row {r}: {} has {} data rows (0 to {})",
                data_path.display(),
                d.len(),
                d.len().saturating_sub(1)
            );
        }
        let (class, reference, ranked) = crate::explain::attribution(&model, d.row(r))?;
        let what = match model.task() {
            Task::Classification => format!(
                "class {} with probability {reference:.4}",
                model.output_names().get(class).unwrap_or("?")
            ),
            Task::Regression => format!("value {reference:.4}"),
        };
        if as_json {
            let attributions: Vec<Value> = ranked
                .iter()
                .map(|&(f, a)| json!({"feature": names[f], "attribution": a}))
                .collect();
            println!(
                "{}",
                json!({"row": r, "line": r + 2, "class": class, "score": reference, "attributions": attributions})
            );
        } else {
            println!(
                "row {r} (line {}): {what}; each input replaced by its training mean changes it by:",
                r + 2
            );
            for (f, a) in ranked.iter().take(15) {
                println!("  {:<24} {:+.4}", names[*f], -a);
            }
        }
        return Ok(());
    }
    let (base, importance) = crate::explain::permutation_importance(&model, &d, seed)?;
    let metric = match model.task() {
        Task::Classification => "accuracy",
        Task::Regression => "-MAE",
    };
    if as_json {
        println!(
            "{}",
            json!({"metric": metric, "score": base, "rows": d.len(), "repeats": crate::explain::REPEATS, "importance": importance})
        );
    } else {
        println!(
            "{metric} {base:.4} on {} rows; lost when each input is shuffled ({} repeats):",
            d.len(),
            crate::explain::REPEATS
        );
        for i in importance.iter().take(20) {
            println!("  {:<24} {:+.4} ± {:.4}", i.feature, i.drop, i.sd);
        }
    }
    Ok(())
}

/// `vigie strip`: the model without its host-only sections.
pub fn strip(model_path: &Path, out: &Path) -> Result<()> {
    let bytes = inspect::read_model_file(model_path)?;
    let model = inspect::load(model_path, &bytes)?;
    let mut def = model.def().clone();
    def.strip_host_sections();
    let stripped = def.to_bytes();
    // What is written must load and run exactly as before.
    Model::from_bytes(&stripped)
        .map_err(|e| anyhow::anyhow!("the stripped model does not load: {e}"))?;
    pipeline::write_atomically(out, &stripped)?;
    println!(
        "{}: {} bytes (was {}; dropped the training report and the data checks)",
        out.display(),
        stripped.len(),
        bytes.len()
    );
    Ok(())
}
