//! The float networks, in burn: an MLP for tabular data and a 1-D CNN for
//! sensor windows, in one module type (a CNN is an MLP head behind conv
//! blocks), and their export to `vigie-core`'s builder.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::pool::{AvgPool1d, AvgPool1dConfig, MaxPool1d, MaxPool1dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig1d,
};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use vigie_core::builder::{FloatInput, FloatLayer, FloatModel, Range};
use vigie_core::format::{Activation, Padding, PoolDef, QParams};
use vigie_core::kernels::quantiles::quantile_rank;
use vigie_core::Task;

use crate::rng::Rng;
use crate::training::config::{ModelConfig, ModelKind};

/// The network: optional conv blocks (conv, ReLU, max pool 2), global
/// average pooling, then dense layers with ReLU between them.
///
/// Initial weights and dropout masks come from vigie's own seeded
/// generator, not burn's: burn's CPU backends seed only the first random
/// operation and then draw from process-wide state, so a seed alone would
/// not give the same model in every process.
#[derive(Module, Debug)]
pub struct Net<B: Backend> {
    /// Average pooling of the input over `downsample` steps (CNN only).
    pub downsample: Option<AvgPool1d>,
    /// Conv blocks (empty for an MLP).
    pub convs: Vec<Conv1d<B>>,
    /// Batch normalization after each convolution (empty: none).
    pub norms: Vec<BatchNorm<B>>,
    /// Max pooling after each conv block.
    pub pool: MaxPool1d,
    /// Dense layers; the last one gives the outputs.
    pub dense: Vec<Linear<B>>,
    /// Dropout after each hidden activation (training only; its `prob` is
    /// used with vigie's generator).
    pub dropout: Dropout,
    /// MLP on windows: quantiles read from each channel's sorted window
    /// (0: the raw window).
    pub quantiles: usize,
    /// Batch normalization of the quantiles, one per rank (they spread
    /// very differently: a window's minimum varies little, its maximum a
    /// lot); folded into the first dense layer for the device.
    pub quantile_norm: Option<BatchNorm<B>>,
    /// MLP on quantiles: the input's int8 range, `[min, max]`, fixed from
    /// the training rows before training ([`Net::fit_to_rows`]; empty
    /// until then). The network rounds its window to that grid, as the
    /// device's input map does before the quantile pooling, and the export
    /// keeps it as the input's range.
    pub grid: Vec<f32>,
}

/// The shape of a network, resolved from the configuration and the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Architecture {
    /// Input channels.
    pub channels: usize,
    /// Input length.
    pub length: usize,
    /// Filters of each conv block.
    pub filters: Vec<usize>,
    /// Conv kernel size (odd).
    pub kernel: usize,
    /// Hidden dense sizes.
    pub hidden: Vec<usize>,
    /// Input average pooling factor (1: none; CNN only).
    pub downsample: usize,
    /// Batch normalization after each convolution (CNN only).
    pub batch_norm: bool,
    /// Quantiles read from each channel's sorted window (MLP on windows
    /// only; 0: the raw window).
    pub quantiles: usize,
    /// Outputs.
    pub outputs: usize,
}

