//! What `vigie train` takes: the data, the configuration, the device.

use std::path::PathBuf;

use crate::data::Impute;
use crate::training::config::Config;

/// Where training runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// The CPU, with burn's flex (default) or ndarray backend.
    Cpu,
    /// An NVIDIA GPU through burn-cuda (build with `--features cuda`).
    Cuda,
}

/// burn's CPU backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CpuBackend {
    /// burn-flex, pure Rust.
    Flex,
    /// burn-ndarray.
    Ndarray,
}

impl CpuBackend {
    /// The default: flex when built in.
    pub fn default_compiled() -> CpuBackend {
        if cfg!(feature = "flex") {
            CpuBackend::Flex
        } else {
            CpuBackend::Ndarray
        }
    }
}

/// Everything `vigie train` takes.
#[derive(Debug, Clone)]
pub struct TrainArgs {
    /// Training CSV.
    pub data: PathBuf,
    /// Target column.
    pub target: String,
    /// Feature columns (default: all others).
    pub features: Option<Vec<String>>,
    /// Regression instead of classification.
    pub regression: bool,
    /// Configuration.
    pub config: Config,
    /// Output model file.
    pub out: PathBuf,
    /// Columns left out.
    pub drop: Vec<String>,
    /// Store no fingerprint of the training rows (sensitive data).
    pub no_fingerprint: bool,
    /// How to read the CSV files (`None`s: detect).
    pub csv: crate::data::CsvOptions,
    /// Replace an existing `out` of another kind (never an input).
    pub force: bool,
    /// The configuration file, if one was given (an input `out` must not
    /// overwrite).
    pub config_file: Option<PathBuf>,
    /// Separate test CSV.
    pub test: Option<PathBuf>,
    /// Test fraction when no test file.
    pub test_split: f64,
    /// Validation fraction.
    pub val_split: f64,
    /// Seed of splits, initialization, shuffles and noise.
    pub seed: u64,
    /// Device.
    pub device: DeviceKind,
    /// CPU backend.
    pub cpu_backend: CpuBackend,
    /// Missing-value imputation.
    pub impute: Option<Impute>,
    /// No progress output.
    pub quiet: bool,
    /// Target false-alarm rate of the whole drift monitor, per sample.
    pub false_alarm_rate: f64,
    /// Smallest shift of a feature's mean worth a drift alarm, in
    /// reference standard deviations.
    pub min_shift: f32,
    /// Train even when the data checks find leakage.
    pub allow_leakage: bool,
    /// Abstain below the confidence that reaches this precision on
    /// validation rows.
    pub target_precision: Option<f64>,
    /// Cost matrix CSV for the least-expected-cost decision.
    pub cost_matrix: Option<PathBuf>,
    /// A softmax temperature to store instead of fitting one.
    pub temperature: Option<f32>,
    /// The model search and its budget (`None`: train `config` as it is).
    pub search: Option<crate::training::search::Settings>,
    /// Columns whose groups are measured on the test split (`--group`).
    pub group: Option<String>,
    /// The largest gap between groups allowed (`--max-gap`).
    pub max_gap: f64,
    /// A blocking gap is allowed explicitly, and so recorded.
    pub allow_gap: bool,
    /// Fine-tune this model (`--from`) instead of training a new one.
    pub from: Option<PathBuf>,
    /// Rows of the old data mixed into the fine-tuning (`--rehearsal`).
    pub rehearsal: Option<PathBuf>,
    /// Store what the device needs to correct a drifted input
    /// (`--adapt`).
    pub adapt: bool,
    /// Threads for the search's runs and the monitor's calibration replays
    /// (`None`: one per core); the file is the same on any number.
    pub threads: Option<usize>,
}

impl TrainArgs {
    /// The defaults of `vigie train` for a data file and target column:
    /// classification, default configuration, 80/20 test split, 10%
    /// validation, seed 0, the default CPU backend, quiet.
    pub fn new(data: PathBuf, target: &str) -> Self {
        TrainArgs {
            data,
            target: target.to_owned(),
            features: None,
            regression: false,
            config: Config::default(),
            out: PathBuf::from("model.vigie"),
            drop: vec![],
            no_fingerprint: false,
            csv: crate::data::CsvOptions::default(),
            force: false,
            config_file: None,
            test: None,
            test_split: 0.2,
            val_split: 0.1,
            seed: 0,
            device: DeviceKind::Cpu,
            cpu_backend: CpuBackend::default_compiled(),
            impute: None,
            quiet: true,
            false_alarm_rate: crate::monitor_fit::FALSE_ALARM_RATE,
            min_shift: crate::monitor_fit::MIN_SHIFT,
            allow_leakage: false,
            target_precision: None,
            cost_matrix: None,
            temperature: None,
            search: None,
            group: None,
            max_gap: crate::evaluation::groups::MAX_GAP,
            allow_gap: false,
            from: None,
            rehearsal: None,
            adapt: false,
            threads: None,
        }
    }
}
