//! The model search `vigie train` runs when no `--config` is given: seeded
//! candidates that fit the device budget, compared by successive halving
//! (k-fold cross-validation of the training rows when they are few, the
//! held-out validation split otherwise), and the chosen one trained on
//! every training row for the chosen number of epochs.
//!
//! The search is deterministic: its time budget is turned into an amount
//! of work (multiply-accumulates of training) with a throughput measured
//! once on the reference machine, never with a clock, so the same seed
//! gives the same model file on any machine. The clock only tells the
//! user how long is left.

use std::time::Instant;

use anyhow::{bail, Result};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use vigie_core::Model;

use crate::rng::Rng;
use crate::training::config::{Config, ModelKind, Schedule};
use crate::training::fit::{self, History, Problem, Progress, Split};
use crate::training::net::{export, Architecture, ExportInfo, Net};

/// What the device can give the model. A candidate that does not fit is
/// never trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Bytes of flash for the model file (its device copy).
    pub flash: usize,
    /// Bytes of RAM for the inference arena and the monitor state.
    pub ram: usize,
    /// Most multiply-accumulates per inference.
    pub macs: Option<u64>,
    /// Most Cortex-M4F instructions per inference, estimated from the
    /// instructions per MAC measured in QEMU for each layer kind.
    pub instructions: Option<u64>,
}

/// Share of a device's flash and RAM the model may take by default: the
/// rest is the application's.
const DEVICE_SHARE: usize = 4;

/// Cortex-M4F instructions (the DSP extension, FPU) of one inference of
/// `model`, summed over its layers from the costs the firmware measures in
/// QEMU (`cost by layer:` lines of `cd firmware-demo && cargo run
/// --release [--features digits]`, 2026-11-30; input quantization
/// 2026-12-01): dense and convolution
/// layers per MAC (the SXTB16/SMLAD loops) and per output value (the
/// requantization and each dot product's set-up, which weigh on short
/// dot products), input quantization and pooling per value read, quantile
/// pooling per channel and per value. `tests/tests/firmware_matches_host.rs`
/// holds it within [`ESTIMATE_TOLERANCE`] of the firmware's measured
/// inference for its two models.
pub fn estimated_instructions(model: &Model) -> u64 {
    let shape_len = |s: Option<vigie_core::validate::Shape>| s.map_or(0, |s| s.len()) as f64;
    let mut total =
        INSTRUCTIONS_PER_INPUT + INSTRUCTIONS_PER_INPUT_VALUE * model.input_len() as f64;
    let mut inputs = model.input_len() as f64;
    let mut i = 0;
    while let Some(kind) = model.layer_kind(i) {
        let outputs = shape_len(model.layer_output_shape(i));
        let macs = model.layer_macs(i).unwrap_or(0) as f64;
        total += match kind {
            "dense" | "dense16" => {
                INSTRUCTIONS_PER_DENSE_MAC * macs + INSTRUCTIONS_PER_DENSE_OUTPUT * outputs
            }
            "conv1d" => INSTRUCTIONS_PER_CONV_MAC * macs + INSTRUCTIONS_PER_CONV_OUTPUT * outputs,
            "max_pool1d" | "avg_pool1d" => INSTRUCTIONS_PER_POOLED_VALUE * inputs,
            "global_avg_pool1d" => INSTRUCTIONS_PER_GLOBAL_POOLED_VALUE * inputs,
            "quantiles1d" => {
                let x = match i {
                    0 => Some(model.input_shape()),
                    _ => model.layer_output_shape(i - 1),
                };
                x.map_or(0.0, |x| {
                    x.channels as f64
                        * (INSTRUCTIONS_PER_QUANTILE_CHANNEL
                            + INSTRUCTIONS_PER_QUANTILE_VALUE * x.length as f64)
                })
            }
            "flatten" => 0.0,
            "trees" => match model.def().layers.get(i) {
                Some(vigie_core::format::LayerDef::Trees(t)) => {
                    let trees = t.trees() as f64;
                    trees
                        * (INSTRUCTIONS_PER_TREE
                            + INSTRUCTIONS_PER_TREE_LEVEL * mean_walk(t)
                            + INSTRUCTIONS_PER_TREE_SCORE * t.classes as f64)
                }
                _ => 0.0,
            },
            // The imported models' kinds, which the search never builds:
            // their MACs at the convolution's rate.
            _ => INSTRUCTIONS_PER_CONV_MAC * macs + INSTRUCTIONS_PER_CONV_OUTPUT * outputs,
        };
        inputs = outputs;
        i += 1;
    }
    total as u64
}

/// How far [`estimated_instructions`] may be from the firmware's measured
/// inference (a share of the measured figure): the per-layer rates are
/// fitted on these two models' layers, and a model's other shapes
/// (longer or shorter dot products) move them by a few percent.
pub const ESTIMATE_TOLERANCE: f64 = 0.10;

/// The float-to-int8 input map: a fixed cost and one per raw value
/// (BasicMotions, 600 values: 14,640 instructions; digits, 64 at 16 bits:
/// 2,560).
const INSTRUCTIONS_PER_INPUT: f64 = 1100.0;
const INSTRUCTIONS_PER_INPUT_VALUE: f64 = 22.5;
/// Dense layers: per MAC the loop of two rows by four groups (46
/// instructions per 32 MACs), per output its requantization and share of
/// the pass set-up (dense 256→64: 28,760 instructions; digits 64→64,
/// 11,000).
const INSTRUCTIONS_PER_DENSE_MAC: f64 = 1.45;
const INSTRUCTIONS_PER_DENSE_OUTPUT: f64 = 80.0;
/// Convolutions: per MAC the two-filters-by-two-positions loop, per output
/// its requantization and share of the patch gathering (BasicMotions:
/// 6 channels × kernel 5 → 16 filters over 100 positions, 187,240
/// instructions; 16 × 5 → 16 over 50, 148,280).
const INSTRUCTIONS_PER_CONV_MAC: f64 = 1.37;
const INSTRUCTIONS_PER_CONV_OUTPUT: f64 = 76.0;
/// Pooling by 2, per value read (6,800 for 1,600 values, 3,600 for 800).
const INSTRUCTIONS_PER_POOLED_VALUE: f64 = 4.5;
/// Global average pooling, per value read (3,320 for 400).
const INSTRUCTIONS_PER_GLOBAL_POOLED_VALUE: f64 = 8.3;
/// Quantile pooling has no MACs: a fixed cost per channel (clearing and
/// walking its 256-bin count) and a cost per value, fitted to the QEMU
/// figure of 6 channels × 100 values read at 32 quantiles, 22,600
/// instructions (`./test.sh`, firmware costs).
const INSTRUCTIONS_PER_QUANTILE_CHANNEL: f64 = 2900.0;
const INSTRUCTIONS_PER_QUANTILE_VALUE: f64 = 8.0;

