//! The little float math `no_std` lacks, written so that a PC and a
//! Cortex-M4F give the same bits: only IEEE single-precision `+ − × ÷` and
//! conversions, no fused multiply-add, no libm.

/// Rounds to the nearest integer, halves away from zero, saturating at the
/// `i32` range (NaN gives 0).
#[inline]
pub fn round_half_away(v: f32) -> i32 {
    let t = v as i32;
    // `v - t` is exact for |v| < 2^24, and irrelevant beyond (no fraction).
    let frac = v - t as f32;
    if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// Quantizes a real value with an affine map already folded into
/// `scale` and `offset`: `round(x · scale + offset)`, halves away from
/// zero, clamped to int8 (NaN gives 0). Bit for bit
/// [`quantize_affine_reference`] (a property test holds them equal), in
/// fewer instructions: `v · 2^16` is exact, and its conversion to `i32`
/// (one VCVT on Cortex-M4F, saturating, NaN to 0) keeps the integer part
/// and enough of the fraction to round by integer arithmetic: a fraction
/// of at least one half is at least 32,768/65,536 after truncation
/// towards zero, and one below a half stays below it. No float compare, no
/// branch: both clamps are to a power-of-two range, which LLVM emits as one
/// saturation each (SSAT on Cortex-M4), and the rounding of a negative
/// value is a floor from one less than the half, `(f + 2^15 − 1) >> 16`,
/// which equals the negated rounding of its magnitude.
#[inline]
pub fn quantize_affine(x: f32, scale: f32, offset: f32) -> i8 {
    const ONE: i32 = 1 << 16;
    let v = x * scale + offset;
    // ±2^23 is ±128 · 2^16: past it every value clamps to an int8 end.
    let f = ((v * ONE as f32) as i32).clamp(-(1 << 23), (1 << 23) - 1);
    round_q16(f).clamp(-128, 127) as i8
}

/// Rounds a fixed-point value with 16 fractional bits to an integer,
/// halves away from zero: up from +0.5, down from −0.5 (`f >> 31` is −1
/// for a negative value, so it adds one less than the half). `f` is at
/// most `i32::MAX − 2^15`, so adding the half cannot overflow.
#[inline(always)]
fn round_q16(f: i32) -> i32 {
    (f + (1 << 15) + (f >> 31)) >> 16
}

/// Quantizes a real value at 256 levels per int8 step, for a 16-bit
/// input ([`crate::format::LayerDef::Dense16`]): `round(256 · (x · scale +
/// offset))`, halves away from zero, clamped to int16 (NaN gives 0). The
/// same steps as [`quantize_affine`] on `v · 2^24` (`256 · 2^16`, exact);
/// bit for bit [`quantize_affine16_reference`] (property test).
#[inline]
pub fn quantize_affine16(x: f32, scale: f32, offset: f32) -> i16 {
    const ONE: i32 = 1 << 16;
    let v = x * scale + offset;
    // The conversion saturates at ±2^31 (±32,768 · 2^16); the top is
    // lowered by a half so that adding it cannot overflow (such a value
    // rounds to the int16 maximum either way). A negative value adds one
    // less than the half, so `i32::MIN` cannot overflow.
    let levels = crate::format::INPUT16_LEVELS;
    let f = ((v * (levels * ONE) as f32) as i32).min(i32::MAX - ONE / 2);
    round_q16(f).clamp(i16::MIN as i32, i16::MAX as i32) as i16
}

/// [`quantize_affine16`] written for clarity: `256 · v`, NaN to 0,
/// clamped to the int16 range, then [`round_half_away`].
pub fn quantize_affine16_reference(x: f32, scale: f32, offset: f32) -> i16 {
    let v = (x * scale + offset) * crate::format::INPUT16_LEVELS as f32;
    let v = if v.is_nan() {
        0.0
    } else {
        v.clamp(i16::MIN as f32, i16::MAX as f32)
    };
    round_half_away(v) as i16
}

/// [`quantize_affine`] written for clarity: the value, NaN to 0, clamped
/// to the int8 range, then [`round_half_away`].
pub fn quantize_affine_reference(x: f32, scale: f32, offset: f32) -> i8 {
    let v = x * scale + offset;
    let v = if v.is_nan() {
        0.0
    } else {
        v.clamp(-128.0, 127.0)
    };
    round_half_away(v) as i8
}

/// `e^x` for single precision, accurate to a few ulp over the range where
/// the result is a normal number; saturates to 0 and +∞ outside it.
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 88.7 {
        return f32::INFINITY;
    }
    if x < -87.3 {
        return 0.0;
    }
    // x = k·ln2 + r with |r| ≤ ln2/2; ln2 split in two for an exact k·hi.
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const INV_LN2: f32 = core::f32::consts::LOG2_E;
    let k = round_half_away(x * INV_LN2);
    let kf = k as f32;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    // Taylor polynomial to degree 7 on |r| ≤ 0.347: error below 2^-24.
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // Multiply by 2^k through the exponent bits, in two halves so that
    // neither factor leaves the normal range (k is in [-126, 128] here).
    let half = k / 2;
    p * pow2(half) * pow2(k - half)
}

