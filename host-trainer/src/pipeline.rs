//! `vigie train` end to end: CSV → splits → burn training → calibration →
//! int8 model (vigie-core's builder) → evaluation through vigie-core →
//! model file written atomically.

use anyhow::{bail, Context, Result};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::Serialize;
use vigie_core::builder::FloatModel;
use vigie_core::format::section_kind;
use vigie_core::Model;

use crate::data::{Dataset, Target};
use crate::evaluation::int8::{compare, int8_outputs};
use crate::files::write_atomically;
use crate::monitor_fit::BuiltMonitor;
use crate::quantize;
pub use crate::training::args::{CpuBackend, DeviceKind, TrainArgs};
use crate::training::config::ModelKind;
use crate::training::fit::{self, History, Problem, Progress, Split};
use crate::training::net::{Architecture, ExportInfo};
pub use crate::training::prepared::{prepare, Prepared};
use crate::training_report::{DataRecord, FileRecord, Gap, RowCounts, TestMetrics, TrainingReport};

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
    /// The configuration trained (the search's choice, or `--config`).
    pub config: crate::training::config::Config,
    /// The model search, when one ran.
    pub search: Option<crate::training::search::Trace>,
    /// Decisions on the training rows by models that did not train on
    /// them (a forest), for the monitor's output reference.
    pub out_of_fold: Option<Vec<crate::monitor_fit::OutOfFold>>,
}

fn export_info(p: &Prepared, args: &TrainArgs) -> ExportInfo {
    // Named after the data and target, not the output path: the same
    // data and seed give the same file wherever they are written.
    let name = format!(
        "{}-{}",
        args.data
            .file_stem()
            .map_or_else(|| "data".into(), |s| s.to_string_lossy().into_owned()),
        args.target
    );
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
    let mut init_rng = Architecture::init_rng(args.seed);
    let outputs = if p.problem.classes > 0 {
        p.problem.classes
    } else {
        1
    };
    let info = export_info(p, args);
    let (config, search, trained) = match (&args.search, &p.origin) {
        // A fine-tuning trains the old network with its own configuration,
        // shorter and slower.
        (_, Some(origin)) => {
            let mut c = origin.config.clone();
            // Normalizations were folded into the weights it starts from.
            c.model.batch_norm = false;
            c.training.epochs =
                (c.training.epochs / 4).clamp(FINE_TUNE_EPOCHS.0, FINE_TUNE_EPOCHS.1);
            c.training.learning_rate *= FINE_TUNE_LEARNING_RATE;
            (c, None, None)
        }
        (Some(settings), None) => {
            let reserve = monitor_reserve::<B::InnerBackend>(p, args, &info, outputs, &device)?;
            let outcome = crate::training::search::search::<B>(
                &args.config,
                settings,
                &p.train,
                &p.val,
                &p.problem,
                &info,
                reserve,
                args.seed,
                args.quiet,
                args.threads,
                &device,
            )?;
            if !args.quiet {
                let t = &outcome.trace;
                let label = t
                    .trials
                    .iter()
                    .rev()
                    .find(|x| x.candidate == t.chosen)
                    .map_or("", |x| x.label.as_str());
                if outcome.config.model.kind == ModelKind::Trees {
                    eprintln!("search: chose {label} (compared by {})", t.selection);
                } else {
                    eprintln!(
                        "search: chose {label} ({} epochs; compared by {})",
                        outcome.config.training.epochs, t.selection
                    );
                }
            }
            (outcome.config, Some(outcome.trace), outcome.trained)
        }
        (None, None) => (args.config.clone(), None, None),
    };
    if config.model.kind == ModelKind::Trees {
        return train_trees(p, args, &info, config, search);
    }
    let mut search = search;
    let (best, history) = match trained {
        Some(done) => done,
        None => {
            let net = match &p.origin {
                Some(origin) => origin.net::<B>(config.model.dropout, &device, p.target_scale),
                None => {
                    Architecture::new(&config.model, p.problem.channels, p.problem.length, outputs)?
                        .init::<B>(config.model.dropout, &mut init_rng, &device)
                }
            };
            let progress = Progress::new(config.training.epochs, args.quiet);
            // A fine-tuning trains on the new rows and the rehearsal's.
            let with_rehearsal = p.rehearsal.as_ref().map(|r| p.train.joined(&r.train));
            let job = fit::Job {
                train: with_rehearsal.as_ref().unwrap_or(&p.train),
                val: &p.val,
                problem: &p.problem,
                cfg: &config.training,
                seed: args.seed,
                progress: &progress,
                device: &device,
                // After a search, train the chosen epochs and keep the last.
                keep_last: search.is_some(),
            };
            let (best, history) = fit::fit(net, &job);
            if search.is_none() && p.val.len() < FEW_VALIDATION_ROWS && !args.quiet {
                eprintln!(
                    "warning: epoch {} of {} was kept for the lowest loss on only {} validation rows (fewer than {FEW_VALIDATION_ROWS}), a choice that luck makes; give --val-split a larger share, set [training] patience above the epochs and compare the last epoch's test figures, or leave out --config: the search compares by cross-validation and keeps its last epoch",
                    history.best_epoch,
                    history.epochs.len(),
                    p.val.len()
                );
            }
            (best, history)
        }
    };
    let mut config = config;
    if search.is_some() || p.origin.is_some() {
        // Part of the search (and of a fine-tuning): the activation-range
        // calibration whose int8 model agrees best with the float network
        // on training rows.
        let (chosen, tried) = choose_calibration(&best, p, &info, &config, &device)?;
        config.quantization = chosen;
        if let Some(trace) = &mut search {
            trace.calibrations = tried;
        }
    }
    let float = quantize::calibrate(
        &best,
        &p.train,
        p.problem.channels,
        p.problem.length,
        &info,
        &config.quantization,
        &device,
    );
    let float = if (search.is_some() || p.origin.is_some()) && p.problem.classes > 1 {
        let (float, tried) =
            quantization_aware::<B>(&best, float, p, &info, &config, args, &device)?;
        if let (Some(trace), Some(tried)) = (&mut search, tried) {
            trace.calibrations.extend(tried);
        }
        float
    } else {
        float
    };
    let float_test = float_outputs(&best, &p.test, &p.problem, p.target_scale, &device);
    Ok(Trained {
        float,
        float_test,
        history,
        backend: backend.into(),
        config,
        search,
        out_of_fold: None,
    })
}

