//! `vigie train` end to end: CSV → splits → burn training → calibration →
//! int8 model (vigie-core's builder) → evaluation through vigie-core →
//! model file written atomically.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use serde_json::{json, Value};
use vigie_core::builder::FloatModel;
use vigie_core::format::section_kind;
use vigie_core::{Model, Task};

use crate::config::{ClassWeights, Config, LossKind, NamedWeights};
use crate::data::{self, CsvFile, Dataset, Impute, Spec, Target};
use crate::metrics;
use crate::net::{Architecture, ExportInfo};
use crate::prep::{self, Splits, Stats};
use crate::quantize;
use crate::train::{self, History, Problem, Progress, Split};

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
    /// Train even when the data checks find leakage.
    pub allow_leakage: bool,
    /// Abstain below the confidence that reaches this precision on
    /// validation rows.
    pub target_precision: Option<f64>,
    /// Cost matrix CSV for the least-expected-cost decision.
    pub cost_matrix: Option<PathBuf>,
    /// A softmax temperature to store instead of fitting one.
    pub temperature: Option<f32>,
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
            test: None,
            test_split: 0.2,
            val_split: 0.1,
            seed: 0,
            device: DeviceKind::Cpu,
            cpu_backend: CpuBackend::default_compiled(),
            impute: None,
            quiet: true,
            false_alarm_rate: 1e-4,
            allow_leakage: false,
            target_precision: None,
            cost_matrix: None,
            temperature: None,
        }
    }
}

/// The data, split and standardized, ready for any backend.
pub struct Prepared {
    /// The training file's data set.
    pub data: Dataset,
    /// The test data set (the training file itself when split from it).
    pub test_data: Option<Dataset>,
    /// Row indices.
    pub splits: Splits,
    /// Training statistics.
    pub stats: Stats,
    /// Standardized splits.
    pub train: Split,
    /// Validation split.
    pub val: Split,
    /// Test split.
    pub test: Split,
    /// Regression target mean and std (training split).
    pub target_scale: Option<(f32, f32)>,
    /// Loop parameters.
    pub problem: Problem,
    /// What the data checks found.
    pub findings: Vec<crate::checks::Finding>,
}

impl Prepared {
    /// The test set and its rows.
    pub fn test_rows(&self) -> (&Dataset, Vec<usize>) {
        match &self.test_data {
            Some(d) => (d, (0..d.len()).collect()),
            None => (&self.data, self.splits.test.clone()),
        }
    }
}

fn split_of(d: &Dataset, rows: &[usize], stats: &Stats, target_scale: Option<(f32, f32)>) -> Split {
    let x = prep::standardized(d, rows, stats);
    match &d.target {
        Target::Classes { y, .. } => Split {
            x,
            classes: rows.iter().map(|&r| y[r]).collect(),
            values: vec![],
        },
        Target::Values { y, .. } => {
            let (m, s) = target_scale.unwrap_or((0.0, 1.0));
            Split {
                x,
                classes: vec![],
                values: rows.iter().map(|&r| (y[r] - m) / s).collect(),
            }
        }
    }
}

