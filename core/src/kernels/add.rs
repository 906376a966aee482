//! Element-wise addition of two int8 tensors, as TFLite's reference int8
//! `ADD` (`reference_integer_ops::AddFunc`): each operand is offset by its
//! zero point, shifted left by `left_shift`, scaled to the common scale by
//! its own multiplier, the two are summed, and the sum is scaled to the
//! output, offset and clamped to the fused activation's range.
//!
//! The fast kernel scales each operand through a table of its 256 possible
//! values, built once per call (2 KiB of stack), so an element costs two
//! loads, an addition and one requantization instead of three; the plain
//! kernel computes the three for every element. Tests assert they agree
//! bit for bit.

use crate::format::{Activation, AddDef, AddOperand, QParams};
use crate::requant::{activation_range, multiply_by_quantized_multiplier, quantize_multiplier};

/// An operand's int8 level `v` on the common scale: offset by its zero
/// point, shifted left, and scaled by its multiplier.
#[inline(always)]
fn scaled(v: i8, o: &AddOperand, left_shift: i32) -> i32 {
    // |v − zero point| ≤ 255, so the left shift (at most MAX_LEFT_SHIFT,
    // checked at validation) stays within i32; wrapping keeps a kernel
    // called with unchecked parameters total.
    let shifted = (v as i32)
        .wrapping_sub(o.zero_point)
        .wrapping_shl(left_shift as u32);
    multiply_by_quantized_multiplier(shifted, o.multiplier, o.shift)
}

/// `y[i] = add(x[i], saved[i])` over the shortest of the three slices.
pub fn add_s8(x: &[i8], saved: &[i8], p: &AddDef, y: &mut [i8]) {
    let (lo, hi) = activation_range(p.activation, p.output.scale, p.output.zero_point);
    let table = |o: &AddOperand| {
        let mut t = [0i32; 256];
        for (i, v) in t.iter_mut().enumerate() {
            *v = scaled(i as u8 as i8, o, p.left_shift);
        }
        t
    };
    let (a, b) = (table(&p.current), table(&p.saved));
    let zero = p.output.zero_point as i32;
    for ((y, &u), &v) in y.iter_mut().zip(x).zip(saved) {
        let sum = a[u as u8 as usize].saturating_add(b[v as u8 as usize]);
        let out = multiply_by_quantized_multiplier(sum, p.output_multiplier, p.output_shift)
            .saturating_add(zero);
        *y = out.clamp(lo, hi) as i8;
    }
}

/// The plain kernel: every operand scaled where it is read.
pub fn add_s8_reference(x: &[i8], saved: &[i8], p: &AddDef, y: &mut [i8]) {
    let (lo, hi) = activation_range(p.activation, p.output.scale, p.output.zero_point);
    for ((y, &a), &b) in y.iter_mut().zip(x).zip(saved) {
        let sum =
            scaled(a, &p.current, p.left_shift).saturating_add(scaled(b, &p.saved, p.left_shift));
        let out = multiply_by_quantized_multiplier(sum, p.output_multiplier, p.output_shift)
            .saturating_add(p.output.zero_point as i32);
        *y = out.clamp(lo, hi) as i8;
    }
}

/// TFLite's int8 `ADD` parameters (`add.cc`'s `Prepare`): the left shift
/// 20, each input's multiplier to twice the larger input scale, and the
/// output's; `current` is the operand vigie holds as the current tensor,
/// `saved` the slot's (the sum is symmetric). `None` when a multiplier is
/// not below one.
pub fn add_params(
    current: QParams,
    saved: QParams,
    output: QParams,
    activation: Activation,
) -> Option<AddDef> {
    const LEFT_SHIFT: i32 = 20;
    // As TFLite: `2 * max(float, float)` in f32, the divisions in f64.
    let twice = (2.0 * current.scale.max(saved.scale)) as f64;
    let operand = |q: QParams| -> Option<AddOperand> {
        let (multiplier, shift) = quantize_multiplier(q.scale as f64 / twice).ok()?;
        (shift <= 0).then_some(AddOperand {
            zero_point: q.zero_point as i32,
            multiplier,
            shift,
        })
    };
    let denominator = ((1u32 << LEFT_SHIFT) as f32 * output.scale) as f64;
    let (output_multiplier, output_shift) = quantize_multiplier(twice / denominator).ok()?;
    (output_shift <= 0).then_some(AddDef {
        slot: 0,
        current: operand(current)?,
        saved: operand(saved)?,
        left_shift: LEFT_SHIFT,
        output_multiplier,
        output_shift,
        output,
        activation,
    })
}

/// Largest left shift an [`AddDef`] may carry: TFLite uses 20 for int8,
/// and `255 << 22` still fits an i32.
pub const MAX_LEFT_SHIFT: i32 = 22;

#[cfg(test)]
mod tests {
    use super::*;

    /// TFLite's parameters ([`add_params`]) and the plain kernel against
    /// the operands' real values summed and requantized by hand: scales 0.05 (zero point −128) and 0.1 (zero point 4),
    /// output 0.06 (zero point −128, ReLU).
    #[test]
    fn add_matches_the_real_sum_within_one_level() {
        let (s1, s2, so) = (0.05f64, 0.1f64, 0.06f64);
        let q = |scale: f64, zero_point: i8| QParams {
            scale: scale as f32,
            zero_point,
        };
        let p = add_params(q(s1, -128), q(s2, 4), q(so, -128), Activation::Relu).unwrap();
        let mut worst = 0.0f64;
        for a in -128i32..=127 {
            for b in (-128i32..=127).step_by(5) {
                let mut y = [0i8];
                add_s8_reference(&[a as i8], &[b as i8], &p, &mut y);
                let real = s1 * (a + 128) as f64 + s2 * (b - 4) as f64;
                let want = ((real / so).round() - 128.0).clamp(-128.0, 127.0);
                worst = worst.max((y[0] as f64 - want).abs());
            }
        }
        assert!(worst <= 1.0, "worst difference {worst} levels");
    }

    /// The fast kernel equals the plain one on every pair of levels, for
    /// parameters drawn at random (zero points, scales two decades apart,
    /// every activation), including the ResNet's.
    #[test]
    fn the_table_kernel_equals_the_plain_kernel_bit_for_bit() {
        let mut state = 0x2545_F491u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let x: Vec<i8> = (-128..=127).flat_map(|a| [a as i8; 256]).collect();
        let saved: Vec<i8> = (0..256 * 256).map(|i| (i % 256) as u8 as i8).collect();
        for case in 0..40 {
            let scale = |r: u32| 0.005 * 10f64.powf((r % 1000) as f64 / 500.0);
            let (s1, s2, so) = (scale(next()), scale(next()), scale(next()));
            let zp = |r: u32| ((r % 256) as i32 - 128) as i8;
            let q = |scale: f64, zero_point: i8| QParams {
                scale: scale as f32,
                zero_point,
            };
            let activation = [Activation::None, Activation::Relu, Activation::Relu6][case % 3];
            let p = add_params(
                q(s1, zp(next())),
                q(s2, zp(next())),
                q(so, zp(next())),
                activation,
            )
            .unwrap();
            let (mut fast, mut plain) = (vec![0i8; x.len()], vec![0i8; x.len()]);
            add_s8(&x, &saved, &p, &mut fast);
            add_s8_reference(&x, &saved, &p, &mut plain);
            assert_eq!(fast, plain, "case {case}: {p:?}");
        }
    }
}
