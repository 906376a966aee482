//! Quantization-aware fine-tuning of an exported classifier MLP.
//!
//! Post-training quantization rounds each weight to its row's int8 grid
//! and each activation to its tensor's 256 levels; on most sets the int8
//! model then decides as the float network does, but a wide network with a
//! large learning rate (diamonds' MLP 128-64 at 0.01) can lose half a point
//! of accuracy. Here the float model the builder is about to quantize
//! (folded, stretched, calibrated) is trained a little more with the
//! rounding in its forward pass (straight-through gradients), to give the
//! decisions of the original float network back: the loss is the cross
//! entropy of its class probabilities (distillation), not the labels', so
//! what is fitted is the int8 model's agreement with the float one, which
//! is what the int8 − float gap measures. The caller keeps the result only
//! when its int8 model agrees better with the float network on rows that
//! neither saw.
//!
//! The simulated rounding is the builder's: each weight row symmetric over
//! ±127 of its largest magnitude, each layer's output affine over its
//! calibrated range (widened to 0) after its activation, the input at
//! int8 when the first layer is a quantile pooling (a dense first layer
//! reads it at 16 bits, whose rounding is left out). Biases stay float
//! (the builder stores them in 32 bits). The ranges are not changed.

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::{log_softmax, relu, softmax};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use vigie_core::builder::{qparams_for_range, FloatLayer, FloatModel};
use vigie_core::format::{Activation, QParams};

use crate::rng::Rng;
use crate::training::fit::Split;
use crate::training::net::{
    burn_to_file, clamp_to_levels, file_to_burn, host_vec, on_levels, read_quantiles, ExportInfo,
};

/// Optimizer steps of the fine-tuning, about: enough for the weights to
/// settle on their grids, few enough to stay near the float network (a few
/// epochs of a large set, more of a small one).
const STEPS: usize = 800;
/// Epochs at most (a small set's rows are seen this often at most).
const MAX_EPOCHS: usize = 60;
/// The fine-tuning's initial learning rate, as a share of the training's:
/// the weights are already good; the rate then falls to zero (cosine).
const LEARNING_RATE_SHARE: f64 = 0.1;

/// The parameters fine-tuned: each dense layer's weights (`[in, out]`)
/// and biases.
#[derive(Module, Debug)]
struct Student<B: Backend> {
    weights: Vec<Param<Tensor<B, 2>>>,
    biases: Vec<Param<Tensor<B, 1>>>,
}

/// What the forward pass needs besides the parameters.
#[derive(Debug, Clone)]
struct Plan {
    /// The input's int8 quantization, when its rounding is simulated.
    input: Option<QParams>,
    /// Quantiles per channel read before the dense layers (0: none).
    quantiles: usize,
    /// Each dense layer's activation and output quantization.
    outputs: Vec<(Activation, QParams)>,
}

/// `x` rounded to `q`'s levels in the forward pass, unchanged in the
/// backward one.
fn fake_quant<B: Backend, const D: usize>(x: Tensor<B, D>, q: QParams) -> Tensor<B, D> {
    // Clamped first, so that a value beyond the range passes no gradient
    // (pushing it further changes nothing the device computes).
    let x = clamp_to_levels(x, q);
    x.clone() + (on_levels(x.clone(), q) - x).detach()
}

/// Weights `[in, out]` rounded as the builder rounds each output's row:
/// symmetric, ±127 at the row's largest magnitude.
fn fake_quant_weights<B: Backend>(w: Tensor<B, 2>) -> Tensor<B, 2> {
    let scale = w
        .clone()
        .abs()
        .max_dim(0)
        .clamp_min(f32::MIN_POSITIVE)
        .div_scalar(127.0)
        .detach();
    let rounded = w
        .clone()
        .div(scale.clone())
        .round()
        .clamp(-127.0, 127.0)
        .mul(scale);
    w.clone() + (rounded - w).detach()
}

impl<B: Backend> Student<B> {
    fn forward(&self, x: Tensor<B, 3>, plan: &Plan) -> Tensor<B, 2> {
        let [batch, _, _] = x.dims();
        let x = match plan.input {
            Some(q) => fake_quant(x, q),
            None => x,
        };
        let mut h = if plan.quantiles > 0 {
            read_quantiles(x, plan.quantiles)
        } else {
            x.reshape([batch as i32, -1])
        };
        for ((w, b), &(activation, q)) in self.weights.iter().zip(&self.biases).zip(&plan.outputs) {
            h = h.matmul(fake_quant_weights(w.val())) + b.val().unsqueeze::<2>();
            h = match activation {
                Activation::None => h,
                Activation::Relu => relu(h),
                Activation::Relu6 => relu(h).clamp_max(6.0),
            };
            h = fake_quant(h, q);
        }
        h
    }
}

