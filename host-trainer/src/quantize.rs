//! Post-training quantization: calibrate activation ranges on training
//! data, export the weights, and build the int8 model with `vigie-core`'s
//! builder (which owns the multiplier conversion).

use burn::tensor::backend::Backend;
use vigie_core::builder::{FloatModel, Range};

use crate::training::config::{Calibration, QuantizationConfig};
use crate::training::fit::Split;
use crate::training::net::{batches, export, host_vec, ExportInfo, Net};

/// The seed of the calibration rows drawn from the training split (fixed:
/// the rows depend on the split alone).
pub const CALIBRATION_SAMPLE_SEED: u64 = 0xCA11_B4A7;

/// The activations calibration sees: the standardized inputs and each
/// weighted layer's outputs on (at most `calibration_rows` of) the
/// training split, each sorted.
pub struct Activations {
    /// The input, then each weighted layer's output.
    pub tensors: Vec<Vec<f32>>,
    /// Output classes (0 for regression): the last tensor's row width.
    classes: usize,
    /// A classifier's lowest top logit over the calibration rows.
    lowest_top: Option<f32>,
    /// Each input column's standardized values, sorted (tabular rows;
    /// empty for windows).
    channels: Vec<Vec<f32>>,
}

impl Activations {
    /// Runs `net` over the calibration rows.
    pub fn of<B: Backend>(
        net: &Net<B>,
        train: &Split,
        (channels, length): (usize, usize),
        info: &ExportInfo,
        cfg: &QuantizationConfig,
        device: &B::Device,
    ) -> Activations {
        let width = channels * length;
        let picked = train.sample_rows(cfg.calibration_rows.max(1), CALIBRATION_SAMPLE_SEED);
        let sample = train.select(&picked, width);
        let x = &sample.x[..];
        let mut tensors: Vec<Vec<f32>> = vec![x.to_vec()];
        for t in batches::<B>(x, (channels, length), device) {
            net.forward_traced(t, None, &mut |layer, out| {
                if tensors.len() <= layer + 1 {
                    tensors.resize(layer + 2, Vec::new());
                }
                tensors[layer + 1].extend(host_vec::<B, 2, _, f32>(out.clone()));
            });
        }
        // Regression outputs are standardized inside the network; the
        // exported last layer outputs real units, so its range follows.
        if let (Some((mean, std)), Some(last)) = (info.target_scale, tensors.last_mut()) {
            last.iter_mut().for_each(|v| *v = *v * std + mean);
        }
        let classes = if info.task == vigie_core::Task::Classification {
            info.outputs.len()
        } else {
            0
        };
        // The classifier's top logits, before sorting loses the rows.
        // Each column's values, for per-column input ranges (tabular rows
        // only: see `stretch_input_channels`).
        let mut by_channel = vec![Vec::new(); if length == 1 { channels } else { 0 }];
        for row in x.chunks(width.max(1)).filter(|_| length == 1) {
            for (c, &v) in row.iter().enumerate().filter(|(_, v)| v.is_finite()) {
                by_channel[c].push(v);
            }
        }
        by_channel
            .iter_mut()
            .for_each(|v| v.sort_by(f32::total_cmp));
        let mut activations = Activations {
            tensors,
            classes,
            lowest_top: None,
            channels: by_channel,
        };
        activations.lowest_top = activations.top_logits();
        for t in &mut activations.tensors {
            t.retain(|v| v.is_finite());
            t.sort_by(f32::total_cmp);
        }
        activations
    }

    /// The lowest of the rows' top logits (classification).
    fn top_logits(&self) -> Option<f32> {
        let last = self.tensors.last()?;
        (self.classes >= 2 && !last.is_empty()).then(|| {
            last.chunks(self.classes)
                .map(|row| row.iter().copied().fold(f32::NEG_INFINITY, f32::max))
                .fold(f32::INFINITY, f32::min)
        })
    }

    /// Tensors calibrated: the input and each weighted layer.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The range of tensor `i` keeping `kept` percent of its values (100:
    /// min-max), symmetric tails clipped; a classifier's output reaches at
    /// most `span` below the lowest top logit.
    pub fn range(&self, i: usize, kept: f64, span: f32) -> Range {
        let mut v = &self.tensors[i][..];
        if let (Some(lowest), true) = (self.lowest_top, i + 1 == self.tensors.len()) {
            let from = v.partition_point(|&x| x < lowest - span);
            v = &v[from.min(v.len().saturating_sub(1))..];
        }
        share_range(v, kept)
    }

