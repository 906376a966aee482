//! 1-D convolution over channels-first int8 tensors, int32 accumulation.

use super::{valid_taps, ChannelQuant};

/// Geometry of a 1-D convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv1dShape {
    /// Input channels.
    pub in_channels: usize,
    /// Input length.
    pub in_len: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Output length.
    pub out_len: usize,
    /// Kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding before the first input position (padded values equal the
    /// input zero point, so they add nothing).
    pub pad_left: usize,
}

/// Fast 1-D convolution: for each output channel and position, the taps
/// that fall inside the input are summed without a per-tap bounds test.
///
/// `weights` is `out_channels × in_channels × kernel`; `input` is
/// `in_channels × in_len`; `output` is `out_channels × out_len`.
pub fn conv1d_s8(
    input: &[i8],
    weights: &[u8],
    s: &Conv1dShape,
    q: &ChannelQuant<'_>,
    output: &mut [i8],
) {
    let zp = q.input_zero_point as i32;
    let filter_len = s.in_channels * s.kernel;
    if filter_len == 0 || s.in_len == 0 || s.out_len == 0 {
        return;
    }
    for (oc, (filter, out_row)) in weights
        .chunks_exact(filter_len)
        .zip(output.chunks_exact_mut(s.out_len))
        .enumerate()
    {
        let bias = q.bias(oc);
        let rq = q.requantizer(oc);
        for (op, out) in out_row.iter_mut().enumerate() {
            let (lo, hi, first) = valid_taps(op, s.stride, s.pad_left, s.kernel, s.in_len);
            let taps = hi - lo;
            let mut acc = bias;
            for (x_row, w_row) in input
                .chunks_exact(s.in_len)
                .zip(filter.chunks_exact(s.kernel))
            {
                let xs = &x_row[first..first + taps];
                let ws = &w_row[lo..hi];
                let mut acc_xw = 0i32;
                let mut acc_w = 0i32;
                for (&x, &w) in xs.iter().zip(ws) {
                    let w = w as i8 as i32;
                    acc_xw += x as i32 * w;
                    acc_w += w;
                }
                acc = acc
                    .wrapping_add(acc_xw)
                    .wrapping_sub(zp.wrapping_mul(acc_w));
            }
            *out = rq.apply(acc);
        }
    }
}

/// Reference 1-D convolution, written for clarity: every tap, padding
/// tested explicitly, `i64` accumulation.
pub fn conv1d_s8_reference(
    input: &[i8],
    weights: &[u8],
    s: &Conv1dShape,
    q: &ChannelQuant<'_>,
    output: &mut [i8],
) {
    for oc in 0..s.out_channels {
        for op in 0..s.out_len {
            let mut acc = q.bias(oc) as i64;
            for ic in 0..s.in_channels {
                for k in 0..s.kernel {
                    let pos = (op * s.stride + k) as i64 - s.pad_left as i64;
                    if pos < 0 || pos >= s.in_len as i64 {
                        continue; // padding: (zp − zp)·w = 0
                    }
                    let x = input[ic * s.in_len + pos as usize] as i64 - q.input_zero_point as i64;
                    let w = weights[(oc * s.in_channels + ic) * s.kernel + k] as i8 as i64;
                    acc += x * w;
                }
            }
            output[oc * s.out_len + op] = q.requantizer(oc).apply_reference(acc);
        }
    }
}