impl Architecture {
    /// Resolves `auto` and checks the shape fits the data.
    pub fn new(
        cfg: &ModelConfig,
        channels: usize,
        length: usize,
        outputs: usize,
    ) -> anyhow::Result<Self> {
        let kind = match cfg.kind {
            ModelKind::Auto if length > 1 => ModelKind::Cnn,
            ModelKind::Auto => ModelKind::Mlp,
            ModelKind::Trees => anyhow::bail!(
                "model.kind = \"trees\" grows a forest, not a network (the trainer's `trees` path builds it)"
            ),
            k => k,
        };
        let (filters, hidden) = match kind {
            ModelKind::Cnn => (cfg.filters.clone(), cfg.head.clone()),
            _ => (vec![], cfg.hidden.clone()),
        };
        if kind == ModelKind::Cnn {
            anyhow::ensure!(
                cfg.kernel % 2 == 1,
                "model.kernel = {}: use an odd kernel size",
                cfg.kernel
            );
            anyhow::ensure!(
                !filters.is_empty(),
                "model.filters is empty: a CNN needs at least one conv block"
            );
            anyhow::ensure!(
                cfg.downsample >= 1 && length / cfg.downsample >= 1,
                "model.downsample = {} does not fit a length of {length}",
                cfg.downsample
            );
            anyhow::ensure!(
                (length / cfg.downsample) >> filters.len() >= 1,
                "{} conv blocks halve a length of {} below 1; use fewer model.filters",
                filters.len(),
                length / cfg.downsample
            );
        }
        if cfg.quantiles > 0 {
            anyhow::ensure!(
                kind == ModelKind::Mlp && length > 1,
                "model.quantiles = {} applies to an MLP on windows; set model.kind = \"mlp\" and give windowed data, or set model.quantiles = 0",
                cfg.quantiles
            );
            anyhow::ensure!(
                cfg.quantiles <= length,
                "model.quantiles = {} is more than the {length} values of a window; use at most {length}",
                cfg.quantiles
            );
        }
        anyhow::ensure!(
            filters.iter().chain(&hidden).all(|&n| n > 0),
            "layer sizes must be positive (model.hidden, model.filters, model.head)"
        );
        Ok(Architecture {
            channels,
            length,
            filters,
            kernel: cfg.kernel,
            hidden,
            downsample: if kind == ModelKind::Cnn {
                cfg.downsample
            } else {
                1
            },
            batch_norm: kind == ModelKind::Cnn && cfg.batch_norm,
            quantiles: cfg.quantiles,
            outputs,
        })
    }

    /// Whether this is a CNN.
    pub fn is_cnn(&self) -> bool {
        !self.filters.is_empty()
    }

    /// The generator a training seeded with `seed` draws its network's
    /// weights from (the final training's, and each search run's with its
    /// own seed): one definition, so that the search's final training is
    /// the one `pipeline` would run.
    pub fn init_rng(seed: u64) -> Rng {
        Rng(seed ^ 0x1417_5EED)
    }

    /// Builds the network with weights drawn from `rng`: uniform in
    /// `±sqrt(1 / fan_in)`, burn's and PyTorch's default.
    pub fn init<B: Backend>(&self, dropout: f64, rng: &mut Rng, device: &B::Device) -> Net<B> {
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut c_in = self.channels;
        let pad = (self.kernel - 1) / 2;
        for &f in &self.filters {
            let mut conv = Conv1dConfig::new(c_in, f, self.kernel)
                .with_padding(PaddingConfig1d::Explicit(pad, pad))
                .init(device);
            let fan_in = c_in * self.kernel;
            conv.weight = Param::from_tensor(uniform(rng, [f, c_in, self.kernel], fan_in, device));
            conv.bias = Some(Param::from_tensor(uniform(rng, [f], fan_in, device)));
            convs.push(conv);
            if self.batch_norm {
                norms.push(BatchNormConfig::new(f).init(device));
            }
            c_in = f;
        }
        let mut d_in = if self.is_cnn() {
            c_in
        } else {
            self.channels * self.read_length()
        };
        let mut dense = Vec::new();
        for &h in self.hidden.iter().chain(std::iter::once(&self.outputs)) {
            let mut linear = LinearConfig::new(d_in, h).init(device);
            linear.weight = Param::from_tensor(uniform(rng, [d_in, h], d_in, device));
            linear.bias = Some(Param::from_tensor(uniform(rng, [h], d_in, device)));
            dense.push(linear);
            d_in = h;
        }
        Net {
            downsample: (self.downsample > 1).then(|| {
                AvgPool1dConfig::new(self.downsample)
                    .with_stride(self.downsample)
                    .init()
            }),
            convs,
            norms,
            pool: MaxPool1dConfig::new(2).with_stride(2).init(),
            dense,
            dropout: DropoutConfig::new(dropout).init(),
            quantiles: self.quantiles,
            quantile_norm: (self.quantiles > 0 && !self.is_cnn())
                .then(|| BatchNormConfig::new(self.channels * self.quantiles).init(device)),
            grid: Vec::new(),
        }
    }

