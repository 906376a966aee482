//! `vigie eval`: what the device decides on a labelled file, and its metrics.

use std::path::Path;

use anyhow::{bail, Result};
use vigie_core::Model;

use super::{dataset_for, print_summary};
use crate::data::{self};
use crate::evaluation::int8;
use crate::files;
use crate::training_report::training_report;

/// `vigie eval`.
pub fn eval(
    model_path: &Path,
    data_path: &Path,
    target: Option<&str>,
    as_json: bool,
    options: data::CsvOptions,
) -> Result<()> {
    let bytes = files::read_model_file(model_path)?;
    let model = files::load(model_path, &bytes)?;
    let report = training_report(&model);
    let stored_target = report.as_ref().map(|r| r.data.target.clone());
    let Some(target) = target.map(String::from).or(stored_target) else {
        bail!(
            "{}: the model does not record its target column; pass --target COLUMN",
            model_path.display()
        );
    };
    let d = dataset_for(&model, data_path, &target, options)?;
    // Rows the model was trained or validated on, by its fingerprint:
    // figures are measured on the others.
    let print = model
        .def()
        .section(vigie_core::format::section_kind::TRAINING_ROWS)
        .and_then(|s| crate::evaluation::fingerprint::Fingerprint::from_bytes(s.data));
    let (fresh, _) = crate::evaluation::fingerprint::fresh_rows(&model, &d);
    if fresh.is_empty() {
        bail!(
            "{}: all {} rows were training or validation rows of {} (by its fingerprint): there is nothing new to measure; give rows it was not trained on",
            data_path.display(),
            d.len(),
            model_path.display()
        );
    }
    let int8 = int8::int8_outputs(&model, &d, &fresh)?;
    let test = int8::compare(&d, &fresh, None, &int8, model.output_len());
    let decisions = match &d.target {
        data::Target::Classes { y, .. } => Some(decision_figures(&model, &int8, &fresh, y)),
        data::Target::Values { .. } => None,
    };
    let mut s =
        crate::pipeline::Summary::new(test, model_path.display().to_string(), bytes.len(), &model);
    s.decisions = decisions;
    s.rows_given = Some(d.len());
    s.training_rows = print.as_ref().map(|_| d.len() - fresh.len());
    s.fingerprint_false_positive_rate = print.as_ref().map(|p| p.false_positive_rate());
    if let Some(r) = &report {
        s.training_test = Some(r.test.clone());
        s.float_source = Some(format!(
            "the training-time test split ({} rows)",
            r.test.rows()
        ));
    }
    if as_json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        match s.training_rows {
            Some(seen) => println!(
                "{} rows of {}: {seen} ({:.1}%) were training or validation rows (by the model's fingerprint, about {:.2}% false positives); measured on the other {}, through vigie-core (int8):",
                d.len(),
                data_path.display(),
                100.0 * seen as f64 / d.len() as f64,
                100.0 * s.fingerprint_false_positive_rate.unwrap_or(0.0),
                fresh.len()
            ),
            None => println!(
                "{} rows of {} (the model has no fingerprint of its training rows: some may be training rows), through vigie-core (int8):",
                d.len(),
                data_path.display()
            ),
        }
        print_summary(&s);
    }
    Ok(())
}

/// Decision figures of the session's decisions on `rows` against labels `y`.
pub fn decision_figures(
    model: &Model<'_>,
    int8: &int8::Int8,
    rows: &[usize],
    y: &[usize],
) -> crate::evaluation::calibrate::DecisionFigures {
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
    crate::evaluation::calibrate::DecisionFigures {
        rows: rows.len(),
        coverage: answered as f64 / n,
        precision_answered: (answered > 0).then(|| right as f64 / answered as f64),
        abstain_below: cal.abstain_below,
        mean_cost: (!cal.costs.is_empty()).then_some(cost / n),
    }
}
