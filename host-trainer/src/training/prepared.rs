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
    /// A fine-tuning's old model (`--from`).
    pub origin: Option<crate::training::from::Origin>,
    /// A fine-tuning's rehearsal rows (`--rehearsal`).
    pub rehearsal: Option<Rehearsal>,
}

/// Old rows mixed into a fine-tuning so that the model does not forget
/// them.
pub struct Rehearsal {
    /// The old data.
    pub data: Dataset,
    /// Its rows held out of the fine-tuning, to compare the two models on.
    pub held_out: Vec<usize>,
    /// Whether the old model did not train on them either (by its
    /// fingerprint).
    pub unseen_by_old: bool,
    /// The rows the fine-tuning trains on.
    pub used: Vec<usize>,
    /// The others, standardized: the fine-tuning trains on them beside
    /// the new training rows (calibration and the monitor see only the
    /// new rows, the deployment's).
    pub train: Split,
}

/// Share of the rehearsal rows held out of a fine-tuning, to compare the
/// old and new models on the old data, when the old model's fingerprint
/// cannot say which rows it did not train on.
pub const REHEARSAL_HELD_OUT: f64 = 0.2;

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
    let origin = args
        .from
        .as_deref()
        .map(crate::training::from::Origin::read)
        .transpose()?;
    let mut spec = Spec {
        target: args.target.clone(),
        features: args.features.clone(),
        drop: args.drop.clone(),
        regression: args.regression,
        csv: args.csv,
        ..Spec::default()
    };
    if let (Some(o), Some(_)) = (&origin, args.impute) {
        bail!(
            "--impute: a fine-tuning keeps {}'s input map and its handling of missing values; leave --impute out",
            o.path.display()
        );
    }
    if let Some(o) = &origin {
        // The old model's inputs (encoded as it encodes them) and classes.
        let model = o.model()?;
        spec.columns = Some(data::model_raw_columns(&model)?);
        spec.regression = model.task() == Task::Regression;
        spec.classes = (model.task() == Task::Classification)
            .then(|| model.output_names().iter().map(String::from).collect());
        spec.features = None;
        spec.drop = Vec::new();
    }
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
    let stats = match &origin {
        // The old model's input map: its weights expect it.
        Some(o) => Stats {
            mean: o.mean.clone(),
            std: o.std.clone(),
            impute: o.impute.clone(),
        },
        None => prep::stats(&data, &splits.train, args.impute),
    };
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
    let rehearsal = match (&args.rehearsal, &origin) {
        (Some(path), Some(o)) => {
            let old = data::load_test(&csv, &data, &spec, path)?;
            data::check_missing(&old, args.impute)?;
            // Rows held out to compare the two models on: those the old
            // model did not train on either (by its fingerprint), or else
            // a seeded share; the rest joins the training rows.
            let seen = crate::evaluation::fingerprint::fresh_rows(&o.model()?, &old);
            let (held_out, unseen_by_old): (Vec<usize>, bool) = match seen {
                s if s.training_rows.is_some() && !s.fresh.is_empty() => (s.fresh, true),
                _ => {
                    let mut rows: Vec<usize> = (0..old.len()).collect();
                    crate::rng::Rng(args.seed ^ 0x4E_4EA5).shuffle(&mut rows);
                    let held =
                        ((old.len() as f64 * REHEARSAL_HELD_OUT).round() as usize).min(old.len());
                    rows.truncate(held);
                    rows.sort_unstable();
                    (rows, false)
                }
            };
            let used: Vec<usize> = (0..old.len())
                .filter(|r| held_out.binary_search(r).is_err())
                .collect();
            let train = split_of(&old, &used, &stats, target_scale);
            if used.is_empty() && !args.quiet {
                eprintln!(
                    "warning: --rehearsal {}: the old model's fingerprint says it trained on none of these rows, so none is rehearsed; give the file it was trained on",
                    path.display()
                );
            }
            Some(Rehearsal {
                data: old,
                held_out,
                unseen_by_old,
                used,
                train,
            })
        }
        (Some(_), None) => {
            bail!("--rehearsal mixes old rows into a fine-tuning; give the old model with --from")
        }
        _ => None,
    };
    let val = split_of(&data, &splits.val, &stats, target_scale);
    let test = match &test_data {
        Some(d) => split_of(d, &(0..d.len()).collect::<Vec<_>>(), &stats, target_scale),
        None => split_of(&data, &splits.test, &stats, target_scale),
    };
    let classes = data.class_names().len();
    // A fine-tuning trains with the old model's configuration.
    let config = origin.as_ref().map_or(&args.config, |o| &o.config);
    let class_weights = class_weights(config, &train, classes)?;
    check_loss(config, data.task())?;
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
        origin,
        rehearsal,
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