/// Grows the forest of `config` (`model.kind = "trees"`) on every training
/// row: no backend, no epochs. Its float model reads the same int8
/// features as the device, so float and int8 differ only by the leaves'
/// rounding.
fn train_trees(
    p: &Prepared,
    args: &TrainArgs,
    info: &ExportInfo,
    config: crate::training::config::Config,
    search: Option<crate::training::search::Trace>,
) -> Result<Trained> {
    use crate::training::trees;
    if p.origin.is_some() {
        bail!(
            "--from: a tree model is grown again, not fine-tuned; train it anew on the joined data"
        );
    }
    if p.problem.classes < 2 {
        bail!("model.kind = \"trees\" classifies, and this target is numeric; use model.kind = \"mlp\" or \"cnn\"");
    }
    let quantiles = if p.problem.length > 1 {
        config.model.quantiles
    } else {
        0
    };
    if quantiles > p.problem.length {
        bail!(
            "model.quantiles = {quantiles} is more than the {} values of a window; use at most {}",
            p.problem.length,
            p.problem.length
        );
    }
    let started = std::time::Instant::now();
    let budget = args.search.map_or_else(Default::default, |s| s.budget);
    let flash = budget.flash.saturating_sub(8 * 1024);
    let shape = (p.problem.channels, p.problem.length);
    let grown = trees::grow_on(
        &p.train.x,
        &p.train.classes,
        shape,
        p.problem.classes,
        quantiles,
        trees::params(config.model.trees, flash),
        args.seed,
    )?;
    if !args.quiet {
        eprintln!(
            "grew {} trees ({} nodes) on {} training rows in {:.2} s",
            grown.forest.len(),
            grown.forest.nodes(),
            p.train.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let float = FloatModel {
        name: info.name.clone(),
        input: vigie_core::builder::FloatInput {
            names: info.channels.clone(),
            length: info.length as u16,
            mean: info.mean.clone(),
            std: info.std.clone(),
            range: grown.grid,
            missing: info.missing.clone(),
            wide: false,
        },
        layers: grown.layers(),
        task: info.task,
        output_names: info.outputs.clone(),
    };
    let float_test = grown.scores(&p.test.x, shape)?;
    let out_of_fold = trees_out_of_fold(p, &float, &config, args, flash)?;
    Ok(Trained {
        float,
        float_test,
        history: History {
            epochs: vec![],
            best_epoch: 0,
            stopped_early: false,
            seconds: started.elapsed().as_secs_f64(),
        },
        backend: "vigie trees (CPU)".into(),
        config,
        search,
        out_of_fold: Some(out_of_fold),
    })
}

/// Folds of the training rows whose out-of-fold decisions the monitor's
/// output reference reads.
const OUT_OF_FOLD_FOLDS: usize = 3;

/// Each training row decided, through vigie-core, by a forest grown as
/// `float`'s was on the other folds of the training rows.
fn trees_out_of_fold(
    p: &Prepared,
    float: &FloatModel,
    config: &crate::training::config::Config,
    args: &TrainArgs,
    flash: usize,
) -> Result<Vec<crate::monitor_fit::OutOfFold>> {
    use crate::training::trees;
    let n = p.train.len();
    let width = p.problem.channels * p.problem.length;
    let shape = (p.problem.channels, p.problem.length);
    let mut order: Vec<usize> = (0..n).collect();
    crate::rng::Rng(args.seed ^ 0x00F_F01D).shuffle(&mut order);
    let mut out = vec![None; n];
    for k in 0..OUT_OF_FOLD_FOLDS {
        // (position in the shuffle, training row): every third held out.
        type Rows = Vec<(usize, usize)>;
        let (held, kept): (Rows, Rows) = order
            .iter()
            .copied()
            .enumerate()
            .partition(|(i, _)| i % OUT_OF_FOLD_FOLDS == k);
        let x: Vec<f32> = kept
            .iter()
            .flat_map(|&(_, r)| p.train.x[r * width..(r + 1) * width].iter().copied())
            .collect();
        let y: Vec<usize> = kept.iter().map(|&(_, r)| p.train.classes[r]).collect();
        let grown = trees::grow_on(
            &x,
            &y,
            shape,
            p.problem.classes,
            float_quantiles(float),
            trees::params(config.model.trees, flash),
            args.seed ^ (k as u64 + 1) << 32,
        )?;
        let mut fold = float.clone();
        fold.input.range = grown.grid;
        fold.layers = grown.layers();
        let built = fold
            .quantize()
            .context("quantizing an out-of-fold forest")?;
        let model = Model::from_def(built.def()).context("an out-of-fold forest does not load")?;
        let decided = crate::device::decisions(
            &model,
            held.iter().map(|&(_, r)| p.data.row(p.splits.train[r])),
        )?;
        for (&(_, r), d) in held.iter().zip(&decided) {
            out[r] = d.decision().map(|d| (d.index, d.probability));
        }
    }
    Ok(out)
}

/// Quantiles per channel the forest of `float` reads (0: the flat input).
fn float_quantiles(float: &FloatModel) -> usize {
    match float.layers.first() {
        Some(vigie_core::builder::FloatLayer::Quantiles1d { count }) => *count,
        _ => 0,
    }
}

/// The flash (section bytes) and RAM (state bytes) of the monitor the
/// trained model will carry, measured by building it once for the library
/// default network with untrained weights: its size depends on the inputs
/// and classes only.
fn monitor_reserve<B: Backend>(
    p: &Prepared,
    args: &TrainArgs,
    info: &ExportInfo,
    outputs: usize,
    device: &B::Device,
) -> Result<(usize, usize)> {
    /// Bytes of a section's header in the model file, with room to spare.
    const SECTION_HEADER: usize = 16;
    // Any network will do: a small MLP fits every input shape.
    let small = crate::training::config::ModelConfig {
        kind: crate::training::config::ModelKind::Mlp,
        hidden: vec![8],
        ..args.config.model.clone()
    };
    let arch = Architecture::new(&small, p.problem.channels, p.problem.length, outputs)?;
    let net = arch.init::<B>(0.0, &mut crate::rng::Rng(args.seed), device);
    let float = quantize::calibrate(
        &net,
        &p.train,
        p.problem.channels,
        p.problem.length,
        info,
        &args.config.quantization,
        device,
    );
    let quantized = float.quantize().context("quantizing the untrained model")?;
    let model = Model::from_def(quantized.def()).context("the untrained model does not load")?;
    let m = fit_monitor(&model, p, args, false, None)?;
    // The other sections the device keeps: the text columns' levels, and
    // the calibration (temperature, threshold, a k × k cost matrix).
    let encoding: usize = p
        .data
        .raw_columns
        .iter()
        .filter_map(|c| {
            c.levels
                .as_ref()
                .map(|l| c.name.len() + l.join("\n").len() + 8)
        })
        .sum();
    let k = p.problem.classes;
    let calibration = 16 + 4 * k * k;
    Ok((
        m.section_bytes + encoding + calibration + 3 * SECTION_HEADER,
        m.state_bytes,
    ))
}

/// The drift monitor of `model`, fitted on the training rows and
/// calibrated on the validation rows.
fn fit_monitor(
    model: &Model<'_>,
    p: &Prepared,
    args: &TrainArgs,
    calibrate: bool,
    out_of_fold: Option<&[crate::monitor_fit::OutOfFold]>,
) -> Result<BuiltMonitor> {
    let opts = crate::monitor_fit::Options {
        false_alarm_rate: args.false_alarm_rate,
        min_shift: args.min_shift,
        seed: args.seed,
        calibrate,
        held_out_rows: Some(p.test_rows().1.len()).filter(|&n| n > 0),
        replay_workers: args.threads,
    };
    crate::monitor_fit::build(
        model,
        &p.data,
        &p.splits.train,
        &p.splits.val,
        opts,
        out_of_fold,
    )
    .context("building the drift monitor")
}

/// Stable rows replayed from the test rows to measure the monitor's
/// false alarms on rows that neither its reference nor its thresholds saw.
pub const HELD_OUT_REPLAY: usize = 50_000;

/// The old and new int8 models (`origin`'s and `quantized`) on the same
/// rows: the new test rows (`test`), and the rehearsal rows held out of
/// the fine-tuning, through vigie-core.
fn fine_tune_comparison(
    origin: &crate::training::from::Origin,
    p: &Prepared,
    quantized: &vigie_core::builder::QuantizedModel,
    args: &TrainArgs,
    test: (&Dataset, &[usize]),
) -> Result<crate::training_report::FineTune> {
    let old = origin.model()?;
    let new = Model::from_def(quantized.def()).context("the quantized model does not load")?;
    let figure = |model: &Model<'_>, d: &Dataset, rows: &[usize]| -> Result<(String, f64)> {
        let int8 = int8_outputs(model, d, rows)?;
        Ok(match compare(d, rows, None, &int8, model.output_len()) {
            TestMetrics::Classification { int8, .. } => ("accuracy".into(), int8.accuracy),
            TestMetrics::Regression { int8, .. } => ("MAE".into(), int8.mae),
        })
    };
    let mut compared = Vec::new();
    let mut add = |data: String, d: &Dataset, rows: &[usize]| -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let (metric, old_figure) = figure(&old, d, rows)?;
        let (_, new_figure) = figure(&new, d, rows)?;
        compared.push(crate::training_report::Compared {
            data,
            rows: rows.len(),
            metric,
            old: old_figure,
            new: new_figure,
        });
        Ok(())
    };
    add(
        format!("{} (test rows)", test.0.source.display()),
        test.0,
        test.1,
    )?;
    if let Some(r) = &p.rehearsal {
        add(
            format!(
                "{} ({})",
                r.data.source.display(),
                if r.unseen_by_old {
                    "rows neither model trained on"
                } else {
                    "rows held out of the fine-tuning; the old model may have trained on them"
                }
            ),
            &r.data,
            &r.held_out,
        )?;
    }
    let rehearsal_rows = p.rehearsal.as_ref().map_or(0, |r| r.train.len());
    let crc = origin
        .bytes
        .get(12..16)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    Ok(crate::training_report::FineTune {
        from: origin.path.display().to_string(),
        from_crc: crc,
        rehearsal: args.rehearsal.as_ref().map(|r| r.display().to_string()),
        rehearsal_rows,
        compared,
    })
}

