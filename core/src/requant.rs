//! Requantization: the one place where an int32 accumulator becomes int8.
//!
//! The arithmetic is TFLM's `MultiplyByQuantizedMultiplier`: a saturating,
//! rounding, doubling high multiply by a Q31 multiplier
//! (`SaturatingRoundingDoublingHighMul`), then a rounding arithmetic right
//! shift (`RoundingDivideByPOT`). A positive shift is a left shift applied to
//! the accumulator first; where TFLM's `x * (1 << shift)` would overflow (and
//! be undefined in C), vigie saturates. Validation keeps models away from that
//! corner, and the property tests check it against an `i128` reference.
//!
//! The conversion of a real multiplier into `(multiplier, shift)` lives here
//! too, so the trainer cannot compute it subtly differently.

use crate::Error;

/// Smallest shift a model may use (a right shift by 31).
pub const MIN_SHIFT: i32 = -31;
/// Largest shift a model may use (a left shift by 30).
pub const MAX_SHIFT: i32 = 30;
/// Smallest non-zero Q31 multiplier: 0.5 in Q31.
pub const MIN_MULTIPLIER: i32 = 1 << 30;

/// `SaturatingRoundingDoublingHighMul(a, b)` of gemmlowp: the high 32 bits of
/// `2·a·b`, rounded half up; saturates only for `a == b == i32::MIN`.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `RoundingDivideByPOT(x, exponent)` of gemmlowp: `x / 2^exponent` rounded
/// half away from zero. `exponent` is clamped into `0..=31`.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let e = exponent.clamp(0, 31) as u32;
    // 2^e − 1 in 32 bits (e ≤ 31): no 64-bit shift on a 32-bit core.
    let mask = (1u32 << e).wrapping_sub(1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> e) + i32::from(remainder > threshold)
}

/// TFLM's `MultiplyByQuantizedMultiplier(x, multiplier, shift)`, with the
/// left shift saturating instead of overflowing. Total: any arguments give a
/// result (a shift outside `[-31, 31]` is clamped).
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    if shift <= 0 && multiplier >= 0 {
        // Every real multiplier below 1 (TFLM's usual case): no left shift,
        // and with a non-negative multiplier the doubling high multiply
        // cannot saturate. Its rounding (add 2^30 to a non-negative
        // product, 1 − 2^30 to a negative one, then divide by 2^31 towards
        // zero) is then one addition and an arithmetic shift for either
        // sign: for a negative `v = p + 1 − 2^30`, truncating `v / 2^31` is
        // `(v + 2^31 − 1) >> 31 = (p + 2^30) >> 31`. One SMULL, an add and
        // a shift on Cortex-M4 instead of 64-bit compares and a division.
        let high = ((x as i64 * multiplier as i64 + (1 << 30)) >> 31) as i32;
        return rounding_divide_by_pot(high, shift.wrapping_neg());
    }
    let left = shift.clamp(0, 31);
    let right = (-shift).clamp(0, 31);
    let shifted = if left == 0 {
        x
    } else {
        ((x as i64) << left).clamp(i32::MIN as i64, i32::MAX as i64) as i32
    };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(shifted, multiplier),
        right,
    )
}

/// The same function written for clarity in `i128`: exact products, and
/// the rounding rules spelled out (half up for the high multiply, half away
/// from zero for the shift). Tests assert it equals
/// [`multiply_by_quantized_multiplier`] for every input.
pub fn multiply_by_quantized_multiplier_reference(x: i64, multiplier: i32, shift: i32) -> i32 {
    let clamp32 = |v: i128| v.clamp(i32::MIN as i128, i32::MAX as i128);
    let left = shift.clamp(0, 31) as u32;
    let right = (-shift).clamp(0, 31) as u32;
    let x = clamp32(x as i128);
    let shifted = clamp32(x * (1i128 << left));
    // 2·a·b / 2^32 = a·b / 2^31, rounded half up (towards +∞).
    let high = clamp32((shifted * multiplier as i128 + (1i128 << 30)).div_euclid(1i128 << 31));
    if right == 0 {
        return high as i32;
    }
    let d = 1i128 << right;
    let magnitude = (high.abs() + d / 2) / d;
    (high.signum() * magnitude) as i32
}

/// Everything needed to turn one output channel's accumulator into int8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requantizer {
    /// Q31 multiplier.
    pub multiplier: i32,
    /// Shift (positive: left).
    pub shift: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Lower clamp (fused activation).
    pub min: i32,
    /// Upper clamp (fused activation).
    pub max: i32,
}

