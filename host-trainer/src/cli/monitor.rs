//! `vigie monitor`: a stream replayed through the model and its monitor,
//! row by row in constant memory, from a file or from standard input
//! (`--data -`), as the device runs it. Each drift episode is reported as it
//! starts and as it ends: which input moved, which way and by how much, in
//! the training standard deviations and in the input's units. `--events`
//! adds every raw detector event; `--json` writes one JSON object a line.

use std::collections::VecDeque;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use vigie_core::format::read_f32;
use vigie_core::monitor::{Detector, Level, Monitor, Observation};
use vigie_core::session::Alarm;

use crate::data::stream::RowStream;
use crate::files;

/// Rows kept to describe a change when an episode starts: longer than the
/// monitor's detection delay for a one-sigma shift (about 30 rows).
const RECENT_ROWS: usize = 50;
/// Rows after an estimated change point, at least.
const MIN_AFTER: usize = 3;

/// What `vigie monitor` is asked for.
pub struct MonitorOptions<'a> {
    /// A label column, for the error-rate detector.
    pub labels: Option<&'a str>,
    /// One JSON object a line.
    pub json: bool,
    /// Every raw detector event, not only episodes.
    pub events: bool,
}

/// A change of one input against training, as reported: `now` is its
/// mean over the rows described, `spread` their standard deviation when
/// known, `since` the row the change started at when estimated.
fn change_json(
    monitor: &Monitor<'_>,
    name: &str,
    f: usize,
    now: f32,
    spread: Option<f32>,
    since: Option<usize>,
) -> Value {
    let def = monitor.def();
    let (mean, sd) = (read_f32(def.mean, f), read_f32(def.std, f).max(1e-12));
    let sigmas = (now - mean) / sd;
    json!({
        "feature": name,
        "direction": if sigmas >= 0.0 { "up" } else { "down" },
        "sigmas": sigmas,
        "mean_now": now,
        "training_mean": mean,
        "training_sd": sd,
        "spread_ratio": spread.map(|s| s / sd),
        "since_row": since,
    })
}

/// How one input differs from training over its recent rows (oldest
/// first): the change point is estimated as the start of the stretch whose
/// mean lies furthest from training, weighed by its length (the CUSUM
/// estimate, `n·((mean − μ)/σ)²`), and the change is that stretch's mean
/// and spread against training's.
/// `values` holds one entry a row (`None`: missing); `None` when none of
/// them is a number.
fn change(
    monitor: &Monitor<'_>,
    name: &str,
    f: usize,
    values: &[Option<f32>],
    row: usize,
) -> Option<Value> {
    let def = monitor.def();
    let (mean, sd) = (read_f32(def.mean, f), read_f32(def.std, f).max(1e-12));
    let n = values.len();
    let mut best: Option<(usize, f32)> = None;
    let (mut sum, mut count) = (0.0f32, 0usize);
    for k in (0..n).rev() {
        if let Some(v) = values[k] {
            sum += v;
            count += 1;
        }
        if count < MIN_AFTER.min(n).max(1) {
            continue;
        }
        let z = (sum / count as f32 - mean) / sd;
        let stat = count as f32 * z * z;
        if best.is_none_or(|(_, b)| stat > b) {
            best = Some((k, stat));
        }
    }
    let (k, _) = best?;
    let after: Vec<f32> = values[k..].iter().flatten().copied().collect();
    let m = after.len().max(1) as f32;
    let now = after.iter().sum::<f32>() / m;
    let spread = (after.iter().map(|v| (v - now).powi(2)).sum::<f32>() / m).sqrt();
    Some(change_json(
        monitor,
        name,
        f,
        now,
        Some(spread),
        Some((row + 1).saturating_sub(n - k)),
    ))
}

fn describe(c: &Value) -> String {
    format!(
        "{} {} {:.1} sd{} (mean {:.4} against {:.4} ± {:.4} in training{})",
        c["feature"].as_str().unwrap_or("?"),
        c["direction"].as_str().unwrap_or("?"),
        c["sigmas"].as_f64().unwrap_or(0.0).abs(),
        c["since_row"]
            .as_u64()
            .map(|r| format!(" since about row {r}"))
            .unwrap_or_default(),
        c["mean_now"].as_f64().unwrap_or(0.0),
        c["training_mean"].as_f64().unwrap_or(0.0),
        c["training_sd"].as_f64().unwrap_or(0.0),
        c["spread_ratio"]
            .as_f64()
            .map(|s| format!("; spread ×{s:.2} of training's"))
            .unwrap_or_default(),
    )
}