    /// Values an MLP reads per channel: the quantiles, or the window.
    pub fn read_length(&self) -> usize {
        if self.quantiles > 0 {
            self.quantiles
        } else {
            self.length
        }
    }
}

/// A tensor of uniform values in `±sqrt(1 / fan_in)`.
fn uniform<B: Backend, const D: usize>(
    rng: &mut Rng,
    shape: [usize; D],
    fan_in: usize,
    device: &B::Device,
) -> Tensor<B, D> {
    let k = (1.0 / fan_in.max(1) as f64).sqrt();
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| ((rng.uniform() * 2.0 - 1.0) * k) as f32)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// Inverted dropout with a mask from `rng`: kept values are scaled by
/// `1 / (1 − p)`.
fn dropout<B: Backend, const D: usize>(
    t: Tensor<B, D>,
    p: f64,
    rng: Option<&mut Rng>,
) -> Tensor<B, D> {
    let Some(rng) = rng.filter(|_| p > 0.0) else {
        return t;
    };
    let shape = t.dims();
    let keep = (1.0 / (1.0 - p)) as f32;
    let n: usize = shape.iter().product();
    let mask: Vec<f32> = (0..n)
        .map(|_| if rng.uniform() < p { 0.0 } else { keep })
        .collect();
    let mask = Tensor::<B, D>::from_data(TensorData::new(mask, shape), &t.device());
    t.mul(mask)
}

impl<B: Backend> Net<B> {
    /// Outputs (logits or standardized regression values) for a batch
    /// `[batch, channels, length]`, without dropout.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 2> {
        self.forward_traced(x, None, &mut |_, _| {})
    }

    /// Forward pass for training: dropout masks drawn from `rng`.
    pub fn forward_train(&self, x: Tensor<B, 3>, rng: &mut Rng) -> Tensor<B, 2> {
        self.forward_traced(x, Some(rng), &mut |_, _| {})
    }

    /// Forward pass that hands each weighted layer's output (after its
    /// activation), in the order of the exported layers, to `seen`; with
    /// `rng`, dropout is applied (training).
    pub fn forward_traced(
        &self,
        x: Tensor<B, 3>,
        mut rng: Option<&mut Rng>,
        seen: &mut dyn FnMut(usize, &Tensor<B, 2>),
    ) -> Tensor<B, 2> {
        let p = self.dropout.prob;
        let [batch, _, _] = x.dims();
        let mut layer = 0;
        let mut h: Tensor<B, 2> = if self.convs.is_empty() && self.quantiles > 0 {
            let x = match self.input_grid() {
                Some(g) => on_grid(x, g),
                None => x,
            };
            let q = read_quantiles(x, self.quantiles);
            match &self.quantile_norm {
                Some(norm) => batch_norm(norm, q),
                None => q,
            }
        } else if self.convs.is_empty() {
            x.reshape([batch as i32, -1])
        } else {
            let mut t = match &self.downsample {
                Some(pool) => pool.forward(x),
                None => x,
            };
            for (i, conv) in self.convs.iter().enumerate() {
                t = conv.forward(t);
                if let Some(norm) = self.norms.get(i) {
                    t = batch_norm(norm, t);
                }
                t = relu(t);
                seen(layer, &t.clone().reshape([batch as i32, -1]));
                layer += 1;
                t = dropout(self.pool.forward(t), p, rng.as_deref_mut());
            }
            let [b, c, _] = t.dims();
            t.mean_dim(2).reshape([b, c])
        };
        let last = self.dense.len() - 1;
        for (i, linear) in self.dense.iter().enumerate() {
            h = linear.forward(h);
            if i < last {
                h = relu(h);
            }
            seen(layer, &h);
            layer += 1;
            if i < last {
                h = dropout(h, p, rng.as_deref_mut());
            }
        }
        h
    }
}