/// Trees: per tree its root and leaf look-up, per level walked one node
/// test, per class one score added to its accumulator. QEMU (`./test.sh`
/// firmware costs) measures 312 instructions a tree for complete trees of
/// depth 6 over 32 features and 10 classes; the split between the three
/// rates is assumed (a node test is about 20 instructions: five byte
/// loads, a compare and a branch), the total is the measured one.
const INSTRUCTIONS_PER_TREE: f64 = 60.0;
const INSTRUCTIONS_PER_TREE_LEVEL: f64 = 20.0;
const INSTRUCTIONS_PER_TREE_SCORE: f64 = 13.0;

/// The mean number of splits a walk through one of `t`'s trees tests, each
/// split sending half the inputs each way (a leaf at depth `d` is reached
/// with probability `2^−d`).
fn mean_walk(t: &vigie_core::format::TreesDef<'_>) -> f64 {
    let n = t.node_count();
    let mut depth = vec![0u32; n];
    let mut walked = 0.0;
    for i in 0..n {
        match t.node(i) {
            Some((vigie_core::format::TREE_LEAF, _, _)) => {
                walked += depth[i] as f64 * 0.5f64.powi(depth[i] as i32);
            }
            Some((_, _, right)) => {
                let below = depth[i] + 1;
                for child in [i + 1, right as usize] {
                    if let Some(d) = depth.get_mut(child) {
                        *d = below;
                    }
                }
            }
            None => {}
        }
    }
    walked / t.trees().max(1) as f64
}

impl Default for Budget {
    /// Room for an application: a model file of at most 128 KiB, and at
    /// most 64 KiB of arena plus monitor state.
    fn default() -> Self {
        Budget {
            flash: 128 * 1024,
            ram: 64 * 1024,
            macs: None,
            instructions: None,
        }
    }
}

impl Budget {
    /// An `--mcu`: `nrf52840` (1 MiB flash, 256 KiB RAM), `stm32f411`
    /// (512 KiB, 128 KiB) or `cortex-m4f:FLASH,RAM` (sizes in bytes, or
    /// with a `K` or `M` suffix). The model may take a quarter of each.
    pub fn for_target(target: &str) -> Result<Budget> {
        let (flash, ram) = match target.trim().to_ascii_lowercase().as_str() {
            "nrf52840" => (1024 * 1024, 256 * 1024),
            "stm32f411" => (512 * 1024, 128 * 1024),
            other => {
                let Some(sizes) = other.strip_prefix("cortex-m4f:") else {
                    bail!("--mcu {target}: use nrf52840, stm32f411 or cortex-m4f:FLASH,RAM (for example cortex-m4f:512K,128K)");
                };
                let Some((f, r)) = sizes.split_once(',') else {
                    bail!("--mcu {target}: give the flash and the RAM, as cortex-m4f:512K,128K");
                };
                (size(f, "--mcu")?, size(r, "--mcu")?)
            }
        };
        Ok(Budget {
            flash: flash / DEVICE_SHARE,
            ram: ram / DEVICE_SHARE,
            macs: None,
            instructions: None,
        })
    }

    /// Why a model of these sizes does not fit, if it does not.
    pub fn misfit(&self, f: &Footprint) -> Option<String> {
        if f.flash > self.flash {
            return Some(format!("{} bytes of flash > {}", f.flash, self.flash));
        }
        if f.ram > self.ram {
            return Some(format!("{} bytes of RAM > {}", f.ram, self.ram));
        }
        if let Some(m) = self.macs.filter(|&m| f.macs > m) {
            return Some(format!("{} MACs > {m}", f.macs));
        }
        if let Some(i) = self.instructions.filter(|&i| f.instructions > i) {
            return Some(format!("{} instructions > {i}", f.instructions));
        }
        None
    }
}

/// A size such as `512K`, `1M` or `65536`.
pub fn size(text: &str, context: &str) -> Result<usize> {
    let t = text.trim().to_ascii_uppercase();
    let (digits, unit) = match t.strip_suffix("KIB").or_else(|| t.strip_suffix('K')) {
        Some(d) => (d, 1024),
        None => match t.strip_suffix("MIB").or_else(|| t.strip_suffix('M')) {
            Some(d) => (d, 1024 * 1024),
            None => (t.as_str(), 1),
        },
    };
    match digits.trim().parse::<usize>().ok().and_then(|n| n.checked_mul(unit)) {
        Some(n) if n > 0 => Ok(n),
        _ => bail!("{context}: `{text}` is not a size; write bytes, or a number with K or M (such as 128K)"),
    }
}

/// What a network takes on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footprint {
    /// Bytes of flash: the network, plus the monitor's reserve.
    pub flash: usize,
    /// Bytes of RAM: the arena, plus the monitor's reserve.
    pub ram: usize,
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// Estimated Cortex-M4F instructions per inference.
    pub instructions: u64,
}

