//! CSV in, dataset out: features, target, channel-major windows, missing
//! values. Every error names the file, the line and the column, and says
//! what to do.

pub mod checks;
pub mod prep;
pub mod resample;
pub mod stream;
pub mod table;

pub use table::{CsvFile, CsvOptions, Dialect};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use vigie_core::Task;

/// Levenshtein distance, for "did you mean".
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The target of a data set.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Class indices into `names`.
    Classes {
        /// Class names, sorted (numerically when they are all integers).
        names: Vec<String>,
        /// Class of each row.
        y: Vec<usize>,
    },
    /// Real values.
    Values {
        /// The target column's name.
        name: String,
        /// Value of each row.
        y: Vec<f32>,
    },
}

/// Missing cells: how many, and the (line, column name) of the first.
pub type Missing = (usize, Option<(usize, String)>);

/// How missing cells are filled.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Impute {
    /// The training mean of the channel.
    Mean,
    /// The training median of the channel.
    Median,
}

/// Features and target, ready to split.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where the data came from.
    pub source: PathBuf,
    /// Feature column names, in order.
    pub features: Vec<String>,
    /// Channel names: the features for tabular data, the window prefixes
    /// (`acc_x` of `acc_x_t0..`) for channel-major windows.
    pub channels: Vec<String>,
    /// Samples per channel (1 for tabular data).
    pub length: usize,
    /// Row-major features, channel-major inside a row; NaN where missing.
    pub x: Vec<f32>,
    /// The target.
    pub target: Target,
    /// Missing cells (numeric columns; a categorical column's missing cells
    /// are its own level).
    pub missing: Missing,
    /// The file's columns the features come from, with their levels when
    /// categorical.
    pub raw_columns: Vec<RawColumn>,
    /// How the file was written.
    pub dialect: Dialect,
    /// Categorical cells whose level the training file does not have
    /// (test files): (column, level, rows). They are encoded as "other".
    pub unseen_levels: Vec<(String, String, usize)>,
}

/// One column of the file as the model takes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RawColumn {
    /// Its name.
    pub name: String,
    /// Its training levels when it holds text (the empty level: missing);
    /// `None` for a numeric column.
    pub levels: Option<Vec<String>>,
}

impl RawColumn {
    /// The model input channels it becomes: itself, or one per level and
    /// one for "other".
    pub fn channel_names(&self) -> Vec<String> {
        match &self.levels {
            None => vec![self.name.clone()],
            Some(levels) => levels
                .iter()
                .map(|l| {
                    let l = if l.is_empty() { "(missing)" } else { l };
                    format!("{}={l}", self.name)
                })
                .chain(std::iter::once(format!("{}=(other)", self.name)))
                .collect(),
        }
    }
}

impl Dataset {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.target_len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn target_len(&self) -> usize {
        match &self.target {
            Target::Classes { y, .. } => y.len(),
            Target::Values { y, .. } => y.len(),
        }
    }

