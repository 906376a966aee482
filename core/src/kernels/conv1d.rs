//! 1-D convolution over channels-first int8 tensors, int32 accumulation.

use super::dot::{dot1, dot2};
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

/// Bytes of scratch [`conv1d_s8`] needs: one input patch
/// (`in_channels × kernel`).
pub fn conv1d_scratch_len(s: &Conv1dShape) -> usize {
    s.in_channels * s.kernel
}

/// Fast 1-D convolution. For each output position the input patch under
/// the window (`in_channels × kernel`, padding filled with the input zero
/// point so it adds nothing) is gathered once into `scratch`, laid out like
/// a filter; then every pair of filters is one [`dot2`] with it, as a dense
/// layer would be (SXTB16/SMLAD on Cortex-M4).
///
/// `weights` is `out_channels × in_channels × kernel`; `input` is
/// `in_channels × in_len`; `output` is `out_channels × out_len`; `scratch`
/// holds at least [`conv1d_scratch_len`] bytes (the engine takes it from the
/// arena, between the layer's input and output).
pub fn conv1d_s8(
    input: &[i8],
    weights: &[u8],
    s: &Conv1dShape,
    q: &ChannelQuant<'_>,
    scratch: &mut [i8],
    output: &mut [i8],
) {
    let filter_len = conv1d_scratch_len(s);
    if filter_len == 0 || s.in_len == 0 || s.out_len == 0 || scratch.len() < filter_len {
        return;
    }
    let zp = q.input_zero_point as i32;
    let patch = &mut scratch[..filter_len];
    let mut first = 0;
    while first < s.out_channels {
        // Each block's requantization parameters are read from the file
        // once per call, not once per output position (24 instructions an
        // output on Cortex-M4).
        let last = (first + CHANNEL_BLOCK).min(s.out_channels);
        let mut requantizers = [q.requantizer(first); CHANNEL_BLOCK];
        let mut biases = [0i32; CHANNEL_BLOCK];
        for (i, o) in (first..last).enumerate() {
            requantizers[i] = q.requantizer(o);
            biases[i] = q.bias(o);
        }
        let block = &weights[first * filter_len..last * filter_len];
        for op in 0..s.out_len {
            gather_patch(input, s, q.input_zero_point, op, patch);
            let patch: &[i8] = patch;
            let mut filters = block.chunks_exact(2 * filter_len);
            let mut i = 0;
            for pair in &mut filters {
                let (w0, w1) = pair.split_at(filter_len);
                let (a0, a1) = dot2(patch, zp, w0, w1);
                output[(first + i) * s.out_len + op] =
                    requantizers[i].apply(biases[i].wrapping_add(a0));
                output[(first + i + 1) * s.out_len + op] =
                    requantizers[i + 1].apply(biases[i + 1].wrapping_add(a1));
                i += 2;
            }
            if first + i < last && filters.remainder().len() >= filter_len {
                let a = dot1(patch, zp, filters.remainder());
                output[(first + i) * s.out_len + op] =
                    requantizers[i].apply(biases[i].wrapping_add(a));
            }
        }
        first = last;
    }
}

/// Output channels a convolution requantizes from parameters held on the
/// stack (even, so that filter pairs never straddle two blocks).
const CHANNEL_BLOCK: usize = 16;

/// The input patch under output position `op`'s window, laid out like a
/// filter (`in_channels × kernel`); padding is the input zero point `zp`,
/// which adds nothing.
#[inline(always)]
fn gather_patch(input: &[i8], s: &Conv1dShape, zp: i8, op: usize, patch: &mut [i8]) {
    let (lo, hi, first) = valid_taps(op, s.stride, s.pad_left, s.kernel, s.in_len);
    // Byte loops rather than copy_from_slice/fill: the runs are a kernel
    // long (a few bytes), shorter than a memcpy call's setup.
    for (dst, x_row) in patch
        .chunks_exact_mut(s.kernel)
        .zip(input.chunks_exact(s.in_len))
    {
        if lo == 0 && hi == s.kernel {
            // Inside the input: a straight copy.
            for (d, &v) in dst.iter_mut().zip(&x_row[first..]) {
                *d = v;
            }
        } else {
            for (t, d) in dst.iter_mut().enumerate() {
                *d = if t >= lo && t < hi {
                    x_row[first + t - lo]
                } else {
                    zp
                };
            }
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
