//! `vigie train --from OLD.vigie`: fine-tuning a model that `vigie train`
//! wrote, on new data (and rehearsal rows of the old), starting from the
//! old model's own weights. The new model keeps the old one's inputs,
//! input map, encoding and classes, so it is a drop-in update candidate.
//!
//! The file holds int8 weights, so the starting point is their real
//! values: each weight `q · s_w` and bias `b · s_in · s_w`, with the
//! channel's weight scale `s_w` read back from its requantization
//! multiplier (`s_in · s_w / s_out`). Batch normalization and the
//! quantile normalization were folded into the weights at export, so the
//! network is rebuilt without them; the input map is the old one.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use vigie_core::format::{read_f32, Activation, LayerDef, Padding};
use vigie_core::requant::dequantize_multiplier;
use vigie_core::Model;

use crate::rng::Rng;
use crate::training::config::Config;
use crate::training::net::{Architecture, Net};

/// A weighted layer's real weights (the file's order: `[out][in]` for a
/// dense layer, `[out][in][kernel]` for a convolution) and biases.
#[derive(Debug, Clone)]
pub struct RealWeights {
    /// Weights.
    pub weights: Vec<f32>,
    /// Biases.
    pub bias: Vec<f32>,
}

/// What the old model brings to a fine-tuning.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The old model's file.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The network's shape.
    pub arch: Architecture,
    /// Each weighted layer's real weights, in order.
    pub layers: Vec<RealWeights>,
    /// The input map as standardization statistics: mean and standard
    /// deviation per channel (`u = (x − mean) / std`).
    pub mean: Vec<f32>,
    /// See `mean`.
    pub std: Vec<f32>,
    /// Imputed values per channel (empty: the model refuses missing
    /// values).
    pub impute: Vec<f32>,
    /// The configuration it was trained with.
    pub config: Config,
    /// The target column it was trained on.
    pub target: String,
}

