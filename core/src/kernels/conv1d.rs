//! 1-D convolution over channels-first int8 tensors, int32 accumulation.

use super::{valid_taps, ChannelQuant};
use crate::arch::{aligned_words, copy_rows, dot_q15_2x1, dot_q15_2x2, widen_q15_x4};
use crate::requant::Prepared;

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

/// Bytes of scratch [`conv1d_s8`] needs for `in_channels × kernel` taps:
/// two input patches as int8, the same two widened to 16 bits and
/// interleaved (16 bytes per 4 taps), and 3 bytes to word-align them.
pub const fn conv1d_scratch_bytes(in_channels: usize, kernel: usize) -> usize {
    let taps = in_channels * kernel;
    2 * taps + 16 * (taps / 4) + 3
}

/// [`conv1d_scratch_bytes`] of a shape.
pub fn conv1d_scratch_len(s: &Conv1dShape) -> usize {
    conv1d_scratch_bytes(s.in_channels, s.kernel)
}

/// Fast 1-D convolution, two output positions and two filters at a time,
/// in the manner of CMSIS-NN. The input patches under the two windows
/// (`in_channels × kernel`, padding filled with the input zero point so it
/// adds nothing) are gathered, then widened to 16-bit lanes with the zero
/// point taken off, once for every block of 16 filters; each pair of
/// filters is then one [`dot_q15_2x2`] over both positions (SXTB16/SMLAD
/// on Cortex-M4: 36 instructions per 32 MACs), an odd last filter one
/// [`dot_q15_2x1`], and the last `taps mod 4` taps plain Rust. Each
/// block's requantizers are read from the file and [`Prepared`] once per
/// call, not once per output.
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
    let taps = s.in_channels * s.kernel;
    if taps == 0 || s.in_len == 0 || s.out_len == 0 || scratch.len() < conv1d_scratch_len(s) {
        return;
    }
    let zp = q.input_zero_point as i32;
    let groups = taps / 4;
    let head = 4 * groups;
    let (patches, rest) = scratch.split_at_mut(2 * taps);
    let (p0, p1) = patches.split_at_mut(taps);
    let words = aligned_words(rest);
    if words.len() < 4 * groups
        || weights.len() < s.out_channels * taps
        || output.len() < s.out_channels * s.out_len
    {
        return;
    }
    let wide = &mut words[..4 * groups];
    let mut first = 0;
    while first < s.out_channels {
        let last = (first + CHANNEL_BLOCK).min(s.out_channels);
        // Channels past the last read as zeros (`ChannelQuant` reads out
        // of range as 0) and are never used.
        let requantizers: [Prepared; CHANNEL_BLOCK] =
            core::array::from_fn(|i| Prepared::new(q.requantizer(first + i)));
        let biases: [i32; CHANNEL_BLOCK] = core::array::from_fn(|i| q.bias(first + i));
        let block = &weights[first * taps..last * taps];
        for op in (0..s.out_len).step_by(2) {
            let pair = op + 1 < s.out_len;
            // One gathering loop for both positions (a single inlined copy
            // of it); a last unpaired position is gathered twice.
            for second in [false, true] {
                let (patch, at) = if second {
                    (&mut *p1, if pair { op + 1 } else { op })
                } else {
                    (&mut *p0, op)
                };
                gather_patch(input, s, q.input_zero_point, at, patch);
            }
            widen_q15_x4(p0, p1, q.input_zero_point, wide, groups);
            let (p0, p1, wide): (&[i8], &[i8], &[u32]) = (p0, p1, wide);
            // The last `taps mod 4` taps of filter row `w`, for both
            // positions, added to `(a0, a1)`.
            let tail = |w: &[u8], (mut a0, mut a1): (i32, i32)| {
                for ((&x0, &x1), &wt) in p0[head..].iter().zip(&p1[head..]).zip(&w[head..]) {
                    let wt = wt as i8 as i32;
                    a0 = a0.wrapping_add((x0 as i32 - zp) * wt);
                    a1 = a1.wrapping_add((x1 as i32 - zp) * wt);
                }
                (a0, a1)
            };
            // Filter `first + i`'s two outputs, written in place (inlined:
            // a call per filter costs more than its set-up).
            #[inline(always)]
            fn put(r: &Prepared, b: i32, (a0, a1): (i32, i32), pair: bool, out: Option<&mut [i8]>) {
                if let Some([y0, rest @ ..]) = out {
                    *y0 = r.apply(b.wrapping_add(a0));
                    if let (true, Some(y1)) = (pair, rest.first_mut()) {
                        *y1 = r.apply(b.wrapping_add(a1));
                    }
                }
            }
            let at = |i: usize| (first + i) * s.out_len + op;
            let mut rows = block.chunks_exact(2 * taps);
            let mut i = 0;
            for two in &mut rows {
                let (w0, w1) = two.split_at(taps);
                let [c00, c01, c10, c11] = dot_q15_2x2(wide, w0, w1, groups);
                put(
                    &requantizers[i],
                    biases[i],
                    tail(w0, (c00, c01)),
                    pair,
                    output.get_mut(at(i)..),
                );
                put(
                    &requantizers[i + 1],
                    biases[i + 1],
                    tail(w1, (c10, c11)),
                    pair,
                    output.get_mut(at(i + 1)..),
                );
                i += 2;
            }
            let w = rows.remainder();
            if w.len() == taps {
                put(
                    &requantizers[i],
                    biases[i],
                    tail(w, dot_q15_2x1(wide, w, groups)),
                    pair,
                    output.get_mut(at(i)..),
                );
            }
        }
        first = last;
    }
}

/// Output channels a convolution requantizes from parameters held on the
/// stack; with more, the patches are gathered and widened again for each
/// block of this many.
const CHANNEL_BLOCK: usize = 16;

/// The input patch under output position `op`'s window, laid out like a
/// filter (`in_channels × kernel`); padding is the input zero point `zp`,
/// which adds nothing.
#[inline(always)]
fn gather_patch(input: &[i8], s: &Conv1dShape, zp: i8, op: usize, patch: &mut [i8]) {
    let (lo, hi, first) = valid_taps(op, s.stride, s.pad_left, s.kernel, s.in_len);
    let k = s.kernel;
    if lo == 0 && hi == k {
        // Inside the input: each channel's `k` bytes.
        if let Some(src) = input.get(first..) {
            copy_rows(src, s.in_len, k, s.in_channels, patch);
        }
        return;
    }
    // At an edge: taps before `lo` and from `hi` are padding.
    let mut at = first;
    for dst in patch.chunks_exact_mut(k).take(s.in_channels) {
        for (t, d) in dst.iter_mut().enumerate() {
            *d = if t >= lo && t < hi {
                input.get(at + t - lo).copied().unwrap_or(zp)
            } else {
                zp
            };
        }
        at += s.in_len;
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
