//! `vigie monitor`: a stream replayed through the model and its monitor.

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::data::{self, CsvFile};
use crate::files;

/// `vigie monitor`: replays the rows of a CSV file through the model and
/// its monitor in vigie-core, as the device would, and reports each alarm.
pub fn monitor(io: &super::Inputs, labels: Option<&str>, as_json: bool) -> Result<()> {
    let (model_path, data_path, options) = (io.model.as_path(), io.data.as_path(), io.csv);
    use vigie_core::monitor::{Detector, Level, Monitor};

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
    let csv = CsvFile::read_with(data_path, options)?;
    let channels: Vec<&str> = model.input_names().iter().collect();
    // Missing cells stay NaN: the input guard sees them, as on the device.
    let (x, _) = data::model_inputs(&csv, &model)?;
    let names: Vec<&str> = model.output_names().iter().collect();
    let truths = labels
        .map(|l| csv.levels(csv.column(l, "label")?))
        .transpose()?;
    let width = model.input_len();
    let mut memory = crate::device::Memory::new(&model, Some(&monitor));
    let mut session = memory.session(&model, Some(&monitor))?;
    let mut alarms = Vec::new();
    // A warning is reported when it starts, not on every row it lasts.
    let mut warned: u16 = 0;
    for (r, row) in x.chunks(width).enumerate() {
        let step = session.step(row)?;
        let class = step.decision().map(|d| d.index);
        let mut seen: Vec<_> = step.observation.into_iter().collect();
        if let (Some((levels, codes)), Some(class)) = (&truths, class) {
            let truth = &levels[codes[r] as usize];
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