fn i32_at(bytes: &[u8], i: usize) -> i32 {
    bytes
        .get(4 * i..4 * i + 4)
        .map_or(0, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Real weights of a weighted layer of `out` channels of `fan_in` inputs
/// each, whose input has scale `s_in` and output `s_out`.
#[allow(clippy::too_many_arguments)]
fn real_weights(
    weights: &[u8],
    bias: &[u8],
    multiplier: &[u8],
    shift: &[u8],
    out: usize,
    fan_in: usize,
    s_in: f32,
    s_out: f32,
) -> RealWeights {
    let mut w = Vec::with_capacity(out * fan_in);
    let mut b = Vec::with_capacity(out);
    for c in 0..out {
        let m = dequantize_multiplier(i32_at(multiplier, c), shift[c] as i8 as i32);
        let s_w = m * s_out as f64 / s_in as f64;
        w.extend(
            weights[c * fan_in..(c + 1) * fan_in]
                .iter()
                .map(|&q| (q as i8 as f64 * s_w) as f32),
        );
        b.push((i32_at(bias, c) as f64 * s_in as f64 * s_w) as f32);
    }
    RealWeights {
        weights: w,
        bias: b,
    }
}

impl Origin {
    /// Reads `path`, a model `vigie train` wrote, for fine-tuning.
    pub fn read(path: &Path) -> Result<Origin> {
        let bytes = crate::files::read_model_file(path)?;
        let model = crate::files::load(path, &bytes)?;
        let report = crate::training_report::training_report(&model).with_context(|| {
            format!(
                "{}: no training report (a stripped or imported model); --from fine-tunes the full file that `vigie train` wrote",
                path.display()
            )
        })?;
        let def = model.def();
        let kind = |i: usize| model.layer_kind(i).unwrap_or("?");
        let foreign = |i: usize| {
            anyhow::anyhow!(
                "{}: layer {i} ({}) is not one `vigie train` makes; --from fine-tunes MLPs and CNNs that `vigie train` wrote",
                path.display(),
                kind(i)
            )
        };
        let layers: Vec<LayerDef<'_>> = def.layers.iter().copied().collect();
        if layers.iter().any(|l| matches!(l, LayerDef::Trees(_))) {
            bail!(
                "{}: a forest of trees is not fine-tuned: its trees hold their training rows; train anew on the old rows and the new ones joined, with the same --config",
                path.display()
            );
        }
        let mut i = 0;
        let mut scale = def.input.quant.scale;
        let mut downsample = 1;
        if let Some(LayerDef::AvgPool1d(p)) = layers.first() {
            if p.kernel != p.stride || p.padding != Padding::Valid {
                return Err(foreign(0));
            }
            downsample = p.kernel as usize;
            i += 1;
        }
        let mut filters = Vec::new();
        let mut kernel = 0;
        let mut real = Vec::new();
        while let Some(LayerDef::Conv1d(c)) = layers.get(i) {
            let pooled = matches!(layers.get(i + 1), Some(LayerDef::MaxPool1d(p)) if p.kernel == 2 && p.stride == 2 && p.padding == Padding::Valid);
            if c.stride != 1
                || c.padding != Padding::Same
                || c.activation != Activation::Relu
                || (kernel != 0 && kernel != c.kernel as usize)
                || !pooled
            {
                return Err(foreign(i));
            }
            kernel = c.kernel as usize;
            let (out, fan_in) = (c.out_channels as usize, c.in_channels as usize * kernel);
            real.push(real_weights(
                c.weights,
                c.bias,
                c.multiplier,
                c.shift,
                out,
                fan_in,
                scale,
                c.output.scale,
            ));
            scale = c.output.scale;
            filters.push(out);
            i += 2;
        }
        if !filters.is_empty() {
            if !matches!(layers.get(i), Some(LayerDef::GlobalAvgPool1d))
                || !matches!(layers.get(i + 1), Some(LayerDef::Flatten))
            {
                return Err(foreign(i));
            }
            i += 2;
        }
        let mut quantiles = 0;
        if let Some(LayerDef::Quantiles1d(q)) = layers.get(i) {
            quantiles = q.count as usize;
            i += 1;
        }
        let mut widths = Vec::new();
        while let Some(LayerDef::Dense(d) | LayerDef::Dense16(d)) = layers.get(i) {
            let wide = matches!(layers.get(i), Some(LayerDef::Dense16(_)));
            let last = i + 1 == layers.len();
            let wanted = if last {
                Activation::None
            } else {
                Activation::Relu
            };
            if d.activation != wanted {
                return Err(foreign(i));
            }
            let (out, fan_in) = (d.out_features as usize, d.in_features as usize);
            // A 16-bit input (the first layer) has 256 levels per int8
            // step, and the int8 map's zero point was folded into the bias:
            // it comes back as `zp · s · Σ w`.
            let s_in = if wide {
                vigie_core::format::QParams {
                    scale,
                    zero_point: 0,
                }
                .at_16_bits()
                .scale
            } else {
                scale
            };
            let mut layer = real_weights(
                d.weights,
                d.bias,
                d.multiplier,
                d.shift,
                out,
                fan_in,
                s_in,
                d.output.scale,
            );
            if wide {
                let zp = def.input.quant.zero_point as f32 * scale;
                for (b, row) in layer
                    .bias
                    .iter_mut()
                    .zip(layer.weights.chunks(fan_in.max(1)))
                {
                    *b += zp * row.iter().sum::<f32>();
                }
            }
            real.push(layer);
            scale = d.output.scale;
            widths.push(out);
            i += 1;
        }
        if i != layers.len() || widths.is_empty() {
            return Err(foreign(i.min(layers.len().saturating_sub(1))));
        }
        let outputs = widths.pop().unwrap_or(1);
        let channels = def.input.channels as usize;
        let length = def.input.length as usize;
        // The input map `q = x·a + o` with `a = 1 / (std · s_q)` and
        // `o = zp − mean · a` (the builder's), read back.
        let q = def.input.quant;
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        for c in 0..channels {
            let (a, o) = (read_f32(def.input.scale, c), read_f32(def.input.offset, c));
            if a == 0.0 || !a.is_finite() {
                bail!(
                    "{}: input channel {c} has a zero scale; this model cannot be fine-tuned",
                    path.display()
                );
            }
            std.push(1.0 / (a * q.scale));
            mean.push((q.zero_point as f32 - o) / a);
        }
        let impute = (0..channels)
            .filter(|_| !def.input.missing.is_empty())
            .map(|c| read_f32(def.input.missing, c))
            .collect();
        let arch = Architecture {
            channels,
            length,
            filters,
            kernel: kernel.max(1),
            hidden: widths,
            downsample,
            batch_norm: false,
            quantiles,
            outputs,
        };
        Ok(Origin {
            path: path.to_path_buf(),
            bytes: bytes.clone(),
            arch,
            layers: real,
            mean,
            std,
            impute,
            config: report.config.clone(),
            target: report.data.target.clone(),
        })
    }

    /// The old network on backend `B`, with its real weights. A
    /// regression's last layer gives the target in its units; with
    /// `target_scale` (the new training's mean and standard deviation of
    /// the target) it is rescaled to give it standardized, as training
    /// expects (export folds the scale back).
    pub fn net<B: Backend>(
        &self,
        dropout: f64,
        device: &B::Device,
        target_scale: Option<(f32, f32)>,
    ) -> Net<B> {
        // The initial draw only gives the shapes; every weight is replaced.
        let mut net = self.arch.init::<B>(dropout, &mut Rng(0), device);
        // No normalization: it was folded into the weights.
        net.quantile_norm = None;
        let mut real = self.layers.iter();
        for conv in net.convs.iter_mut() {
            let Some(r) = real.next() else { break };
            let [out, inputs, k] = conv.weight.val().dims();
            conv.weight = Param::from_tensor(Tensor::from_data(
                TensorData::new(r.weights.clone(), [out, inputs, k]),
                device,
            ));
            conv.bias = Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(r.bias.clone(), [out]),
                device,
            )));
        }
        let last = net.dense.len().saturating_sub(1);
        for (i, linear) in net.dense.iter_mut().enumerate() {
            let Some(r) = real.next() else { break };
            let mut r = r.clone();
            if let (true, Some((mean, std))) = (i == last, target_scale) {
                let s = if std != 0.0 { std } else { 1.0 };
                r.weights.iter_mut().for_each(|w| *w /= s);
                r.bias.iter_mut().for_each(|b| *b = (*b - mean) / s);
            }
            let [d_in, d_out] = linear.weight.val().dims();
            let w = crate::training::net::file_to_burn(&r.weights, d_in, d_out);
            linear.weight =
                Param::from_tensor(Tensor::from_data(TensorData::new(w, [d_in, d_out]), device));
            linear.bias = Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(r.bias.clone(), [d_out]),
                device,
            )));
        }
        net
    }

    /// The old model, loaded.
    pub fn model(&self) -> Result<Model<'_>> {
        crate::files::load(&self.path, &self.bytes)
    }
}