/// Largest gain an adaptation applies to a drifted input (`--adapt`):
/// twice or half its training spread, beyond which the sensor is broken
/// rather than aged.
pub const ADAPT_MAX_GAIN: f32 = 2.0;
/// Largest shift of a drifted input's mean an adaptation corrects, in its
/// training standard deviations.
pub const ADAPT_MAX_OFFSET: f32 = 3.0;
/// Most inputs one correction touches: a sensor, or a pair of axes.
pub const ADAPT_MAX_CHANNELS: u16 = 2;
/// Samples between the alarm and the estimate: at a weight of 0.01 a
/// sample, the values from before the drift weigh e^-3 (5%) after 300.
pub const ADAPT_SETTLE: u32 = 300;
/// Samples without an alarm that confirm a correction (twice the
/// monitor's recovery period of 128).
pub const ADAPT_CONFIRM: u32 = 256;
/// Weight of a new sample in the recent moments: a memory of about 100
/// samples, whose mean wanders by about 0.07 standard deviations (at 0.02
/// it wandered enough on digits for a correction to miss by 0.17 and the
/// monitor to raise the same input again).
pub const ADAPT_RATE: f32 = 0.01;

/// The adaptation section (`--adapt`): each input channel's mean and
/// standard deviation on the training rows (every sample of a window), the
/// bounds above, and the ends where its values pile up.
fn adaptation_section(p: &Prepared) -> Vec<u8> {
    // Two columns of per-channel pairs, as a section's little-endian f32s.
    let columns = |pairs: &mut dyn Iterator<Item = (f32, f32)>| {
        let (a, b): (Vec<f32>, Vec<f32>) = pairs.unzip();
        (
            vigie_core::format::le::from_f32(&a),
            vigie_core::format::le::from_f32(&b),
        )
    };
    let (means, deviations) = columns(
        &mut crate::data::prep::moments(&p.data, &p.splits.train)
            .into_iter()
            .map(|(m, s)| (m as f32, s as f32)),
    );
    let def = vigie_core::adapt::AdaptationDef {
        means: &means,
        deviations: &deviations,
        max_gain: ADAPT_MAX_GAIN,
        max_offset: ADAPT_MAX_OFFSET,
        max_channels: ADAPT_MAX_CHANNELS,
        settle: ADAPT_SETTLE,
        confirm: ADAPT_CONFIRM,
        rate: ADAPT_RATE,
    };
    // Where values pile up at an end, the correction maps that end
    // exactly (`vigie_core::adapt::AdaptationEnds`).
    let ends =
        crate::data::prep::piled_ends(&p.data, &p.splits.train, vigie_core::adapt::ATOM_SHARE);
    let (lows, highs) = columns(
        &mut ends
            .iter()
            .map(|&(lo, hi)| (lo.unwrap_or(f32::NAN), hi.unwrap_or(f32::NAN))),
    );
    let ends = vigie_core::adapt::AdaptationEnds {
        lows: &lows,
        highs: &highs,
    };
    let mut section = postcard::to_allocvec(&def).unwrap_or_default();
    section.extend(postcard::to_allocvec(&ends).unwrap_or_default());
    section
}