/// The footprint of `arch`, measured on the real int8 file its weights
/// would give (random weights: sizes do not depend on their values).
pub fn footprint<B: burn::tensor::backend::Backend>(
    arch: &Architecture,
    info: &ExportInfo,
    reserve: (usize, usize),
    device: &B::Device,
) -> Result<Footprint> {
    let net: Net<B> = arch.init(0.0, &mut Rng(1), device);
    let weighted = arch.filters.len() + arch.hidden.len() + 1;
    let unit = vigie_core::builder::Range {
        min: -1.0,
        max: 1.0,
    };
    let float = export(&net, info, unit, &vec![unit; weighted]);
    let quantized = float.quantize()?;
    let bytes = quantized.to_bytes();
    let model = Model::from_def(quantized.def())?;
    let macs = model.macs();
    let instructions = estimated_instructions(&model);
    Ok(Footprint {
        flash: bytes.len() + reserve.0,
        ram: model.arena_len() + reserve.1,
        macs,
        instructions,
    })
}

/// Each convolution block of `arch`: its input length and channels, and
/// its filters (every block halves the length).
fn conv_blocks(arch: &Architecture) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let (mut len, mut c_in) = (arch.length / arch.downsample.max(1), arch.channels);
    arch.filters.iter().map(move |&f| {
        let block = (len, c_in, f);
        (len, c_in) = (len / 2, f);
        block
    })
}

/// One trained candidate at one rung of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The candidate's number (0-based, in the order drawn).
    pub candidate: usize,
    /// What it is, briefly (`cnn 32-32 k7 /2, lr 0.003, dropout 0.1`).
    pub label: String,
    /// The rung (0: the first, with the fewest epochs).
    pub rung: usize,
    /// Epochs trained at this rung.
    pub epochs: usize,
    /// Validation accuracy (classification) or MAE in standard deviations
    /// of the target (regression) over the last epochs, averaged over folds.
    pub score: f64,
    /// Validation loss at the end of the run, averaged over folds.
    pub val_loss: f64,
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// Flash bytes of the device file (network and monitor reserve).
    pub flash: usize,
    /// RAM bytes (arena and monitor reserve).
    pub ram: usize,
}

/// The search, as stored in the training report and drawn on the card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Every trial, rung by rung.
    pub trials: Vec<Trial>,
    /// The chosen candidate.
    pub chosen: usize,
    /// The budget candidates had to fit.
    pub budget: Budget,
    /// How candidates were compared.
    pub selection: String,
    /// Candidates drawn that did not fit the budget, with why.
    pub rejected: Vec<String>,
    /// Folds (1: the held-out validation split).
    pub folds: usize,
    /// Estimated work of the search, in training MACs (the deterministic
    /// stand-in for its time budget).
    pub work: f64,
    /// `accuracy` or `MAE`.
    pub metric: String,
    /// The work the time budget allowed.
    pub work_budget: f64,
    /// Epochs of the final training.
    pub epochs: usize,
    /// The activation-range calibrations tried on the final network, with
    /// their int8 model's agreement with the float network on training
    /// rows (the share of equal decisions less a tie-break by the class
    /// probabilities' distance, or −mean absolute difference); the best is
    /// stored.
    #[serde(default)]
    pub calibrations: Vec<(String, f64)>,
}

/// How the search is run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// The device budget.
    pub budget: Budget,
    /// Seconds of training the search may plan for on the reference
    /// machine (2-core x86-64, burn-flex).
    pub time_budget: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            budget: Budget::default(),
            time_budget: 120.0,
        }
    }
}

/// Training MACs per second of burn-flex on the reference machine (2
/// cores), forward and backward counted as 3 × the inference MACs:
/// OSULeaf, CNN 32-32-32 k7, 20 epochs of 180 rows, 25.7 G in 4.2 s;
/// digits, MLP 128-64, 100 epochs of 1,293 rows, 6.6 G in 0.61 s.
const TRAINING_MACS_PER_SECOND: f64 = 6.0e9;
/// Fixed cost of one row of one epoch (batching, copies, the validation
/// pass), in MAC equivalents.
const ROW_OVERHEAD_MACS: f64 = 1.0e4;
/// Cost of one element of a convolution's output in training (batch
/// normalization, ReLU, pooling, dropout, forward and backward), in MAC
/// equivalents: OSULeaf, CNN 32-32 k9 /2 with batch normalization, 200
/// epochs of 180 rows took 62 s, 1.2 ms a row beyond its MACs for 10,200
/// output elements. Measured with burn's own batch normalization; the
/// one of `net::batch_norm` trains such a network about a third faster,
/// and the figure is kept as the margin that a slower machine needs to
/// stay within the 3 minutes of a default training (OSULeaf: 158 s on a
/// machine where the same run took 218 s before).
const ELEMENT_MACS: f64 = 700.0;

/// Training work of one row for one epoch, in MAC equivalents: forward and
/// backward (3 × the inference MACs), the per-element work of the
/// convolutions' outputs, and a fixed overhead.
fn row_work(arch: &Architecture, macs: u64) -> f64 {
    let elements: usize = conv_blocks(arch).map(|(len, _, f)| len * f).sum();
    3.0 * macs as f64 + ELEMENT_MACS * elements as f64 + ROW_OVERHEAD_MACS
}
/// Training rows at or below which candidates are compared by k-fold
/// cross-validation: a validation split of them would be a handful of rows.
const KFOLD_ROWS: usize = 600;
/// Folds of that cross-validation.
const FOLDS: usize = 3;
/// Optimizer steps the longest rung aims for.
const TARGET_STEPS: usize = 6000;
/// Epochs of the shortest rung, at least: a regularized network (dropout,
/// weight decay) learns more slowly at first, and a rung of a few epochs
/// would only keep the fastest learners.
const MIN_RUNG_EPOCHS: usize = 20;
/// Bounds of the epochs of the longest rung.
const MIN_EPOCHS: usize = 30;
const MAX_EPOCHS: usize = 400;
/// Candidates drawn, and the share kept at each rung (successive halving
/// with η = 3: 9 → 3 → 1).
const CANDIDATES: usize = 9;
const ETA: usize = 3;
const RUNGS: usize = 3;

/// Rows per mini-batch for `rows` training rows: about 64 steps an epoch,
/// between 16 and 256 rows.
pub fn batch_size(rows: usize) -> usize {
    (rows / 64).clamp(16, 256).next_power_of_two().min(256)
}

