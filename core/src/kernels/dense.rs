//! Fully connected layer, int8 in, int8 out, int32 accumulation.

use super::ChannelQuant;

/// Fast dense kernel: `output[o] = requant(bias[o] + Σ_i (x[i] − zp) · w[o][i])`.
///
/// `weights` is `output.len() × input.len()` row-major. Accumulation in
/// `i32` is exact: validation proved `Σ|w|·255 + |bias|` fits.
pub fn dense_s8(input: &[i8], weights: &[u8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    let n = input.len();
    if n == 0 {
        return;
    }
    let zp = q.input_zero_point as i32;
    for (o, (row, out)) in weights.chunks_exact(n).zip(output.iter_mut()).enumerate() {
        // Σ (x − zp)·w = Σ x·w − zp·Σ w: one multiply per tap in the loop.
        let mut acc_xw = 0i32;
        let mut acc_w = 0i32;
        let mut xs = input.chunks_exact(4);
        let mut ws = row.chunks_exact(4);
        for (x, w) in (&mut xs).zip(&mut ws) {
            let (w0, w1, w2, w3) = (
                w[0] as i8 as i32,
                w[1] as i8 as i32,
                w[2] as i8 as i32,
                w[3] as i8 as i32,
            );
            acc_xw += x[0] as i32 * w0 + x[1] as i32 * w1 + x[2] as i32 * w2 + x[3] as i32 * w3;
            acc_w += w0 + w1 + w2 + w3;
        }
        for (&x, &w) in xs.remainder().iter().zip(ws.remainder()) {
            acc_xw += x as i32 * w as i8 as i32;
            acc_w += w as i8 as i32;
        }
        let acc = q
            .bias(o)
            .wrapping_add(acc_xw)
            .wrapping_sub(zp.wrapping_mul(acc_w));
        *out = q.requantizer(o).apply(acc);
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
