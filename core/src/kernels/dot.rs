//! The inner product shared by the dense and convolution kernels:
//! `Σ (x[i] − zp) · w[i]` over int8 vectors, four taps per step with the
//! DSP loops of [`crate::arch`] (two weight rows per pass, so each input
//! word is loaded and widened once for both), the last `n mod 4` taps in
//! plain Rust.

use crate::arch::{dot1_x4, dot2_x4};

/// `zp` negated in both 16-bit lanes.
#[inline(always)]
fn neg_zp_lanes(zp: i32) -> u32 {
    let n = (zp.wrapping_neg()) as u16 as u32;
    n | (n << 16)
}

/// `(Σ (x[i] − zp)·w0[i], Σ (x[i] − zp)·w1[i])` over `x.len()` taps.
///
/// `w0` and `w1` hold at least `x.len()` bytes (int8 stored as `u8`).
/// Exact as long as the sums fit `i32`, which model validation proves.
#[inline(always)]
pub fn dot2(x: &[i8], zp: i32, w0: &[u8], w1: &[u8]) -> (i32, i32) {
    let n = x.len().min(w0.len()).min(w1.len());
    let (mut a0, mut a1) = dot2_x4(&x[..n], &w0[..n], &w1[..n], neg_zp_lanes(zp));
    let head = n / 4 * 4;
    for ((&x, &p), &q) in x[head..n].iter().zip(&w0[head..n]).zip(&w1[head..n]) {
        let x = x as i32 - zp;
        a0 = a0.wrapping_add(x * p as i8 as i32);
        a1 = a1.wrapping_add(x * q as i8 as i32);
    }
    (a0, a1)
}

/// `Σ (x[i] − zp)·w[i]` over `x.len()` taps (one row; see [`dot2`]).
#[inline(always)]
pub fn dot1(x: &[i8], zp: i32, w: &[u8]) -> i32 {
    let n = x.len().min(w.len());
    let mut a = dot1_x4(&x[..n], &w[..n], neg_zp_lanes(zp));
    let head = n / 4 * 4;
    for (&x, &p) in x[head..n].iter().zip(&w[head..n]) {
        a = a.wrapping_add((x as i32 - zp) * p as i8 as i32);
    }
    a
}
