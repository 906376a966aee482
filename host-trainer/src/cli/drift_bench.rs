//! `vigie drift-bench`: drift scenarios replayed through the session, on
//! one data set or on every bundled one (`--suite data`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::json;
use vigie_core::monitor::{Detector, Monitor};
use vigie_core::{Model, Task};

use crate::evaluation::drift::{self, Summary};
use crate::pipeline;
use crate::training::args::TrainArgs;

/// Normal-score spread above which a feature counts as continuous (a
/// feature spread over the 32 reference bins scores about 0.95; one
/// that is mostly a single value scores far less).
pub const CONTINUOUS_SCORE_SD: f32 = 0.8;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seeded runs per scenario.
    pub runs: usize,
    /// Rows of the stable stream.
    pub stable_rows: usize,
    /// `--min-shift` of the monitor.
    pub min_shift: f32,
    /// `--false-alarm-rate` the monitor is calibrated for, per row.
    pub false_alarm_rate: f64,
    /// Seed of training and of the streams.
    pub seed: u64,
    /// Seeds per set in `--suite` (`seed`, `seed + 1`, …): each figure is
    /// the median over them, since one model's calibration is one draw.
    pub seeds: usize,
    /// One JSON object instead of text.
    pub json: bool,
    /// A folder to write every replayed stream into (monitored features,
    /// CSV), with the reference rows and vigie's report, for the peers'
    /// script `bench/drift_peers.py`.
    pub dump: Option<PathBuf>,
}

/// One data set's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    /// The data file.
    pub data: String,
    /// Held-out rows the streams are resampled from.
    pub held_out_rows: usize,
    /// The altered feature and the decorrelated pair.
    pub feature: String,
    /// The pair.
    pub pair: [String; 2],
    /// Monitored features, and how many retired from the CUSUMs.
    pub monitored: usize,
    /// Retired features.
    pub retired: usize,
    /// Monitor state on the device.
    pub monitor_state_bytes: usize,
    /// Drift thresholds by detector.
    pub thresholds: Vec<(String, f32)>,
    /// Allowances (mean, variance, outputs).
    pub allowances: [f32; 3],
    /// Rows of the stable stream.
    pub stable_rows: usize,
    /// Drift alarms per 10,000 stable rows.
    pub false_alarms_per_10k: f64,
    /// By detector.
    pub false_alarms_by_detector: Vec<(String, usize)>,
    /// Each scenario.
    pub scenarios: Vec<Summary>,
}

/// Trains a model like `vigie train`, then replays drift scenarios built
/// from its held-out rows through vigie-core.
pub fn measure(mut args: TrainArgs, feature: Option<&str>, o: &Options) -> Result<SetReport> {
    args.out = PathBuf::from("drift-bench.vigie");
    args.seed = o.seed;
    args.min_shift = o.min_shift;
    args.false_alarm_rate = o.false_alarm_rate;
    let built = pipeline::build(&args)?;
    let model = Model::from_bytes(&built.bytes)?;
    let monitor = Monitor::from_model(&model)?.context("the model has no monitor section")?;
    let p = &built.prepared;
    let names = &p.data.channels;
    let def = monitor.def();
    let score_sd = |j: usize| vigie_core::format::read_f32(def.score_sd, j);
    let eligible: Vec<bool> = (0..names.len())
        .map(|j| score_sd(j) >= CONTINUOUS_SCORE_SD)
        .collect();
    let (src, pair) = drift::Source::held_out(p, &eligible);
    if src.rows.is_empty() {
        anyhow::bail!(
            "{}: no held-out rows to draw streams from; give --test FILE or a --test-split above 0",
            args.data.display()
        );
    }
    let feature = match feature {
        Some(name) => names
            .iter()
            .position(|n| n == name)
            .with_context(|| format!("no feature `{name}`; features: {}", names.join(", ")))?,
        // The most continuous channel: the largest normal-score spread.
        None => (0..names.len())
            .max_by(|&a, &b| score_sd(a).total_cmp(&score_sd(b)))
            .unwrap_or(0),
    };
    let classification = model.task() == Task::Classification;
    let bench = drift::Bench {
        model: &model,
        monitor: &monitor,
        src: &src,
    };
    let zero_mean = drift::zero_mean_channel(&p.data, &p.splits.train);
    let mut scenarios = Vec::new();
    // Each run's outcome, kept for `--dump`.
    let mut runs = Vec::new();
    for s in drift::standard_scenarios(feature, pair, classification, zero_mean) {
        let outcomes = bench.outcomes(&s, o.runs, o.seed)?;
        scenarios.push(Summary::of(&s, &outcomes));
        runs.push((s, outcomes));
    }
    let (fa, by) = bench.false_alarm_rate(o.stable_rows, o.seed ^ 0xFA15E)?;
    let report = SetReport {
        data: args.data.display().to_string(),
        held_out_rows: src.rows.len(),
        feature: names[feature].clone(),
        pair: [names[pair.0].clone(), names[pair.1].clone()],
        monitored: def.features as usize,
        retired: def.roles.iter().filter(|&&r| r == 0).count(),
        monitor_state_bytes: monitor.state_bytes(),
        thresholds: Detector::ALL
            .iter()
            .filter(|d| def.drift[**d].is_finite())
            .map(|d| (d.name().to_owned(), def.drift[*d]))
            .collect(),
        allowances: [def.params.mean_k, def.params.variance_k, def.params.aux_k],
        stable_rows: o.stable_rows,
        false_alarms_per_10k: fa,
        false_alarms_by_detector: by,
        scenarios,
    };
    if let Some(dir) = &o.dump {
        let reference: Vec<Vec<f32>> = p
            .splits
            .train
            .iter()
            .chain(&p.splits.val)
            .map(|&r| p.data.row(r).to_vec())
            .collect();
        dump(dir, &bench, &runs, &report, o, &reference)?;
    }
    Ok(report)
}

