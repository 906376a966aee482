//! The training configuration (`--config model.toml`). Every field has a
//! default; `vigie train --print-config` prints them all.

use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The network.
    pub model: ModelConfig,
    /// The optimization.
    pub training: TrainingConfig,
    /// Post-training quantization.
    pub quantization: QuantizationConfig,
}

/// Which network, and its shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// `auto` (a CNN for channel-major windows, an MLP otherwise), `mlp`,
    /// `cnn` or `trees` (extremely randomized trees, classification).
    pub kind: ModelKind,
    /// MLP: hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Dropout probability after each hidden layer (training only).
    pub dropout: f64,
    /// CNN: filters of each conv block (conv, ReLU, max pool 2).
    pub filters: Vec<usize>,
    /// CNN: kernel size of every convolution (odd; "same" padding).
    pub kernel: usize,
    /// CNN: hidden sizes of the dense head after global average pooling.
    pub head: Vec<usize>,
    /// CNN: average the input over windows of this many steps first (1:
    /// none), so that long series cost fewer MACs.
    pub downsample: usize,
    /// CNN: batch normalization after each convolution while training,
    /// folded into the convolution's weights and bias for the device.
    pub batch_norm: bool,
    /// MLP on windows: read each channel's window at this many evenly
    /// spaced quantiles (its values in rising order) instead of in time
    /// order; 0 reads the raw window. The device does the same
    /// (`quantiles1d` layer).
    pub quantiles: usize,
    /// Trees: how many. Each is grown on every training row; the flash
    /// budget caps their leaves.
    pub trees: usize,
}

/// Network families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// CNN for windows, MLP for tabular data.
    Auto,
    /// Multi-layer perceptron.
    Mlp,
    /// 1-D convolutional network.
    Cnn,
    /// Extremely randomized trees on the int8 features the device reads:
    /// each channel's `quantiles` for windows, the input levels otherwise
    /// (classification only).
    Trees,
}

/// Optimization settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingConfig {
    /// Most epochs.
    pub epochs: usize,
    /// Rows per mini-batch.
    pub batch_size: usize,
    /// `adam`, `adamw` or `sgd` (with momentum).
    pub optimizer: OptimizerKind,
    /// Initial learning rate.
    pub learning_rate: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// L2 weight decay (decoupled for AdamW).
    pub weight_decay: f64,
    /// `constant`, `cosine` (to 1% of the initial rate) or `step` (halve every `step_epochs`).
    pub schedule: Schedule,
    /// Epochs between halvings for the `step` schedule.
    pub step_epochs: usize,
    /// `auto` (cross-entropy for classification, MSE for regression),
    /// `cross_entropy`, `focal`, `mse` or `huber`.
    pub loss: LossKind,
    /// Class weights for the classification losses: `none`, `balanced`
    /// (inverse class frequency), or a list, one weight per class.
    pub class_weights: ClassWeights,
    /// Focal loss focusing parameter γ.
    pub focal_gamma: f64,
    /// Huber loss threshold, in standard deviations of the target.
    pub huber_delta: f64,
    /// Standard deviation of Gaussian noise added to standardized inputs
    /// while training (0: none).
    pub input_noise: f64,
    /// Stop after this many epochs without a better validation loss, and
    /// keep the best weights.
    pub patience: usize,
}

/// Optimizers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam, with L2 weight decay.
    Adam,
    /// AdamW, decoupled weight decay.
    Adamw,
    /// SGD with momentum.
    Sgd,
}

/// Learning-rate schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Always the initial rate.
    Constant,
    /// Cosine decay over `epochs` to 1% of the initial rate.
    Cosine,
    /// Halve every `step_epochs`.
    Step,
}

/// Loss functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Cross-entropy for classification, MSE for regression.
    Auto,
    /// Cross-entropy on softmax (optionally class-weighted).
    CrossEntropy,
    /// Focal loss: cross-entropy scaled by `(1 − p)^γ`.
    Focal,
    /// Mean squared error (regression).
    Mse,
    /// Huber loss (regression).
    Huber,
}

/// Class weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClassWeights {
    /// `"none"` or `"balanced"`.
    Named(NamedWeights),
    /// One weight per class, in class order.
    Explicit(Vec<f64>),
}

/// Named class weightings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamedWeights {
    /// Every class weighs 1.
    None,
    /// Weight `n / (k · n_c)` for class `c`.
    Balanced,
}

