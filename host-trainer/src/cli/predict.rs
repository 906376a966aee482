//! `vigie predict`: the device's decision for each row of a file.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Result};
use vigie_core::Task;

use crate::data::{self, CsvFile};
use crate::files;

/// `vigie predict`: one line per row, through a vigie-core session (the
/// device's decision: temperature, cost matrix and abstention applied).
/// `vigie predict`'s options besides its files.
#[derive(Debug, Clone, Copy, Default)]
pub struct PredictOptions {
    /// Replace an existing `--out` of another kind.
    pub force: bool,
    /// Stop at the first row the model cannot predict.
    pub strict: bool,
}

pub fn predict(io: &super::Inputs, out: Option<&Path>, options: PredictOptions) -> Result<()> {
    let (model_path, data_path) = (io.model.as_path(), io.data.as_path());
    let force = options.force;
    if let Some(out) = out {
        let inputs = [("--model", model_path), ("--data", data_path)];
        files::check_output(out, "--out", files::Kind::Predictions, &inputs, force)?;
    }
    let bytes = files::read_model_file(model_path)?;
    let model = files::load(model_path, &bytes)?;
    let csv = CsvFile::read_with(data_path, io.csv)?;
    let (x, _) = data::model_inputs(&csv, &model)?;
    let width = model.input_len();
    let length = model.input_shape().length as usize;
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
    let mut skipped = 0usize;
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
                let index = index as usize;
                let col = model.input_names().get(index / length).unwrap_or("?");
                let what = if row[index].is_nan() {
                    "empty"
                } else {
                    "not finite"
                };
                let why = format!("`{col}` is {what} and the model does not impute");
                if options.strict {
                    bail!(
                        "{}:{}: {why}; fill the cell, or leave --strict out to mark the row and go on",
                        data_path.display(),
                        r + 2
                    );
                }
                skipped += 1;
                format!("no prediction: {why}")
            }
        };
        let note = match inferred.decision() {
            Some(d) if d.mostly_imputed => {
                format!("{note}: more than half of the inputs, so the model abstains")
            }
            _ => note,
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
            files::write_atomically(path, text.as_bytes())?;
            eprintln!(
                "{} predictions written to {}",
                x.len() / width.max(1),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    if skipped > 0 {
        eprintln!(
            "{}: {skipped} rows without a prediction (their `note` says why)",
            data_path.display()
        );
    }
    Ok(())
}
