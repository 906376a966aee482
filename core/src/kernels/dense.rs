//! Fully connected layer: int8 in ([`dense_s8`]) or the model's 16-bit
//! input ([`dense_s16`]), int8 out, int32 accumulation.

use super::ChannelQuant;
use crate::arch::{aligned_words, dot_q15_1x2, widen_q15};
use crate::format::read_i32;
use crate::requant::Requantizer;

/// Bytes of scratch [`dense_s8`] and [`dense_s16`] need for `in_features`
/// inputs: the input's whole groups of 4 as 16-bit lanes (8 bytes each),
/// and 3 bytes to word-align them.
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
    let mut tail = [0i32; 3];
    for (t, &x) in tail.iter_mut().zip(&input[head..]) {
        *t = x as i32 - zp;
    }
    if weights.len() < output.len() * n {
        return;
    }
    rows(wide, (n, groups), &tail[..n - head], weights, q, output);
}

/// Fast dense kernel on a 16-bit input ([`crate::format::LayerDef::Dense16`]):
/// `output[o] = requant(bias[o] + Σ_i x[i] · w[o][i])`, `input` holding the
/// `x[i]` as little-endian `i16` (2 bytes each; the zero point is in the
/// bias). Its whole groups of 4 are laid out in `scratch` as
/// [`widen_q15`] lays out a widened int8 input, and the rows run through
/// the same loop as [`dense_s8`]. `scratch` holds at least
/// [`dense_scratch_bytes`] bytes; validation proved `Σ|w|·32,768 + |bias|`
/// fits an `i32`.
pub fn dense_s16(
    input: &[i8],
    weights: &[u8],
    q: &ChannelQuant<'_>,
    scratch: &mut [i8],
    output: &mut [i8],
) {
    let n = input.len() / 2;
    if n == 0 || scratch.len() < dense_scratch_bytes(n) {
        return;
    }
    let groups = n / 4;
    let words = aligned_words(scratch);
    if words.len() < 2 * groups || weights.len() < output.len() * n {
        return;
    }
    let lane = |b: &[i8]| b[0] as u8 as u32 | (b[1] as u8 as u32) << 8;
    // Per 4 values (8 bytes), the words [x0 | x2 << 16] [x1 | x3 << 16].
    for (w, x) in words[..2 * groups]
        .chunks_exact_mut(2)
        .zip(input.chunks_exact(8))
    {
        w[0] = lane(&x[0..2]) | lane(&x[4..6]) << 16;
        w[1] = lane(&x[2..4]) | lane(&x[6..8]) << 16;
    }
    let mut tail = [0i32; 3];
    let rest = &input[8 * groups..2 * n];
    for (t, b) in tail.iter_mut().zip(rest.chunks_exact(2)) {
        *t = i16::from_le_bytes([b[0] as u8, b[1] as u8]) as i32;
    }
    let wide: &[u32] = &words[..2 * groups];
    rows(
        wide,
        (n, groups),
        &tail[..n - 4 * groups],
        weights,
        q,
        output,
    );
}

/// The rows of a dense layer over `n` inputs whose whole groups of 4 are
/// widened into `wide` (`groups` of them) and whose last `n mod 4` values,
/// less the zero point, are `tail`. One function for both kernels, called
/// once per layer: inlined into each, LLVM left the iterator adapters'
/// constructors out of line and their state in memory (3 instructions
/// more per output).
#[inline(never)]
fn rows(
    wide: &[u32],
    (n, groups): (usize, usize),
    tail: &[i32],
    weights: &[u8],
    q: &ChannelQuant<'_>,
    output: &mut [i8],
) {
    // Row `w`'s last `n mod 4` products added to `acc`, its bias, and its
    // requantization; inlined (a call per output costs more than its
    // body's set-up).
    #[inline(always)]
    fn finish(tail: &[i32], (acc, w): (i32, &[u8]), bias: i32, r: Requantizer) -> i8 {
        let mut acc = acc;
        if let Some(w) = w.get(w.len().saturating_sub(tail.len())..) {
            for (&x, &w) in tail.iter().zip(w) {
                acc = acc.wrapping_add(x * w as i8 as i32);
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
            *y0 = finish(tail, (a0, w0), read_i32(b, 0), r0);
            *y1 = finish(tail, (a1, w1), read_i32(b, 1), r1);
        }
    }
    if let (Some(out), true) = (
        outs.into_remainder().first_mut(),
        rows.remainder().len() >= n,
    ) {
        let w = rows.remainder();
        let acc = dot_q15_1x2(wide, w, w, groups).0;
        *out = finish(tail, (acc, &w[..n]), q.bias(o), q.requantizer(o));
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

/// Reference kernel of [`dense_s16`], written for clarity: `input` holds
/// little-endian `i16` values.
pub fn dense_s16_reference(input: &[i8], weights: &[u8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    let n = input.len() / 2;
    for o in 0..output.len() {
        let mut acc = q.bias(o) as i64;
        for i in 0..n {
            let x = i16::from_le_bytes([input[2 * i] as u8, input[2 * i + 1] as u8]) as i64;
            let w = weights[o * n + i] as i8 as i64;
            acc += x * w;
        }
        output[o] = q.requantizer(o).apply_reference(acc);
    }
}