/// Reads, checks, splits and standardizes the data.
pub fn prepare(args: &TrainArgs) -> Result<Prepared> {
    let csv = CsvFile::read(&args.data)?;
    let spec = Spec {
        target: args.target.clone(),
        features: args.features.clone(),
        regression: args.regression,
        classes: None,
    };
    let data = data::load(&csv, &spec)?;
    data::check_missing(&data, args.impute)?;
    let test_data = match &args.test {
        Some(path) => {
            let d = data::load_test(&csv, &data, &spec, path)?;
            data::check_missing(&d, args.impute)?;
            Some(d)
        }
        None => None,
    };
    let findings = crate::checks::run(&data, test_data.as_ref());
    let blocking = crate::checks::blocking(&findings);
    if !blocking.is_empty() && !args.allow_leakage {
        let list: Vec<String> = blocking
            .iter()
            .map(|f| format!("  - {}", f.message))
            .collect();
        bail!(
            "the data leaks information the model must not see:\n{}\nfix the data, or pass --allow-leakage to train anyway (the findings are stored in the model)",
            list.join("\n")
        );
    }
    if !(0.0..1.0).contains(&args.test_split) || !(0.0..1.0).contains(&args.val_split) {
        bail!("--test-split and --val-split are fractions in [0, 1)");
    }
    let test_fraction = if test_data.is_some() {
        0.0
    } else {
        args.test_split
    };
    let splits = prep::split(&data, test_fraction, args.val_split, args.seed);
    if splits.train.is_empty() || splits.val.is_empty() {
        bail!(
            "{}: {} rows leave no training or validation rows with --test-split {} --val-split {}",
            args.data.display(),
            data.len(),
            test_fraction,
            args.val_split
        );
    }
    let stats = prep::stats(&data, &splits.train, args.impute);
    let target_scale = match &data.target {
        Target::Values { y, .. } => {
            let v: Vec<f64> = splits.train.iter().map(|&r| y[r] as f64).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
            Some((mean as f32, if std > 1e-12 { std as f32 } else { 1.0 }))
        }
        Target::Classes { .. } => None,
    };
    let train = split_of(&data, &splits.train, &stats, target_scale);
    let val = split_of(&data, &splits.val, &stats, target_scale);
    let test = match &test_data {
        Some(d) => split_of(d, &(0..d.len()).collect::<Vec<_>>(), &stats, target_scale),
        None => split_of(&data, &splits.test, &stats, target_scale),
    };
    let classes = data.class_names().len();
    let class_weights = class_weights(&args.config, &train, classes)?;
    check_loss(&args.config, data.task())?;
    let problem = Problem {
        channels: data.channels.len(),
        length: data.length,
        classes,
        class_weights,
    };
    Ok(Prepared {
        data,
        test_data,
        splits,
        stats,
        train,
        val,
        test,
        target_scale,
        problem,
        findings,
    })
}

fn check_loss(cfg: &Config, task: Task) -> Result<()> {
    let classification = matches!(cfg.training.loss, LossKind::CrossEntropy | LossKind::Focal);
    if cfg.training.loss == LossKind::Auto {
        return Ok(());
    }
    match (task, classification) {
        (Task::Classification, false) => {
            bail!("training.loss = {:?} is a regression loss; use cross_entropy or focal, or --task regression", cfg.training.loss)
        }
        (Task::Regression, true) => {
            bail!("training.loss = {:?} is a classification loss; use mse or huber for --task regression", cfg.training.loss)
        }
        _ => Ok(()),
    }
}

fn class_weights(cfg: &Config, train: &Split, classes: usize) -> Result<Vec<f32>> {
    if classes == 0 {
        return Ok(vec![]);
    }
    let mut counts = vec![0usize; classes];
    train.classes.iter().for_each(|&c| counts[c] += 1);
    Ok(match &cfg.training.class_weights {
        ClassWeights::Named(NamedWeights::None) => vec![1.0; classes],
        ClassWeights::Named(NamedWeights::Balanced) => counts
            .iter()
            .map(|&n| {
                if n == 0 {
                    0.0
                } else {
                    train.len() as f32 / (classes * n) as f32
                }
            })
            .collect(),
        ClassWeights::Explicit(w) => {
            if w.len() != classes || w.iter().any(|v| !v.is_finite() || *v < 0.0) {
                bail!(
                    "training.class_weights has {} values; give {classes} non-negative weights, one per class in order",
                    w.len()
                );
            }
            w.iter().map(|&v| v as f32).collect()
        }
    })
}

/// What training produced, backend-independent.
pub struct Trained {
    /// The float model, calibrated, ready to quantize.
    pub float: FloatModel,
    /// Float outputs on the test split (real units), row-major.
    pub float_test: Vec<f32>,
    /// Learning curve.
    pub history: History,
    /// Backend name.
    pub backend: String,
}

fn export_info(p: &Prepared, args: &TrainArgs) -> ExportInfo {
    let name = args
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    ExportInfo {
        name,
        channels: p.data.channels.clone(),
        length: p.data.length,
        mean: p.stats.mean.clone(),
        std: p.stats.std.clone(),
        missing: p.stats.impute.clone(),
        task: p.data.task(),
        outputs: match &p.data.target {
            Target::Classes { names, .. } => names.clone(),
            Target::Values { name, .. } => vec![name.clone()],
        },
        target_scale: p.target_scale,
    }
}