/// A fine-tuning's epochs (`--from`): a quarter of the old training's,
/// within these bounds (early stopping on the new validation rows ends it
/// sooner).
const FINE_TUNE_EPOCHS: (usize, usize) = (10, 100);
/// A fine-tuning's learning rate, as a share of the old training's
/// initial one: the old weights are a good start, not noise to escape.
const FINE_TUNE_LEARNING_RATE: f64 = 0.1;

/// Rows of the training split on which calibrations are compared.
const CALIBRATION_CHOICE_ROWS: usize = 8000;

/// Narrower logit spans tried for a classifier's output range: a logit 6
/// below the top still weighs under e^-6 (0.25%) in the softmax.
const LOGIT_SPANS: [f64; 2] = [8.0, 6.0];

/// The shares of values a tensor's range may keep, tried by
/// [`choose_calibration`]: min-max, then percentiles.
const CALIBRATION_SHARES: [f64; 5] = [100.0, 99.99, 99.9, 99.5, 99.0];

/// Chooses each tensor's activation range (the input, then each weighted
/// layer's output) so that the int8 model, run through vigie-core, agrees
/// best with the float network on up to [`CALIBRATION_CHOICE_ROWS`]
/// training rows: the share of equal decisions, ties broken by the mean
/// total-variation distance of the class probabilities; or the mean
/// absolute difference for regression. The labels play no part, so a few validation
/// rows cannot choose by luck. First one share for every tensor, then
/// each tensor in turn (a greedy pass); a change is kept only when it
/// agrees strictly better.
fn choose_calibration<B: Backend>(
    net: &crate::training::net::Net<B>,
    p: &Prepared,
    info: &ExportInfo,
    config: &crate::training::config::Config,
    device: &B::Device,
) -> Result<(
    crate::training::config::QuantizationConfig,
    Vec<(String, f64)>,
)> {
    let picked = p
        .train
        .sample_rows(CALIBRATION_CHOICE_ROWS, quantize::CALIBRATION_SAMPLE_SEED);
    let rows: &[usize] = &picked
        .iter()
        .map(|&i| p.splits.train[i])
        .collect::<Vec<_>>();
    let width = p.problem.channels * p.problem.length;
    let sample = p.train.select(&picked, width);
    let float = float_outputs(net, &sample, &p.problem, p.target_scale, device);
    let k = p.problem.classes.max(1);
    let acts = quantize::Activations::of(
        net,
        &p.train,
        (p.problem.channels, p.problem.length),
        info,
        &config.quantization,
        device,
    );
    let agreement = |shares: &[f64], span: f64, per_channel: bool| -> Result<f64> {
        int8_agreement(
            &acts.export(net, info, shares, span as f32, per_channel),
            &p.data,
            rows,
            &float,
            k,
        )
    };
    let mut tried = Vec::new();
    let mut best: Option<(f64, Vec<f64>)> = None;
    let mut span = config.quantization.logit_span;
    let mut per_channel = config.quantization.per_channel_input;
    for share in CALIBRATION_SHARES {
        let shares = vec![share; acts.len()];
        let score = agreement(&shares, span, per_channel)?;
        tried.push((format!("every tensor {share}%"), score));
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, shares));
        }
    }
    let (mut score, mut shares) = best.unwrap_or((0.0, vec![100.0; acts.len()]));
    // One greedy pass over tensor `t`'s shares: a share is kept only when
    // it agrees strictly better.
    let refine = |t: usize,
                  per_channel: bool,
                  label: &dyn Fn(f64) -> String,
                  score: &mut f64,
                  shares: &mut Vec<f64>,
                  tried: &mut Vec<(String, f64)>|
     -> Result<()> {
        for share in CALIBRATION_SHARES {
            if shares[t] == share {
                continue;
            }
            let mut candidate = shares.clone();
            candidate[t] = share;
            let s = agreement(&candidate, span, per_channel)?;
            if s > *score {
                tried.push((label(share), s));
                (*score, *shares) = (s, candidate);
            }
        }
        Ok(())
    };
    for t in 0..acts.len() {
        let label = |share: f64| format!("tensor {t} {share}%");
        refine(t, per_channel, &label, &mut score, &mut shares, &mut tried)?;
    }
    if p.problem.length == 1 && !per_channel {
        // Each input column its own int8 range, then each share of the
        // input tensor again (a column's own range clips its own tails).
        let s = agreement(&shares, span, true)?;
        if s > score {
            tried.push(("per-column input ranges".into(), s));
            (score, per_channel) = (s, true);
            let label = |share: f64| format!("per-column input ranges, {share}%");
            refine(0, true, &label, &mut score, &mut shares, &mut tried)?;
        }
    }
    if p.problem.classes > 1 {
        // A narrower logit span: finer levels between the leading classes,
        // for probabilities a little less exact in the far tail.
        for s_try in LOGIT_SPANS {
            let s = agreement(&shares, s_try, per_channel)?;
            if s > score {
                tried.push((format!("logit span {s_try}"), s));
                (score, span) = (s, s_try);
            }
        }
    }
    let chosen = crate::training::config::QuantizationConfig {
        per_tensor: shares,
        logit_span: span,
        per_channel_input: per_channel,
        ..config.quantization.clone()
    };
    Ok((chosen, tried))
}

