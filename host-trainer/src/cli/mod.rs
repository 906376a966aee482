//! The command line: one file per `vigie` command; this module holds what
//! they share (the summary printed after training and evaluation, reading
//! a labelled file for a model, the bundled data folder).

pub mod check_data;
pub mod demo;
pub mod drift_bench;
pub mod eval;
pub mod explain;
pub mod fleet;
pub mod import;
pub mod inspect;
pub mod keys;
pub mod monitor;
pub mod predict;
pub mod replay;
pub mod stream;
pub mod strip;

use std::path::PathBuf;

/// A model file and a data file it reads, and how to read that file: what
/// `eval`, `predict`, `monitor` and `explain` take.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The model file.
    pub model: PathBuf,
    /// The data file.
    pub data: PathBuf,
    /// How to read the data file.
    pub csv: crate::data::CsvOptions,
}

use crate::pipeline::Summary;
use crate::training_report::TestMetrics;
use anyhow::{Context, Result};

/// Prints a train or eval summary for people.
pub fn print_summary(s: &Summary) {
    let f = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.4}"));
    if let Some(t) = &s.fine_tune {
        println!(
            "fine-tuned     from {} ({} old rows mixed in); old and new int8 models on the same rows:",
            t.from, t.rehearsal_rows
        );
        for c in &t.compared {
            println!(
                "  {:<60} {:>6} rows  {} old {:.4}  new {:.4}",
                c.data, c.rows, c.metric, c.old, c.new
            );
        }
    }
    match &s.test {
        TestMetrics::Classification {
            int8, float: None, ..
        } => println!(
            "accuracy        int8 {}, macro-F1 {}",
            f(Some(int8.accuracy)),
            f(Some(int8.macro_f1))
        ),
        TestMetrics::Regression {
            int8, float: None, ..
        } => println!(
            "error           int8 MAE {}, RMSE {}",
            f(Some(int8.mae)),
            f(Some(int8.rmse))
        ),
        TestMetrics::Classification {
            int8,
            float,
            agreement,
            ..
        } => {
            println!(
                "test accuracy   float {}   int8 {}   (argmax agreement {})",
                f(float.as_ref().map(|m| m.accuracy)),
                f(Some(int8.accuracy)),
                f(*agreement)
            );
            println!(
                "test macro-F1   float {}   int8 {}",
                f(float.as_ref().map(|m| m.macro_f1)),
                f(Some(int8.macro_f1))
            );
        }
        TestMetrics::Regression { int8, float, .. } => {
            println!(
                "test MAE        float {}   int8 {}",
                f(float.map(|m| m.mae)),
                f(Some(int8.mae))
            );
            println!(
                "test RMSE       float {}   int8 {}",
                f(float.map(|m| m.rmse)),
                f(Some(int8.rmse))
            );
        }
    }
    if let Some(t) = &s.training_test {
        let source = format!("the training-time test split ({} rows)", t.rows());
        match t {
            TestMetrics::Classification { int8, float, .. } => println!(
                "at training     on {source}: accuracy float {}, int8 {}",
                f(float.as_ref().map(|m| m.accuracy)),
                f(Some(int8.accuracy))
            ),
            TestMetrics::Regression { int8, float, .. } => println!(
                "at training     on {source}: MAE float {}, int8 {}",
                f(float.map(|m| m.mae)),
                f(Some(int8.mae))
            ),
        }
    }
    if let Some(d) = &s.decisions {
        print!(
            "decisions       answers {} of rows, right on {} of those",
            f(Some(d.coverage)),
            f(d.precision_answered)
        );
        match d.mean_cost {
            Some(c) => println!("; mean cost {} per row", f(Some(c))),
            None => println!(),
        }
    }
    if let Some(b) = &s.baselines {
        let first = if b.metric == "MAE" {
            "training mean"
        } else {
            "majority class"
        };
        println!(
            "baselines       {}: {first} {}, {} {}, this model (int8) {}",
            b.metric,
            f(Some(b.majority)),
            b.cheap,
            f(Some(b.cheap_score)),
            f(Some(b.model))
        );
        if let Some(finding) = &b.finding {
            println!("BLOCKING        {finding}");
        }
    }
    if let Some(sb) = &s.search {
        println!(
            "model search    {} trials compared by {}; chose {}{}",
            sb.trials,
            sb.selection,
            sb.chosen,
            if sb.epochs > 0 {
                format!(" ({} epochs)", sb.epochs)
            } else {
                String::new()
            }
        );
    }
    if let Some(g) = &s.generalization_gap {
        println!(
            "best epoch      {} of {}: train loss {}, validation loss {} (gap {})",
            g.epoch,
            s.epochs_run.unwrap_or(0),
            f(Some(g.train_loss)),
            f(Some(g.val_loss)),
            f(Some(g.loss_gap))
        );
    }
    if let Some(c) = &s.calibration {
        let interval = |(lo, hi): (f64, f64)| format!("[{lo:.4}, {hi:.4}]");
        match &c.temperature_choice {
            Some(t) if t.kept => println!(
                "calibration     temperature {} kept: it {}",
                f(Some(c.temperature.into())),
                t.reason
            ),
            Some(t) => println!("calibration     temperature 1 kept: {}", t.reason),
            None => println!(
                "calibration     temperature {} (given with --temperature)",
                f(Some(c.temperature.into()))
            ),
        }
        println!(
            "                ECE on {} test rows {} {} before, {} {} after",
            s.test.rows(),
            f(Some(c.ece_before)),
            interval(c.ece_before_interval),
            f(Some(c.ece_after)),
            interval(c.ece_after_interval)
        );
        if c.abstain_below > 0.0 {
            println!(
                "abstention      below probability {}: answers {} of test rows, right on {} {} of those",
                f(Some(c.abstain_below.into())),
                f(Some(c.coverage)),
                f(c.precision_answered),
                c.precision_interval.map(interval).unwrap_or_default()
            );
        }
        if let Some(w) = &c.warning {
            println!("WARNING         {w}");
        }
        if let (Some(rule), Some(argmax)) = (c.cost_rule, c.cost_argmax) {
            println!(
                "expected cost   {} per test row with the cost matrix, {} with argmax{}",
                f(Some(rule)),
                f(Some(argmax)),
                c.cost_difference_se
                    .map(|se| format!(
                        " (difference {:+.4} ± {:.4}, one standard error)",
                        rule - argmax,
                        se
                    ))
                    .unwrap_or_default()
            );
        }
    }
    if !s.data_checks.is_empty() {
        println!(
            "data checks     {} findings stored in the model (vigie check-data prints them)",
            s.data_checks.len()
        );
    }
    if let Some(seconds) = s.train_seconds {
        println!(
            "training        {} s on {}",
            f(Some(seconds)),
            s.backend.as_deref().unwrap_or("?")
        );
    }
    let adaptation = match s.adaptation_state_bytes {
        0 => String::new(),
        n => format!(", adaptation state {n}"),
    };
    println!(
        "on the device   {} bytes of flash (model, stripped), {} bytes of RAM (arena {}, monitor state {}{adaptation}), {} MACs per inference",
        s.device_bytes,
        s.arena_bytes + s.monitor_state_bytes + s.adaptation_state_bytes,
        s.arena_bytes,
        s.monitor_state_bytes,
        s.macs
    );
    if let Some(h) = s.monitor.as_ref().and_then(|m| m.held_out.as_ref()) {
        let by: Vec<String> = h
            .by_detector
            .iter()
            .map(|(d, n)| format!("{d} {n}"))
            .collect();
        println!(
            "drift monitor   {:.2} false alarms per 10,000 rows on {} rows resampled from the {} test rows (in the training class mix), which neither its reference nor its thresholds saw{}",
            h.per_10k,
            h.replayed,
            h.rows,
            if by.is_empty() {
                String::new()
            } else {
                format!(" ({})", by.join(", "))
            }
        );
    }
    if s.file_bytes == s.device_bytes {
        println!(
            "model file      {} ({} bytes: a device copy, without host-only sections)",
            s.model, s.file_bytes
        );
    } else {
        println!(
            "model file      {} ({} bytes with its host-only sections: training report, data checks, fingerprint)",
            s.model, s.file_bytes
        );
    }
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