/// A dense layer's weights as burn stores them (`[in, out]`) in the
/// file's order (`[out][in]`).
pub fn burn_to_file(w: &[f32], d_in: usize, d_out: usize) -> Vec<f32> {
    (0..d_out * d_in)
        .map(|j| w[(j % d_in) * d_out + j / d_in])
        .collect()
}

/// A dense layer's weights in the file's order (`[out][in]`) as burn
/// stores them (`[in, out]`).
pub fn file_to_burn(w: &[f32], d_in: usize, d_out: usize) -> Vec<f32> {
    (0..d_in * d_out)
        .map(|j| w[(j % d_out) * d_in + j / d_out])
        .collect()
}

/// `[batch, c, l]` to `[batch, c · count]`: each channel's values sorted,
/// read at the ranks of `quantile_rank` (the device's `quantiles1d`).
pub fn read_quantiles<B: Backend>(x: Tensor<B, 3>, count: usize) -> Tensor<B, 2> {
    let [batch, _, length] = x.dims();
    let ranks: Vec<i64> = (0..count)
        .map(|k| quantile_rank(k, count, length) as i64)
        .collect();
    let ranks = Tensor::<B, 1, Int>::from_data(TensorData::new(ranks, [count]), &x.device());
    x.sort(2).select(2, ranks).reshape([batch as i32, -1])
}

/// `x` clamped to the real values of `q`'s 256 int8 levels.
pub fn clamp_to_levels<B: Backend, const D: usize>(x: Tensor<B, D>, q: QParams) -> Tensor<B, D> {
    let zp = q.zero_point as f32;
    x.clamp((-128.0 - zp) * q.scale, (127.0 - zp) * q.scale)
}

/// `x` on `q`'s int8 levels: clamped to them and rounded to the nearest,
/// as a real value (what the device's int8 tensor holds).
pub fn on_levels<B: Backend, const D: usize>(x: Tensor<B, D>, q: QParams) -> Tensor<B, D> {
    clamp_to_levels(x, q)
        .div_scalar(q.scale)
        .round()
        .mul_scalar(q.scale)
}

/// `x` on the int8 grid of `range` (the builder's quantization: widened to
/// 0, 256 levels); no gradient flows through (it is the network's input).
fn on_grid<B: Backend, const D: usize>(x: Tensor<B, D>, range: Range) -> Tensor<B, D> {
    on_levels(x, vigie_core::builder::qparams_for_range(range)).detach()
}

impl<B: Backend> Net<B> {
    /// The input's fixed grid (an MLP on quantiles, once trained).
    pub fn input_grid(&self) -> Option<Range> {
        match self.grid[..] {
            [min, max] => Some(Range { min, max }),
            _ => None,
        }
    }

    /// Fixes what the network takes from its training rows `x` (`rows ×
    /// channels × length`, standardized) before it trains: for an MLP on
    /// quantiles, the input's int8 grid, the rows' range (what a min-max
    /// calibration gives). The device's quantile pooling reads the int8
    /// levels of the window; a network trained on the finer values it
    /// never sees lost up to 5 points in int8 (ACSF1, seeds 3 and 4: 0.77
    /// → 0.72, 0.73 → 0.68). Any other network is returned as it is, and a
    /// grid once fixed stays.
    pub fn fit_to_rows(mut self, x: &[f32]) -> Self {
        if self.quantiles == 0 || !self.convs.is_empty() || !self.grid.is_empty() {
            return self;
        }
        let (min, max) = x
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if min <= max {
            self.grid = vec![min, max];
        }
        self
    }
}