/// Calibration of activation ranges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuantizationConfig {
    /// `minmax` or `percentile`.
    pub calibration: Calibration,
    /// For `percentile`: the share of values kept inside the range (the
    /// rest is clipped), e.g. 99.99.
    pub percentile: f64,
    /// Training rows used for calibration (at most).
    pub calibration_rows: usize,
    /// Per tensor (the input, then each weighted layer's output): the
    /// share of values kept inside its range, 100 for min-max. Empty: every
    /// tensor follows `calibration`. The model search fills it.
    pub per_tensor: Vec<f64>,
    /// A classifier's output range reaches at most this far below the
    /// lowest top logit of the calibration rows. A logit 12 below the top
    /// weighs less than e^-12 (6·10⁻⁶) in the softmax: lower ones change
    /// neither the decision nor the probabilities, and the int8 levels
    /// they would take go to telling the leading classes apart, since near
    /// ties are where quantization flips decisions.
    pub logit_span: f64,
    /// An MLP on tabular rows: give each input column its own int8 range
    /// (the input tensor's share of its values) instead of one range for
    /// all columns. The per-column stretch goes into the input map and is
    /// undone in the first layer's weights, so the float model is the
    /// same; a column with a narrow spread no longer loses its resolution
    /// to another column's outliers. The model search tries it.
    pub per_channel_input: bool,
}

/// Calibration methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calibration {
    /// The smallest and largest value seen.
    Minmax,
    /// Symmetric percentiles, clipping rare outliers.
    Percentile,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            kind: ModelKind::Auto,
            hidden: vec![64, 32],
            dropout: 0.1,
            filters: vec![16, 16],
            kernel: 5,
            head: vec![],
            downsample: 1,
            batch_norm: false,
            quantiles: 0,
            trees: 50,
        }
    }
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            epochs: 200,
            batch_size: 16,
            optimizer: OptimizerKind::Adam,
            learning_rate: 1e-3,
            momentum: 0.9,
            weight_decay: 1e-4,
            schedule: Schedule::Cosine,
            step_epochs: 30,
            loss: LossKind::Auto,
            class_weights: ClassWeights::Named(NamedWeights::None),
            focal_gamma: 2.0,
            huber_delta: 1.0,
            input_noise: 0.0,
            patience: 50,
        }
    }
}

impl Default for QuantizationConfig {
    fn default() -> Self {
        QuantizationConfig {
            calibration: Calibration::Minmax,
            percentile: 99.99,
            calibration_rows: 2000,
            per_tensor: vec![],
            logit_span: 12.0,
            per_channel_input: false,
        }
    }
}

/// The default configuration as commented TOML, for `--print-config`:
/// what each field means is said here, not in a source file.
pub fn default_toml() -> String {
    let body =
        toml::to_string_pretty(&Config::default()).expect("the default configuration serializes");
    format!(
        "\
         # vigie training configuration: every field shown with its default.\n\
         # [model] kind: auto | mlp | cnn | trees. hidden: units of each dense layer (mlp).\n\
         #   filters, kernel, head: the 1-D CNN's convolution widths, kernel size and\n\
         #   dense head. downsample: average the input over this many steps first.\n\
         #   batch_norm: normalize after each convolution while training (folded\n\
         #   into the convolution for the device). dropout: share of units dropped.\n\
         #   quantiles: an MLP on windows reads each channel's values sorted, at this\n\
         #   many evenly spaced ranks (0: the raw window in time order); trees read\n\
         #   the same. trees: how many extremely randomized trees (kind = trees, for\n\
         #   classes; the flash budget caps their leaves).\n\
         # [training] epochs, batch_size. optimizer: adam | adamw | sgd (momentum).\n\
         #   learning_rate, with schedule: constant | cosine | step (step_epochs).\n\
         #   weight_decay. loss: auto | cross_entropy | focal (focal_gamma) for classes,\n\
         #   mse | huber (huber_delta) for regression. class_weights: \"none\",\n\
         #   \"balanced\" or a list such as [1.0, 4.0, 1.0]. input_noise: Gaussian noise\n\
         #   added to standardized inputs. patience: epochs without a better validation\n\
         #   loss before stopping (the best weights are kept).\n\
         # [quantization] calibration: minmax | percentile (percentile). calibration_rows:\n\
         #   training rows that set the activation ranges. per_channel_input: each\n\
         #   input column of a tabular MLP gets its own int8 range.\n\
         \n{body}"
    )
}

impl Config {
    /// Reads a TOML file; errors name the file, line and column.
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read configuration {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            let (line, col) = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    (
                        before.matches('\n').count() + 1,
                        before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1,
                    )
                })
                .unwrap_or((0, 0));
            anyhow::anyhow!(
                "{}:{line}:{col}: {}; run `vigie train --print-config` to see every field",
                path.display(),
                e.message()
            )
        })
    }
}
