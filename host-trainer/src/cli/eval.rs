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
    let rows: Vec<usize> = (0..d.len()).collect();
    let int8 = int8::int8_outputs(&model, &d, &rows)?;
    let mut test = int8::compare(&d, &rows, None, &int8, model.output_len());
    let decisions = match &d.target {
        data::Target::Classes { y, .. } => Some(decision_figures(&model, &int8, &rows, y)),
        data::Target::Values { .. } => None,
    };
    // The file holds only the int8 model; the float figures are those
    // measured at training time on its test split.
    let mut float_source = None;
    if let Some(r) = &report {
        use crate::training_report::TestMetrics as T;
        match (&mut test, &r.test) {
            (
                T::Classification {
                    float, agreement, ..
                },
                T::Classification {
                    float: f,
                    agreement: a,
                    ..
                },
            ) => {
                *float = f.clone();
                *agreement = *a;
            }
            (T::Regression { float, .. }, T::Regression { float: f, .. }) => *float = *f,
            _ => {}
        }
        float_source = Some(format!(
            "training report (test split of {} rows at training time)",
            r.test.rows()
        ));
    }
    let mut s =
        crate::pipeline::Summary::new(test, model_path.display().to_string(), bytes.len(), &model);
    s.float_source = float_source;
    s.decisions = decisions;
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
