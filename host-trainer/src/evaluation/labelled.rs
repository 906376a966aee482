//! Labelled rows for a model: what `eval`, `explain` and the card read.

use std::path::Path;

use anyhow::{bail, Context, Result};
use vigie_core::{Model, Task};

use crate::data::{self, CsvFile, Dataset, Spec};

/// Reads labelled rows for a model: its inputs matched by name (and
/// encoded as the model encodes them), classes in the model's order, and
/// `target` (default: the column recorded at training). A file without
/// the model's inputs or target, or with empty cells the model does not
/// impute, is refused with the place.
pub fn labelled_for_model(
    model: &Model<'_>,
    model_path: &Path,
    path: &Path,
    target: Option<&str>,
    options: data::CsvOptions,
) -> Result<Dataset> {
    let target = match target {
        Some(t) => t.to_owned(),
        None => crate::training_report::training_report(model)
            .map(|r| r.data.target)
            .with_context(|| {
                format!(
                    "{}: the model does not record its target column; pass --target COLUMN",
                    model_path.display()
                )
            })?,
    };
    let csv = CsvFile::read_with(path, options)?;
    let columns = data::model_raw_columns(model)?;
    if !columns.iter().any(|c| csv.headers.contains(&c.name)) {
        bail!(
            "{}: none of the model's {} input columns ({}, …) is in this file; is it the data the model was made for?",
            path.display(),
            columns.len(),
            columns[0].name
        );
    }
    if !csv.headers.contains(&target) {
        bail!(
            "{}: no column `{target}`, the model's target; pass --target with this file's label column",
            path.display()
        );
    }
    let spec = Spec {
        target,
        columns: Some(columns),
        regression: model.task() == Task::Regression,
        classes: (model.task() == Task::Classification)
            .then(|| model.output_names().iter().map(String::from).collect()),
        csv: options,
        ..Spec::default()
    };
    let d = data::load(&csv, &spec)?;
    data::check_model_inputs(&d, model, model_path)?;
    if model.def().input.missing.is_empty() {
        if let (n, Some((line, column))) = &d.missing {
            bail!(
                "{}:{line}: `{column}` is empty ({n} empty cells in all) and {} does not impute missing values; fill the cells, or train with --impute",
                path.display(),
                model_path.display()
            );
        }
    }
    Ok(d)
}
