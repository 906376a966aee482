//! The data, split, checked and standardized for training, ready for any
//! backend.

use anyhow::{bail, Result};
use vigie_core::Task;

use crate::data::prep::{self, Splits, Stats};
use crate::data::{self, CsvFile, Dataset, Spec, Target};
use crate::training::args::TrainArgs;
use crate::training::config::{ClassWeights, Config, LossKind, NamedWeights};
use crate::training::fit::{Problem, Split};

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
    pub findings: Vec<crate::data::checks::Finding>,
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
    let csv = CsvFile::read_with(&args.data, args.csv)?;
    let spec = Spec {
        target: args.target.clone(),
        features: args.features.clone(),
        drop: args.drop.clone(),
        regression: args.regression,
        csv: args.csv,
        ..Spec::default()
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
    let findings = crate::data::checks::run(&data, test_data.as_ref());
    let blocking = crate::data::checks::blocking(&findings);
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