/// Natural logarithm for single precision: `ln(m·2^e) = e·ln2 + ln(m)`
/// with `m` in `[√½, √2)` and `ln(m) = 2·atanh((m−1)/(m+1))` by its series.
/// Returns −∞ for 0, NaN for negative or NaN input.
pub fn ln(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    // Subnormals: scale into the normal range first.
    let (x, bias) = if x < f32::MIN_POSITIVE {
        (x * 16_777_216.0, -24)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127 + bias;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | (127 << 23));
    if m > core::f32::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series =
        s * (2.0 + s2 * (2.0 / 3.0 + s2 * (2.0 / 5.0 + s2 * (2.0 / 7.0 + s2 * (2.0 / 9.0)))));
    e as f32 * core::f32::consts::LN_2 + series
}

/// Square root for single precision (Newton's method from an exponent-halving
/// first guess); NaN for negative input.
pub fn sqrt(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 || x.is_infinite() {
        return x;
    }
    let mut y = f32::from_bits((x.to_bits() >> 1) + 0x1fbd_1df5);
    for _ in 0..4 {
        y = 0.5 * (y + x / y);
    }
    y
}

/// `2^k` for `k` in `[-126, 127]` (clamped), built from its exponent bits.
fn pow2(k: i32) -> f32 {
    f32::from_bits(((k.clamp(-126, 127) + 127) as u32) << 23)
}

/// Standard normal quantile (Acklam's rational approximation, relative
/// error below 1.2e-9); for fitting monitors on a host.
#[cfg(feature = "std")]
#[allow(clippy::excessive_precision)] // the coefficients are kept as published
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// Mean and (population) standard deviation; for fitting on a host.
#[cfg(feature = "std")]
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    (
        m,
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt(),
    )
}

