//! The training loop: mini-batches, losses, optimizers, learning-rate
//! schedule, early stopping on validation loss keeping the best weights.

use std::io::IsTerminal;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, Optimizer, SgdConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use serde::Serialize;

use crate::rng::Rng;
use crate::training::config::{LossKind, OptimizerKind, Schedule, TrainingConfig};
use crate::training::net::{host_vec, Net};

/// Standardized features and targets of one split.
#[derive(Debug, Clone)]
pub struct Split {
    /// `rows × channels × length`, standardized.
    pub x: Vec<f32>,
    /// Class indices (classification).
    pub classes: Vec<usize>,
    /// Standardized target values (regression).
    pub values: Vec<f32>,
}

impl Split {
    /// These rows, then `other`'s.
    pub fn joined(&self, other: &Split) -> Split {
        let cat = |a: &[f32], b: &[f32]| a.iter().chain(b).copied().collect();
        Split {
            x: cat(&self.x, &other.x),
            classes: self.classes.iter().chain(&other.classes).copied().collect(),
            values: cat(&self.values, &other.values),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.classes.len().max(self.values.len())
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// At most `n` of the rows (indices into this split), drawn at random
    /// with `seed`, in rising order: all of them when there are no more.
    /// Never the first `n`: a file sorted by a column (price, date, class)
    /// would give a prefix that looks like none of the rest.
    pub fn sample_rows(&self, n: usize, seed: u64) -> Vec<usize> {
        let mut rows: Vec<usize> = (0..self.len()).collect();
        if n < rows.len() {
            Rng(seed).shuffle(&mut rows);
            rows.truncate(n);
            rows.sort_unstable();
        }
        rows
    }

    /// The split of `rows` (indices into this one), `width` inputs a row.
    pub fn select(&self, rows: &[usize], width: usize) -> Split {
        let mut x = Vec::with_capacity(rows.len() * width);
        for &r in rows {
            x.extend_from_slice(&self.x[r * width..(r + 1) * width]);
        }
        Split {
            x,
            classes: rows
                .iter()
                .filter_map(|&r| self.classes.get(r).copied())
                .collect(),
            values: rows
                .iter()
                .filter_map(|&r| self.values.get(r).copied())
                .collect(),
        }
    }
}

/// What the loop needs to know about the data.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Input channels.
    pub channels: usize,
    /// Input length.
    pub length: usize,
    /// Number of classes (0 for regression).
    pub classes: usize,
    /// Weight of each class in the classification losses.
    pub class_weights: Vec<f32>,
}

/// One epoch of the learning curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Epoch {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// Training metric (accuracy, or MAE in standardized units) over the
    /// epoch's batches, as the network was while it learned.
    pub train_metric: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation metric (accuracy, or MAE in standardized units).
    pub val_metric: f64,
    /// Learning rate used.
    pub learning_rate: f64,
}

/// The learning curve and where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct History {
    /// Every epoch run.
    pub epochs: Vec<Epoch>,
    /// The epoch whose weights were kept (best validation loss).
    pub best_epoch: usize,
    /// Whether early stopping ended training before `epochs`.
    pub stopped_early: bool,
    /// Wall time of the loop, seconds (not stored in the model file, so
    /// that the same seed gives the same bytes).
    #[serde(skip)]
    pub seconds: f64,
}

fn batch_tensor<B: Backend>(
    split: &Split,
    rows: &[usize],
    p: &Problem,
    noise: Option<(&mut Rng, f64)>,
    device: &B::Device,
) -> Tensor<B, 3> {
    let width = p.channels * p.length;
    let mut data = Vec::with_capacity(rows.len() * width);
    for &r in rows {
        data.extend_from_slice(&split.x[r * width..(r + 1) * width]);
    }
    if let Some((rng, sd)) = noise {
        if sd > 0.0 {
            data.iter_mut()
                .for_each(|v| *v += (rng.normal() * sd) as f32);
        }
    }
    Tensor::from_data(
        TensorData::new(data, [rows.len(), p.channels, p.length]),
        device,
    )
}