/// Epochs of the longest rung for `rows` training rows.
pub fn max_epochs(rows: usize) -> usize {
    let steps = rows.div_ceil(batch_size(rows)).max(1);
    (TARGET_STEPS / steps).clamp(MIN_EPOCHS, MAX_EPOCHS)
}

fn label(cfg: &Config, arch: &Architecture) -> String {
    let t = &cfg.training;
    let net = if arch.is_cnn() {
        let f: Vec<String> = arch.filters.iter().map(|n| n.to_string()).collect();
        let head = if arch.hidden.is_empty() {
            String::new()
        } else {
            format!(" head {:?}", arch.hidden)
        };
        let down = if arch.downsample > 1 {
            format!(" /{}", arch.downsample)
        } else {
            String::new()
        };
        format!("cnn {} k{}{down}{head}", f.join("-"), arch.kernel)
    } else {
        let h: Vec<String> = arch.hidden.iter().map(|n| n.to_string()).collect();
        let read = if arch.quantiles > 0 {
            format!(" on {} quantiles", arch.quantiles)
        } else {
            String::new()
        };
        format!("mlp {}{read}", h.join("-"))
    };
    format!(
        "{net}, lr {}, dropout {}, decay {}",
        t.learning_rate, cfg.model.dropout, t.weight_decay
    )
}

fn pick<T: Clone>(rng: &mut Rng, options: &[T]) -> T {
    options[rng.below(options.len())].clone()
}

/// Draws one candidate configuration for the data's shape.
fn draw(rng: &mut Rng, base: &Config, length: usize) -> Config {
    let mut c = base.clone();
    let windows = length > 1;
    // A window may be told by its values in time order (an MLP on the raw
    // window; the budget rejects one too large for the device) or by its
    // value distribution alone (an MLP on each channel's quantiles),
    // whatever its length.
    let family = if windows { rng.uniform() } else { 1.0 };
    let quantiles = windows && length >= 16 && family < 0.3;
    let mlp = !windows || family < 0.55;
    if mlp {
        c.model.quantiles = if quantiles {
            pick(rng, &[16, 32, 64]).min(length)
        } else {
            0
        };
        c.model.kind = ModelKind::Mlp;
        c.model.hidden = pick(
            rng,
            &[
                vec![32],
                vec![64],
                vec![128],
                vec![64, 32],
                vec![128, 64],
                vec![256, 128],
            ],
        );
        c.model.dropout = pick(rng, &[0.0, 0.1, 0.2]);
        c.training.weight_decay = pick(rng, &[0.0, 1e-4, 1e-3]);
    } else {
        c.model.kind = ModelKind::Cnn;
        let downs: Vec<usize> = [1, 2, 4, 8]
            .into_iter()
            .filter(|&d| d == 1 || length / d >= 64)
            .collect();
        c.model.downsample = pick(rng, &downs);
        let reach = (length / c.model.downsample).max(1);
        let depths: Vec<Vec<usize>> = [
            vec![16, 16],
            vec![32, 32],
            vec![16, 32, 32],
            vec![32, 32, 32],
            vec![32, 64, 64],
        ]
        .into_iter()
        .filter(|f| reach >> f.len() >= 2)
        .collect();
        c.model.filters = if depths.is_empty() {
            vec![16]
        } else {
            pick(rng, &depths)
        };
        c.model.kernel = pick(rng, &[3, 5, 7, 9]);
        c.model.head = pick(rng, &[vec![], vec![32]]);
        // Batch normalization makes small CNNs converge in the few epochs a
        // search affords; it is folded into the convolutions for the device.
        c.model.batch_norm = true;
        c.model.dropout = pick(rng, &[0.0, 0.1]);
        c.training.weight_decay = pick(rng, &[0.0, 1e-4]);
    }
    c.training.learning_rate = pick(rng, &[1e-3, 3e-3, 1e-2]);
    c.training.schedule = Schedule::Cosine;
    c
}

/// The final training on every row after cross-validation, from a
/// candidate's `work` at its last rung over `folds` folds (each of
/// `(FOLDS − 1) / FOLDS` of the rows).
fn refit(work: f64, folds: usize) -> f64 {
    work / folds as f64 * FOLDS as f64 / (FOLDS - 1) as f64
}

/// Seconds left in a search at candidate `next` of `alive` in `rung`
/// (`run(j, r)`: candidate `j`'s family and work at rung `r`): the rest of
/// this rung, then at each later rung as many survivors as halving keeps,
/// taken among the most expensive (the winners are not known yet), and
/// after cross-validation the final training of the most expensive on
/// every row, each at its family's measured [`Pace`]: the planned work of
/// `planned_with`, from where the search is.
fn seconds_left(
    pace: &Pace,
    (rung, next): (usize, usize),
    alive: &[usize],
    run: &dyn Fn(usize, usize) -> (usize, f64),
    folds: usize,
) -> f64 {
    let at = |j: usize, r: usize| {
        let (f, w) = run(j, r);
        w * pace.rate(f)
    };
    let mut left: f64 = alive.iter().skip(next).map(|&j| at(j, rung)).sum();
    let mut count = alive.len();
    for r in rung + 1..RUNGS {
        count = count.div_ceil(ETA).max(1);
        let mut costs: Vec<f64> = alive.iter().map(|&j| at(j, r)).collect();
        costs.sort_unstable_by(|a, b| b.total_cmp(a));
        left += costs.iter().take(count).sum::<f64>();
    }
    if folds > 1 {
        left += alive
            .iter()
            .map(|&j| refit(at(j, RUNGS - 1), folds))
            .fold(0.0, f64::max);
    }
    left
}

/// Stratified folds of `n` rows (by class when `classes` is not empty).
fn folds(n: usize, classes: &[usize], k: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    if !classes.is_empty() {
        order.sort_by_key(|&r| classes[r]);
    }
    let mut out = vec![Vec::new(); k];
    for (i, r) in order.into_iter().enumerate() {
        out[i % k].push(r);
    }
    out
}

/// Where one candidate is evaluated: pairs of (training rows, validation
/// rows).
struct Plan {
    pairs: Vec<(Split, Split)>,
    selection: String,
}