/// The dense layers of `model` when it is an MLP this module fine-tunes
/// (dense layers behind an optional quantile pooling and flatten), with
/// the forward pass's plan; `None` for any other model.
fn plan_of(model: &FloatModel) -> Option<(Plan, Vec<(usize, usize)>)> {
    let mut quantiles = 0;
    let mut dense = Vec::new();
    let mut outputs = Vec::new();
    for (i, layer) in model.layers.iter().enumerate() {
        match layer {
            FloatLayer::Quantiles1d { count } if i == 0 => quantiles = *count,
            FloatLayer::Flatten if dense.is_empty() => {}
            FloatLayer::Dense {
                in_features,
                out_features,
                activation,
                range,
                ..
            } => {
                dense.push((*in_features, *out_features));
                outputs.push((*activation, qparams_for_range(*range)));
            }
            _ => return None,
        }
    }
    if dense.is_empty() {
        return None;
    }
    let input = (quantiles > 0).then(|| qparams_for_range(model.input.range));
    Some((
        Plan {
            input,
            quantiles,
            outputs,
        },
        dense,
    ))
}

/// The rows of `split` (standardized with `info`'s map) as `model`'s own
/// input map reads them (its per-column stretch moves mean and scale).
fn model_inputs(split: &Split, info: &ExportInfo, model: &FloatModel) -> Vec<f32> {
    let channels = info.mean.len().max(1);
    let length = info.length.max(1);
    split
        .x
        .iter()
        .enumerate()
        .map(|(i, &u)| {
            let c = (i / length) % channels;
            let raw = u as f64 * info.std[c] as f64 + info.mean[c] as f64;
            let v = (raw - model.input.mean[c] as f64) / model.input.std[c] as f64;
            if v.is_finite() {
                v as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// Fine-tunes `model` (a classifier MLP; `None` for any other) on the
/// training rows with the int8 rounding simulated, towards `teacher`, the
/// float network's logits on those rows (row-major, `classes` a row).
/// Seeded: the same inputs give the same weights.
#[allow(clippy::too_many_arguments)]
pub fn fine_tune<B: AutodiffBackend>(
    model: &FloatModel,
    info: &ExportInfo,
    train: &Split,
    teacher: &[f32],
    classes: usize,
    learning_rate: f64,
    seed: u64,
    device: &B::Device,
) -> Option<FloatModel> {
    let (plan, dense) = plan_of(model)?;
    let rows = train.len();
    if classes < 2 || rows == 0 || teacher.len() != rows * classes {
        return None;
    }
    let (channels, length) = (info.mean.len(), info.length.max(1));
    let width = channels * length;
    let x = model_inputs(train, info, model);
    let mut weights = Vec::new();
    let mut biases = Vec::new();
    for (layer, &(d_in, d_out)) in model
        .layers
        .iter()
        .filter(|l| matches!(l, FloatLayer::Dense { .. }))
        .zip(&dense)
    {
        let FloatLayer::Dense {
            weights: w, bias, ..
        } = layer
        else {
            return None;
        };
        weights.push(Param::from_tensor(Tensor::<B, 2>::from_data(
            TensorData::new(file_to_burn(w, d_in, d_out), [d_in, d_out]),
            device,
        )));
        biases.push(Param::from_tensor(Tensor::<B, 1>::from_data(
            TensorData::new(bias.clone(), [d_out]),
            device,
        )));
    }
    let mut student = Student { weights, biases };

    let mut optim = AdamConfig::new().init();
    let batch = crate::training::search::batch_size(rows);
    let steps_per_epoch = rows.div_ceil(batch).max(1);
    let epochs = STEPS.div_ceil(steps_per_epoch).clamp(1, MAX_EPOCHS);
    let total = (epochs * steps_per_epoch) as f64;
    let mut rng = Rng(seed ^ 0x0A7_F17E);
    let mut order: Vec<usize> = (0..rows).collect();
    let mut step = 0usize;
    for _ in 0..epochs {
        rng.shuffle(&mut order);
        for chunk in order.chunks(batch) {
            let mut xb = Vec::with_capacity(chunk.len() * width);
            let mut tb = Vec::with_capacity(chunk.len() * classes);
            for &r in chunk {
                xb.extend_from_slice(&x[r * width..(r + 1) * width]);
                tb.extend_from_slice(&teacher[r * classes..(r + 1) * classes]);
            }
            let xt = Tensor::<B, 3>::from_data(
                TensorData::new(xb, [chunk.len(), channels, length]),
                device,
            );
            let target = softmax(
                Tensor::<B, 2>::from_data(TensorData::new(tb, [chunk.len(), classes]), device),
                1,
            );
            let out = student.forward(xt, &plan);
            let loss = (target * log_softmax(out, 1)).sum_dim(1).mean().neg();
            let lr = learning_rate
                * LEARNING_RATE_SHARE
                * 0.5
                * (1.0 + (std::f64::consts::PI * step as f64 / total).cos());
            let grads = GradientsParams::from_grads(loss.backward(), &student);
            student = optim.step(lr, student, grads);
            step += 1;
        }
    }
    let mut tuned = model.clone();
    let mut params = student.weights.iter().zip(&student.biases).zip(&dense);
    for layer in tuned.layers.iter_mut() {
        if let FloatLayer::Dense {
            weights: w, bias, ..
        } = layer
        {
            let ((wt, bt), &(d_in, d_out)) = params.next()?;
            *w = burn_to_file(&host_vec::<B, 2, _, f32>(wt.val()), d_in, d_out);
            *bias = host_vec::<B, 1, _, f32>(bt.val());
        }
    }
    tuned
        .layers
        .iter()
        .all(|l| match l {
            FloatLayer::Dense { weights, bias, .. } => {
                weights.iter().chain(bias).all(|v| v.is_finite())
            }
            _ => true,
        })
        .then_some(tuned)
}