/// Validation rows below which the epoch kept by a training with
/// `--config` (the one of lowest validation loss) is mostly luck: the
/// threshold the temperature fit uses too
/// (`monitor_fit::MIN_CALIBRATION_ROWS`, 30).
const FEW_VALIDATION_ROWS: usize = crate::monitor_fit::MIN_CALIBRATION_ROWS;

/// Validation rows needed to judge a quantization-aware fine-tuning: on
/// fewer, a gain of a row or two in agreement is luck (and the sets that
/// small lose nothing to post-training quantization in the search table).
const QAT_MIN_VALIDATION_ROWS: usize = 300;

/// Part of the search: when the post-training int8 model does not decide
/// every validation row as the float network does, a quantization-aware
/// fine-tuning (`training::qat`) of it, kept only when its int8 model
/// agrees strictly better with the float network on the validation rows,
/// which neither the network nor the fine-tuning saw. Returns the model to
/// quantize and, when one ran, the two agreements for the search's trace.
#[allow(clippy::type_complexity)]
fn quantization_aware<B: AutodiffBackend>(
    net: &crate::training::net::Net<B::InnerBackend>,
    ptq: FloatModel,
    p: &Prepared,
    info: &ExportInfo,
    config: &crate::training::config::Config,
    args: &TrainArgs,
    device: &B::Device,
) -> Result<(FloatModel, Option<Vec<(String, f64)>>)> {
    let k = p.problem.classes;
    if p.val.len() < QAT_MIN_VALIDATION_ROWS {
        return Ok((ptq, None));
    }
    let rows = &p.splits.val;
    let float_val = float_outputs(net, &p.val, &p.problem, None, device);
    let before = int8_agreement(&ptq, &p.data, rows, &float_val, k)?;
    // The score is the agreement less under one row's worth of probability
    // distance: above `1 − 1/n`, every row is decided alike.
    if before > 1.0 - 1.0 / rows.len() as f64 {
        return Ok((ptq, None));
    }
    let teacher = float_outputs(net, &p.train, &p.problem, None, device);
    let started = std::time::Instant::now();
    let Some(tuned) = crate::training::qat::fine_tune::<B>(
        &ptq,
        info,
        &p.train,
        &teacher,
        k,
        config.training.learning_rate,
        args.seed,
        device,
    ) else {
        return Ok((ptq, None));
    };
    let after = int8_agreement(&tuned, &p.data, rows, &float_val, k)?;
    let kept = after > before;
    if !args.quiet {
        eprintln!(
            "quantization: int8 agreement with the float network on {} validation rows {:.4} after calibration, {:.4} after quantization-aware fine-tuning ({:.1} s): {}",
            rows.len(),
            before,
            after,
            started.elapsed().as_secs_f64(),
            if kept { "fine-tuned model kept" } else { "calibrated model kept" }
        );
    }
    let tried = vec![
        ("validation agreement, calibrated".to_string(), before),
        (
            "validation agreement, quantization-aware fine-tuning".to_string(),
            after,
        ),
    ];
    Ok((if kept { tuned } else { ptq }, Some(tried)))
}

/// How well `model`, quantized and run through vigie-core, agrees with
/// the float network's outputs `float` (row-major, `k` a row) on `rows` of
/// `data`: the share of equal decisions first; among models that tie on it
/// (common on a few hundred rows), the one whose class probabilities are
/// closest to the float network's (mean total-variation distance, weighted
/// below one row's worth of agreement): continuous where agreement moves by
/// whole rows. For regression, −the mean absolute difference.
fn int8_agreement(
    model: &FloatModel,
    data: &Dataset,
    rows: &[usize],
    float: &[f32],
    k: usize,
) -> Result<f64> {
    let quantized = model.quantize().context("quantizing the trained model")?;
    let model = Model::from_def(quantized.def()).context("the quantized model does not load")?;
    let int8 = int8_outputs(&model, data, rows)?;
    Ok(match compare(data, rows, Some(float), &int8, k) {
        TestMetrics::Classification { agreement, .. } => {
            let distance = float
                .chunks(k)
                .zip(int8.values.chunks(k))
                .map(|(f, q)| {
                    let probabilities = |logits: &[f32]| {
                        let mut v: Vec<f64> = logits.iter().map(|&z| z as f64).collect();
                        crate::evaluation::baselines::softmax(&mut v);
                        v
                    };
                    let (pf, pq) = (probabilities(f), probabilities(q));
                    pf.iter().zip(&pq).map(|(a, b)| (a - b).abs()).sum::<f64>() / 2.0
                })
                .sum::<f64>()
                / rows.len().max(1) as f64;
            agreement.unwrap_or(0.0) - distance * 0.5 / rows.len().max(1) as f64
        }
        TestMetrics::Regression { .. } => {
            -int8
                .values
                .iter()
                .zip(float)
                .map(|(a, b)| (a - b).abs() as f64)
                .sum::<f64>()
                / float.len().max(1) as f64
        }
    })
}

