//! The float networks, in burn: an MLP for tabular data and a 1-D CNN for
//! sensor windows, in one module type (a CNN is an MLP head behind conv
//! blocks), and their export to `vigie-core`'s builder.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::pool::{MaxPool1d, MaxPool1dConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig1d};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use vigie_core::builder::{FloatInput, FloatLayer, FloatModel, Range};
use vigie_core::format::{Activation, Padding, PoolDef};
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
    /// Conv blocks (empty for an MLP).
    pub convs: Vec<Conv1d<B>>,
    /// Max pooling after each conv block.
    pub pool: MaxPool1d,
    /// Dense layers; the last one gives the outputs.
    pub dense: Vec<Linear<B>>,
    /// Dropout after each hidden activation (training only; its `prob` is
    /// used with vigie's generator).
    pub dropout: Dropout,
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
                length >> filters.len() >= 1,
                "{} conv blocks halve a length of {length} below 1; use fewer model.filters",
                filters.len()
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
            outputs,
        })
    }

    /// Whether this is a CNN.
    pub fn is_cnn(&self) -> bool {
        !self.filters.is_empty()
    }

    /// Builds the network with weights drawn from `rng`: uniform in
    /// `±sqrt(1 / fan_in)`, burn's and PyTorch's default.
    pub fn init<B: Backend>(&self, dropout: f64, rng: &mut Rng, device: &B::Device) -> Net<B> {
        let mut convs = Vec::new();
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
            c_in = f;
        }
        let mut d_in = if self.is_cnn() {
            c_in
        } else {
            self.channels * self.length
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
            convs,
            pool: MaxPool1dConfig::new(2).with_stride(2).init(),
            dense,
            dropout: DropoutConfig::new(dropout).init(),
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
        let mut h: Tensor<B, 2> = if self.convs.is_empty() {
            x.reshape([batch as i32, -1])
        } else {
            let mut t = x;
            for conv in &self.convs {
                t = relu(conv.forward(t));
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

fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("float tensor data")
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
    for conv in &net.convs {
        let [out_c, in_c, k] = conv.weight.val().dims();
        let bias = conv
            .bias
            .as_ref()
            .map(|b| values(b.val()))
            .unwrap_or_else(|| vec![0.0; out_c]);
        layers.push(FloatLayer::Conv1d {
            in_channels: in_c,
            out_channels: out_c,
            kernel: k,
            stride: 1,
            padding: Padding::Same,
            weights: values(conv.weight.val()),
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
    let last = net.dense.len() - 1;
    for (i, linear) in net.dense.iter().enumerate() {
        let [d_in, d_out] = linear.weight.val().dims();
        // burn stores [in, out]; the file wants [out][in].
        let w = values(linear.weight.val());
        let mut weights: Vec<f32> = (0..d_out * d_in)
            .map(|j| w[(j % d_in) * d_out + j / d_in])
            .collect();
        let mut bias = linear
            .bias
            .as_ref()
            .map(|b| values(b.val()))
            .unwrap_or_else(|| vec![0.0; d_out]);
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
        },
        layers,
        task: info.task,
        output_names: info.outputs.clone(),
    }
}
