//! Quantile pooling: each channel's values in rising order, read at
//! `count` evenly spaced ranks. The output is the window's value
//! distribution, blind to where in the window each value came from (an
//! appliance's power levels, a vibration's amplitude spread). The output
//! keeps the input's quantization: rank selection commutes with the
//! monotone int8 quantization, so the float model's quantiles, quantized,
//! are exactly the int8 model's.

/// Geometry of a quantile pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantileShape {
    /// Channels.
    pub channels: usize,
    /// Input length (values per channel).
    pub in_len: usize,
    /// Quantiles per channel.
    pub count: usize,
}

/// The rank (0-based, in rising order) of quantile `k` of `count` over
/// `len` values: `⌊k·(len − 1)/(count − 1)⌋`, so the first is the minimum
/// and the last the maximum; one quantile is the lower median. The host's
/// float network reads the same ranks.
pub fn quantile_rank(k: usize, count: usize, len: usize) -> usize {
    let last = len.saturating_sub(1);
    if count <= 1 {
        last / 2
    } else {
        // u64: `k · last` may pass u32 on a 32-bit target for long windows.
        ((k as u64 * last as u64) / (count as u64 - 1)) as usize
    }
}

/// Fast quantile pooling: a 256-bin count of each channel's levels, then
/// one walk of the cumulative count over the rising ranks (`len + 256 +
/// count` steps a channel, no sort). The count table (1 KiB) is on the
/// stack and does not grow with the input.
pub fn quantiles_s8(input: &[i8], s: &QuantileShape, output: &mut [i8]) {
    if s.in_len == 0 || s.count == 0 {
        return;
    }
    // The ranks `⌊k·last/steps⌋` as a running quotient and remainder: no
    // division in the loop (a 64-bit one is a library call on a
    // Cortex-M4). The same for every channel.
    let last = s.in_len - 1;
    let steps = s.count.saturating_sub(1).max(1);
    let (step_q, step_r) = (last / steps, last % steps);
    let first = quantile_rank(0, s.count, s.in_len);
    for (x_row, out_row) in input
        .chunks_exact(s.in_len)
        .zip(output.chunks_exact_mut(s.count))
    {
        let mut counts = [0u32; 256];
        for &x in x_row {
            counts[(x as u8 ^ 0x80) as usize] += 1;
        }
        // `below`: how many values lie in the bins before `bin`.
        let (mut bin, mut below) = (0usize, 0usize);
        let (mut rank, mut rem) = (first, 0);
        for out in out_row.iter_mut() {
            while bin < 255 && below + counts[bin] as usize <= rank {
                below += counts[bin] as usize;
                bin += 1;
            }
            *out = (bin as u8 ^ 0x80) as i8;
            rank += step_q;
            rem += step_r;
            if rem >= steps {
                rank += 1;
                rem -= steps;
            }
        }
    }
}

/// Reference quantile pooling, from the definition: quantile `k` is the
/// level `v` with fewer than `rank + 1` values below it and more than
/// `rank` values at or below it.
pub fn quantiles_s8_reference(input: &[i8], s: &QuantileShape, output: &mut [i8]) {
    for c in 0..s.channels {
        let row = &input[c * s.in_len..(c + 1) * s.in_len];
        for k in 0..s.count {
            let rank = quantile_rank(k, s.count, s.in_len);
            for v in i8::MIN..=i8::MAX {
                let below = row.iter().filter(|&&x| x < v).count();
                let at_or_below = row.iter().filter(|&&x| x <= v).count();
                if below <= rank && rank < at_or_below {
                    output[c * s.count + k] = v;
                    break;
                }
            }
        }
    }
}
