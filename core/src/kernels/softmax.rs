//! int8 softmax as TFLite's reference kernel and TFLM compute it
//! (`reference_ops::Softmax` for int8 in and out), in gemmlowp's fixed
//! point: each input's difference from its row's maximum is scaled by
//! `beta · input_scale` into Q5.26, its exponential computed on
//! `[−1/4, 0)` by a Taylor polynomial and a barrel of `exp(−2^k)`
//! constants, the exponentials summed in Q12.19, the sum inverted by
//! Newton–Raphson, and each output `exp / sum` rounded to `1/256` from
//! −128. Every step is integer arithmetic, so the result is the same bits
//! on any machine (`tests/tests/tflite_import.rs` compares it with TFLite's
//! interpreter on a keyword-spotting model).

use crate::format::SoftmaxDef;
use crate::requant::{rounding_divide_by_pot, saturating_rounding_doubling_high_mul as mul};

/// Integer bits of the scaled differences (Q5.26).
const DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the sum of exponentials (Q12.19).
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// `x · 2^e` for `e > 0`, saturating at the ends of `i32`; a rounding
/// division for `e < 0` (gemmlowp's `SaturatingRoundingMultiplyByPOT`).
fn multiply_by_pot(x: i32, e: i32) -> i32 {
    if e >= 0 {
        let threshold = (1i32 << (31 - e)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << e
        }
    } else {
        rounding_divide_by_pot(x, -e)
    }
}

/// `(a + b) / 2` rounded half away from zero (gemmlowp's `RoundingHalfSum`).
fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `exp(a)` for `a` in `[−1/4, 0)`, Q0.31 in and out.
fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const EXP_MINUS_ONE_EIGHTH: i32 = 1_895_147_668;
    const ONE_THIRD: i32 = 715_827_883;
    // A Taylor expansion around −1/8: x = a + 1/8.
    let x = a.wrapping_add(1 << 28);
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = multiply_by_pot(x4, -2);
    let poly = multiply_by_pot(
        mul(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2),
        -1,
    );
    EXP_MINUS_ONE_EIGHTH.wrapping_add(mul(EXP_MINUS_ONE_EIGHTH, x.wrapping_add(poly)))
}

/// `exp(a)` for `a ≤ 0` in Q5.26, as Q0.31.
fn exp_on_negative_values(a: i32) -> i32 {
    const FRACTIONAL_BITS: i32 = 31 - DIFF_INTEGER_BITS;
    let one_quarter = 1i32 << (FRACTIONAL_BITS - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(multiply_by_pot(
        a_mod_quarter_minus_one_quarter,
        DIFF_INTEGER_BITS,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    // exp(−2^k) in Q0.31 for k = −2 … 4: multiplied in for each bit of the
    // remainder.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for (exponent, multiplier) in BARREL {
        if DIFF_INTEGER_BITS > exponent {
            let shift = FRACTIONAL_BITS + exponent;
            if remainder & (1 << shift) != 0 {
                result = mul(result, multiplier);
            }
        }
    }
    if a == 0 {
        i32::MAX
    } else {
        result
    }
}

/// `1 / (1 + a)` for `a` in `[0, 1)`, Q0.31 in and out, by Newton–Raphson
/// (gemmlowp's `one_over_one_plus_x_for_x_in_0_1`).
fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    const FORTY_EIGHT_OVER_17: i32 = 1_515_870_810; // Q2.29
    const MINUS_32_OVER_17: i32 = -1_010_580_540; // Q2.29
    const ONE_Q2: i32 = 1 << 29;
    let half_denominator = rounding_half_sum(a, i32::MAX);
    let mut x = FORTY_EIGHT_OVER_17.wrapping_add(mul(half_denominator, MINUS_32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(multiply_by_pot(mul(x, one_minus), 2));
    }
    multiply_by_pot(x, 1)
}

/// The reciprocal of a Q12.19 sum as a Q0.31 scale and the bits it was
/// shifted by (TFLite's `GetReciprocal`).
fn reciprocal(x: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom_plus_one;
    let shifted_sum_minus_one =
        ((x as u32).wrapping_shl(headroom_plus_one as u32)).wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        bits_over_unit,
    )
}

/// A difference from the row maximum, scaled into Q5.26 (TFLite's
/// `MultiplyByQuantizedMultiplierGreaterThanOne`: a left shift, then the
/// doubling high multiply; validation keeps the shift in `0..=31`).
fn scaled(diff: i32, p: &SoftmaxDef) -> i32 {
    crate::requant::multiply_by_quantized_multiplier(diff, p.input_multiplier, p.input_left_shift)
}

/// Softmax of each row of `depth` values of `x` into `y` (int8, scale
/// 1/256, zero point −128).
pub fn softmax_s8(x: &[i8], depth: usize, p: &SoftmaxDef, y: &mut [i8]) {
    if depth == 0 {
        return;
    }
    for (row, out) in x.chunks_exact(depth).zip(y.chunks_exact_mut(depth)) {
        let max = row.iter().copied().max().unwrap_or(i8::MIN) as i32;
        let mut sum = 0i32;
        for &v in row {
            let diff = v as i32 - max;
            if diff >= p.diff_min {
                let e = exp_on_negative_values(scaled(diff, p));
                sum = sum.wrapping_add(multiply_by_pot(e, -ACCUMULATION_INTEGER_BITS));
            }
        }
        let (scale, bits_over_unit) = reciprocal(sum);
        for (&v, o) in row.iter().zip(out.iter_mut()) {
            let diff = v as i32 - max;
            *o = if diff >= p.diff_min {
                let e = exp_on_negative_values(scaled(diff, p));
                let unsat = rounding_divide_by_pot(mul(scale, e), bits_over_unit + 31 - 8);
                (unsat - 128).clamp(-128, 127) as i8
            } else {
                -128
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_of_zero_is_one_and_exp_decreases() {
        assert_eq!(exp_on_negative_values(0), i32::MAX);
        let one = 1 << 26; // 1.0 in Q5.26
        let e1 = exp_on_negative_values(-one) as f64 / 2f64.powi(31);
        assert!((e1 - (-1f64).exp()).abs() < 1e-6, "{e1}");
        let e3 = exp_on_negative_values(-3 * one) as f64 / 2f64.powi(31);
        assert!((e3 - (-3f64).exp()).abs() < 1e-6, "{e3}");
    }

    #[test]
    fn equal_inputs_share_the_probability_evenly() {
        // beta · scale = 1/16 per level, so beta · scale · 2^26 = 2^22:
        // multiplier 2^30 with shift 23, and diff_min −⌊31 · 2^26 / 2^23⌋.
        let p = SoftmaxDef {
            input_multiplier: 1 << 30,
            input_left_shift: 23,
            diff_min: -248,
        };
        let mut y = [0i8; 4];
        softmax_s8(&[5, 5, 5, 5], 4, &p, &mut y);
        // 1/4 is 64 steps of 1/256 above −128.
        assert_eq!(y, [-64; 4]);
    }
}
