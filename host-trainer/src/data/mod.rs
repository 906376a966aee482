//! CSV in, dataset out: features, target, channel-major windows, missing
//! values. Every error names the file, the line and the column, and says
//! what to do.

pub mod checks;
pub mod prep;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use vigie_core::Task;

/// A CSV file as text cells.
#[derive(Debug, Clone)]
pub struct CsvFile {
    /// Where it came from.
    pub path: PathBuf,
    /// Column names.
    pub headers: Vec<String>,
    /// Data rows (the header is line 1, so row `i` is on line `i + 2`).
    pub rows: Vec<Vec<String>>,
}

impl CsvFile {
    /// Reads a CSV file with a header line.
    pub fn read(path: &Path) -> Result<CsvFile> {
        let bytes =
            std::fs::read(path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            bail!(
                "{}: the file is empty; expected a header line, then one row per sample",
                path.display()
            );
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(&bytes[..]);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| anyhow!("{}:1: cannot read the header: {e}", path.display()))?
            .iter()
            .map(|h| h.trim().to_owned())
            .collect();
        if headers.iter().all(|h| h.parse::<f64>().is_ok()) {
            bail!(
                "{}:1: the first line holds numbers ({}…), not column names; add a header line naming each column",
                path.display(),
                headers.iter().take(3).cloned().collect::<Vec<_>>().join(",")
            );
        }
        if let Some(i) = headers.iter().position(|h| h.is_empty()) {
            bail!(
                "{}:1: column {} has no name; name every column in the header",
                path.display(),
                i + 1
            );
        }
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => anyhow!(
                    "{}:{}: {len} cells, but the header has {expected_len} columns",
                    path.display(),
                    i + 2
                ),
                _ => anyhow!("{}:{}: {e}", path.display(), i + 2),
            })?;
            rows.push(record.iter().map(|c| c.trim().to_owned()).collect());
        }
        if rows.is_empty() {
            bail!("{}: the header has no data rows below it", path.display());
        }
        Ok(CsvFile {
            path: path.to_owned(),
            headers,
            rows,
        })
    }

    /// Index of a column, or an error listing the columns and the nearest name.
    pub fn column(&self, name: &str, role: &str) -> Result<usize> {
        if let Some(i) = self.headers.iter().position(|h| h == name) {
            return Ok(i);
        }
        let nearest = self
            .headers
            .iter()
            .min_by_key(|h| edit_distance(h, name))
            .cloned()
            .unwrap_or_default();
        let shown: Vec<&str> = self.headers.iter().take(12).map(String::as_str).collect();
        let more = if self.headers.len() > 12 {
            format!(", … ({} columns)", self.headers.len())
        } else {
            String::new()
        };
        bail!(
            "{}: no {role} column `{name}`; did you mean `{nearest}`? Columns: {}{more}",
            self.path.display(),
            shown.join(", ")
        )
    }
}

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
    /// Missing cells.
    pub missing: Missing,
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
    /// Feature columns (default: every other column).
    pub features: Option<Vec<String>>,
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

/// Reads features and target from a CSV file.
pub fn load(csv: &CsvFile, spec: &Spec) -> Result<Dataset> {
    let path = csv.path.display();
    let target_col = csv.column(&spec.target, "target")?;
    let feature_cols: Vec<usize> = match &spec.features {
        Some(names) => names
            .iter()
            .map(|n| csv.column(n, "feature"))
            .collect::<Result<_>>()?,
        None => (0..csv.headers.len())
            .filter(|&i| i != target_col)
            .collect(),
    };
    if feature_cols.is_empty() {
        bail!(
            "{path}: no feature column besides the target `{}`",
            spec.target
        );
    }
    if feature_cols.contains(&target_col) {
        bail!(
            "{path}: the target `{}` is also listed as a feature; remove it from --features",
            spec.target
        );
    }
    let features: Vec<String> = feature_cols
        .iter()
        .map(|&i| csv.headers[i].clone())
        .collect();
    let (x, missing) = read_features(csv, &feature_cols)?;
    let labels: Vec<&str> = csv
        .rows
        .iter()
        .map(|row| row[target_col].as_str())
        .collect();
    if let Some(r) = labels.iter().position(|l| l.is_empty()) {
        bail!(
            "{path}:{}:{}: the target `{}` is empty; every row needs a target",
            r + 2,
            target_col + 1,
            spec.target
        );
    }
    let target = if spec.regression {
        let y = labels
            .iter()
            .enumerate()
            .map(|(r, l)| {
                l.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                    anyhow!(
                        "{path}:{}:{}: the regression target `{}` holds `{l}`, which is not a number",
                        r + 2,
                        target_col + 1,
                        spec.target
                    )
                })
            })
            .collect::<Result<_>>()?;
        Target::Values {
            name: spec.target.clone(),
            y,
        }
    } else {
        let names = match &spec.classes {
            Some(names) => names.clone(),
            None => class_names(&labels),
        };
        if names.len() < 2 {
            bail!(
                "{path}: the target `{}` has a single class (`{}`); a classifier needs at least two, or use --task regression",
                spec.target,
                names.first().cloned().unwrap_or_default()
            );
        }
        let y = labels
            .iter()
            .enumerate()
            .map(|(r, l)| {
                names.iter().position(|n| n == l).ok_or_else(|| {
                    anyhow!(
                        "{path}:{}:{}: class `{l}` of `{}` is not one of the training classes ({})",
                        r + 2,
                        target_col + 1,
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
    })
}

/// Reads the given columns as numbers, row-major; empty, `NaN`, `NA` and
/// `?` cells are missing (NaN). Returns the missing count and first place.
pub fn read_features(csv: &CsvFile, feature_cols: &[usize]) -> Result<(Vec<f32>, Missing)> {
    let path = csv.path.display();
    let mut x = Vec::with_capacity(csv.rows.len() * feature_cols.len());
    let mut missing = (0usize, None);
    for (r, row) in csv.rows.iter().enumerate() {
        for &c in feature_cols {
            let cell = &row[c];
            if cell.is_empty() || cell.eq_ignore_ascii_case("nan") || cell == "NA" || cell == "?" {
                missing.0 += 1;
                if missing.1.is_none() {
                    missing.1 = Some((r + 2, csv.headers[c].clone()));
                }
                x.push(f32::NAN);
                continue;
            }
            let v: f32 = cell.parse().map_err(|_| {
                anyhow!(
                    "{path}:{}:{}: column `{}` holds `{cell}`, which is not a number; fix the cell, or leave it empty to mark it missing",
                    r + 2,
                    c + 1,
                    csv.headers[c]
                )
            })?;
            if !v.is_finite() {
                bail!(
                    "{path}:{}:{}: column `{}` holds `{cell}`, which is not finite",
                    r + 2,
                    c + 1,
                    csv.headers[c]
                );
            }
            x.push(v);
        }
    }
    Ok((x, missing))
}

/// Column indices of a model's inputs in a CSV file: the model's feature
/// names for tabular models, `{channel}_t{i}` for window models.
pub fn model_columns(csv: &CsvFile, channels: &[&str], length: usize) -> Result<Vec<usize>> {
    let names: Vec<String> = if length == 1 {
        channels.iter().map(|c| c.to_string()).collect()
    } else {
        channels
            .iter()
            .flat_map(|c| (0..length).map(move |t| format!("{c}_t{t}")))
            .collect()
    };
    names.iter().map(|n| csv.column(n, "model input")).collect()
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
    let test_csv = CsvFile::read(path)?;
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