    /// The data file's name, without its folder (what stored findings
    /// name, so that a model does not depend on where its data was).
    pub fn file_name(&self) -> String {
        self.source.file_name().map_or_else(
            || self.source.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// The same data set restricted to `rows`, in that order.
    pub fn subset(&self, rows: &[usize]) -> Dataset {
        let mut x = Vec::with_capacity(rows.len() * self.width());
        for &r in rows {
            x.extend_from_slice(self.row(r));
        }
        let target = match &self.target {
            Target::Classes { names, y } => Target::Classes {
                names: names.clone(),
                y: rows.iter().map(|&r| y[r]).collect(),
            },
            Target::Values { name, y } => Target::Values {
                name: name.clone(),
                y: rows.iter().map(|&r| y[r]).collect(),
            },
        };
        Dataset {
            x,
            target,
            unseen_levels: vec![],
            ..self.clone_without_rows()
        }
    }

    fn clone_without_rows(&self) -> Dataset {
        Dataset {
            source: self.source.clone(),
            features: self.features.clone(),
            channels: self.channels.clone(),
            length: self.length,
            x: vec![],
            target: Target::Values {
                name: String::new(),
                y: vec![],
            },
            missing: self.missing.clone(),
            raw_columns: self.raw_columns.clone(),
            dialect: self.dialect,
            unseen_levels: vec![],
        }
    }

    /// Features per row.
    pub fn width(&self) -> usize {
        self.features.len()
    }

    /// Row `i`'s features.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.width()..(i + 1) * self.width()]
    }

    /// Classification or regression.
    pub fn task(&self) -> Task {
        match self.target {
            Target::Classes { .. } => Task::Classification,
            Target::Values { .. } => Task::Regression,
        }
    }

    /// The class names (empty for regression).
    pub fn class_names(&self) -> &[String] {
        match &self.target {
            Target::Classes { names, .. } => names,
            Target::Values { .. } => &[],
        }
    }
}

/// What to read from a CSV file.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// The target column.
    pub target: String,
    /// Feature columns (default: every other column but `drop`).
    pub features: Option<Vec<String>>,
    /// Columns left out (`--drop`).
    pub drop: Vec<String>,
    /// The raw columns and levels to use (a test file, or a model's inputs,
    /// must be encoded as the training file was); `features` is ignored
    /// then.
    pub columns: Option<Vec<RawColumn>>,
    /// How to read the file's dialect (a test file is read the same way).
    pub csv: CsvOptions,
    /// Regression instead of classification.
    pub regression: bool,
    /// Class names to use (a test file must use the training file's).
    pub classes: Option<Vec<String>>,
}

/// Splits `acc_x_t12` into (`acc_x`, 12).
fn window_part(name: &str) -> Option<(&str, usize)> {
    let (prefix, t) = name.rsplit_once("_t")?;
    Some((prefix, t.parse().ok()?)).filter(|(p, _)| !p.is_empty())
}

/// Channels and length when the features are channel-major windows
/// (`a_t0..a_tN, b_t0..b_tN`), else one channel per feature.
pub fn detect_channels(features: &[String]) -> (Vec<String>, usize) {
    let tabular = (features.to_vec(), 1);
    let mut channels: Vec<String> = Vec::new();
    let mut length = 0;
    for (i, f) in features.iter().enumerate() {
        let Some((prefix, t)) = window_part(f) else {
            return tabular;
        };
        if t == 0 {
            if channels.len() == 1 {
                length = i;
            }
            channels.push(prefix.to_owned());
        }
        if channels.last().map(String::as_str) != Some(prefix) {
            return tabular;
        }
        if length > 0 && t != i % length || length == 0 && t != i {
            return tabular;
        }
    }
    if channels.len() <= 1 {
        length = features.len();
    }
    if length < 2 || channels.len() * length != features.len() {
        return tabular;
    }
    (channels, length)
}

/// The raw columns of `spec` in `csv`: the given ones, or the feature
/// columns with their kinds and (for text columns) their sorted levels.
fn raw_columns(csv: &CsvFile, spec: &Spec, target_col: usize) -> Result<Vec<RawColumn>> {
    if let Some(columns) = &spec.columns {
        return Ok(columns.clone());
    }
    for d in &spec.drop {
        csv.column(d, "--drop")?;
        if *d == spec.target {
            bail!(
                "{}: --drop {d} names the target column; the target is never an input",
                csv.path.display()
            );
        }
        if spec.features.as_ref().is_some_and(|f| f.contains(d)) {
            bail!(
                "{}: `{d}` is both in --features and in --drop; keep it in one of them",
                csv.path.display()
            );
        }
    }
    let cols: Vec<usize> = match &spec.features {
        Some(names) => names
            .iter()
            .map(|n| csv.column(n, "feature"))
            .collect::<Result<_>>()?,
        None => (0..csv.headers.len())
            .filter(|&i| i != target_col && !spec.drop.contains(&csv.headers[i]))
            .collect(),
    };
    if cols.contains(&target_col) {
        bail!(
            "{}: the target `{}` is also listed as a feature; remove it from --features",
            csv.path.display(),
            spec.target
        );
    }
    let text = csv.text_columns(&cols)?;
    cols.iter()
        .zip(text)
        .map(|(&c, text)| {
            let levels = if text {
                let (mut levels, _) = csv.levels(c)?;
                for l in &mut levels {
                    if table::is_missing(l) {
                        l.clear();
                    }
                }
                if let Some(l) = levels.iter().find(|l| l.contains('\n')) {
                    bail!(
                        "{}: column `{}` holds a level with a line break ({l:?}); remove it",
                        csv.path.display(),
                        csv.headers[c]
                    );
                }
                levels.sort();
                levels.dedup();
                Some(levels)
            } else {
                None
            };
            Ok(RawColumn {
                name: csv.headers[c].clone(),
                levels,
            })
        })
        .collect()
}