/// Trains on backend `B`.
pub fn train_on<B: AutodiffBackend>(
    p: &Prepared,
    args: &TrainArgs,
    device: B::Device,
    backend: &str,
) -> Result<Trained> {
    // Weights and dropout masks come from vigie's generator (see `Net`); burn's
    // is seeded too, for anything else that draws from it.
    B::seed(&device, args.seed);
    let mut init_rng = crate::rng::Rng(args.seed ^ 0x1417_5EED);
    let outputs = if p.problem.classes > 0 {
        p.problem.classes
    } else {
        1
    };
    let arch = Architecture::new(
        &args.config.model,
        p.problem.channels,
        p.problem.length,
        outputs,
    )?;
    let net = arch.init::<B>(args.config.model.dropout, &mut init_rng, &device);
    let progress = Progress::new(args.config.training.epochs, args.quiet);
    let (best, history) = train::fit(
        net,
        &p.train,
        &p.val,
        &p.problem,
        &args.config.training,
        args.seed,
        &progress,
        &device,
    );
    let info = export_info(p, args);
    let float = quantize::calibrate(
        &best,
        &p.train,
        p.problem.channels,
        p.problem.length,
        &info,
        &args.config.quantization,
        &device,
    );
    let float_test = float_outputs(&best, &p.test, &p.problem, p.target_scale, &device);
    Ok(Trained {
        float,
        float_test,
        history,
        backend: backend.into(),
    })
}

fn float_outputs<B: Backend>(
    net: &crate::net::Net<B>,
    split: &Split,
    p: &Problem,
    scale: Option<(f32, f32)>,
    device: &B::Device,
) -> Vec<f32> {
    let width = p.channels * p.length;
    let mut out = Vec::new();
    for chunk in split.x.chunks(512 * width) {
        let n = chunk.len() / width;
        let t = Tensor::<B, 3>::from_data(
            TensorData::new(chunk.to_vec(), [n, p.channels, p.length]),
            device,
        );
        let v = net
            .forward(t)
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap_or_default();
        out.extend(v.into_iter().map(|x| scale.map_or(x, |(m, s)| x * s + m)));
    }
    out
}

/// Runs training on the device asked for.
pub fn train_dispatch(p: &Prepared, args: &TrainArgs) -> Result<Trained> {
    match args.device {
        DeviceKind::Cpu => match args.cpu_backend {
            #[cfg(feature = "flex")]
            CpuBackend::Flex => train_on::<burn::backend::Autodiff<burn::backend::Flex>>(
                p,
                args,
                Default::default(),
                "flex (CPU)",
            ),
            #[cfg(feature = "ndarray")]
            CpuBackend::Ndarray => train_on::<burn::backend::Autodiff<burn::backend::NdArray>>(
                p,
                args,
                Default::default(),
                "ndarray (CPU)",
            ),
            #[allow(unreachable_patterns)]
            other => bail!(
                "the {other:?} CPU backend is not built in; rebuild with `--features {}`",
                format!("{other:?}").to_lowercase()
            ),
        },
        DeviceKind::Cuda => crate::cuda::train(p, args),
    }
}

/// What the device gives for rows of a data set, through a session.
pub struct Int8 {
    /// Dequantized outputs, `output_len` per row.
    pub values: Vec<f32>,
    /// The session's decision per row (classifiers).
    pub decisions: Vec<vigie_core::decision::Decision<'static>>,
}

impl Int8 {
    /// The decided class of each row.
    pub fn classes(&self) -> Vec<usize> {
        self.decisions.iter().map(|d| d.index).collect()
    }
}

/// Int8 outputs and decisions of `model` on rows of `d`, through a
/// vigie-core session (what the device computes and decides).
pub fn int8_outputs(model: &Model<'_>, d: &Dataset, rows: &[usize]) -> Result<Int8> {
    let mut memory = crate::device::Memory::new(model, None);
    let mut session = memory.session(model, None)?;
    let mut out = Int8 {
        values: Vec::with_capacity(rows.len() * model.output_len()),
        decisions: Vec::new(),
    };
    for &r in rows {
        let inferred = session
            .infer(d.row(r))
            .with_context(|| format!("{}: row {} (line {})", d.source.display(), r, r + 2))?;
        if let vigie_core::Inference::Skipped { index } = inferred.inference {
            bail!(
                "{}: row {} (line {}): input value {index} is missing or infinite and the model does not impute",
                d.source.display(),
                r,
                r + 2
            );
        }
        if let Some(dec) = inferred.decision() {
            out.decisions
                .push(vigie_core::decision::Decision { name: "", ..*dec });
        }
        out.values.extend(session.output()?.values());
    }
    Ok(out)
}

fn argmax_rows(v: &[f32], k: usize) -> Vec<usize> {
    v.chunks(k)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(0, |b, (i, x)| if *x > row[b] { i } else { b })
        })
        .collect()
}