/// An open drift episode.
struct Episode {
    start: usize,
    detector: &'static str,
    features: Vec<usize>,
    /// Sums of each named feature's values since the start.
    sums: Vec<(f64, usize)>,
}

/// `vigie monitor`.
pub fn monitor(io: &super::Inputs, opts: &MonitorOptions<'_>) -> Result<()> {
    let model_path = io.model.as_path();
    let bytes = files::read_model_file(model_path)?;
    let model = files::load(model_path, &bytes)?;
    let monitor = Monitor::from_model(&model)
        .map_err(|e| anyhow::anyhow!("{}: monitor section: {e}", model_path.display()))?
        .with_context(|| {
            format!(
                "{}: the model has no monitor; train it with this vigie",
                model_path.display()
            )
        })?;
    let columns = crate::data::model_raw_columns(&model)?;
    let mut stream = RowStream::open(&io.data, io.csv, columns, opts.labels)?;
    // Monitored features: channel means, and spreads for windows.
    let channels: Vec<String> = crate::monitor_fit::feature_names(&model);
    let classes: Vec<&str> = model.output_names().iter().collect();
    let width = model.input_len();
    if stream.width() != width {
        bail!(
            "{}: the model's input columns make {} values, the model takes {width}",
            stream.name,
            stream.width()
        );
    }
    let mut memory = crate::device::Memory::new(&model, Some(&monitor));
    let mut session = memory.session(&model, Some(&monitor))?;
    let emit = |line: Value, text: String| {
        if opts.json {
            println!("{line}");
        } else {
            println!("{text}");
        }
    };
    if !opts.json {
        println!(
            "watching {} with {}: one line when a drift episode starts (the inputs that moved, which way and by how much in training standard deviations) and one when it ends{}",
            stream.name,
            model_path.display(),
            if opts.events {
                "; every detector event besides"
            } else {
                "; --events shows every detector event"
            }
        );
    }
    let mut x = vec![0.0f32; width];
    let mut recent: VecDeque<Vec<Option<f32>>> = VecDeque::with_capacity(RECENT_ROWS + 1);
    let mut episode: Option<Episode> = None;
    let mut episodes: Vec<Value> = Vec::new();
    let (mut drift_events, mut warnings_started) = (0usize, 0usize);
    let mut warned: u16 = 0;
    while let Some(label) = stream.next_row(&mut x)? {
        let r = stream.rows - 1;
        let step = session.step(&x)?;
        let class = step.decision().map(|d| d.index);
        let mut seen: Vec<Observation> = step.observation.into_iter().collect();
        if let (Some(truth), Some(class)) = (label, class) {
            if !classes.iter().any(|n| *n == truth) {
                bail!(
                    "{}:{}: label `{truth}` is not one of the model's classes ({})",
                    stream.name,
                    r + 2,
                    classes.join(", ")
                );
            }
            seen.push(session.observe_label(classes[class] == truth)?);
        }
        // The latched alarm after the label too (the error-rate detector).
        let alarm: Option<Alarm> = session.alarm().cloned();
        // The monitored value of each channel, as the device's monitor
        // computes it (`None`: missing); the oldest row's buffer is reused.
        let mut values = match recent.len() {
            RECENT_ROWS => recent.pop_front().unwrap_or_default(),
            _ => Vec::with_capacity(channels.len()),
        };
        values.clear();
        values.extend((0..channels.len()).map(|f| monitor.feature_map().value(&x, f)));
        recent.push_back(values);
        let values = recent.back().map(Vec::as_slice).unwrap_or_default();
        // Raw events: drift, and warnings when they start.
        let fired = seen.iter().fold(0u16, |bits, o| bits | o.fired);
        for o in &seen {
            let drift = o.level == Level::Drift;
            let new_warning =
                o.level == Level::Warning && o.detector.is_some_and(|d| warned & d as u16 == 0);
            drift_events += usize::from(drift);
            warnings_started += usize::from(new_warning);
            if opts.events && (drift || new_warning) {
                let detector = o.detector.map_or("?", Detector::name);
                let named: Vec<&str> = o
                    .features
                    .iter()
                    .map(|&f| channels[f as usize].as_str())
                    .collect();
                let level = if drift { "drift" } else { "warning" };
                emit(
                    json!({"event": "alarm", "row": r, "level": level, "detector": detector,
                           "features": named, "score": o.score}),
                    format!(
                        "row {r:>7}  event    {level:<7}  {detector:<16}  {:<24}  score {:.2} (its threshold is 1)",
                        named.join(","),
                        o.score
                    ),
                );
            }
        }
        warned = fired;
        // Episodes follow the session's latched alarm.
        match (&mut episode, &alarm) {
            (None, Some(a)) => {
                let features: Vec<usize> = a.features.iter().map(|&f| f as usize).collect();
                let missing = matches!(a.detector, Detector::GuardNonFinite | Detector::Missing);
                let changes: Vec<Value> = features
                    .iter()
                    .filter(|_| !missing)
                    .filter_map(|&f| {
                        let vals: Vec<Option<f32>> = recent.iter().map(|v| v[f]).collect();
                        change(&monitor, &channels[f], f, &vals, r)
                    })
                    .collect();
                let detector = a.detector.name();
                let what = if missing {
                    let named: Vec<&str> = features.iter().map(|&f| channels[f].as_str()).collect();
                    if a.detector == Detector::Missing {
                        format!("{}: missing more often than in training", named.join(", "))
                    } else {
                        format!("{}: missing or not a finite number", named.join(", "))
                    }
                } else if changes.is_empty() {
                    "the model's outputs moved (no input named)".to_owned()
                } else {
                    changes.iter().map(describe).collect::<Vec<_>>().join("; ")
                };
                emit(
                    json!({"event": "episode_start", "row": r, "detector": detector,
                           "features": features.iter().map(|&f| &channels[f]).collect::<Vec<_>>(),
                           "changes": changes}),
                    format!("row {r:>7}  DRIFT    {what}  [{detector}]"),
                );
                episode = Some(Episode {
                    start: r,
                    detector,
                    sums: vec![(0.0, 0); features.len()],
                    features,
                });
            }
            (Some(e), None) => {
                let summary = end_episode(e, r, &monitor, &channels);
                emit(
                    summary.clone(),
                    format!(
                        "row {r:>7}  ended    after {} rows{}",
                        r - e.start,
                        summary["changes"]
                            .as_array()
                            .filter(|c| !c.is_empty())
                            .map(|c| format!(
                                "; over the episode: {}",
                                c.iter().map(describe).collect::<Vec<_>>().join("; ")
                            ))
                            .unwrap_or_default()
                    ),
                );
                episodes.push(summary);
                episode = None;
            }
            _ => {}
        }
        if let Some(e) = &mut episode {
            for (i, &f) in e.features.iter().enumerate() {
                if let Some(v) = values[f] {
                    e.sums[i].0 += v as f64;
                    e.sums[i].1 += 1;
                }
            }
        }
    }
    let rows = stream.rows;
    let open = episode.as_ref().map(|e| {
        let mut s = end_episode(e, rows, &monitor, &channels);
        s["event"] = json!("episode_open");
        s
    });
    if let Some(s) = &open {
        episodes.push(s.clone());
    }
    let summary = json!({
        "event": "summary",
        "rows": rows,
        "episodes": episodes,
        "still_open": open.is_some(),
        "drift_events": drift_events,
        "warnings_started": warnings_started,
    });
    emit(
        summary,
        format!(
            "{rows} rows: {} drift episode{}{}; {drift_events} raw drift events and {warnings_started} warnings started{}",
            episodes.len(),
            if episodes.len() == 1 { "" } else { "s" },
            if open.is_some() {
                " (the last still open at the end of the stream)"
            } else {
                ""
            },
            if opts.events {
                ""
            } else {
                " (--events lists them)"
            }
        ),
    );
    Ok(())
}

/// An episode's summary: when, which detector, and each named input's
/// mean over the episode against training.
fn end_episode(e: &Episode, row: usize, monitor: &Monitor<'_>, channels: &[String]) -> Value {
    let changes: Vec<Value> = e
        .features
        .iter()
        .zip(&e.sums)
        .filter(|(_, s)| s.1 > 0)
        .map(|(&f, s)| {
            change_json(
                monitor,
                &channels[f],
                f,
                (s.0 / s.1 as f64) as f32,
                None,
                None,
            )
        })
        .collect();
    json!({"event": "episode_end", "start": e.start, "end": row, "rows": row - e.start,
           "detector": e.detector, "changes": changes})
}
