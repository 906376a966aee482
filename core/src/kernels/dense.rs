//! Fully connected layer, int8 in, int8 out, int32 accumulation.

use super::ChannelQuant;
use crate::arch::{aligned_words, dot_q15_1x2, widen_q15};
use crate::format::read_i32;
use crate::requant::Requantizer;

/// Bytes of scratch [`dense_s8`] needs for `in_features` inputs: the
/// input's whole groups of 4 widened to 16-bit lanes (8 bytes each), and 3
/// bytes to word-align them.
pub const fn dense_scratch_bytes(in_features: usize) -> usize {
    8 * (in_features / 4) + 3
}

/// Fast dense kernel: `output[o] = requant(bias[o] + Σ_i (x[i] − zp) · w[o][i])`.
/// The input is widened once to 16-bit lanes without the zero point
/// ([`widen_q15`], into `scratch`), then every pair of weight rows is one
/// pass of [`dot_q15_1x2`] over it (SXTB16/SMLAD on Cortex-M4, 46
/// instructions per 32 MACs), the last `n mod 4` inputs in plain Rust.
///
/// `weights` is `output.len() × input.len()` row-major; `scratch` holds at
/// least [`dense_scratch_bytes`] bytes (the engine takes it from the arena,
/// between the layer's input and output). Accumulation in `i32` is exact:
/// validation proved `Σ|w|·255 + |bias|` fits.
pub fn dense_s8(
    input: &[i8],
    weights: &[u8],
    q: &ChannelQuant<'_>,
    scratch: &mut [i8],
    output: &mut [i8],
) {
    let n = input.len();
    if n == 0 || scratch.len() < dense_scratch_bytes(n) {
        return;
    }
    let zp = q.input_zero_point as i32;
    let groups = n / 4;
    let head = 4 * groups;
    let words = aligned_words(scratch);
    if words.len() < 2 * groups {
        return;
    }
    let wide = &mut words[..2 * groups];
    widen_q15(input, q.input_zero_point, wide, groups);
    let wide: &[u32] = wide;
    let tail = &input[head..];
    if weights.len() < output.len() * n {
        return;
    }
    // Row `w`'s last `n mod 4` products added to `acc`, its bias, and its
    // requantization; inlined (a call per output costs more than its
    // body's set-up).
    #[inline(always)]
    fn finish(tail: &[i8], zp: i32, (acc, w): (i32, &[u8]), bias: i32, r: Requantizer) -> i8 {
        let mut acc = acc;
        if let Some(w) = w.get(w.len().saturating_sub(tail.len())..) {
            for (&x, &w) in tail.iter().zip(w) {
                acc = acc.wrapping_add((x as i32 - zp) * w as i8 as i32);
            }
        }
        r.apply(bias.wrapping_add(acc))
    }
    // Two rows a pass, each pair's parameters read in step with it (no
    // index arithmetic or bounds check per output).
    let params = q
        .bias
        .chunks_exact(8)
        .zip(q.multiplier.chunks_exact(8))
        .zip(q.shift.chunks_exact(2));
    // An odd output count's last channel.
    let o = output.len().saturating_sub(1);
    let mut rows = weights.chunks_exact(2 * n);
    let mut outs = output.chunks_exact_mut(2);
    for ((pair, out), ((b, m), sh)) in (&mut rows).zip(&mut outs).zip(params) {
        let (w0, w1) = pair.split_at(n);
        let (a0, a1) = dot_q15_1x2(wide, w0, w1, groups);
        if let ([y0, y1], [s0, s1]) = (out, sh) {
            let r0 = q.requantizer_of(read_i32(m, 0), *s0);
            let r1 = q.requantizer_of(read_i32(m, 1), *s1);
            *y0 = finish(tail, zp, (a0, w0), read_i32(b, 0), r0);
            *y1 = finish(tail, zp, (a1, w1), read_i32(b, 1), r1);
        }
    }
    if let (Some(out), true) = (
        outs.into_remainder().first_mut(),
        rows.remainder().len() >= n,
    ) {
        let w = rows.remainder();
        let acc = dot_q15_1x2(wide, w, w, groups).0;
        *out = finish(tail, zp, (acc, &w[..n]), q.bias(o), q.requantizer(o));
    }
}

/// Reference dense kernel, written for clarity.
pub fn dense_s8_reference(input: &[i8], weights: &[u8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    let n = input.len();
    for o in 0..output.len() {
        let mut acc = q.bias(o) as i64;
        for i in 0..n {
            let x = input[i] as i64 - q.input_zero_point as i64;
            let w = weights[o * n + i] as i8 as i64;
            acc += x * w;
        }
        output[o] = q.requantizer(o).apply_reference(acc);
    }
}