/// Burn's batch normalization, computed without its transposed copies:
/// the batch statistics are means over the batch dimension and then over
/// each position dimension (equal-sized groups, so the same mean), where
/// `BatchNorm::forward` swaps the batch and channel dimensions and
/// reshapes (strided copies, forward and backward), and it normalizes as
/// one scale and one shift per channel. On burn-flex, 40 epochs of
/// OSULeaf's CNN 16-16 k3 with normalization took 9.4 s with
/// `BatchNorm::forward` and take 6.3 s with this (1.6 s without any
/// normalization). Same parameters, same running statistics (updated
/// while training, read otherwise), same formula.
pub fn batch_norm<B: Backend, const D: usize>(
    norm: &BatchNorm<B>,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    let device = x.device();
    let channels = x.dims()[1];
    let mut shape = [1; D];
    shape[1] = channels;
    let over_rows = |t: Tensor<B, D>| {
        let mut m = t.mean_dim(0);
        for d in 2..D {
            m = m.mean_dim(d);
        }
        m
    };
    let (mean, var) = if B::ad_enabled(&device) {
        let mean = over_rows(x.clone());
        let var = over_rows(x.clone().sub(mean.clone()).square());
        let momentum = norm.momentum;
        let update = |state: &burn::module::RunningState<Tensor<B, 1>>, batch: &Tensor<B, D>| {
            let old = state.value_sync().to_device(&device);
            let batch = batch.clone().detach().reshape([channels]);
            state.update(
                old.mul_scalar(1.0 - momentum)
                    .add(batch.mul_scalar(momentum))
                    .detach(),
            );
        };
        update(&norm.running_mean, &mean);
        update(&norm.running_var, &var);
        (mean, var)
    } else {
        (
            norm.running_mean.value().to_device(&device).reshape(shape),
            norm.running_var.value().to_device(&device).reshape(shape),
        )
    };
    // `(x − mean) / std · γ + β` as one scale and one shift per channel:
    // two passes over the activations instead of four.
    let scale = norm
        .gamma
        .val()
        .reshape(shape)
        .div(var.add_scalar(norm.epsilon).sqrt());
    let shift = norm.beta.val().reshape(shape).sub(mean.mul(scale.clone()));
    x.mul(scale).add(shift)
}

/// A tensor's values on the host, as `E` (empty if the backend fails).
pub fn host_vec<B: Backend, const D: usize, K, E>(t: Tensor<B, D, K>) -> Vec<E>
where
    K: burn::tensor::BasicOps<B>,
    E: burn::tensor::Element,
{
    t.into_data()
        .convert::<E>()
        .into_vec::<E>()
        .unwrap_or_default()
}

fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    host_vec(t)
}

/// `x` (rows of `channels × length` values) as batches of at most 512 rows.
pub fn batches<'x, B: Backend>(
    x: &'x [f32],
    (channels, length): (usize, usize),
    device: &'x B::Device,
) -> impl Iterator<Item = Tensor<B, 3>> + 'x {
    let width = (channels * length).max(1);
    x.chunks(512 * width).map(move |chunk| {
        let n = chunk.len() / width;
        Tensor::from_data(
            TensorData::new(chunk.to_vec(), [n, channels, length]),
            device,
        )
    })
}

/// A batch normalization at inference (running statistics), per channel:
/// its scale `s = γ / sqrt(σ² + ε)`, its mean `μ` and shift `β`, so that
/// it maps `x` to `(x − μ)·s + β`.
struct Normalization {
    scale: Vec<f32>,
    mean: Vec<f32>,
    beta: Vec<f32>,
}

impl Normalization {
    fn of<B: Backend>(norm: &BatchNorm<B>) -> Self {
        let gamma = values(norm.gamma.val());
        let var = values(norm.running_var.value());
        Normalization {
            scale: gamma
                .iter()
                .zip(&var)
                .map(|(g, v)| g / (v + norm.epsilon as f32).sqrt())
                .collect(),
            mean: values(norm.running_mean.value()),
            beta: values(norm.beta.val()),
        }
    }
}