/// Eigenvalues and eigenvectors (as rows) of a symmetric matrix, largest
/// first (cyclic Jacobi); for fitting on a host.
#[cfg(feature = "std")]
#[allow(clippy::needless_range_loop)] // matrix code reads best with indices
pub fn symmetric_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for _sweep in 0..60 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k][p], a[k][q]);
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p][k], a[q][k]);
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j][j].total_cmp(&a[i][i]));
    let values = order.iter().map(|&i| a[i][i]).collect();
    let vectors = order
        .iter()
        .map(|&i| (0..n).map(|k| v[k][i]).collect())
        .collect();
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative error allowed for `exp` against `f64::exp`: 4 ulp of f32,
    /// enough for softmax probabilities shown to people and thresholded at
    /// two decimals.
    const EXP_RELATIVE_TOLERANCE: f64 = 4.0 * f32::EPSILON as f64;

    #[test]
    fn exp_is_close_to_f64_exp() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let got = exp(x) as f64;
            let want = (x as f64).exp();
            assert!(
                ((got - want) / want).abs() < EXP_RELATIVE_TOLERANCE,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.173;
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(200.0), f32::INFINITY);
    }

    /// Absolute error allowed for `ln` against `f64::ln`: a few ulp of the
    /// result's magnitude (the series is truncated at s^9, |s| ≤ 0.172).
    const LN_TOLERANCE: f64 = 4e-7;

    #[test]
    fn ln_is_close_to_f64_ln() {
        let mut x = 1e-30f32;
        while x < 1e30 {
            let got = ln(x) as f64;
            let want = (x as f64).ln();
            assert!(
                (got - want).abs() <= LN_TOLERANCE * want.abs().max(1.0),
                "ln({x}) = {got}, want {want}"
            );
            x *= 1.37;
        }
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(0.0), f32::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert!((ln(1e-40) as f64 - (1e-40f64).ln()).abs() < 1e-4);
    }

    #[test]
    fn sqrt_is_close_to_f64_sqrt() {
        let mut x = 1e-30f32;
        while x < 1e30 {
            let got = sqrt(x) as f64;
            let want = (x as f64).sqrt();
            assert!(
                ((got - want) / want).abs() < 2.0 * f32::EPSILON as f64,
                "sqrt({x}) = {got}"
            );
            x *= 1.91;
        }
        assert_eq!(sqrt(4.0), 2.0);
        assert!(sqrt(-1.0).is_nan());
    }

    #[test]
    fn round_half_away_rounds_halves_away_from_zero() {
        assert_eq!(round_half_away(0.5), 1);
        assert_eq!(round_half_away(-0.5), -1);
        assert_eq!(round_half_away(0.49999997), 0);
        assert_eq!(round_half_away(2.5), 3);
        assert_eq!(round_half_away(-2.4), -2);
        assert_eq!(round_half_away(f32::NAN), 0);
        assert_eq!(round_half_away(1e20), i32::MAX);
    }

    #[test]
    fn quantize_affine_equals_its_reference_at_every_half_and_its_neighbours() {
        // Every half from −130 to 130 (the int8 range and past its ends),
        // the floats either side of it, and each of those scaled and
        // offset, where rounding could go either way.
        for k in -260..=260 {
            let h = k as f32 * 0.5;
            for v in [h, h.next_down(), h.next_up()] {
                for (scale, offset) in [(1.0, 0.0), (0.5, 0.25), (3.0, -1.5)] {
                    let x = (v - offset) / scale;
                    assert_eq!(
                        quantize_affine(x, scale, offset),
                        quantize_affine_reference(x, scale, offset),
                        "x {x}, scale {scale}, offset {offset}"
                    );
                }
            }
        }
        for x in [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            0.0,
            -0.0,
        ] {
            assert_eq!(
                quantize_affine(x, 1.0, 0.0),
                quantize_affine_reference(x, 1.0, 0.0)
            );
        }
    }

    #[test]
    fn quantize_affine16_equals_its_reference_at_halves_near_zero_and_the_int16_ends() {
        // In units of 256·v: every half near zero and near both int16
        // ends (and past them), the floats either side, scaled and offset.
        let halves = (-600..=600).chain(65_400..=65_700).chain(-65_700..=-65_400);
        for k in halves {
            let h = k as f32 * 0.5 / 256.0;
            for v in [h, h.next_down(), h.next_up()] {
                for (scale, offset) in [(1.0, 0.0), (0.5, 0.25), (3.0, -1.5)] {
                    let x = (v - offset) / scale;
                    assert_eq!(
                        quantize_affine16(x, scale, offset),
                        quantize_affine16_reference(x, scale, offset),
                        "x {x}, scale {scale}, offset {offset}"
                    );
                }
            }
        }
        for x in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e9, -1e9, 0.0] {
            assert_eq!(
                quantize_affine16(x, 1.0, 0.0),
                quantize_affine16_reference(x, 1.0, 0.0)
            );
        }
        assert_eq!(quantize_affine16(1000.0, 1.0, 0.0), i16::MAX);
        assert_eq!(quantize_affine16(-1000.0, 1.0, 0.0), i16::MIN);
        assert_eq!(quantize_affine16(1.5, 1.0, 0.0), 384);
        assert_eq!(quantize_affine16(-1.0 / 512.0, 1.0, 0.0), -1);
    }

    #[test]
    fn quantize_affine_clamps_to_int8() {
        assert_eq!(quantize_affine(1000.0, 1.0, 0.0), 127);
        assert_eq!(quantize_affine(-1000.0, 1.0, 0.0), -128);
        assert_eq!(quantize_affine(1.26, 10.0, -5.0), 8);
        assert_eq!(quantize_affine(f32::MAX, 2.0, 0.0), 127);
    }

    #[cfg(feature = "std")]
    #[test]
    fn normal_quantile_matches_known_values() {
        assert!(super::normal_quantile(0.5).abs() < 1e-9);
        assert!((super::normal_quantile(0.975) - 1.959963984540054).abs() < 1e-8);
        assert!((super::normal_quantile(0.001) + 3.090232306167813).abs() < 1e-8);
    }

    #[cfg(feature = "std")]
    #[test]
    fn eigen_of_a_correlated_pair() {
        let (values, vectors) = super::symmetric_eigen(vec![vec![1.0, 0.8], vec![0.8, 1.0]]);
        assert!((values[0] - 1.8).abs() < 1e-12 && (values[1] - 0.2).abs() < 1e-12);
        assert!((vectors[0][0].abs() - 0.5f64.sqrt()).abs() < 1e-12);
    }
}
