//! `vigie drift-bench`: drift scenarios replayed through the session.

use anyhow::{Context, Result};
use serde_json::json;
use vigie_core::{Model, Task};

use crate::pipeline;
use crate::training::args::TrainArgs;

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
    use crate::evaluation::drift;
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
    let bench = drift::Bench {
        model: &model,
        monitor: &monitor,
        src: &src,
    };
    let mut results = Vec::new();
    for s in drift::standard_scenarios(feature, pair, classification) {
        results.push(bench.scenario(&s, runs, args.seed)?);
    }
    let (fa, by) = bench.false_alarm_rate(stable_rows, args.seed ^ 0xFA15E)?;
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
    // `confidence 2, mean-cusum 1`: detectors and how often.
    let counts = |by: &[(String, usize)]| -> String {
        if by.is_empty() {
            return "none".into();
        }
        by.iter()
            .map(|(d, n)| format!("{d} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "false alarms: {fa:.3} per 10,000 stable rows over {stable_rows} rows (by detector: {})",
        counts(&by)
    );
    println!(
        "{:<28} {:>7} {:>7} {:>7} {:>9} {:>9} {:>8}  first detectors",
        "scenario", "median", "p90", "missed", "detector", "feature", "FA/10k"
    );
    let opt = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.0}"));
    for r in &results {
        println!(
            "{:<28} {:>7} {:>7} {:>7} {:>6}/{:<2} {:>6}/{:<2} {:>8.2}  {}",
            r.scenario,
            opt(r.median_delay),
            opt(r.p90_delay),
            r.missed,
            r.right_detector,
            r.runs,
            r.right_feature,
            r.runs,
            r.false_alarms_per_10k,
            counts(&r.detectors)
        );
    }
    Ok(())
}