/// Folds a batch normalization (running statistics) into the convolution
/// before it: `w'[o] = w[o]·s`, `b' = (b − μ)·s + β`, so the device runs
/// one convolution.
fn fold_batch_norm<B: Backend>(norm: &BatchNorm<B>, weights: &mut [f32], bias: &mut [f32]) {
    let n = Normalization::of(norm);
    let per_out = weights.len() / bias.len().max(1);
    for o in 0..bias.len() {
        let s = n.scale[o];
        weights[o * per_out..(o + 1) * per_out]
            .iter_mut()
            .for_each(|w| *w *= s);
        bias[o] = (bias[o] - n.mean[o]) * s + n.beta[o];
    }
}

/// Folds a batch normalization of a dense layer's inputs (running
/// statistics) into the layer: each input is `s_j·x_j + t_j` with
/// `t = β − s·μ`, so `W' = W·diag(s)` and `b' = b + W·t`. `weights` is
/// `[out][in]`.
fn fold_batch_norm_into_dense<B: Backend>(
    norm: &BatchNorm<B>,
    weights: &mut [f32],
    bias: &mut [f32],
) {
    let n = Normalization::of(norm);
    let d_in = n.scale.len();
    for (o, b) in bias.iter_mut().enumerate() {
        let row = &mut weights[o * d_in..(o + 1) * d_in];
        for (j, w) in row.iter_mut().enumerate() {
            *b += *w * (n.beta[j] - n.scale[j] * n.mean[j]);
            *w *= n.scale[j];
        }
    }
}

/// Everything the export needs besides the weights.
#[derive(Debug, Clone)]
pub struct ExportInfo {
    /// Model name.
    pub name: String,
    /// Channel names.
    pub channels: Vec<String>,
    /// Samples per channel.
    pub length: usize,
    /// Training mean and std per channel.
    pub mean: Vec<f32>,
    /// Training std per channel.
    pub std: Vec<f32>,
    /// Imputation values (empty: missing values refused).
    pub missing: Vec<f32>,
    /// Task.
    pub task: Task,
    /// Output names.
    pub outputs: Vec<String>,
    /// Regression: the target's training mean and std, folded into the
    /// last layer so the model outputs real units.
    pub target_scale: Option<(f32, f32)>,
}

