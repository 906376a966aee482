//! Post-training quantization: calibrate activation ranges on training
//! data, export the weights, and build the int8 model with `vigie-core`'s
//! builder (which owns the multiplier conversion).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use vigie_core::builder::{FloatModel, Range};

use crate::training::config::{Calibration, QuantizationConfig};
use crate::training::fit::Split;
use crate::training::net::{export, ExportInfo, Net};

/// A calibrated range from sampled values.
fn range_of(values: &mut [f32], cfg: &QuantizationConfig) -> Range {
    if values.is_empty() {
        return Range { min: 0.0, max: 0.0 };
    }
    match cfg.calibration {
        Calibration::Minmax => Range {
            min: values.iter().copied().fold(f32::INFINITY, f32::min),
            max: values.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        },
        Calibration::Percentile => {
            values.sort_by(f32::total_cmp);
            let tail = ((100.0 - cfg.percentile.clamp(50.0, 100.0)) / 200.0 * values.len() as f64)
                as usize;
            Range {
                min: values[tail],
                max: values[values.len() - 1 - tail],
            }
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
    let width = channels * length;
    let rows = train.len().min(cfg.calibration_rows.max(1));
    let x = &train.x[..rows * width];
    let mut input: Vec<f32> = x.to_vec();
    let mut per_layer: Vec<Vec<f32>> = Vec::new();
    for chunk in x.chunks(512 * width) {
        let n = chunk.len() / width;
        let t = Tensor::<B, 3>::from_data(
            TensorData::new(chunk.to_vec(), [n, channels, length]),
            device,
        );
        net.forward_traced(t, None, &mut |layer, out| {
            if per_layer.len() <= layer {
                per_layer.resize(layer + 1, Vec::new());
            }
            let v = out
                .clone()
                .into_data()
                .convert::<f32>()
                .into_vec::<f32>()
                .unwrap_or_default();
            per_layer[layer].extend(v);
        });
    }
    // Regression outputs are standardized inside the network; the exported
    // last layer outputs real units, so its range follows.
    if let (Some((mean, std)), Some(last)) = (info.target_scale, per_layer.last_mut()) {
        last.iter_mut().for_each(|v| *v = *v * std + mean);
    }
    let input_range = range_of(&mut input, cfg);
    let ranges: Vec<Range> = per_layer.iter_mut().map(|v| range_of(v, cfg)).collect();
    export(net, info, input_range, &ranges)
}