/// Levels of a test file the training file did not have: (column, level,
/// rows).
pub type Unseen = Vec<(String, String, usize)>;

/// What one raw cell was, once written as model inputs.
pub(crate) enum Cell {
    /// A number.
    Number,
    /// An empty numeric cell: NaN.
    Missing,
    /// A text level training had.
    Level,
    /// A text level training did not have: the "other" slot.
    Unseen,
    /// A numeric column's cell that is not a number.
    NotANumber,
}

/// The training levels of each raw column that holds text, for lookups.
pub(crate) fn level_lookups(columns: &[RawColumn]) -> Vec<Option<HashMap<String, usize>>> {
    columns
        .iter()
        .map(|c| {
            c.levels
                .as_ref()
                .map(|l| l.iter().enumerate().map(|(i, l)| (l.clone(), i)).collect())
        })
        .collect()
}

/// Writes one raw cell as its column's model inputs (`out` starts at the
/// column's first input): a number, NaN when empty, or a one-hot over the
/// training `levels` whose last slot is "other". The one encoding of the
/// trainer's files and of `vigie monitor`'s streams.
pub(crate) fn encode_cell(
    cell: &str,
    levels: Option<&HashMap<String, usize>>,
    dialect: Dialect,
    out: &mut [f32],
) -> Cell {
    match levels {
        None if table::is_missing(cell) => {
            out[0] = f32::NAN;
            Cell::Missing
        }
        None => match dialect.number(cell) {
            Some(v) => {
                out[0] = v;
                Cell::Number
            }
            None => Cell::NotANumber,
        },
        Some(levels) => {
            let key = if table::is_missing(cell) { "" } else { cell };
            match levels.get(key) {
                Some(&i) => {
                    out[i] = 1.0;
                    Cell::Level
                }
                None => {
                    out[levels.len()] = 1.0;
                    Cell::Unseen
                }
            }
        }
    }
}

/// Reads raw columns into the row-major feature matrix, in one pass over
/// the file: numbers as they are (missing: NaN), text one-hot over its
/// levels. Returns the matrix, the numeric missing cells and the levels
/// the training file did not have.
pub fn read_columns(csv: &CsvFile, columns: &[RawColumn]) -> Result<(Vec<f32>, Missing, Unseen)> {
    let path = csv.path.display();
    let index: Vec<usize> = columns
        .iter()
        .map(|c| csv.column(&c.name, "model input"))
        .collect::<Result<_>>()?;
    let lookups = level_lookups(columns);
    let widths: Vec<usize> = columns.iter().map(|c| c.channel_names().len()).collect();
    let width: usize = widths.iter().sum();
    let mut x = vec![0.0f32; csv.len * width];
    let mut missing: Missing = (0, None);
    let mut unseen: Unseen = Vec::new();
    csv.for_each_row(|r, rec| {
        let row = &mut x[r * width..(r + 1) * width];
        let mut at = 0;
        for (((column, &c), lookup), w) in columns.iter().zip(&index).zip(&lookups).zip(&widths) {
            let cell = csv.text(rec, r, c)?;
            match encode_cell(cell, lookup.as_ref(), csv.dialect, &mut row[at..]) {
                Cell::Missing => {
                    missing.0 += 1;
                    if missing.1.is_none() {
                        missing.1 = Some((r + 2, column.name.clone()));
                    }
                }
                Cell::NotANumber => bail!(
                    "{path}:{}:{}: column `{}` holds `{cell}`, which is not a number, where the training file has numbers; fix the cell, or leave it empty to mark it missing",
                    r + 2,
                    c + 1,
                    column.name
                ),
                Cell::Unseen => {
                    let key = if table::is_missing(cell) { "" } else { cell };
                    match unseen
                        .iter_mut()
                        .find(|(n, l, _)| *n == column.name && l == key)
                    {
                        Some(u) => u.2 += 1,
                        None => unseen.push((column.name.clone(), key.to_owned(), 1)),
                    }
                }
                Cell::Number | Cell::Level => {}
            }
            at += w;
        }
        Ok(())
    })?;
    Ok((x, missing, unseen))
}