/// Metrics of float and int8 outputs against the truth, as JSON. The int8
/// classes are the session's decisions.
pub fn compare(d: &Dataset, rows: &[usize], float: Option<&[f32]>, int8: &Int8, k: usize) -> Value {
    match &d.target {
        Target::Classes { names, y } => {
            let truth: Vec<usize> = rows.iter().map(|&r| y[r]).collect();
            let int8_pred = int8.classes();
            let m8 = metrics::classification(&truth, &int8_pred, names.len());
            let mut v =
                json!({"task": "classification", "int8": m8, "classes": names, "rows": rows.len()});
            if let Some(f) = float {
                let fp = argmax_rows(f, k);
                let mf = metrics::classification(&truth, &fp, names.len());
                let agree = fp.iter().zip(&int8_pred).filter(|(a, b)| a == b).count() as f64
                    / fp.len().max(1) as f64;
                v["float"] = json!(mf);
                v["agreement"] = json!(agree);
                v["accuracy_drop_points"] = json!(100.0 * (mf.accuracy - m8.accuracy));
            }
            v
        }
        Target::Values { y, .. } => {
            let truth: Vec<f32> = rows.iter().map(|&r| y[r]).collect();
            let int8 = &int8.values;
            let m8 = metrics::regression(&truth, int8);
            let mut v = json!({"task": "regression", "int8": m8, "rows": rows.len()});
            if let Some(f) = float {
                let mf = metrics::regression(&truth, f);
                let diff = f
                    .iter()
                    .zip(int8)
                    .map(|(a, b)| (a - b).abs() as f64)
                    .sum::<f64>()
                    / f.len().max(1) as f64;
                v["float"] = json!(mf);
                v["float_int8_mean_abs_diff"] = json!(diff);
            }
            v
        }
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// failure never leaves a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        bail!("cannot write {}: {e}", path.display());
    }
    Ok(())
}

/// `vigie train`: returns the JSON summary after writing the model file.
pub fn train(args: &TrainArgs) -> Result<Value> {
    let built = build(args)?;
    write_atomically(&args.out, &built.bytes)?;
    Ok(built.summary)
}

/// A trained, quantized, evaluated model with its monitor, not yet written.
pub struct Built {
    /// The model file's bytes.
    pub bytes: Vec<u8>,
    /// The data it was trained on, split.
    pub prepared: Prepared,
    /// The summary `vigie train --json` prints.
    pub summary: Value,
}

