//! Fully connected layer, int8 in, int8 out, int32 accumulation.

use super::dot::{dot1, dot2};
use super::ChannelQuant;

/// Fast dense kernel: `output[o] = requant(bias[o] + Σ_i (x[i] − zp) · w[o][i])`,
/// two output rows per pass through [`dot2`] (SXTB16/SMLAD on Cortex-M4).
///
/// `weights` is `output.len() × input.len()` row-major. Accumulation in
/// `i32` is exact: validation proved `Σ|w|·255 + |bias|` fits.
pub fn dense_s8(input: &[i8], weights: &[u8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    let n = input.len();
    if n == 0 {
        return;
    }
    let zp = q.input_zero_point as i32;
    let mut rows = weights.chunks_exact(2 * n);
    let mut outs = output.chunks_exact_mut(2);
    let mut o = 0;
    for (pair, out) in (&mut rows).zip(&mut outs) {
        let (w0, w1) = pair.split_at(n);
        let (a0, a1) = dot2(input, zp, w0, w1);
        out[0] = q.requantizer(o).apply(q.bias(o).wrapping_add(a0));
        out[1] = q.requantizer(o + 1).apply(q.bias(o + 1).wrapping_add(a1));
        o += 2;
    }
    if let (Some(out), true) = (
        outs.into_remainder().first_mut(),
        rows.remainder().len() >= n,
    ) {
        let a = dot1(input, zp, rows.remainder());
        *out = q.requantizer(o).apply(q.bias(o).wrapping_add(a));
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