/// Per-row loss terms and weights, summed: `(Σ wᵢ·lossᵢ, Σ wᵢ)` as
/// tensors, so the mean is their ratio.
fn loss<B: Backend>(
    out: Tensor<B, 2>,
    split: &Split,
    rows: &[usize],
    p: &Problem,
    cfg: &TrainingConfig,
    device: &B::Device,
) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let n = rows.len();
    if p.classes > 0 {
        let targets: Vec<i64> = rows.iter().map(|&r| split.classes[r] as i64).collect();
        let weights: Vec<f32> = rows
            .iter()
            .map(|&r| p.class_weights[split.classes[r]])
            .collect();
        let t = Tensor::<B, 2, Int>::from_data(TensorData::new(targets, [n, 1]), device);
        let w = Tensor::<B, 2>::from_data(TensorData::new(weights, [n, 1]), device);
        let logp = log_softmax(out, 1).gather(1, t);
        let per_row = match cfg.loss {
            LossKind::Focal => {
                let p_true = logp.clone().exp();
                let focus = p_true
                    .neg()
                    .add_scalar(1.0)
                    .clamp_min(0.0)
                    .powf_scalar(cfg.focal_gamma as f32);
                logp.mul(focus).neg()
            }
            _ => logp.neg(),
        };
        (per_row.mul(w.clone()).sum(), w.sum())
    } else {
        let targets: Vec<f32> = rows.iter().map(|&r| split.values[r]).collect();
        let y = Tensor::<B, 2>::from_data(TensorData::new(targets, [n, 1]), device);
        let d = out.sub(y);
        let per_row = match cfg.loss {
            LossKind::Huber => {
                let a = d.abs();
                let m = a.clone().clamp_max(cfg.huber_delta as f32);
                m.clone()
                    .powi_scalar(2)
                    .mul_scalar(0.5)
                    .add(a.sub(m).mul_scalar(cfg.huber_delta as f32))
            }
            _ => d.powi_scalar(2),
        };
        (
            per_row.sum(),
            Tensor::from_data(TensorData::new(vec![n as f32], [1]), device),
        )
    }
}

/// Sum of the metric over rows: correct predictions, or absolute errors.
fn metric_sum<B: Backend>(out: Tensor<B, 2>, split: &Split, rows: &[usize], p: &Problem) -> f64 {
    if p.classes > 0 {
        let pred: Vec<i64> = host_vec(out.argmax(1));
        rows.iter()
            .zip(pred)
            .filter(|(&r, p)| split.classes[r] as i64 == *p)
            .count() as f64
    } else {
        let pred: Vec<f32> = host_vec(out);
        rows.iter()
            .zip(pred)
            .map(|(&r, v)| (split.values[r] - v).abs() as f64)
            .sum()
    }
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    host_vec::<B, 1, _, f64>(t)
        .first()
        .copied()
        .unwrap_or(f64::NAN)
}

/// Loss and metric of `net` on a whole split, in batches.
pub fn evaluate<B: Backend>(
    net: &Net<B>,
    split: &Split,
    p: &Problem,
    cfg: &TrainingConfig,
    device: &B::Device,
) -> (f64, f64) {
    let rows: Vec<usize> = (0..split.len()).collect();
    let (mut num, mut den, mut metric) = (0.0, 0.0, 0.0);
    for chunk in rows.chunks(512) {
        let out = net.forward(batch_tensor::<B>(split, chunk, p, None, device));
        let (l, w) = loss(out.clone(), split, chunk, p, cfg, device);
        num += scalar(l);
        den += scalar(w);
        metric += metric_sum(out, split, chunk, p);
    }
    (num / den.max(1e-12), metric / split.len().max(1) as f64)
}