impl Requantizer {
    /// The int8 output for an accumulator. Inlined for the usual case (a
    /// real multiplier below 1: no left shift, a non-negative multiplier),
    /// the rest out of line ([`Requantizer::apply_outlined`]), so that the
    /// kernels' loops and flash carry only the short path.
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> i8 {
        if self.shift <= 0 && self.multiplier >= 0 {
            self.apply_any(acc)
        } else {
            self.apply_outlined(acc)
        }
    }

    /// [`Requantizer::apply`] for every multiplier and shift.
    #[inline(always)]
    fn apply_any(&self, acc: i32) -> i8 {
        let v = multiply_by_quantized_multiplier(acc, self.multiplier, self.shift);
        v.saturating_add(self.output_zero_point)
            .clamp(self.min, self.max) as i8
    }

    /// [`Requantizer::apply`] as one function that is never inlined: the
    /// rare case of [`Requantizer::apply`] and [`Prepared::apply`], kept
    /// out of the kernels' loops and of the flash each inlined copy would
    /// take. By value, so the inlined caller keeps its fields in registers
    /// instead of a copy on the stack for this call's sake.
    #[inline(never)]
    #[cold]
    pub fn apply_outlined(self, acc: i32) -> i8 {
        self.apply_any(acc)
    }

    /// The same through the `i128` reference, for reference kernels.
    pub fn apply_reference(&self, acc: i64) -> i8 {
        let v = multiply_by_quantized_multiplier_reference(acc, self.multiplier, self.shift) as i64;
        (v + self.output_zero_point as i64).clamp(self.min as i64, self.max as i64) as i8
    }
}

/// A [`Requantizer`] prepared for a kernel's inner loop: what
/// [`Requantizer::apply`] derives from the shift on every call (the right
/// shift, its remainder mask and half of it) is derived once, so the common
/// case (a real multiplier below 1: a non-negative multiplier and no left
/// shift) costs one multiply-accumulate and a few single-cycle
/// instructions. [`Prepared::apply`] equals [`Requantizer::apply`] for
/// every accumulator (a property test holds them equal); any other
/// multiplier or shift goes through [`Requantizer::apply_outlined`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// The requantizer it was prepared from.
    pub requantizer: Requantizer,
    /// Whether the short path applies (shift ≤ 0, multiplier ≥ 0).
    short: bool,
    /// Right shift, in `0..=31`.
    right: u32,
    /// `2^right − 1`.
    mask: i32,
    /// `mask >> 1`.
    half: i32,
}

impl Prepared {
    /// Prepares `r`.
    #[inline(always)]
    pub fn new(r: Requantizer) -> Self {
        let right = r.shift.wrapping_neg().clamp(0, 31) as u32;
        let mask = (1u32 << right).wrapping_sub(1) as i32;
        Prepared {
            requantizer: r,
            short: r.shift <= 0 && r.multiplier >= 0,
            right,
            mask,
            half: mask >> 1,
        }
    }

    /// The int8 output for an accumulator, bit for bit
    /// [`Requantizer::apply`]: the rounding doubling high multiply as one
    /// 64-bit multiply-add and a shift, then the rounding right shift
    /// (half away from zero: the remainder against half the divisor, one
    /// more for a negative value), the zero point and the clamp.
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> i8 {
        let r = &self.requantizer;
        if !self.short {
            return r.apply_outlined(acc);
        }
        let high = ((acc as i64 * r.multiplier as i64 + (1 << 30)) >> 31) as i32;
        let threshold = self.half + ((high as u32) >> 31) as i32;
        let v = (high >> self.right) + i32::from((high & self.mask) > threshold);
        v.saturating_add(r.output_zero_point).max(r.min).min(r.max) as i8
    }
}

