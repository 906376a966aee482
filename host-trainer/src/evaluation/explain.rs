//! Interpretation through vigie-core: permutation feature importance on
//! labelled data, and per-prediction occlusion attribution
//! (`vigie_core::explain::occlusion`, the same function a device runs).

use anyhow::{Context, Result};
use serde::Serialize;
use vigie_core::monitor::Monitor;
use vigie_core::Model;

use crate::data::{Dataset, Target};
use crate::rng::Rng;

/// Shuffles per feature; the spread of the drop is reported.
pub const REPEATS: usize = 5;

/// One feature's permutation importance.
#[derive(Debug, Clone, Serialize)]
pub struct Importance {
    /// The input channel.
    pub feature: String,
    /// Mean loss of the metric when the feature is shuffled (accuracy
    /// points lost, or MAE gained for regression).
    pub drop: f64,
    /// Its standard deviation over the repeats.
    pub sd: f64,
}

/// The metric to keep high: accuracy, or −MAE for regression.
fn score(model: &Model<'_>, d: &Dataset, x: &[f32]) -> Result<f64> {
    let width = d.channels.len() * d.length;
    let mut arena = vec![0i8; model.arena_len()];
    let mut total = 0.0;
    for (r, row) in x.chunks(width).enumerate() {
        let out = model.run(row, &mut arena)?;
        total += match &d.target {
            Target::Classes { y, .. } => f64::from(u8::from(out.argmax() == y[r])),
            Target::Values { y, .. } => -(out.value(0).unwrap_or(f32::NAN) - y[r]).abs() as f64,
        };
    }
    Ok(total / d.len().max(1) as f64)
}

/// Permutation importance of every input channel, most important first,
/// and the metric on the unshuffled rows.
pub fn permutation_importance(
    model: &Model<'_>,
    d: &Dataset,
    seed: u64,
) -> Result<(f64, Vec<Importance>)> {
    let base = score(model, d, &d.x)?;
    let (len, width) = (d.length, d.channels.len() * d.length);
    let mut rng = Rng(seed ^ 0xE1A1_0000);
    let mut out = Vec::new();
    for (c, name) in d.channels.iter().enumerate() {
        let mut drops = Vec::with_capacity(REPEATS);
        for _ in 0..REPEATS {
            let mut order: Vec<usize> = (0..d.len()).collect();
            rng.shuffle(&mut order);
            let mut x = d.x.clone();
            for (r, &from) in order.iter().enumerate() {
                let span = c * len..(c + 1) * len;
                x[r * width + span.start..r * width + span.end]
                    .copy_from_slice(&d.x[from * width + span.start..from * width + span.end]);
            }
            drops.push(base - score(model, d, &x)?);
        }
        let mean = drops.iter().sum::<f64>() / REPEATS as f64;
        let sd = (drops.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / REPEATS as f64).sqrt();
        out.push(Importance {
            feature: name.clone(),
            drop: mean,
            sd,
        });
    }
    out.sort_by(|a, b| b.drop.total_cmp(&a.drop));
    Ok((base, out))
}

/// An explained prediction: class (0 for regression), its probability or
/// value, and (channel, attribution) pairs, largest first.
pub type Attribution = (usize, f32, Vec<(usize, f32)>);

/// Occlusion attribution of one row through the core: per channel, how
/// much the predicted class's probability (or the regression value) falls
/// when the channel is replaced by its training mean. Returns the
/// prediction's score and the attributions, largest first.
pub fn attribution(model: &Model<'_>, row: &[f32]) -> Result<Attribution> {
    let monitor = Monitor::from_model(model)?.context(
        "the model has no monitor section, which holds the training means occlusion uses",
    )?;
    let channels = model.input_shape().channels as usize;
    let baseline: Vec<f32> = (0..channels)
        .map(|f| monitor.training_mean(f).unwrap_or(0.0))
        .collect();
    let mut scratch = vec![0.0f32; row.len()];
    let mut arena = vec![0i8; model.arena_len()];
    let mut out = vec![0.0f32; channels];
    let (class, reference) =
        vigie_core::explain::occlusion(model, &baseline, row, &mut scratch, &mut arena, &mut out)?;
    let mut ranked: Vec<(usize, f32)> = out.into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    Ok((class, reference, ranked))
}