fn float_outputs<B: Backend>(
    net: &crate::training::net::Net<B>,
    split: &Split,
    p: &Problem,
    scale: Option<(f32, f32)>,
    device: &B::Device,
) -> Vec<f32> {
    let mut out = Vec::new();
    for t in crate::training::net::batches::<B>(&split.x, (p.channels, p.length), device) {
        let v: Vec<f32> = crate::training::net::host_vec(net.forward(t));
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
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => {
            let device = crate::training::cuda::device()?;
            train_on::<crate::training::cuda::Backend>(p, args, device, "cuda (GPU 0)")
        }
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => crate::training::cuda::unavailable(),
    }
}

/// `vigie train`: returns the summary after writing the model file.
pub fn train(args: &TrainArgs) -> Result<Summary> {
    check_train_output(args)?;
    let built = build(args)?;
    // Again: training takes a while, and a file may have appeared there.
    check_train_output(args)?;
    write_atomically(&args.out, &built.bytes)?;
    Ok(built.summary)
}

/// Refuses an `--out` that is one of training's inputs, or an existing
/// file of another kind without `--force`.
pub fn check_train_output(args: &TrainArgs) -> Result<()> {
    let mut inputs: Vec<(&str, &std::path::Path)> = vec![("--data", &args.data)];
    if let Some(t) = &args.test {
        inputs.push(("--test", t));
    }
    if let Some(c) = &args.config_file {
        inputs.push(("--config", c));
    }
    if let Some(c) = &args.cost_matrix {
        inputs.push(("--cost-matrix", c));
    }
    if let Some(f) = &args.from {
        inputs.push(("--from", f));
    }
    if let Some(r) = &args.rehearsal {
        inputs.push(("--rehearsal", r));
    }
    crate::files::check_output(
        &args.out,
        "--out",
        crate::files::Kind::Model,
        &inputs,
        args.force,
    )
}

/// A trained, quantized, evaluated model with its monitor, not yet written.
pub struct Built {
    /// The model file's bytes.
    pub bytes: Vec<u8>,
    /// The data it was trained on, split.
    pub prepared: Prepared,
    /// The report stored in the model.
    pub report: TrainingReport,
    /// The summary `vigie train --json` prints.
    pub summary: Summary,
}

/// One data-check finding, briefly, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct FindingBrief {
    /// Blocking, warning or info.
    pub severity: crate::data::checks::Severity,
    /// Which check.
    pub check: String,
    /// The column it is about, if any.
    pub column: Option<String>,
}

/// What `vigie train` and `vigie eval` print (`--json`: this object).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Metrics on the rows measured.
    #[serde(flatten)]
    pub test: TestMetrics,
    /// The training-time test split's figures (`eval`: measured when the
    /// model was trained, not on the data given).
    pub training_test: Option<TestMetrics>,
    /// Rows given (`eval`).
    pub rows_given: Option<usize>,
    /// Of those, rows the model was trained or validated on, by its
    /// fingerprint (`eval`); `test` is measured on the others.
    pub training_rows: Option<usize>,
    /// The fingerprint's expected false-positive rate.
    pub fingerprint_false_positive_rate: Option<f64>,
    /// The model file.
    pub model: String,
    /// Bytes of the device copy (flash on a device: the file without its
    /// host-only sections).
    pub device_bytes: usize,
    /// Floats of monitor state (RAM on a device).
    pub monitor_state_bytes: usize,
    /// Bytes of adaptation state (RAM on a device that turns adaptation
    /// on; 0 without `--adapt`).
    pub adaptation_state_bytes: usize,
    /// Bytes of the model file (with its host-only sections, if any; the
    /// device holds `device_bytes`).
    pub file_bytes: usize,
    /// Bytes of inference arena.
    pub arena_bytes: usize,
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// The data checks' findings (training).
    pub data_checks: Vec<FindingBrief>,
    /// Seconds of the training loop.
    pub train_seconds: Option<f64>,
    /// The kept epoch.
    pub best_epoch: Option<usize>,
    /// Epochs run.
    pub epochs_run: Option<usize>,
    /// The burn backend.
    pub backend: Option<String>,
    /// Training against validation at the kept epoch.
    pub generalization_gap: Option<Gap>,
    /// The drift monitor.
    pub monitor: Option<BuiltMonitor>,
    /// Temperature, abstention and costs.
    pub calibration: Option<crate::evaluation::calibrate::Report>,
    /// What the device decides on these rows (`eval`).
    pub decisions: Option<crate::evaluation::calibrate::DecisionFigures>,
    /// The majority class and a cheap model on the same test rows
    /// (training), with the blocking finding if the model is no better.
    pub baselines: Option<crate::evaluation::baselines::Baselines>,
    /// The model search (training without `--config`).
    pub search: Option<SearchBrief>,
    /// Metrics and gaps per group (`eval --group`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<crate::evaluation::groups::GroupReport>,
    /// A fine-tuning's comparison of the old and new models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fine_tune: Option<crate::training_report::FineTune>,
}

/// The model search, briefly, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct SearchBrief {
    /// The chosen network and settings.
    pub chosen: String,
    /// Epochs of its final training.
    pub epochs: usize,
    /// How candidates were compared.
    pub selection: String,
    /// Trials run.
    pub trials: usize,
}

