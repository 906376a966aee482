//! The spread feature of a window channel, measured against the other
//! channels' spreads.
//!
//! A window model's monitor watches each channel's mean and its spread
//! (standard deviation over the window): a mean hides a gain on a
//! zero-mean axis. But a spread on its own is a poor witness. How much a
//! wrist sensor moves depends on what its wearer does: on BasicMotions the
//! log-spread of one axis varies by 1.0–1.5 between windows, so a gain of
//! ×2 (0.69 in log) is half a standard deviation, and takes tens of windows
//! to tell from a change of activity. The other channels move with it:
//! regressed on the mean log-spread of the others, the same axis varies by
//! only 0.26–0.34, and the gain becomes two standard deviations or more.
//!
//! So the spread feature of channel `c` is the residual
//!
//! ```text
//! r_c = ln(s_c + ε_c) − β_c · mean_{j ≠ c} ln(s_j + ε_j) − α_c
//! ```
//!
//! with `s_c` the channel's spread, `ε_c` one step of its int8 input map
//! (below it, a channel is stuck), and `(β_c, α_c)` fitted by least squares
//! on the reference rows ([`MonitorDef::coupling`](super::MonitorDef)). A
//! channel alone, or channels that do not move together, get `β = 0`: the
//! feature is then its own log-spread, centred. A gain, noise or a stuck
//! value on one channel moves its own residual by the full amount and the
//! others' by `β / (C − 1)` of it, so the feature named is the right one.
//! A change of every channel at once (all sensors scaled alike) cancels
//! out here; the class-mix and confidence detectors, and each channel's
//! guard, still see it.
//!
//! Residuals are binned in a fixed int8 map of [`LOG_STEP`] per step,
//! ±4 (a factor of 55) around the reference.

use crate::format::read_f32;

/// Natural-log units per int8 step of a spread feature's bins: 1/32, so
/// that the bins resolve a tenth of a typical residual's deviation
/// (0.1–0.4) and reach ±4.
pub const LOG_STEP: f32 = 1.0 / 32.0;

/// The int8 map (`q = r · scale + offset`) of a spread residual.
pub const MAP: (f32, f32) = (1.0 / LOG_STEP, 0.0);

/// The log-spread of a channel's window, `ln(s + ε)`, with `ε` one step
/// of the channel's input map (`1 / scale`); `None` when a value is not
/// finite or the window is empty.
pub fn log_spread(xs: &[f32], input_scale: f32) -> Option<f32> {
    let s = super::channel_spread(xs)?;
    let eps = if input_scale > 0.0 && input_scale.is_finite() {
        1.0 / input_scale
    } else {
        1e-6
    };
    Some(crate::math::ln(s + eps))
}

/// The residual of channel `c` from its log-spread `own` and the sum
/// `others` of the `n` other channels' present ones (with none present,
/// `β` adds nothing).
pub fn residual(own: f32, others: f32, n: u32, coupling: &[u8], c: usize) -> f32 {
    let (beta, alpha) = coefficients(coupling, c);
    let mean = if n == 0 { 0.0 } else { others / n as f32 };
    own - beta * mean - alpha
}

/// `(β_c, α_c)` of channel `c` (zeros past the stored ones).
fn coefficients(coupling: &[u8], c: usize) -> (f32, f32) {
    if coupling.len() < 8 * (c + 1) {
        return (0.0, 0.0);
    }
    (read_f32(coupling, 2 * c), read_f32(coupling, 2 * c + 1))
}

/// Fits `(β_c, α_c)` for every channel by least squares from reference
/// rows of log-spreads (`rows[i][c]`, rows with a missing value left out),
/// as `[β_0, α_0, β_1, α_1, …]`. A single channel, or others that do not
/// vary, get `β = 0`.
#[cfg(feature = "std")]
pub fn fit(rows: &[Vec<f32>], channels: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(2 * channels);
    for c in 0..channels {
        let pairs: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.len() == channels)
            .map(|r| {
                let others = if channels > 1 {
                    r.iter()
                        .enumerate()
                        .filter(|&(j, _)| j != c)
                        .map(|(_, &l)| l as f64)
                        .sum::<f64>()
                        / (channels - 1) as f64
                } else {
                    0.0
                };
                (others, r[c] as f64)
            })
            .collect();
        let n = pairs.len().max(1) as f64;
        let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
        let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
        let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        let beta = if channels > 1 && sxx > 1e-9 * n {
            sxy / sxx
        } else {
            0.0
        };
        out.push(beta as f32);
        out.push((my - beta * mx) as f32);
    }
    out
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use crate::format::le;

    #[test]
    fn a_common_activity_level_cancels_and_a_gain_on_one_channel_stands_out() {
        // Four channels whose log-spreads move together with an activity
        // level, channel 3 at 1.2 times the others' amplitude.
        let rows: Vec<Vec<f32>> = (0..40)
            .map(|i| {
                let level = (i % 7) as f32 * 0.5;
                vec![level, level + 1.0, level - 0.5, 1.2 * level]
            })
            .collect();
        let coupling = le::from_f32(&fit(&rows, 4));
        // The residual of channel `c` of a row of log-spreads.
        let at = |r: &[f32], c: usize| {
            let others: f32 = r.iter().sum::<f32>() - r[c];
            residual(r[c], others, r.len() as u32 - 1, &coupling, c)
        };
        for r in &rows {
            for c in 0..4 {
                assert!(at(r, c).abs() < 1e-4);
            }
        }
        // ×2 on channel 0: its residual moves by ln 2, the others' by less.
        let mut moved = rows[3].clone();
        moved[0] += core::f32::consts::LN_2;
        let r0 = at(&moved, 0);
        assert!((r0 - core::f32::consts::LN_2).abs() < 1e-4, "{r0}");
        for c in 1..4 {
            assert!(at(&moved, c).abs() < r0 / 2.0, "{c}: {}", at(&moved, c));
        }
    }

    #[test]
    fn a_single_channel_is_its_own_centred_log_spread() {
        let rows: Vec<Vec<f32>> = (0..10).map(|i| vec![i as f32]).collect();
        let coupling = fit(&rows, 1);
        assert_eq!(coupling, [0.0, 4.5]);
        let coupling = le::from_f32(&coupling);
        assert_eq!(residual(6.5, 0.0, 0, &coupling, 0), 2.0);
    }

    #[test]
    fn a_stuck_channel_is_one_input_step_not_minus_infinity() {
        let l = log_spread(&[3.0; 8], 4.0).unwrap();
        assert_eq!(l, crate::math::ln(0.25));
    }
}