/// Learning rate of an epoch (0-based).
pub fn learning_rate(cfg: &TrainingConfig, epoch: usize) -> f64 {
    let lr = cfg.learning_rate;
    match cfg.schedule {
        Schedule::Constant => lr,
        Schedule::Cosine => {
            let t = epoch as f64 / cfg.epochs.max(1) as f64;
            let floor = 0.01 * lr;
            floor + (lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        }
        Schedule::Step => lr * 0.5f64.powi((epoch / cfg.step_epochs.max(1)) as i32),
    }
}

/// Where progress goes.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl Progress {
    /// A bar on a terminal; plain lines otherwise; nothing with `quiet`.
    pub fn new(epochs: usize, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(epochs as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] epoch {pos}/{len} {msg} (eta {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix("training");
            bar
        });
        Progress { bar, quiet }
    }

    fn epoch(&self, e: &Epoch, metric: &str) {
        let msg = format!(
            "loss {:.4}/{:.4} (train/val) val {metric} {:.4}",
            e.train_loss, e.val_loss, e.val_metric
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(e.epoch as u64);
                bar.set_message(msg);
            }
            None if !self.quiet && (e.epoch == 1 || e.epoch % 10 == 0) => {
                eprintln!("epoch {:>4}: {msg}", e.epoch)
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One training run: the data, the problem, the settings and where the
/// progress goes.
pub struct Job<'a, B: AutodiffBackend> {
    /// Rows the optimizer sees.
    pub train: &'a Split,
    /// Rows that choose the best epoch.
    pub val: &'a Split,
    /// What is predicted.
    pub problem: &'a Problem,
    /// Optimizer, epochs, schedule, loss.
    pub cfg: &'a TrainingConfig,
    /// Seed of the shuffling and of the input noise.
    pub seed: u64,
    /// Where progress goes.
    pub progress: &'a Progress,
    /// Where tensors live.
    pub device: &'a B::Device,
    /// Keep the last epoch's weights and run every epoch (a refit with a
    /// number of epochs chosen elsewhere), instead of the best validation
    /// loss with early stopping.
    pub keep_last: bool,
}

/// Trains `net`; returns the best network (on the inner backend) and the
/// learning curve.
pub fn fit<B: AutodiffBackend>(net: Net<B>, job: &Job<'_, B>) -> (Net<B::InnerBackend>, History) {
    let cfg = job.cfg;
    // An MLP on quantiles fixes its input's grid from the rows it trains on.
    let net = net.fit_to_rows(&job.train.x);
    let wd = (cfg.weight_decay > 0.0).then(|| WeightDecayConfig::new(cfg.weight_decay as f32));
    match cfg.optimizer {
        OptimizerKind::Adam => {
            let optim = AdamConfig::new().with_weight_decay(wd).init();
            run(net, optim, job)
        }
        OptimizerKind::Adamw => {
            let optim = AdamWConfig::new()
                .with_weight_decay(cfg.weight_decay as f32)
                .init();
            run(net, optim, job)
        }
        OptimizerKind::Sgd => {
            let momentum = MomentumConfig {
                momentum: cfg.momentum,
                dampening: 0.0,
                nesterov: false,
            };
            let optim = SgdConfig::new()
                .with_momentum(Some(momentum))
                .with_weight_decay(wd)
                .init();
            run(net, optim, job)
        }
    }
}

fn run<B: AutodiffBackend, O: Optimizer<Net<B>, B>>(
    mut net: Net<B>,
    mut optim: O,
    job: &Job<'_, B>,
) -> (Net<B::InnerBackend>, History) {
    let Job {
        train,
        val,
        problem: p,
        cfg,
        seed,
        progress,
        device,
        keep_last,
    } = *job;
    let start = Instant::now();
    let mut rng = Rng(seed ^ 0xB47C_4E55);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut best: Option<(f64, Net<B::InnerBackend>, usize)> = None;
    let mut epochs = Vec::new();
    let mut stopped_early = false;
    let metric = if p.classes > 0 { "accuracy" } else { "MAE" };
    for epoch in 0..cfg.epochs {
        let lr = learning_rate(cfg, epoch);
        rng.shuffle(&mut order);
        let (mut loss_sum, mut weight_sum, mut metric_total) = (0.0, 0.0, 0.0);
        for rows in order.chunks(cfg.batch_size.max(1)) {
            let x = batch_tensor::<B>(train, rows, p, Some((&mut rng, cfg.input_noise)), device);
            let out = net.forward_train(x, &mut rng);
            metric_total += metric_sum(out.clone().detach(), train, rows, p);
            let (l, w) = loss(out, train, rows, p, cfg, device);
            let w_value = scalar(w.clone());
            let mean = l.div(w);
            loss_sum += scalar(mean.clone().detach()) * w_value;
            weight_sum += w_value;
            let grads = GradientsParams::from_grads(mean.backward(), &net);
            net = optim.step(lr, net, grads);
        }
        let valid = net.valid();
        let (val_loss, val_metric) = evaluate::<B::InnerBackend>(&valid, val, p, cfg, device);
        let e = Epoch {
            epoch: epoch + 1,
            train_loss: loss_sum / weight_sum.max(1e-12),
            train_metric: metric_total / train.len().max(1) as f64,
            val_loss,
            val_metric,
            learning_rate: lr,
        };
        progress.epoch(&e, metric);
        epochs.push(e);
        let improved = keep_last || best.as_ref().is_none_or(|(b, _, _)| val_loss < *b);
        if improved {
            best = Some((val_loss, valid, epoch + 1));
        } else if !keep_last && epoch + 1 - best.as_ref().map_or(0, |b| b.2) >= cfg.patience.max(1)
        {
            stopped_early = true;
            break;
        }
    }
    progress.finish();
    let (_, net, best_epoch) = best.unwrap_or_else(|| (f64::NAN, net.valid(), 0));
    (
        net,
        History {
            epochs,
            best_epoch,
            stopped_early,
            seconds: start.elapsed().as_secs_f64(),
        },
    )
}