/// Reads features and target from a CSV file. Text feature columns become
/// categorical inputs (one channel per level, and one for "other").
pub fn load(csv: &CsvFile, spec: &Spec) -> Result<Dataset> {
    let path = csv.path.display();
    let target_col = csv.column(&spec.target, "target")?;
    let raw = raw_columns(csv, spec, target_col)?;
    if raw.is_empty() {
        bail!(
            "{path}: no feature column besides the target `{}`",
            spec.target
        );
    }
    let (x, missing, unseen_levels) = read_columns(csv, &raw)?;
    let features: Vec<String> = raw.iter().flat_map(RawColumn::channel_names).collect();
    let (labels, codes) = csv.levels(target_col)?;
    if let Some(r) = codes.iter().position(|&c| labels[c as usize].is_empty()) {
        bail!(
            "{path}:{}:{}: the target `{}` is empty; every row needs a target",
            r + 2,
            target_col + 1,
            spec.target
        );
    }
    let target = if spec.regression {
        let values: Vec<f32> = labels
            .iter()
            .map(|l| csv.number(l).unwrap_or(f32::NAN))
            .collect();
        if let Some(r) = codes.iter().position(|&c| values[c as usize].is_nan()) {
            bail!(
                "{path}:{}:{}: the regression target `{}` holds `{}`, which is not a number",
                r + 2,
                target_col + 1,
                spec.target,
                labels[codes[r] as usize]
            );
        }
        Target::Values {
            name: spec.target.clone(),
            y: codes.iter().map(|&c| values[c as usize]).collect(),
        }
    } else {
        let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let names = match &spec.classes {
            Some(names) => names.clone(),
            None => class_names(&label_refs),
        };
        if names.len() < 2 {
            bail!(
                "{path}: the target `{}` has a single class (`{}`); a classifier needs at least two, or use --task regression",
                spec.target,
                names.first().cloned().unwrap_or_default()
            );
        }
        let class_of: Vec<Option<usize>> = labels
            .iter()
            .map(|l| names.iter().position(|n| n == l))
            .collect();
        let y = codes
            .iter()
            .enumerate()
            .map(|(r, &c)| {
                class_of[c as usize].ok_or_else(|| {
                    anyhow!(
                        "{path}:{}:{}: class `{}` of `{}` is not one of the training classes ({})",
                        r + 2,
                        target_col + 1,
                        labels[c as usize],
                        spec.target,
                        names.join(", ")
                    )
                })
            })
            .collect::<Result<_>>()?;
        Target::Classes { names, y }
    };
    let (channels, length) = detect_channels(&features);
    Ok(Dataset {
        source: csv.path.clone(),
        features,
        channels,
        length,
        x,
        target,
        missing,
        raw_columns: raw,
        dialect: csv.dialect,
        unseen_levels,
    })
}

/// The raw columns a model reads from a file: its encoding section's
/// columns (categorical inputs), or its input channels (`{channel}_t{i}`
/// for window models).
pub fn model_raw_columns(model: &vigie_core::Model<'_>) -> Result<Vec<RawColumn>> {
    if let Some(e) = vigie_core::encoding::Encoding::from_model(model)? {
        return Ok(e
            .def()
            .columns
            .iter()
            .map(|c| RawColumn {
                name: c.name.to_owned(),
                levels: c
                    .is_categorical()
                    .then(|| c.levels().map(String::from).collect()),
            })
            .collect());
    }
    let length = model.input_shape().length as usize;
    Ok(model
        .input_names()
        .iter()
        .flat_map(|c| {
            (0..length).map(move |t| RawColumn {
                name: if length == 1 {
                    c.to_owned()
                } else {
                    format!("{c}_t{t}")
                },
                levels: None,
            })
        })
        .collect())
}