/// Everything `vigie train` does except writing the file.
pub fn build(args: &TrainArgs) -> Result<Built> {
    let p = prepare(args)?;
    let trained = train_dispatch(&p, args)?;
    let mut quantized = trained
        .float
        .quantize()
        .context("quantizing the trained model")?;
    let (test_set, test_rows) = p.test_rows();
    let k = if p.problem.classes > 0 {
        p.problem.classes
    } else {
        1
    };
    // Evaluate the bytes that will be written, through the core.
    let draft = quantized.to_bytes();
    let model = Model::from_bytes(&draft).context("the quantized model does not load")?;
    let int8 = int8_outputs(&model, test_set, &test_rows)?;
    let test_metrics = compare(test_set, &test_rows, Some(&trained.float_test), &int8, k);
    drop(model);
    let calibration = match p.problem.classes {
        0 => None,
        _ => Some(calibrate_model(
            &mut quantized,
            &p,
            args,
            test_set,
            &test_rows,
        )?),
    };
    let draft = quantized.to_bytes();
    if !args.quiet {
        eprintln!(
            "calibrating the drift monitor on {} validation rows",
            p.splits.val.len()
        );
    }
    let monitor = crate::monitor_ref::build(
        &draft,
        &p.data,
        &p.splits.train,
        &p.splits.val,
        args.false_alarm_rate,
        args.seed,
    )
    .context("building the drift monitor")?;
    quantized
        .set_section(section_kind::MONITOR, false, monitor.section.clone())
        .context("storing the monitor")?;
    let best = trained.history.best_epoch;
    let at_best = trained
        .history
        .epochs
        .iter()
        .find(|e| e.epoch == best)
        .copied();
    quantized
        .set_section(
            section_kind::DATA_CHECKS,
            false,
            serde_json::to_vec(&p.findings)?,
        )
        .context("storing the data checks")?;
    let report = json!({
        "vigie": env!("CARGO_PKG_VERSION"),
        "data": {
            "file": args.data.display().to_string(),
            "test_file": args.test.as_ref().map(|t| t.display().to_string()),
            "target": args.target,
            "features": p.data.features.len(),
            "channels": p.data.channels,
            "length": p.data.length,
            "rows": {"train": p.splits.train.len(), "val": p.splits.val.len(), "test": test_rows.len()},
            "missing_cells": p.data.missing.0,
            "impute": args.impute,
        },
        "seed": args.seed,
        "backend": trained.backend,
        "config": args.config,
        "history": trained.history,
        "generalization_gap": at_best.map(|e| json!({
            "epoch": e.epoch, "train_loss": e.train_loss, "val_loss": e.val_loss,
            "loss_gap": e.val_loss - e.train_loss, "train_metric": e.train_metric, "val_metric": e.val_metric,
        })),
        "test": test_metrics,
        "calibration": calibration,
        "monitor": monitor,
        "false_alarm_rate": args.false_alarm_rate,
    });
    quantized
        .set_section(
            section_kind::TRAINING_REPORT,
            false,
            serde_json::to_vec(&report)?,
        )
        .context("storing the training report")?;
    let bytes = quantized.to_bytes();
    let model = Model::from_bytes(&bytes).context("the final model does not load")?;
    let mut summary = report["test"].clone();
    summary["data_checks"] = json!(p
        .findings
        .iter()
        .map(|f| json!({
            "severity": f.severity, "check": f.check, "column": f.column,
        }))
        .collect::<Vec<_>>());
    summary["model"] = json!(args.out.display().to_string());
    summary["flash_bytes"] = json!(bytes.len());
    summary["arena_bytes"] = json!(model.arena_len());
    summary["macs"] = json!(model.macs());
    summary["train_seconds"] = json!(trained.history.seconds);
    summary["best_epoch"] = json!(best);
    summary["epochs_run"] = json!(trained.history.epochs.len());
    summary["backend"] = json!(trained.backend);
    summary["generalization_gap"] = report["generalization_gap"].clone();
    summary["monitor"] = report["monitor"].clone();
    summary["calibration"] = report["calibration"].clone();
    drop(model);
    Ok(Built {
        bytes,
        prepared: p,
        summary,
    })
}

/// Fits the temperature on validation rows, picks the abstention threshold
/// for `--target-precision`, stores them with the cost matrix as the
/// calibration section, and measures the result on the test rows, all
/// through vigie-core.
fn calibrate_model(
    quantized: &mut vigie_core::builder::QuantizedModel,
    p: &Prepared,
    args: &TrainArgs,
    test_set: &Dataset,
    test_rows: &[usize],
) -> Result<crate::calibrate::Report> {
    use crate::calibrate;
    use vigie_core::CalibrationDef;
    if let Some(t) = args.target_precision {
        if !(t > 0.0 && t <= 1.0) {
            bail!("--target-precision must be in (0, 1], for example 0.99");
        }
    }
    let costs: Vec<u8> = match &args.cost_matrix {
        Some(path) => calibrate::read_cost_matrix(path, p.data.class_names())?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        None => vec![],
    };
    let bytes = quantized.to_bytes();
    let model = Model::from_bytes(&bytes).context("the quantized model does not load")?;
    let temperature = match args.temperature {
        Some(t) if t.is_finite() && t > 0.0 => t,
        Some(t) => bail!("--temperature {t}: must be a positive number, for example 1.5"),
        None => calibrate::fit_temperature(&model, &p.data, &p.splits.val)?,
    };
    let mut def = CalibrationDef {
        temperature,
        abstain_below: 0.0,
        costs: &costs,
    };
    quantized
        .set_section(section_kind::CALIBRATION, true, def.to_vec())
        .context("storing the calibration")?;
    if let Some(target) = args.target_precision {
        let bytes = quantized.to_bytes();
        let model = Model::from_bytes(&bytes).context("the calibrated model does not load")?;
        let pairs = calibrate::top_pairs(&model, &p.data, &p.splits.val)?;
        def.abstain_below = calibrate::abstention_threshold(&pairs, target);
        quantized
            .set_section(section_kind::CALIBRATION, true, def.to_vec())
            .context("storing the calibration")?;
    }
    let bytes = quantized.to_bytes();
    let model = Model::from_bytes(&bytes).context("the calibrated model does not load")?;
    calibrate::evaluate(
        &model,
        test_set,
        test_rows,
        p.splits.val.len(),
        args.target_precision,
    )
}
