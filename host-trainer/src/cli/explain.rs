//! `vigie explain`: permutation importance and occlusion attribution.

use anyhow::{bail, Result};
use serde_json::{json, Value};
use vigie_core::Task;

use crate::files;

/// `vigie explain`.
pub fn explain(
    io: &super::Inputs,
    target: Option<&str>,
    row: Option<usize>,
    seed: u64,
    as_json: bool,
) -> Result<()> {
    let (model_path, data_path, options) = (io.model.as_path(), io.data.as_path(), io.csv);
    let bytes = files::read_model_file(model_path)?;
    let model = files::load(model_path, &bytes)?;
    let d = crate::evaluation::labelled::labelled_for_model(
        &model, model_path, data_path, target, options,
    )?;
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
        let (class, reference, ranked) = crate::evaluation::explain::attribution(&model, d.row(r))?;
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
    // Importance is measured on rows the model was not trained on.
    let crate::evaluation::fingerprint::Seen {
        fresh,
        training_rows: seen,
        ..
    } = crate::evaluation::fingerprint::fresh_rows(&model, &d);
    if fresh.is_empty() {
        bail!(
            "{}: every row was a training or validation row of {}; give rows it was not trained on",
            data_path.display(),
            model_path.display()
        );
    }
    let split = crate::evaluation::fingerprint::describe_split(d.len(), seen);
    let d = d.subset(&fresh);
    let (base, importance) = crate::evaluation::explain::permutation_importance(&model, &d, seed)?;
    let metric = match model.task() {
        Task::Classification => "accuracy",
        Task::Regression => "-MAE",
    };
    if as_json {
        println!(
            "{}",
            json!({"metric": metric, "score": base, "rows": d.len(), "training_rows": seen, "repeats": crate::evaluation::explain::REPEATS, "importance": importance})
        );
    } else {
        println!("{split}.");
        println!(
            "{metric} {base:.4} on {} rows; lost when each input is shuffled ({} repeats):",
            d.len(),
            crate::evaluation::explain::REPEATS
        );
        for i in importance.iter().take(20) {
            println!("  {:<24} {:+.4} ± {:.4}", i.feature, i.drop, i.sd);
        }
    }
    Ok(())
}
