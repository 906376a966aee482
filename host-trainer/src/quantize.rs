//! Post-training quantization: calibrate activation ranges on training
//! data, export the weights, and build the int8 model with `vigie-core`'s
//! builder (which owns the multiplier conversion).

use burn::tensor::backend::Backend;
use vigie_core::builder::{FloatModel, Range};

use crate::training::config::{Calibration, QuantizationConfig};
use crate::training::fit::Split;
use crate::training::net::{batches, export, host_vec, ExportInfo, Net};

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
        let rows = train.len().min(cfg.calibration_rows.max(1));
        let x = &train.x[..rows * width];
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
        let mut activations = Activations {
            tensors,
            classes,
            lowest_top: None,
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
        if v.is_empty() {
            return Range { min: 0.0, max: 0.0 };
        }
        let tail = ((100.0 - kept.clamp(50.0, 100.0)) / 200.0 * v.len() as f64) as usize;
        Range {
            min: v[tail.min(v.len() - 1)],
            max: v[v.len() - 1 - tail.min(v.len() - 1)],
        }
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
    /// classifier's logit `span`.
    pub fn export<B: Backend>(
        &self,
        net: &Net<B>,
        info: &ExportInfo,
        shares: &[f64],
        span: f32,
    ) -> FloatModel {
        let ranges: Vec<Range> = (0..self.len())
            .map(|i| self.range(i, shares.get(i).copied().unwrap_or(100.0), span))
            .collect();
        export(net, info, ranges[0], &ranges[1..])
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
    a.export(net, info, &a.shares(cfg), cfg.logit_span as f32)
}
