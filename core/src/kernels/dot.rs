//! The inner product shared by the dense and convolution kernels:
//! `Σ (x[i] − zp) · w[i]` over int8 vectors, four taps per step with the
//! DSP instructions of [`crate::arch`], two weight rows per pass so each
//! input word is loaded and widened once for both.

use crate::arch::{sadd16, smlad, sxtb16, sxtb16_ror8};

/// Little-endian word of four bytes.
#[inline(always)]
fn word(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Little-endian word of four int8 values.
#[inline(always)]
fn word_i8(b: &[i8]) -> u32 {
    u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8])
}

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
    let n = x.len();
    let (w0, w1) = (&w0[..n], &w1[..n]);
    let nzp = neg_zp_lanes(zp);
    let (mut a0, mut a1) = (0i32, 0i32);
    let mut xs = x.chunks_exact(4);
    let mut ws0 = w0.chunks_exact(4);
    let mut ws1 = w1.chunks_exact(4);
    for ((x4, p), q) in (&mut xs).zip(&mut ws0).zip(&mut ws1) {
        let xw = word_i8(x4);
        // (x0, x2) and (x1, x3), each minus the zero point.
        let xe = sadd16(sxtb16(xw), nzp);
        let xo = sadd16(sxtb16_ror8(xw), nzp);
        let p = word(p);
        a0 = smlad(xe, sxtb16(p), a0);
        a0 = smlad(xo, sxtb16_ror8(p), a0);
        let q = word(q);
        a1 = smlad(xe, sxtb16(q), a1);
        a1 = smlad(xo, sxtb16_ror8(q), a1);
    }
    for ((&x, &p), &q) in xs
        .remainder()
        .iter()
        .zip(ws0.remainder())
        .zip(ws1.remainder())
    {
        let x = x as i32 - zp;
        a0 = a0.wrapping_add(x * p as i8 as i32);
        a1 = a1.wrapping_add(x * q as i8 as i32);
    }
    (a0, a1)
}

/// `Σ (x[i] − zp)·w[i]` over `x.len()` taps (one row; see [`dot2`]).
#[inline(always)]
pub fn dot1(x: &[i8], zp: i32, w: &[u8]) -> i32 {
    let n = x.len();
    let w = &w[..n];
    let nzp = neg_zp_lanes(zp);
    let mut a = 0i32;
    let mut xs = x.chunks_exact(4);
    let mut ws = w.chunks_exact(4);
    for (x4, p) in (&mut xs).zip(&mut ws) {
        let xw = word_i8(x4);
        let p = word(p);
        a = smlad(sadd16(sxtb16(xw), nzp), sxtb16(p), a);
        a = smlad(sadd16(sxtb16_ror8(xw), nzp), sxtb16_ror8(p), a);
    }
    for (&x, &p) in xs.remainder().iter().zip(ws.remainder()) {
        a = a.wrapping_add((x as i32 - zp) * p as i8 as i32);
    }
    a
}