fn plan(train: &Split, val: &Split, p: &Problem, seed: u64, kfold: bool) -> Plan {
    let n = train.len();
    if kfold {
        let width = p.channels * p.length;
        let fs = folds(n, &train.classes, FOLDS, &mut Rng(seed ^ 0xF01D));
        let pairs = (0..FOLDS)
            .map(|k| {
                let rest: Vec<usize> = (0..FOLDS)
                    .filter(|&j| j != k)
                    .flat_map(|j| fs[j].iter().copied())
                    .collect();
                (train.select(&rest, width), train.select(&fs[k], width))
            })
            .collect();
        Plan {
            pairs,
            selection: format!("{FOLDS}-fold cross-validation of the {n} training rows"),
        }
    } else {
        Plan {
            pairs: vec![(train.clone(), val.clone())],
            selection: format!("the held-out validation split ({} rows)", val.len()),
        }
    }
}

/// Epochs at the end of a run whose validation figures are averaged into
/// its score: the model shipped is the last epoch's, after the schedule
/// has annealed, and one lucky epoch of a small fold must not choose.
const END_EPOCHS: usize = 5;

/// The score of a run over its folds: the validation metric (accuracy, or
/// −MAE so that higher is better) and loss averaged over the last epochs
/// of every fold.
fn end_score(histories: &[History], classification: bool) -> (f64, f64) {
    let (mut metric, mut loss, mut n) = (0.0, 0.0, 0usize);
    for h in histories {
        let tail = &h.epochs[h.epochs.len().saturating_sub(END_EPOCHS)..];
        for e in tail {
            metric += if classification {
                e.val_metric
            } else {
                -e.val_metric
            };
            loss += e.val_loss;
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    (metric / n, loss / n)
}

/// What the search hands back.
pub struct Outcome<B: AutodiffBackend> {
    /// The chosen configuration, with the final number of epochs.
    pub config: Config,
    /// The search trace.
    pub trace: Trace,
    /// With a held-out validation split, the last rung's winner, trained
    /// on the training split with the chosen configuration: it is the
    /// final model. `None` after cross-validation: the chosen
    /// configuration is then trained on every training row.
    pub trained: Option<(Net<B::InnerBackend>, History)>,
}

/// Seconds per unit of planned work, measured during the search for each
/// family of network: burn's convolutions and normalizations cost more
/// per MAC than its matrix products, and on another machine all of them
/// do, so the time left is estimated from what each family took here.
#[derive(Default)]
struct Pace {
    seconds: [f64; FAMILIES],
    work: [f64; FAMILIES],
}

/// Families of network that [`Pace`] times apart.
const FAMILIES: usize = 3;

/// The family of `arch`: an MLP on the raw input, an MLP on quantiles, a
/// CNN.
fn family(arch: &Architecture) -> usize {
    if !arch.filters.is_empty() {
        2
    } else if arch.quantiles > 0 {
        1
    } else {
        0
    }
}

impl Pace {
    fn add(&mut self, family: usize, seconds: f64, work: f64) {
        self.seconds[family] += seconds;
        self.work[family] += work;
    }

    /// Seconds per unit of work of `family`: its own measure, else the
    /// reference machine's (the cost model is fitted per family, and one
    /// family's pace says little about another's: on OSULeaf, the first
    /// quantile MLPs' pace applied to every family put the search at
    /// 1,006 s, where it took 160 s).
    fn rate(&self, family: usize) -> f64 {
        if self.work[family] > 0.0 {
            self.seconds[family] / self.work[family]
        } else {
            1.0 / TRAINING_MACS_PER_SECOND
        }
    }
}

/// Window quantiles a forest may read (at most the window's length).
const TREE_QUANTILES: [usize; 3] = [16, 32, 64];
/// Flash a tree model's file takes beside its nodes (header, input map,
/// names, roots, leaf rows): kept free when the nodes are budgeted.
const TREE_FILE_OVERHEAD: usize = 4 * 1024;

/// Forests of extremely randomized trees on each window's quantiles at a
/// few counts (none for tabular rows or short windows), grown and
/// scored on the folds of `plan`: trials at the last rung, numbered after
/// the `drawn` networks, with the configuration each stands for.
#[allow(clippy::too_many_arguments)]
fn tree_trials(
    plan: &Plan,
    p: &Problem,
    base: &Config,
    settings: &Settings,
    reserve: (usize, usize),
    seed: u64,
    drawn: usize,
    quiet: bool,
) -> Result<Vec<(Trial, Config)>> {
    use crate::training::trees;
    let shape = (p.channels, p.length);
    // Windows only: a window's quantiles are exact in int8 (rank selection
    // commutes with the input's rounding), where a tabular column read at
    // 256 levels loses what the MLP's 16-bit input keeps (wine quality:
    // trees won the folds at 0.648 and lost the test split, 0.616 against
    // the MLP's 0.644). `model.kind = "trees"` still grows them there.
    if p.length < TREE_QUANTILES[0] {
        return Ok(Vec::new());
    }
    let readings: Vec<usize> = TREE_QUANTILES.iter().map(|&q| q.min(p.length)).collect();
    let flash = settings
        .budget
        .flash
        .saturating_sub(reserve.0 + TREE_FILE_OVERHEAD);
    let params = trees::params(base.model.trees, flash);
    let mut out: Vec<(Trial, Config)> = Vec::new();
    for (k, &q) in readings.iter().enumerate() {
        if out.iter().any(|(_, c)| c.model.quantiles == q) {
            continue;
        }
        let (mut accuracy, mut loss, mut nodes) = (0.0, 0.0, 0usize);
        for (f, (tr, va)) in plan.pairs.iter().enumerate() {
            let grown = trees::grow_on(
                &tr.x,
                &tr.classes,
                shape,
                p.classes,
                q,
                params,
                seed ^ (k as u64) << 8 ^ f as u64,
            )?;
            let (a, l) = grown.score(&va.x, &va.classes, shape)?;
            accuracy += a;
            loss += l;
            nodes = nodes.max(grown.forest.nodes());
        }
        let folds = plan.pairs.len().max(1) as f64;
        let mut cfg = base.clone();
        cfg.model.kind = ModelKind::Trees;
        cfg.model.quantiles = q;
        cfg.model.trees = params.trees;
        let width = p.channels * if q > 0 { q } else { p.length };
        let label = format!(
            "extra trees {} on {}",
            params.trees,
            if q > 0 {
                format!("{q} quantiles")
            } else {
                "the input levels".into()
            }
        );
        let trial = Trial {
            candidate: drawn + k,
            label,
            rung: RUNGS - 1,
            epochs: 0,
            score: accuracy / folds,
            val_loss: loss / folds,
            macs: 0,
            flash: nodes * vigie_core::format::TREE_NODE_BYTES + TREE_FILE_OVERHEAD + reserve.0,
            ram: p.channels * p.length + width + 4 * p.classes + reserve.1,
        };
        if !quiet {
            eprintln!(
                "search: {} ({} folds): accuracy {:.4}, log-loss {:.4}",
                trial.label,
                plan.pairs.len(),
                trial.score,
                trial.val_loss
            );
        }
        out.push((trial, cfg));
    }
    Ok(out)
}

/// A candidate that fits the budget.
struct Candidate {
    /// Its number in the order drawn.
    draw: usize,
    /// Training work of one row for one epoch, in MAC equivalents.
    row_work: f64,
    config: Config,
    arch: Architecture,
    footprint: Footprint,
    label: String,
}

/// Runs the search and returns the configuration to train on every
/// training row. `reserve` is the flash and RAM of the monitor beside the
/// network: it depends on the inputs and classes, not on the network, so
/// every candidate carries the same.
#[allow(clippy::too_many_arguments)]
pub fn search<B: AutodiffBackend>(
    base: &Config,
    settings: &Settings,
    train: &Split,
    val: &Split,
    p: &Problem,
    info: &ExportInfo,
    reserve: (usize, usize),
    seed: u64,
    quiet: bool,
    threads: Option<usize>,
    device: &B::Device,
) -> Result<Outcome<B>> {
    let outputs = if p.classes > 0 { p.classes } else { 1 };
    let classification = p.classes > 0;
    let mut rng = Rng(seed ^ 0x5EA2_C400);
    // Draw candidates that fit; the library default first, when it fits.
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut rejected = Vec::new();
    let mut smallest: Option<(usize, String)> = None;
    let mut seen = std::collections::HashSet::new();
    let mut drawn = 0;
    while candidates.len() < CANDIDATES && drawn < CANDIDATES * 12 {
        let mut cfg = if drawn == 0 {
            // The library default, with the batch normalization every CNN
            // candidate has.
            let mut c = base.clone();
            c.model.batch_norm = true;
            c
        } else {
            draw(&mut rng, base, p.length)
        };
        drawn += 1;
        cfg.training.batch_size = batch_size(train.len());
        let arch = match Architecture::new(&cfg.model, p.channels, p.length, outputs) {
            Ok(a) => a,
            Err(e) => {
                rejected.push(format!("{:?}: {e}", cfg.model.kind));
                continue;
            }
        };
        let label = label(&cfg, &arch);
        if !seen.insert(label.clone()) {
            continue;
        }
        // A shape the device refuses is a candidate less, not an error of
        // the whole training.
        let fp = match footprint::<B::InnerBackend>(&arch, info, reserve, device) {
            Ok(fp) => fp,
            Err(e) => {
                rejected.push(format!("{label}: {e:#}"));
                continue;
            }
        };
        if let Some(why) = settings.budget.misfit(&fp) {
            if smallest.as_ref().is_none_or(|(f, _)| fp.flash < *f) {
                smallest = Some((fp.flash, format!("{label}: {why}")));
            }
            rejected.push(format!("{label}: {why}"));
            continue;
        }
        candidates.push(Candidate {
            draw: drawn - 1,
            row_work: row_work(&arch, fp.macs),
            config: cfg,
            arch,
            footprint: fp,
            label,
        });
    }
    if candidates.is_empty() {
        bail!(
            "no network fits the device budget ({} bytes of flash, {} of RAM for arena and monitor{}{}); the smallest tried: {}. Give a larger --mcu, --max-flash, --max-ram, --max-macs or --max-instructions, or fewer input columns",
            settings.budget.flash,
            settings.budget.ram,
            settings.budget.macs.map(|m| format!(", {m} MACs")).unwrap_or_default(),
            settings
                .budget
                .instructions
                .map(|i| format!(", {i} instructions"))
                .unwrap_or_default(),
            smallest.as_ref().map_or_else(
                || rejected.first().map_or("none", String::as_str),
                |(_, s)| s.as_str()
            )
        );
    }
    let work_budget = settings.time_budget * TRAINING_MACS_PER_SECOND;
    let rung_epochs = |top: usize| -> Vec<usize> {
        (0..RUNGS)
            .map(|r| (top / ETA.pow((RUNGS - 1 - r) as u32)).max(MIN_RUNG_EPOCHS.min(top)))
            .collect()
    };
    // Each candidate's epochs at the last rung: all it can use (`full`)
    // when it is cheap, fewer when it is not, so that a costly network
    // does not cut the epochs of a cheap one. `cap` is the work one
    // candidate may take at the last rung; `floor` the fewest epochs.
    let tops_for =
        |costs: &[f64], folds: usize, rows: usize, full: usize, cap: f64, floor: usize| {
            costs
                .iter()
                .map(|&c| {
                    let affordable = cap / ((folds * rows) as f64 * c).max(1.0);
                    (affordable.min(full as f64) as usize).clamp(floor.min(full), full)
                })
                .collect::<Vec<usize>>()
        };
    // The planned work of `folds` folds of `rows` rows: every candidate at
    // the first rung, then the most expensive runs as survivors (the
    // winners are not known yet), and the final training after
    // cross-validation.
    let planned_with = |folds: usize, rows: usize, costs: &[f64], tops: &[usize]| -> f64 {
        let work_of = |row_work: f64, epochs: usize| (folds * epochs * rows) as f64 * row_work;
        let mut alive = costs.len();
        let searched: f64 = (0..RUNGS)
            .map(|r| {
                let mut works: Vec<f64> = costs
                    .iter()
                    .zip(tops)
                    .map(|(&c, &t)| work_of(c, rung_epochs(t)[r]))
                    .collect();
                works.sort_unstable_by(|a, b| b.total_cmp(a));
                let w: f64 = works[..alive.min(works.len())].iter().sum();
                alive = alive.div_ceil(ETA).max(1);
                w
            })
            .sum();
        let last = if folds > 1 {
            let work = costs
                .iter()
                .zip(tops)
                .map(|(&c, &t)| work_of(c, t))
                .fold(0.0, f64::max);
            refit(work, folds)
        } else {
            0.0
        };
        searched + last
    };
    // The largest per-candidate cap with at least `floor` epochs each
    // that fits the work budget (None: not even the floor fits).
    let fit = |folds: usize, rows: usize, costs: &[f64], floor: usize| -> Option<Vec<usize>> {
        let full = max_epochs(rows);
        let tops = |cap: f64| tops_for(costs, folds, rows, full, cap, floor);
        if planned_with(folds, rows, costs, &tops(0.0)) > work_budget {
            return None;
        }
        let (mut lo, mut hi) = (0.0f64, work_budget);
        for _ in 0..60 {
            let mid = (lo + hi) / 2.0;
            if planned_with(folds, rows, costs, &tops(mid)) <= work_budget {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(tops(lo))
    };
    let costs: Vec<f64> = candidates.iter().map(|c| c.row_work).collect();
    // Cross-validation when the rows are few, and whenever it fits the
    // time budget with every candidate and all its epochs (it ranks
    // candidates on every training row, not on one small split).
    let fold_rows = train.len() * (FOLDS - 1) / FOLDS;
    let full_fold = max_epochs(fold_rows);
    let kfold = train.len() <= KFOLD_ROWS
        || planned_with(FOLDS, fold_rows, &costs, &vec![full_fold; costs.len()]) <= work_budget;
    let plan = plan(train, val, p, seed, kfold);
    let folds = plan.pairs.len();
    let rows_per_fold = plan.pairs[0].0.len();
    let work_of = |row_work: f64, epochs: usize| -> f64 {
        (folds * epochs * rows_per_fold) as f64 * row_work
    };
    let full_epochs = max_epochs(rows_per_fold);
    let macs_of = |cs: &[Candidate]| cs.iter().map(|c| c.row_work).collect::<Vec<_>>();
    // Fit the budget: every candidate gets the same share of work at the
    // last rung, in as many epochs as that share buys, at most all it can
    // use. While that leaves a candidate under half its epochs, the most
    // expensive candidate goes (a few well-trained candidates rank better
    // than many half-trained ones); past ETA candidates, each keeps at
    // least MIN_EPOCHS.
    let half = (full_epochs / 2).max(MIN_EPOCHS);
    let mut tops = fit(folds, rows_per_fold, &macs_of(&candidates), half);
    while tops.is_none() && candidates.len() > ETA {
        let i = (0..candidates.len())
            .max_by(|&a, &b| {
                candidates[a]
                    .row_work
                    .total_cmp(&candidates[b].row_work)
                    .then(a.cmp(&b))
            })
            .unwrap_or(0);
        let c = candidates.remove(i);
        rejected.push(format!("{}: over the time budget", c.label));
        tops = fit(folds, rows_per_fold, &macs_of(&candidates), half);
    }
    let tops = tops
        .or_else(|| fit(folds, rows_per_fold, &macs_of(&candidates), MIN_EPOCHS))
        .unwrap_or_else(|| vec![MIN_EPOCHS.min(full_epochs); candidates.len()]);
    let total_work = planned_with(folds, rows_per_fold, &macs_of(&candidates), &tops);
    let mut pace = Pace::default();
    let mut alive: Vec<usize> = (0..candidates.len()).collect();
    let mut trials: Vec<Trial> = Vec::new();
    let mut final_net = None;
    for rung in 0..RUNGS {
        let mut scored: Vec<(usize, f64, f64)> = Vec::new();
        let last = rung + 1 == RUNGS;
        let epochs_of = |i: usize| rung_epochs(tops[i])[rung];
        // Every (candidate, fold) run of the rung, on every core: each run
        // has its own seeds, so the scores (and the file) are the same on
        // any number of threads. The most expensive first, so that the
        // cores finish together.
        let mut jobs: Vec<(usize, usize)> = alive
            .iter()
            .flat_map(|&i| (0..folds).map(move |f| (i, f)))
            .collect();
        // At the last rung the survivor is known before its folds run: its
        // final training on every training row (what `pipeline` would run
        // next, with the same seeds) runs beside them, as fold `folds`.
        let refit_here = last && folds > 1 && alive.len() == 1;
        if refit_here {
            jobs.push((alive[0], folds));
        }
        let job_work = |&(i, f): &(usize, usize)| {
            let work = work_of(candidates[i].row_work, epochs_of(i)) / folds as f64;
            if f == folds {
                refit(work * folds as f64, folds)
            } else {
                work
            }
        };
        jobs.sort_by(|a, b| job_work(b).total_cmp(&job_work(a)).then(a.cmp(b)));
        if !quiet {
            eprintln!(
                "search: rung {}/{}: {} candidate(s) × {folds} fold(s){}",
                rung + 1,
                RUNGS,
                alive.len(),
                if refit_here {
                    ", and beside them the final training on every training row"
                } else {
                    ""
                }
            );
        }
        let started = Instant::now();
        let runs = crate::parallel::map(jobs.len(), threads, |k| {
            let (i, f) = jobs[k];
            let c = &candidates[i];
            let final_training = f == folds;
            // The final training: all the epochs of the last rung's
            // schedule, on every training row, seeded as `pipeline` seeds
            // it; a fold's run: its own seeds.
            let epochs = if final_training {
                tops[i]
            } else {
                epochs_of(i)
            };
            let mut cfg = c.config.training.clone();
            cfg.epochs = epochs;
            cfg.patience = epochs;
            let ((tr, va), mut init, job_seed) = if final_training {
                ((train, val), Architecture::init_rng(seed), seed)
            } else {
                let (tr, va) = &plan.pairs[f];
                (
                    (tr, va),
                    Architecture::init_rng(seed ^ (i as u64) << 8 ^ f as u64),
                    seed ^ (i as u64) << 16 ^ f as u64,
                )
            };
            let net = c.arch.init::<B>(c.config.model.dropout, &mut init, device);
            let job = fit::Job {
                train: tr,
                val: va,
                problem: p,
                cfg: &cfg,
                seed: job_seed,
                progress: &Progress::new(epochs, true),
                device,
                keep_last: true,
            };
            let (net, history) = fit::fit(net, &job);
            // The network is kept only where it is the final one.
            (
                (last && (folds == 1 || final_training)).then_some(net),
                history,
            )
        });
        // The rung's time, shared among its runs by their work: the pace
        // of this machine with every core busy, as the rest will run.
        let seconds = started.elapsed().as_secs_f64();
        let rung_work: f64 = jobs.iter().map(job_work).sum();
        for job in &jobs {
            let (i, work) = (job.0, job_work(job));
            pace.add(
                family(&candidates[i].arch),
                seconds * work / rung_work.max(1.0),
                work,
            );
        }
        let mut runs: Vec<Option<_>> = runs.into_iter().map(Some).collect();
        for &i in &alive {
            let c = &candidates[i];
            let epochs = epochs_of(i);
            let mut histories = Vec::new();
            for f in 0..folds {
                let k = jobs.iter().position(|&j| j == (i, f)).unwrap_or(0);
                let Some((net, history)) = runs[k].take() else {
                    continue;
                };
                if let Some(net) = net {
                    final_net = Some((net, history.clone()));
                }
                histories.push(history);
            }
            if refit_here {
                let k = jobs.iter().position(|&j| j == (i, folds)).unwrap_or(0);
                if let Some((Some(net), history)) = runs[k].take() {
                    final_net = Some((net, history));
                }
            }
            let (metric, loss) = end_score(&histories, classification);
            let score = if classification { metric } else { -metric };
            trials.push(Trial {
                candidate: c.draw,
                label: c.label.clone(),
                rung,
                epochs,
                score,
                val_loss: loss,
                macs: c.footprint.macs,
                flash: c.footprint.flash,
                ram: c.footprint.ram,
            });
            // A diverged run (NaN or infinite) ranks last, on every machine.
            let finite = |v: f64, worst: f64| if v.is_finite() { v } else { worst };
            scored.push((
                i,
                finite(metric, f64::NEG_INFINITY),
                finite(loss, f64::INFINITY),
            ));
            if !quiet {
                // The rung is done: what is left starts at the next (and
                // nothing is, when the final training ran beside it).
                let left = if refit_here {
                    0.0
                } else {
                    seconds_left(
                        &pace,
                        (rung, alive.len()),
                        &alive,
                        &|j: usize, r: usize| {
                            let c = &candidates[j];
                            (
                                family(&c.arch),
                                work_of(c.row_work, rung_epochs(tops[j])[r]),
                            )
                        },
                        folds,
                    )
                };
                eprintln!(
                    "search: rung {}/{} ({epochs} epochs) {}: {} {:.4}, loss {:.4} (about {:.0} s left)",
                    rung + 1,
                    RUNGS,
                    c.label,
                    if classification { "accuracy" } else { "MAE" },
                    score,
                    loss,
                    left
                );
            }
        }
        // Lowest validation loss first (log-loss or squared error: a
        // proper score, smoother than accuracy on a few hundred rows, and
        // it penalizes the overconfidence of a network that overfits);
        // ties to the better metric, then to the smaller model, then to
        // the earlier draw.
        scored.sort_by(|a, b| {
            a.2.total_cmp(&b.2)
                .then(b.1.total_cmp(&a.1))
                .then(
                    candidates[a.0]
                        .footprint
                        .macs
                        .cmp(&candidates[b.0].footprint.macs),
                )
                .then(a.0.cmp(&b.0))
        });
        let keep = if rung + 1 == RUNGS {
            1
        } else {
            alive.len().div_ceil(ETA).max(1)
        };
        alive = scored.iter().take(keep).map(|s| s.0).collect();
    }
    let chosen_index = alive[0];
    let mut chosen = candidates[chosen_index].draw;
    let mut config = candidates[chosen_index].config.clone();
    // The final training: the last rung's epochs, all of them (the score
    // was measured at the end of that schedule).
    let top = tops[chosen_index];
    config.training.epochs = top;
    config.training.patience = top;
    // Forests on the same folds: one replaces the network only when its
    // accuracy over the folds is higher. Not by log-loss, as networks are
    // ranked among themselves: a forest's probabilities are softer than a
    // network's (a pseudo-count in every leaf), and by log-loss ArrowHead
    // chose trees and lost 4.6 points on its test split (0.726 to 0.680),
    // where by accuracy no window set lost anything.
    let network_score = trials
        .iter()
        .rev()
        .find(|t| t.candidate == chosen)
        .map_or(f64::NEG_INFINITY, |t| t.score);
    let mut final_net = final_net;
    if classification {
        let tried = tree_trials(&plan, p, base, settings, reserve, seed, drawn, quiet)?;
        let best = tried.iter().max_by(|a, b| {
            a.0.score
                .total_cmp(&b.0.score)
                .then(b.0.candidate.cmp(&a.0.candidate))
        });
        if let Some((trial, cfg)) = best.filter(|(t, _)| t.score > network_score) {
            chosen = trial.candidate;
            config = cfg.clone();
            config.training.epochs = 0;
            final_net = None;
        }
        trials.extend(tried.into_iter().map(|(t, _)| t));
    }
    Ok(Outcome {
        trained: final_net,
        config: config.clone(),
        trace: Trace {
            selection: plan.selection,
            folds,
            metric: if classification { "accuracy" } else { "MAE" }.into(),
            budget: settings.budget,
            rejected,
            trials,
            chosen,
            epochs: config.training.epochs,
            work: total_work,
            work_budget,
            calibrations: vec![],
        },
    })
}