/// A model's inputs for every row of a file, as the device gets them
/// (categorical columns encoded as the model's encoding says); missing
/// numeric cells are NaN.
pub fn model_inputs(csv: &CsvFile, model: &vigie_core::Model<'_>) -> Result<(Vec<f32>, Missing)> {
    let (x, missing, _) = read_columns(csv, &model_raw_columns(model)?)?;
    Ok((x, missing))
}

/// Distinct labels, sorted numerically when all are integers.
fn class_names(labels: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
    names.sort();
    names.dedup();
    if names.iter().all(|n| n.parse::<i64>().is_ok()) {
        names.sort_by_key(|n| n.parse::<i64>().unwrap_or(0));
    }
    names
}

/// Loads a test file for the training file `train_csv`: the same header
/// (same names, same order) and the training classes, so class indices
/// agree.
pub fn load_test(
    train_csv: &CsvFile,
    train: &Dataset,
    spec: &Spec,
    path: &Path,
) -> Result<Dataset> {
    let test_csv = CsvFile::read_with(path, spec.csv)?;
    if test_csv.headers != train_csv.headers {
        let missing: Vec<&String> = train_csv
            .headers
            .iter()
            .filter(|h| !test_csv.headers.contains(h))
            .collect();
        let extra: Vec<&String> = test_csv
            .headers
            .iter()
            .filter(|h| !train_csv.headers.contains(h))
            .collect();
        bail!(
            "{}: its columns differ from the training file {} (missing: {:?}, extra: {:?}{}); use files with the same header",
            path.display(),
            train_csv.path.display(),
            missing,
            extra,
            if missing.is_empty() && extra.is_empty() { ", same names in another order" } else { "" }
        );
    }
    let test_spec = Spec {
        classes: Some(train.class_names().to_vec()),
        columns: Some(train.raw_columns.clone()),
        ..spec.clone()
    };
    load(&test_csv, &test_spec)
}

/// Refuses data whose channels are not a model's inputs (names, order and
/// window length).
pub fn check_model_inputs(
    d: &Dataset,
    model: &vigie_core::Model<'_>,
    model_path: &Path,
) -> Result<()> {
    let channels: Vec<&str> = model.input_names().iter().collect();
    if d.channels != channels || d.length != model.input_shape().length as usize {
        bail!(
            "{}: its columns ({} channels × {}) are not the inputs of {} ({} channels × {}: {}); give data with the model's columns",
            d.source.display(),
            d.channels.len(),
            d.length,
            model_path.display(),
            channels.len(),
            model.input_shape().length,
            channels.join(", ")
        );
    }
    Ok(())
}

/// Refuses missing cells unless imputation was asked for.
pub fn check_missing(d: &Dataset, impute: Option<Impute>) -> Result<()> {
    if let (n, Some((line, column))) = &d.missing {
        if impute.is_none() {
            bail!(
                "{}: {n} missing cells (the first on line {line}, column `{column}`); fill them, or pass --impute mean|median to replace them with a training statistic stored in the model",
                d.source.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn channel_major_windows_are_detected() {
        let f = names(&["a_t0", "a_t1", "a_t2", "b_t0", "b_t1", "b_t2"]);
        assert_eq!(detect_channels(&f), (names(&["a", "b"]), 3));
        let f = names(&["acc_x_t0", "acc_x_t1"]);
        assert_eq!(detect_channels(&f), (names(&["acc_x"]), 2));
    }

    #[test]
    fn tabular_columns_stay_one_channel_each() {
        let f = names(&["px0", "px1", "px2"]);
        assert_eq!(detect_channels(&f), (f.clone(), 1));
        let f = names(&["a_t0", "a_t1", "b_t0"]);
        assert_eq!(detect_channels(&f), (f.clone(), 1));
        let f = names(&["a_t0", "a_t2", "b_t0", "b_t2"]);
        assert_eq!(detect_channels(&f), (f.clone(), 1));
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("quality", "qualty"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("digit", "digit"), 0);
    }
}