/// Converts trained weights into the builder's float model. `ranges[i]`
/// is the calibrated output range of weighted layer `i`; `input` the range
/// of standardized inputs.
pub fn export<B: Backend>(
    net: &Net<B>,
    info: &ExportInfo,
    input: Range,
    ranges: &[Range],
) -> FloatModel {
    let mut layers = Vec::new();
    let mut weighted = 0;
    // An MLP on quantiles was trained on its input's grid: that range, not
    // a calibrated one.
    let input = net.input_grid().unwrap_or(input);
    if let Some(pool) = &net.downsample {
        layers.push(FloatLayer::AvgPool1d(PoolDef {
            kernel: pool.kernel_size as u16,
            stride: pool.stride as u16,
            padding: Padding::Valid,
        }));
    }
    for (i, conv) in net.convs.iter().enumerate() {
        let [out_c, in_c, k] = conv.weight.val().dims();
        let mut bias = conv
            .bias
            .as_ref()
            .map(|b| values(b.val()))
            .unwrap_or_else(|| vec![0.0; out_c]);
        let mut weights = values(conv.weight.val());
        if let Some(norm) = net.norms.get(i) {
            fold_batch_norm(norm, &mut weights, &mut bias);
        }
        layers.push(FloatLayer::Conv1d {
            in_channels: in_c,
            out_channels: out_c,
            kernel: k,
            stride: 1,
            padding: Padding::Same,
            weights,
            bias,
            activation: Activation::Relu,
            range: ranges[weighted],
        });
        weighted += 1;
        layers.push(FloatLayer::MaxPool1d(PoolDef {
            kernel: 2,
            stride: 2,
            padding: Padding::Valid,
        }));
    }
    if !net.convs.is_empty() {
        layers.push(FloatLayer::GlobalAvgPool1d);
        layers.push(FloatLayer::Flatten);
    }
    if net.convs.is_empty() && net.quantiles > 0 {
        layers.push(FloatLayer::Quantiles1d {
            count: net.quantiles,
        });
    }
    let last = net.dense.len() - 1;
    for (i, linear) in net.dense.iter().enumerate() {
        let [d_in, d_out] = linear.weight.val().dims();
        // burn stores [in, out]; the file wants [out][in].
        let mut weights = burn_to_file(&values(linear.weight.val()), d_in, d_out);
        let mut bias = linear
            .bias
            .as_ref()
            .map(|b| values(b.val()))
            .unwrap_or_else(|| vec![0.0; d_out]);
        if let Some(norm) = net.quantile_norm.as_ref().filter(|_| i == 0) {
            fold_batch_norm_into_dense(norm, &mut weights, &mut bias);
        }
        if i == last {
            if let Some((mean, std)) = info.target_scale {
                weights.iter_mut().for_each(|w| *w *= std);
                bias.iter_mut().for_each(|b| *b = *b * std + mean);
            }
        }
        layers.push(FloatLayer::Dense {
            in_features: d_in,
            out_features: d_out,
            weights,
            bias,
            activation: if i < last {
                Activation::Relu
            } else {
                Activation::None
            },
            range: ranges[weighted],
        });
        weighted += 1;
    }
    FloatModel {
        name: info.name.clone(),
        input: FloatInput {
            names: info.channels.clone(),
            length: info.length as u16,
            mean: info.mean.clone(),
            std: info.std.clone(),
            range: input,
            missing: info.missing.clone(),
            // A dense first layer reads the input at 16 bits: a tabular
            // column's fine differences survive (diamonds' dimensions in
            // 0.01 mm over several mm), for two bytes of arena a value.
            wide: true,
        },
        layers,
        task: info.task,
        output_names: info.outputs.clone(),
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::module::RunningState;

    type B = Flex;

    /// A batch normalization folded into its convolution gives the same
    /// outputs as the two run one after the other, at inference.
    #[test]
    fn folded_batch_norm_matches_convolution_then_normalization() {
        let device = Default::default();
        let arch = Architecture {
            channels: 2,
            length: 16,
            filters: vec![4],
            kernel: 3,
            hidden: vec![],
            downsample: 1,
            batch_norm: true,
            quantiles: 0,
            outputs: 3,
        };
        let mut rng = Rng(7);
        let mut net: Net<B> = arch.init(0.0, &mut rng, &device);
        // Trained-looking statistics and affine parameters.
        let t = |v: [f32; 4]| Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [4]), &device);
        let norm = &mut net.norms[0];
        norm.gamma = Param::from_tensor(t([0.5, 1.5, -1.0, 2.0]));
        norm.beta = Param::from_tensor(t([0.1, -0.2, 0.3, 0.0]));
        norm.running_mean = RunningState::new(t([0.2, -0.1, 0.05, 0.4]));
        norm.running_var = RunningState::new(t([0.5, 2.0, 1.0, 0.1]));
        let mut folded = Net::<B> {
            downsample: None,
            convs: net.convs.clone(),
            norms: vec![],
            pool: MaxPool1dConfig::new(2).with_stride(2).init(),
            dense: net.dense.clone(),
            dropout: DropoutConfig::new(0.0).init(),
            quantiles: 0,
            quantile_norm: None,
            grid: Vec::new(),
        };
        let conv = &net.convs[0];
        let mut w = values(conv.weight.val());
        let mut b = values(conv.bias.as_ref().unwrap().val());
        fold_batch_norm(&net.norms[0], &mut w, &mut b);
        folded.convs[0].weight =
            Param::from_tensor(Tensor::from_data(TensorData::new(w, [4, 2, 3]), &device));
        folded.convs[0].bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(b, [4]),
            &device,
        )));
        let x: Vec<f32> = (0..2 * 2 * 16).map(|_| rng.normal() as f32).collect();
        let input = || Tensor::<B, 3>::from_data(TensorData::new(x.clone(), [2, 2, 16]), &device);
        let a = values(net.forward(input()));
        let f = values(folded.forward(input()));
        /// Float rounding of the two orders of operations.
        const FOLD_TOLERANCE: f32 = 1e-5;
        for (p, q) in a.iter().zip(&f) {
            assert!((p - q).abs() <= FOLD_TOLERANCE, "{a:?} != {f:?}");
        }
    }

    /// `batch_norm` gives what burn's `BatchNorm::forward` gives, while
    /// training (batch statistics, and the same running statistics after)
    /// and at inference (running statistics), on 3-D (convolution) and
    /// 2-D (quantile) inputs.
    #[test]
    fn batch_norm_matches_burns_batch_norm_in_training_and_inference() {
        type A = burn::backend::Autodiff<Flex>;
        /// Float rounding of two orders of the same sums.
        const TOLERANCE: f32 = 1e-5;
        let close = |a: &[f32], b: &[f32], what: &str| {
            assert_eq!(a.len(), b.len(), "{what}");
            for (p, q) in a.iter().zip(b) {
                assert!((p - q).abs() <= TOLERANCE, "{what}: {a:?} != {b:?}");
            }
        };
        fn norm_of<B: Backend>(device: &B::Device) -> BatchNorm<B> {
            let t =
                |v: [f32; 3]| Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [3]), device);
            let mut norm = BatchNormConfig::new(3).init(device);
            norm.gamma = Param::from_tensor(t([0.5, 1.5, -1.0]));
            norm.beta = Param::from_tensor(t([0.1, -0.2, 0.3]));
            norm.running_mean = RunningState::new(t([0.2, -0.1, 0.05]));
            norm.running_var = RunningState::new(t([0.5, 2.0, 1.0]));
            norm
        }
        let device = Default::default();
        let mut rng = Rng(11);
        let x: Vec<f32> = (0..4 * 3 * 10)
            .map(|_| 2.0 + 3.0 * rng.normal() as f32)
            .collect();
        // Training (autodiff): batch statistics, running ones updated.
        let (ours, burns) = (norm_of::<A>(&device), norm_of::<A>(&device));
        let t3 = || Tensor::<A, 3>::from_data(TensorData::new(x.clone(), [4, 3, 10]), &device);
        close(
            &values(batch_norm(&ours, t3())),
            &values(burns.forward(t3())),
            "training, 3-D",
        );
        close(
            &values(ours.running_mean.value()),
            &values(burns.running_mean.value()),
            "running mean",
        );
        close(
            &values(ours.running_var.value()),
            &values(burns.running_var.value()),
            "running variance",
        );
        let t2 =
            || Tensor::<A, 2>::from_data(TensorData::new(x[..12 * 3].to_vec(), [12, 3]), &device);
        close(
            &values(batch_norm(&ours, t2())),
            &values(burns.forward(t2())),
            "training, 2-D",
        );
        close(
            &values(ours.running_var.value()),
            &values(burns.running_var.value()),
            "running variance after 2-D",
        );
        // Inference: the running statistics.
        let (ours, burns) = (norm_of::<B>(&device), norm_of::<B>(&device));
        let t3 = || Tensor::<B, 3>::from_data(TensorData::new(x.clone(), [4, 3, 10]), &device);
        close(
            &values(batch_norm(&ours, t3())),
            &values(burns.forward(t3())),
            "inference, 3-D",
        );
        let t2 =
            || Tensor::<B, 2>::from_data(TensorData::new(x[..12 * 3].to_vec(), [12, 3]), &device);
        close(
            &values(batch_norm(&ours, t2())),
            &values(burns.forward(t2())),
            "inference, 2-D",
        );
    }
}
