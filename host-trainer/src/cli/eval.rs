//! `vigie eval`: what the device decides on a labelled file, and its metrics.

use anyhow::{bail, Result};

use super::print_summary;
use crate::data::{self};
use crate::evaluation::int8;
use crate::files;
use crate::training_report::training_report;

/// `vigie eval`; with `groups` (columns, largest gap allowed), each
/// group's metrics and the gaps between them, exiting with status
/// [`GAP_EXIT`] when a gap is a blocking finding.
pub fn eval(
    io: &super::Inputs,
    target: Option<&str>,
    as_json: bool,
    groups: Option<(&str, f64)>,
) -> Result<()> {
    let (model_path, data_path, options) = (io.model.as_path(), io.data.as_path(), io.csv);
    let bytes = files::read_model_file(model_path)?;
    let model = files::load(model_path, &bytes)?;
    let report = training_report(&model);
    let d = crate::evaluation::labelled::labelled_for_model(
        &model, model_path, data_path, target, options,
    )?;
    // Rows the model was trained or validated on, by its fingerprint:
    // figures are measured on the others.
    let seen = crate::evaluation::fingerprint::fresh_rows(&model, &d);
    let fresh = &seen.fresh;
    if fresh.is_empty() {
        bail!(
            "{}: all {} rows were training or validation rows of {} (by its fingerprint): there is nothing new to measure; give rows it was not trained on",
            data_path.display(),
            d.len(),
            model_path.display()
        );
    }
    let int8 = int8::int8_outputs(&model, &d, fresh)?;
    let test = int8::compare(&d, fresh, None, &int8, model.output_len());
    let decisions = match &d.target {
        data::Target::Classes { y, .. } => Some(crate::evaluation::calibrate::decision_figures(
            &model, &int8, fresh, y,
        )),
        data::Target::Values { .. } => None,
    };
    let mut s =
        crate::pipeline::Summary::new(test, model_path.display().to_string(), bytes.len(), &model);
    s.decisions = decisions;
    s.rows_given = Some(d.len());
    s.training_rows = seen.training_rows;
    s.fingerprint_false_positive_rate = seen.false_positive_rate;
    s.training_test = report.map(|r| r.test);
    if let Some((columns, max_gap)) = groups {
        s.groups = Some(crate::evaluation::groups::measure(
            &model, &d, fresh, &int8, io.csv, columns, max_gap,
        )?);
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
        if let Some(g) = &s.groups {
            crate::evaluation::groups::print(g);
        }
    }
    if s.groups.as_ref().is_some_and(|g| g.blocking()) {
        std::process::exit(GAP_EXIT.into());
    }
    Ok(())
}

/// The exit status of `eval --group` when a gap between groups is a
/// blocking finding (as `check-data --strict` and a model no better than
/// the majority class), so that scripts notice.
pub const GAP_EXIT: u8 = 3;