/// One stream's monitored features as CSV (`%.6g`), a header of their names.
fn stream_csv(
    model: &Model<'_>,
    names: &[String],
    rows: impl Iterator<Item = Vec<f32>>,
) -> Vec<u8> {
    let monitor = Monitor::from_model(model).ok().flatten();
    let mut out = names.join(",");
    out.push('\n');
    for x in rows {
        let cells: Vec<String> = (0..names.len())
            .map(
                |f| match monitor.as_ref().and_then(|m| m.feature_map().value(&x, f)) {
                    Some(v) => format!("{v}"),
                    None => "nan".into(),
                },
            )
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out.into_bytes()
}

/// `--dump DIR`: `reference.csv` (the rows the monitor's reference was
/// fitted on), `stable.csv`, one `<scenario>-<run>.csv` per run (the
/// change at row [`drift::CHANGE_AT`]), and `vigie.json` (the report, with
/// each stream's file and vigie's outcome on it).
fn dump(
    dir: &Path,
    bench: &drift::Bench<'_>,
    scenarios: &[(drift::Scenario, Vec<drift::Outcome>)],
    report: &SetReport,
    o: &Options,
    reference: &[Vec<f32>],
) -> Result<()> {
    use crate::files::write_atomically;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let model = bench.model;
    let names = crate::monitor_fit::feature_names(model);
    write_atomically(
        &dir.join("reference.csv"),
        &stream_csv(model, &names, reference.iter().cloned()),
    )?;
    let stable = drift::Scenario::Stable;
    write_atomically(
        &dir.join("stable.csv"),
        &stream_csv(
            model,
            &names,
            bench.stream(&stable, o.seed ^ 0xFA15E, o.stable_rows),
        ),
    )?;
    let mut runs = Vec::new();
    for (s, outcomes) in scenarios {
        let slug: String = s
            .name()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        for (i, outcome) in outcomes.iter().enumerate() {
            let seed = o.seed.wrapping_add(i as u64);
            let rows = drift::CHANGE_AT + drift::HORIZON;
            let file = format!("{slug}-{i}.csv");
            write_atomically(
                &dir.join(&file),
                &stream_csv(model, &names, bench.stream(s, seed, rows)),
            )?;
            runs.push(
                json!({"scenario": s.name(), "spec": s, "run": i, "file": file, "vigie": outcome}),
            );
        }
    }
    let doc = json!({
        "report": report,
        "change_at": drift::CHANGE_AT,
        "horizon": drift::HORIZON,
        "features": names,
        "stable": {"file": "stable.csv", "rows": o.stable_rows},
        "runs": runs,
    });
    write_atomically(
        &dir.join("vigie.json"),
        serde_json::to_string_pretty(&doc)?.as_bytes(),
    )
}

/// `confidence 2, mean-cusum 1`: detectors and how often.
fn counts(by: &[(String, usize)]) -> String {
    if by.is_empty() {
        return "none".into();
    }
    by.iter()
        .map(|(d, n)| format!("{d} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `vigie drift-bench --data …`: one data set, every scenario.
pub fn drift_bench(args: TrainArgs, feature: Option<&str>, o: &Options) -> Result<()> {
    let r = measure(args, feature, o)?;
    if o.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    let pair = if r.pair[0] == r.pair[1] {
        "no pair to decorrelate (one feature)".to_owned()
    } else {
        format!("pair `{}`/`{}`", r.pair[0], r.pair[1])
    };
    println!(
        "{}: {} held-out rows resampled; altered feature `{}`, {pair}; monitor state {} bytes",
        r.data, r.held_out_rows, r.feature, r.monitor_state_bytes
    );
    println!(
        "min shift {} sd; calibrated for {} false alarms per 10,000 rows; allowances: mean {:.3}, variance {:.3}, outputs {:.3}; {} of {} features retired from the CUSUMs",
        o.min_shift,
        o.false_alarm_rate * 10_000.0,
        r.allowances[0],
        r.allowances[1],
        r.allowances[2],
        r.retired,
        r.monitored
    );
    println!(
        "drift thresholds: {}",
        r.thresholds
            .iter()
            .map(|(d, t)| format!("{d} {t:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "false alarms: {:.3} per 10,000 stable rows over {} rows (by detector: {})",
        r.false_alarms_per_10k,
        r.stable_rows,
        counts(&r.false_alarms_by_detector)
    );
    println!(
        "{:<28} {:>7} {:>7} {:>7} {:>9} {:>9} {:>8}  first detectors",
        "scenario", "median", "p90", "missed", "detector", "feature", "FA/10k"
    );
    let opt = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.0}"));
    for s in &r.scenarios {
        println!(
            "{:<28} {:>7} {:>7} {:>7} {:>6}/{:<2} {:>6}/{:<2} {:>8.2}  {}",
            s.scenario,
            opt(s.median_delay),
            opt(s.p90_delay),
            s.missed,
            s.right_detector,
            s.runs,
            s.right_feature,
            s.runs,
            s.false_alarms_per_10k,
            counts(&s.detectors)
        );
    }
    Ok(())
}

/// The bundled data sets: name, training file, test file (none: an 80/20
/// split), label column.
pub const SUITE: [(&str, &str, Option<&str>, &str); 8] = [
    ("digits", "digits.csv", None, "digit"),
    ("winequality-red", "winequality-red.csv", None, "quality"),
    ("penguins", "penguins.csv", None, "species"),
    ("diamonds", "diamonds.csv", None, "cut"),
    (
        "basicmotions",
        "basicmotions_train.csv",
        Some("basicmotions_test.csv"),
        "activity",
    ),
    (
        "japanesevowels",
        "japanesevowels_train.csv",
        Some("japanesevowels_test.csv"),
        "label",
    ),
    (
        "osuleaf",
        "osuleaf_train.csv",
        Some("osuleaf_test.csv"),
        "label",
    ),
    ("acsf1", "acsf1_train.csv", Some("acsf1_test.csv"), "label"),
];

/// A scenario's summary by name prefix.
fn scenario<'r>(r: &'r SetReport, prefix: &str) -> Option<&'r Summary> {
    r.scenarios.iter().find(|s| s.scenario.starts_with(prefix))
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[v.len() / 2])
}

/// `vigie drift-bench --suite DIR`: every bundled set found in `dir`, then
/// one line per set and the median and worst case over sets.
pub fn suite(dir: &Path, o: &Options) -> Result<()> {
    let delay = |r: &SetReport, p: &str| scenario(r, p).and_then(|s| s.median_delay);
    let named = |r: &SetReport, p: &str| {
        scenario(r, p).map(|s| s.right_feature as f64 / s.runs.max(1) as f64)
    };
    let opt = |v: Option<f64>, d: usize| v.map_or("-".into(), |x| format!("{x:.d$}"));
    if !o.json {
        println!(
            "min shift {} sd; {} runs per scenario; {} stable rows per set; medians over {} seed(s) from {}",
            o.min_shift, o.runs, o.stable_rows, o.seeds.max(1), o.seed
        );
        println!(
            "{:<16} {:>8} {:>9} {:>8} {:>7} {:>8} {:>9} {:>7}  false alarms by detector",
            "set", "FA/10k", "1σ delay", "1σ named", "stuck", "gain×2", "state B", "missed"
        );
    }
    let mut reports = Vec::new();
    let mut cols: [Vec<f64>; 5] = Default::default();
    for (name, file, test, target) in SUITE {
        let path = dir.join(file);
        if !path.exists() {
            eprintln!("{name}: {} not found, skipped", path.display());
            continue;
        }
        eprintln!("{name}: training and replaying…");
        let mut args = TrainArgs::new(path, target);
        args.quiet = true;
        // Penguins has holes; a no-op on the others.
        args.impute = Some(crate::data::Impute::Median);
        args.test = test.map(|t| dir.join(t));
        args.test_split = if test.is_some() { 0.0 } else { 0.2 };
        // One model per seed: its training, calibration and streams.
        let mut per_seed = Vec::new();
        for i in 0..o.seeds.max(1) {
            let seeded = Options {
                seed: o.seed.wrapping_add(i as u64),
                ..o.clone()
            };
            per_seed.push(measure(args.clone(), None, &seeded)?);
        }
        let of =
            |f: &dyn Fn(&SetReport) -> Option<f64>| median(per_seed.iter().filter_map(f).collect());
        // Each set's line as soon as it is measured: the suite takes minutes.
        let missed: usize = per_seed
            .iter()
            .flat_map(|r| r.scenarios.iter().map(|s| s.missed))
            .sum();
        let row = [
            of(&|r| Some(r.false_alarms_per_10k)),
            of(&|r| delay(r, "offset 1σ")),
            of(&|r| named(r, "offset 1σ")),
            of(&|r| delay(r, "stuck")),
            of(&|r| delay(r, "gain ×2")),
        ];
        for (c, v) in cols.iter_mut().zip(row) {
            c.push(v.unwrap_or(f64::NAN));
        }
        let mut by: Vec<(String, usize)> = Vec::new();
        for (d, n) in per_seed.iter().flat_map(|r| &r.false_alarms_by_detector) {
            match by.iter_mut().find(|(e, _)| e == d) {
                Some(e) => e.1 += n,
                None => by.push((d.clone(), *n)),
            }
        }
        if !o.json {
            let rates: Vec<String> = per_seed
                .iter()
                .map(|r| format!("{:.2}", r.false_alarms_per_10k))
                .collect();
            println!(
                "{:<16} {:>8} {:>9} {:>8} {:>7} {:>8} {:>9} {:>7}  {}{}",
                name,
                opt(row[0], 2),
                opt(row[1], 0),
                opt(row[2].map(|x| 100.0 * x), 0) + "%",
                opt(row[3], 0),
                opt(row[4], 0),
                per_seed[0].monitor_state_bytes,
                missed,
                counts(&by),
                if per_seed.len() > 1 {
                    format!(" (FA per seed {})", rates.join(" / "))
                } else {
                    String::new()
                }
            );
        }
        for r in per_seed {
            reports.push((name, r));
        }
    }
    if reports.is_empty() {
        anyhow::bail!(
            "{}: none of the bundled data sets is there ({}); give the repository's data/ folder",
            dir.display(),
            SUITE.iter().map(|s| s.1).collect::<Vec<_>>().join(", ")
        );
    }
    if o.json {
        let sets: Vec<_> = reports
            .iter()
            .map(|(n, r)| json!({"set": n, "report": r}))
            .collect();
        println!("{}", serde_json::to_string(&sets)?);
        return Ok(());
    }
    let worst = |v: &[f64], high_bad: bool| -> Option<f64> {
        let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        if high_bad {
            v.into_iter().reduce(f64::max)
        } else {
            v.into_iter().reduce(f64::min)
        }
    };
    println!(
        "{:<16} {:>8} {:>9} {:>8} {:>7} {:>8}",
        "median",
        opt(median(cols[0].clone()), 2),
        opt(median(cols[1].clone()), 0),
        opt(median(cols[2].clone()).map(|x| 100.0 * x), 0) + "%",
        opt(median(cols[3].clone()), 0),
        opt(median(cols[4].clone()), 0),
    );
    println!(
        "{:<16} {:>8} {:>9} {:>8} {:>7} {:>8}",
        "worst",
        opt(worst(&cols[0], true), 2),
        opt(worst(&cols[1], true), 0),
        opt(worst(&cols[2], false).map(|x| 100.0 * x), 0) + "%",
        opt(worst(&cols[3], true), 0),
        opt(worst(&cols[4], true), 0),
    );
    println!("delays in rows (windows for window models), medians over runs; `vigie drift-bench --data …` gives every scenario of one set");
    Ok(())
}