    /// The kept share of each tensor under `cfg`.
    pub fn shares(&self, cfg: &QuantizationConfig) -> Vec<f64> {
        (0..self.len())
            .map(|i| match cfg.per_tensor.get(i) {
                Some(&k) => k,
                None => match cfg.calibration {
                    Calibration::Minmax => 100.0,
                    Calibration::Percentile => cfg.percentile,
                },
            })
            .collect()
    }

    /// Exports `net` with the ranges of `shares` (one per tensor) and a
    /// classifier's logit `span`; with `per_channel`, a tabular MLP's input
    /// columns each get their own range (see [`stretch_input_channels`]).
    pub fn export<B: Backend>(
        &self,
        net: &Net<B>,
        info: &ExportInfo,
        shares: &[f64],
        span: f32,
        per_channel: bool,
    ) -> FloatModel {
        let ranges: Vec<Range> = (0..self.len())
            .map(|i| self.range(i, shares.get(i).copied().unwrap_or(100.0), span))
            .collect();
        let mut model = export(net, info, ranges[0], &ranges[1..]);
        if per_channel {
            let share = shares.first().copied().unwrap_or(100.0);
            let channel_ranges: Vec<Range> = self
                .channels
                .iter()
                .map(|v| share_range(v, share))
                .collect();
            stretch_input_channels(&mut model, &channel_ranges);
        }
        model
    }
}

/// The range of sorted values `v` keeping `kept` percent (symmetric
/// tails clipped).
fn share_range(v: &[f32], kept: f64) -> Range {
    if v.is_empty() {
        return Range { min: 0.0, max: 0.0 };
    }
    let tail = ((100.0 - kept.clamp(50.0, 100.0)) / 200.0 * v.len() as f64) as usize;
    let tail = tail.min(v.len() - 1);
    Range {
        min: v[tail],
        max: v[v.len() - 1 - tail],
    }
}

/// Gives each input column of a tabular MLP the whole int8 input range:
/// column `c`'s standardized range `[lo_c, hi_c]` is mapped onto the input
/// tensor's `[lo, hi]` by `u' = (u − o_c)/k_c`, which the input map does
/// (its per-channel mean and scale absorb `o_c` and `k_c`), and the first
/// dense layer undoes it (`W' = W·diag(k)`, `b' = b + W·o`), so the float
/// function is unchanged. Models with any other first layer (a
/// convolution pads with zeros, which the shift would move) are left as
/// they are.
pub fn stretch_input_channels(model: &mut FloatModel, channel_ranges: &[Range]) {
    let channels = model.input.mean.len();
    if model.input.length != 1 || channel_ranges.len() != channels {
        return;
    }
    let target = model.input.range;
    let span = (target.max - target.min) as f64;
    let Some(vigie_core::builder::FloatLayer::Dense {
        in_features,
        weights,
        bias,
        ..
    }) = model.layers.first_mut()
    else {
        return;
    };
    if *in_features != channels || !span.is_finite() || span <= 0.0 {
        return;
    }
    for (c, r) in channel_ranges.iter().enumerate() {
        let own = (r.max - r.min) as f64;
        // A constant column keeps its map: there is nothing to resolve.
        if !own.is_finite() || own <= 1e-6 {
            continue;
        }
        let k = own / span;
        let o = r.min as f64 - k * target.min as f64;
        model.input.mean[c] += (model.input.std[c] as f64 * o) as f32;
        model.input.std[c] = (model.input.std[c] as f64 * k) as f32;
        for (row, b) in weights.chunks_mut(channels).zip(bias.iter_mut()) {
            *b += (row[c] as f64 * o) as f32;
            row[c] = (row[c] as f64 * k) as f32;
        }
    }
}

/// Calibrates on (at most `cfg.calibration_rows` of) the training split and
/// exports the float model ready for quantization.
pub fn calibrate<B: Backend>(
    net: &Net<B>,
    train: &Split,
    channels: usize,
    length: usize,
    info: &ExportInfo,
    cfg: &QuantizationConfig,
    device: &B::Device,
) -> FloatModel {
    let a = Activations::of(net, train, (channels, length), info, cfg, device);
    a.export(
        net,
        info,
        &a.shares(cfg),
        cfg.logit_span as f32,
        cfg.per_channel_input,
    )
}
