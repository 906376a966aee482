//! The training report: one typed record, written once by `vigie train`
//! into the model's host-only section and read back as the same struct by
//! `inspect`, `eval`, `explain` and the model card.

use std::path::Path;

use serde::{Deserialize, Serialize};
use vigie_core::format::section_kind;
use vigie_core::Model;

use crate::data::Impute;
use crate::evaluation::calibrate;
pub use crate::evaluation::metrics::TestMetrics;
use crate::monitor_fit::BuiltMonitor;
use crate::training::config::Config;
use crate::training::fit::History;

/// What `vigie train` records about a model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingReport {
    /// The vigie version that trained it.
    pub vigie: String,
    /// The data it was trained on.
    pub data: DataRecord,
    /// Seed of splits, initialization and shuffles.
    pub seed: u64,
    /// The burn backend.
    pub backend: String,
    /// The configuration.
    pub config: Config,
    /// The model search, when `vigie train` ran one (no `--config`).
    #[serde(default)]
    pub search: Option<crate::training::search::Trace>,
    /// The majority class and a cheap model on the same test rows.
    #[serde(default)]
    pub baselines: Option<crate::evaluation::baselines::Baselines>,
    /// Each group's figures and the gaps on the test split (`--group`).
    #[serde(default)]
    pub groups: Option<crate::evaluation::groups::GroupReport>,
    /// A fine-tuning (`train --from`): the old and new models compared on
    /// the new and the old data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fine_tune: Option<FineTune>,
    /// The learning curve.
    pub history: History,
    /// Training against validation at the kept epoch.
    pub generalization_gap: Option<Gap>,
    /// Float and int8 metrics on the test rows.
    pub test: TestMetrics,
    /// Temperature, abstention and costs (classifiers).
    pub calibration: Option<calibrate::Report>,
    /// The drift monitor.
    pub monitor: BuiltMonitor,
    /// The monitor's target false-alarm rate per sample.
    pub false_alarm_rate: f64,
}

/// A data file, recorded by name and content: the same file gives the same
/// record on any machine (no absolute path of the build machine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The file's name, without its folder.
    pub name: String,
    /// SHA-256 of its bytes, hexadecimal.
    pub sha256: String,
}

impl FileRecord {
    /// Records a file (its name and a hash of its bytes, streamed).
    pub fn of(path: &Path) -> anyhow::Result<FileRecord> {
        use sha2::Digest;
        use std::io::Read;
        let cannot = |e: std::io::Error| anyhow::anyhow!("cannot read {}: {e}", path.display());
        let mut file = std::fs::File::open(path).map_err(cannot)?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(cannot)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(FileRecord {
            name: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            sha256: hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        })
    }
}

impl std::fmt::Display for FileRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (sha256 {})",
            self.name,
            &self.sha256[..12.min(self.sha256.len())]
        )
    }
}

/// The training data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataRecord {
    /// The training file.
    pub file: FileRecord,
    /// The test file, when one was given.
    pub test_file: Option<FileRecord>,
    /// The target column.
    pub target: String,
    /// Feature columns.
    pub features: usize,
    /// Input channels.
    pub channels: Vec<String>,
    /// Values per channel (1 for tabular data).
    pub length: usize,
    /// Rows of each split.
    pub rows: RowCounts,
    /// Missing cells in the training file.
    pub missing_cells: usize,
    /// How they were imputed.
    pub impute: Option<Impute>,
    /// How the file was written (separator, decimal mark).
    #[serde(default)]
    pub dialect: crate::data::Dialect,
    /// The file's columns the inputs come from, with their levels when
    /// categorical.
    #[serde(default)]
    pub columns: Vec<crate::data::RawColumn>,
}

/// Rows of each split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    /// Training rows.
    pub train: usize,
    /// Validation rows.
    pub val: usize,
    /// Test rows.
    pub test: usize,
}

/// Training against validation at the kept epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// The kept epoch.
    pub epoch: usize,
    /// Its training loss.
    pub train_loss: f64,
    /// Its validation loss.
    pub val_loss: f64,
    /// Validation minus training loss.
    pub loss_gap: f64,
    /// Its training metric.
    pub train_metric: f64,
    /// Its validation metric.
    pub val_metric: f64,
}

/// The training report stored in a model, if it has one that this vigie
/// reads (models written by older versions give `None`).
pub fn training_report(model: &Model<'_>) -> Option<TrainingReport> {
    let section = model.def().section(section_kind::TRAINING_REPORT)?;
    serde_json::from_slice(section.data).ok()
}

/// A fine-tuning (`vigie train --from OLD.vigie`): where it started, and
/// the old and new int8 models on the same rows of each data set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FineTune {
    /// The old model's file.
    pub from: String,
    /// Its CRC-32 (the header's, of its body).
    pub from_crc: u32,
    /// The rehearsal file, if old rows were mixed in.
    pub rehearsal: Option<String>,
    /// Old rows mixed into the training rows.
    pub rehearsal_rows: usize,
    /// One line per data set compared.
    pub compared: Vec<Compared>,
}

/// The old and new models' int8 figure on the same rows (accuracy for a
/// classifier, mean absolute error for a regression).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Compared {
    /// Which rows: the new test split, or the old rows held out.
    pub data: String,
    /// How many.
    pub rows: usize,
    /// `accuracy` or `MAE`.
    pub metric: String,
    /// The old model's.
    pub old: f64,
    /// The new model's.
    pub new: f64,
}