/// Converts a real multiplier into a Q31 multiplier and a shift, as TFLM's
/// `QuantizeMultiplier`: `real ≈ multiplier · 2^(shift − 31)` with
/// `multiplier` in `[2^30, 2^31)`. Zero gives `(0, 0)`; values too small for
/// a shift of −31 become `(0, 0)`; values too large for a shift of 30 are
/// refused.
pub fn quantize_multiplier(real: f64) -> Result<(i32, i32), Error> {
    let invalid = Error::BuildInvalid {
        place: crate::error::Place::Model,
        field: "real multiplier",
    };
    if !real.is_finite() || real < 0.0 {
        return Err(invalid);
    }
    if real == 0.0 {
        return Ok((0, 0));
    }
    let (fraction, mut shift) = frexp(real);
    // fraction in [0.5, 1): scaled by 2^31 it lies in [2^30, 2^31], exactly
    // representable, so `round_half_away` is exact.
    let mut q = round_half_away_f64(fraction * (1u64 << 31) as f64);
    if q == 1i64 << 31 {
        q /= 2;
        shift += 1;
    }
    if shift < MIN_SHIFT {
        return Ok((0, 0));
    }
    if shift > MAX_SHIFT {
        return Err(invalid);
    }
    Ok((q as i32, shift))
}

/// The real value a `(multiplier, shift)` pair stands for.
pub fn dequantize_multiplier(multiplier: i32, shift: i32) -> f64 {
    multiplier as f64 * pow2(shift - 31)
}

/// Clamp range of a fused activation on an int8 tensor with these
/// quantization parameters, as TFLM's `CalculateActivationRangeQuantized`.
pub fn activation_range(
    activation: crate::format::Activation,
    scale: f32,
    zero_point: i8,
) -> (i32, i32) {
    use crate::format::Activation;
    let zp = zero_point as i32;
    match activation {
        Activation::None => (-128, 127),
        Activation::Relu => (zp.max(-128), 127),
        Activation::Relu6 => {
            let six = crate::math::round_half_away(6.0 / scale);
            (zp.max(-128), zp.saturating_add(six).min(127))
        }
    }
}

fn pow2(e: i32) -> f64 {
    let mut v = 1.0f64;
    if e >= 0 {
        for _ in 0..e.min(1100) {
            v *= 2.0;
        }
    } else {
        for _ in 0..(-e).min(1100) {
            v *= 0.5;
        }
    }
    v
}

/// `frexp` for positive finite values: `(fraction, exponent)` with
/// `value = fraction · 2^exponent`, `fraction` in `[0.5, 1)`.
fn frexp(value: f64) -> (f64, i32) {
    let bits = value.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first.
        let (f, e) = frexp(value * (1u64 << 54) as f64);
        return (f, e - 54);
    }
    let fraction_bits = (bits & !(0x7ffu64 << 52)) | (1022u64 << 52);
    (f64::from_bits(fraction_bits), exp - 1022)
}

fn round_half_away_f64(v: f64) -> i64 {
    let t = v as i64;
    let frac = v - t as f64;
    if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_matches_tflm_examples() {
        // 0.5 is exactly 2^30 in Q31 with shift 0.
        assert_eq!(quantize_multiplier(0.5).unwrap(), (1 << 30, 0));
        // 1.0 becomes 0.5 · 2^1.
        assert_eq!(quantize_multiplier(1.0).unwrap(), (1 << 30, 1));
        // 0.25 becomes 0.5 · 2^-1.
        assert_eq!(quantize_multiplier(0.25).unwrap(), (1 << 30, -1));
        assert_eq!(quantize_multiplier(0.0).unwrap(), (0, 0));
        assert_eq!(quantize_multiplier(1e-30).unwrap(), (0, 0));
        assert!(quantize_multiplier(f64::NAN).is_err());
        assert!(quantize_multiplier(-1.0).is_err());
        assert!(quantize_multiplier(1e12).is_err());
        // A value just below 1 that rounds up to 2^31 moves to the next shift.
        assert_eq!(quantize_multiplier(1.0 - 1e-12).unwrap(), (1 << 30, 1));
    }

    #[test]
    fn multiplier_round_trip_is_within_q31_resolution() {
        for &real in &[0.001234, 0.0789, 0.3333, 0.9999, 1.5, 123.25] {
            let (m, s) = quantize_multiplier(real).unwrap();
            assert!(m >= MIN_MULTIPLIER);
            let back = dequantize_multiplier(m, s);
            assert!(
                (back - real).abs() <= real * 2f64.powi(-30),
                "{real} -> {back}"
            );
        }
    }

    #[test]
    fn rounding_divide_by_pot_rounds_half_away_from_zero() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(-1, 1), -1);
        assert_eq!(rounding_divide_by_pot(4, 2), 1);
        assert_eq!(rounding_divide_by_pot(6, 2), 2);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
    }

    #[test]
    fn doubling_high_mul_saturates_only_at_min_times_min() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MAX),
            -i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
    }
}