impl Summary {
    /// The figures every summary has: metrics, and the model's file bytes,
    /// arena and MACs; the training and evaluation parts start empty.
    pub fn new(
        test: TestMetrics,
        model_name: String,
        flash_bytes: usize,
        model: &Model<'_>,
    ) -> Self {
        Summary {
            test,
            training_test: None,
            rows_given: None,
            training_rows: None,
            fingerprint_false_positive_rate: None,
            model: model_name,
            device_bytes: crate::files::device_len(model),
            monitor_state_bytes: vigie_core::monitor::Monitor::from_model(model)
                .ok()
                .flatten()
                .map_or(0, |m| m.state_bytes()),
            adaptation_state_bytes: vigie_core::adapt::Adapter::from_model(model)
                .ok()
                .flatten()
                .map_or(0, |a| 4 * a.state_len()),
            file_bytes: flash_bytes,
            arena_bytes: model.arena_len(),
            macs: model.macs(),
            data_checks: vec![],
            train_seconds: None,
            best_epoch: None,
            epochs_run: None,
            backend: None,
            generalization_gap: None,
            monitor: None,
            calibration: None,
            decisions: None,
            baselines: None,
            search: None,
            groups: None,
            fine_tune: None,
        }
    }
}

/// Everything `vigie train` does except writing the file. Each stage
/// returns typed parts; the model is serialized once, at the end.
pub fn build(args: &TrainArgs) -> Result<Built> {
    let p = prepare(args)?;
    let trained = train_dispatch(&p, args)?;
    let mut quantized = trained
        .float
        .quantize()
        .context("quantizing the trained model")?;
    // Categorical columns: the device encodes raw values as training did.
    if p.data.raw_columns.iter().any(|c| c.levels.is_some()) {
        let levels: Vec<String> = p
            .data
            .raw_columns
            .iter()
            .map(|c| c.levels.as_ref().map_or(String::new(), |l| l.join("\n")))
            .collect();
        let mut def = vigie_core::encoding::EncodingDef {
            columns: Default::default(),
        };
        for (c, l) in p.data.raw_columns.iter().zip(&levels) {
            def.columns
                .push(vigie_core::encoding::ColumnDef {
                    name: &c.name,
                    levels: l,
                })
                .map_err(|_| {
                    anyhow::anyhow!(
                        "{}: more than {} input columns with text among them; leave some out with --drop",
                        args.data.display(),
                        vigie_core::encoding::MAX_COLUMNS
                    )
                })?;
        }
        quantized
            .set_section(section_kind::ENCODING, true, def.to_vec())
            .context("storing the input encoding")?;
    }
    let (test_set, test_rows) = p.test_rows();
    let k = if p.problem.classes > 0 {
        p.problem.classes
    } else {
        1
    };
    // Evaluate what will be written, through the core.
    let (test_metrics, groups) = {
        let model =
            Model::from_def(quantized.def()).context("the quantized model does not load")?;
        let int8 = int8_outputs(&model, test_set, &test_rows)?;
        let groups = args
            .group
            .as_deref()
            .map(|columns| {
                crate::evaluation::groups::measure(
                    &model,
                    test_set,
                    &test_rows,
                    &int8,
                    args.csv,
                    columns,
                    args.max_gap,
                )
            })
            .transpose()?
            .map(|mut g| {
                g.allowed = args.allow_gap && g.blocking();
                g
            });
        let metrics = compare(test_set, &test_rows, Some(&trained.float_test), &int8, k);
        (metrics, groups)
    };
    let fine_tune = p
        .origin
        .as_ref()
        .map(|origin| fine_tune_comparison(origin, &p, &quantized, args, (test_set, &test_rows)))
        .transpose()?;
    if let (Some(g), false) = (&groups, args.quiet) {
        if g.blocking() {
            eprintln!(
                "{}: a gap between groups lies above --max-gap {}{}",
                if g.allowed { "allowed" } else { "blocking" },
                g.max_gap,
                if g.allowed {
                    " (--allow-gap; recorded in the model)"
                } else {
                    "; the file is written and the exit status is 3; see the groups below, or pass --allow-gap to accept it"
                }
            );
        }
    }
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
    if !args.quiet {
        eprintln!(
            "fitting the drift monitor on {} training and validation rows, thresholds cross-fitted over {} folds",
            p.splits.train.len() + p.splits.val.len(),
            crate::monitor_fit::FOLDS
        );
    }
    let monitor = {
        let model =
            Model::from_def(quantized.def()).context("the calibrated model does not load")?;
        let mut m = fit_monitor(&model, &p, args, true, trained.out_of_fold.as_deref())?;
        if !test_rows.is_empty() {
            let def: vigie_core::monitor::MonitorDefRef<'_> = postcard::from_bytes(&m.section)
                .context("the monitor section does not read back")?;
            let monitor = vigie_core::monitor::Monitor::new(def, &model)?;
            let resample = crate::data::resample::Resample::new(
                test_set,
                &test_rows,
                &p.data,
                &p.splits.train,
            );
            let (per_10k, by_detector) = crate::evaluation::drift::stable_alarms(
                &model,
                &monitor,
                test_set,
                (&test_rows, &resample),
                HELD_OUT_REPLAY,
                args.seed ^ 0x0004_E1D0_u64,
            )?;
            m.held_out = Some(crate::monitor_fit::HeldOutAlarms {
                rows: test_rows.len(),
                replayed: HELD_OUT_REPLAY,
                per_10k,
                by_detector,
            });
        }
        m
    };
    quantized
        .set_section(section_kind::MONITOR, false, monitor.section.clone())
        .context("storing the monitor")?;
    if args.adapt {
        quantized
            .set_section(section_kind::ADAPTATION, false, adaptation_section(&p))
            .context("storing the adaptation section")?;
    }
    let best = trained.history.best_epoch;
    let generalization_gap = trained
        .history
        .epochs
        .iter()
        .find(|e| e.epoch == best)
        .map(|e| Gap {
            epoch: e.epoch,
            train_loss: e.train_loss,
            val_loss: e.val_loss,
            loss_gap: e.val_loss - e.train_loss,
            train_metric: e.train_metric,
            val_metric: e.val_metric,
        });
    quantized
        .set_section(
            section_kind::DATA_CHECKS,
            false,
            serde_json::to_vec(&p.findings)?,
        )
        .context("storing the data checks")?;
    if !args.no_fingerprint {
        let seen: Vec<usize> = p
            .splits
            .train
            .iter()
            .chain(&p.splits.val)
            .copied()
            .collect();
        // A fine-tuning trained on rehearsed old rows too.
        let mut sets: Vec<(&Dataset, &[usize])> = vec![(&p.data, &seen)];
        if let Some(r) = &p.rehearsal {
            sets.push((&r.data, &r.used));
        }
        let print = crate::evaluation::fingerprint::Fingerprint::of_sets(&sets);
        quantized
            .set_section(section_kind::TRAINING_ROWS, false, print.to_bytes())
            .context("storing the training-row fingerprint")?;
    }
    let baselines = {
        let score = match &test_metrics {
            TestMetrics::Classification { int8, .. } => int8.accuracy,
            TestMetrics::Regression { int8, .. } => int8.mae,
        };
        crate::evaluation::baselines::measure(&p.train, &p.test, &p.problem, score, p.target_scale)
    };
    if let (Some(f), false) = (&baselines.finding, args.quiet) {
        eprintln!("blocking: {f}");
    }
    if let (Some(w), false) = (&baselines.behind_cheap, args.quiet) {
        eprintln!("warning: {w}");
    }
    let report = TrainingReport {
        vigie: env!("CARGO_PKG_VERSION").to_owned(),
        data: DataRecord {
            file: FileRecord::of(&args.data)?,
            test_file: args.test.as_deref().map(FileRecord::of).transpose()?,
            target: args.target.clone(),
            features: p.data.features.len(),
            channels: p.data.channels.clone(),
            length: p.data.length,
            rows: RowCounts {
                train: p.splits.train.len(),
                val: p.splits.val.len(),
                test: test_rows.len(),
            },
            missing_cells: p.data.missing.0,
            impute: args.impute,
            dialect: p.data.dialect,
            columns: p.data.raw_columns.clone(),
        },
        seed: args.seed,
        backend: trained.backend.clone(),
        config: trained.config.clone(),
        search: trained.search.clone(),
        baselines: Some(baselines),
        groups,
        fine_tune,
        history: trained.history.clone(),
        generalization_gap,
        test: test_metrics,
        calibration,
        monitor,
        false_alarm_rate: args.false_alarm_rate,
    };
    quantized
        .set_section(
            section_kind::TRAINING_REPORT,
            false,
            serde_json::to_vec(&report)?,
        )
        .context("storing the training report")?;
    // The one serialization.
    let bytes = quantized.to_bytes();
    let model = Model::from_def(quantized.def()).context("the final model does not load")?;
    let mut summary = Summary::new(
        report.test.clone(),
        args.out.display().to_string(),
        bytes.len(),
        &model,
    );
    summary.data_checks = p
        .findings
        .iter()
        .map(|f| FindingBrief {
            severity: f.severity,
            check: f.check.to_string(),
            column: f.column.clone(),
        })
        .collect();
    summary.train_seconds = Some(trained.history.seconds);
    summary.best_epoch = Some(best);
    summary.epochs_run = Some(trained.history.epochs.len());
    summary.backend = Some(trained.backend);
    summary.generalization_gap = generalization_gap;
    summary.monitor = Some(report.monitor.clone());
    summary.calibration = report.calibration.clone();
    summary.baselines = report.baselines.clone();
    summary.groups = report.groups.clone();
    summary.fine_tune = report.fine_tune.clone();
    if let Some(settings) = &args.search {
        let (flash, ram) = (
            summary.device_bytes,
            summary.arena_bytes + summary.monitor_state_bytes + summary.adaptation_state_bytes,
        );
        let b = &settings.budget;
        if flash > b.flash || ram > b.ram {
            eprintln!(
                "warning: the device copy takes {flash} bytes of flash and {ram} of RAM, over the budget ({} and {}); the search's reserve for the monitor and the other sections fell short: give a little more room",
                b.flash, b.ram
            );
        }
    }
    summary.search = report.search.as_ref().map(|s| SearchBrief {
        chosen: s
            .trials
            .iter()
            .rev()
            .find(|t| t.candidate == s.chosen)
            .map_or_else(String::new, |t| t.label.clone()),
        epochs: s.epochs,
        selection: s.selection.clone(),
        trials: s.trials.len(),
    });
    Ok(Built {
        bytes,
        prepared: p,
        report,
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
) -> Result<crate::evaluation::calibrate::Report> {
    use crate::evaluation::calibrate;
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
    let choice = match args.temperature {
        Some(t) if t.is_finite() && t > 0.0 => None,
        Some(t) => bail!("--temperature {t}: must be a positive number, for example 1.5"),
        None => {
            let model =
                Model::from_def(quantized.def()).context("the quantized model does not load")?;
            Some(calibrate::choose_temperature(
                &model,
                &p.data,
                &p.splits.val,
                args.seed,
            )?)
        }
    };
    let temperature = choice
        .as_ref()
        .map_or(args.temperature.unwrap_or(1.0), |c| c.temperature);
    let mut def = CalibrationDef {
        temperature,
        abstain_below: 0.0,
        costs: &costs,
    };
    quantized
        .set_section(section_kind::CALIBRATION, true, def.to_vec())
        .context("storing the calibration")?;
    if let Some(target) = args.target_precision {
        let pairs = {
            let model =
                Model::from_def(quantized.def()).context("the calibrated model does not load")?;
            calibrate::top_pairs(&model, &p.data, &p.splits.val)?
        };
        def.abstain_below = calibrate::abstention_threshold(&pairs, target);
        quantized
            .set_section(section_kind::CALIBRATION, true, def.to_vec())
            .context("storing the calibration")?;
    }
    let model = Model::from_def(quantized.def()).context("the calibrated model does not load")?;
    let mut report = calibrate::evaluate(
        &model,
        test_set,
        test_rows,
        p.splits.val.len(),
        args.target_precision,
    )?;
    report.temperature_choice = choice;
    if let Some(w) = &report.warning {
        eprintln!("warning: {w}");
    }
    Ok(report)
}
