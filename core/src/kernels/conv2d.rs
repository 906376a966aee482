//! 2-D convolutions over channels-last (NHWC) int8 tensors, as TFLite's
//! reference kernels compute them (`ConvPerChannel`,
//! `DepthwiseConvPerChannel`): for each output position and channel, the
//! sum of `(x − zp_in) · w` over the window's taps that fall inside the
//! input (padding adds nothing), plus the bias, requantized per output
//! channel and clamped by the fused activation.
//!
//! The fast kernels the engine runs sit beside plain `_reference` ones
//! written for clarity; `core/tests/kernels_match_reference.rs` asserts
//! they agree bit for bit. The convolution gathers each output position's
//! patch (padding filled with the input zero point, which adds nothing)
//! and runs the dense kernel on it (SXTB16/SMLAD on Cortex-M4); a 1×1
//! convolution with stride 1 needs no gathering. The depthwise kernel adds
//! each tap into one `i32` accumulator per channel, so its inner loop runs
//! along the contiguous channels (keeping four channels' accumulators in
//! registers across the taps instead was measured slower: 28.2
//! instructions per MAC against 17.0 on keyword spotting). Accumulators
//! stay in `i32`: validation bounds `256 · Σ|w| + |bias|` per output
//! channel.

use super::dense::{dense_s8, dense_scratch_bytes};
use super::ChannelQuant;
use crate::arch::aligned_words;
use crate::format::Window2d;

/// A validated 2-D window over an NHWC input, with its output size and
/// padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Input height, width and channels.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Window height.
    pub k_h: usize,
    /// Window width.
    pub k_w: usize,
    /// Strides.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Padding before the first row and column.
    pub pad_top: usize,
    /// Padding before the first column.
    pub pad_left: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
}

impl Geometry {
    /// The geometry of a window, `None` when no window fits or a size is 0.
    pub fn of(w: &Window2d) -> Option<Geometry> {
        let (out_h, pad_top) = super::window_geometry(
            w.in_height as u32,
            w.kernel_height as u32,
            w.stride_height as u32,
            w.padding,
        )?;
        let (out_w, pad_left) = super::window_geometry(
            w.in_width as u32,
            w.kernel_width as u32,
            w.stride_width as u32,
            w.padding,
        )?;
        if w.in_channels == 0 {
            return None;
        }
        Some(Geometry {
            in_h: w.in_height as usize,
            in_w: w.in_width as usize,
            in_c: w.in_channels as usize,
            k_h: w.kernel_height as usize,
            k_w: w.kernel_width as usize,
            stride_h: w.stride_height as usize,
            stride_w: w.stride_width as usize,
            pad_top: pad_top as usize,
            pad_left: pad_left as usize,
            out_h: out_h as usize,
            out_w: out_w as usize,
        })
    }

    /// Output positions.
    pub fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    /// The taps of output position `(oy, ox)` inside the input: rows
    /// `fy0..fy1` and columns `fx0..fx1` of the window, and the input row
    /// and column of tap `(0, 0)` (which may lie in the padding).
    #[inline(always)]
    fn taps(&self, oy: usize, ox: usize) -> (usize, usize, usize, usize, isize, isize) {
        let y0 = (oy * self.stride_h) as isize - self.pad_top as isize;
        let x0 = (ox * self.stride_w) as isize - self.pad_left as isize;
        let fy0 = (-y0).max(0) as usize;
        let fx0 = (-x0).max(0) as usize;
        let fy1 = (self.in_h as isize - y0).clamp(0, self.k_h as isize) as usize;
        let fx1 = (self.in_w as isize - x0).clamp(0, self.k_w as isize) as usize;
        (fy0, fy1.max(fy0), fx0, fx1.max(fx0), y0, x0)
    }
}

/// Whether a convolution reads each position's channels in place: a 1×1
/// window with stride 1 (no padding then).
fn pointwise(g: &Geometry) -> bool {
    g.k_h == 1 && g.k_w == 1 && g.stride_h == 1 && g.stride_w == 1
}

/// Bytes of scratch [`conv2d_s8`] needs: one patch (unless pointwise) and
/// the dense kernel's widened copy of it.
pub fn conv2d_scratch_bytes(g: &Geometry) -> usize {
    let patch = g.k_h * g.k_w * g.in_c;
    let gathered = if pointwise(g) { 0 } else { patch };
    gathered + dense_scratch_bytes(patch)
}

/// Bytes of scratch [`depthwise_conv2d_s8`] needs: an `i32` accumulator
/// per output channel, word-aligned.
pub fn depthwise_scratch_bytes(g: &Geometry, depth_multiplier: usize) -> usize {
    4 * g.in_c * depth_multiplier + 3
}

/// `CONV_2D`: `y[oy][ox][o]` from `x` (`in_h × in_w × in_c`) and weights
/// `out_c × k_h × k_w × in_c` (OHWI: each filter is one row over a patch
/// in the input's own order). Each position's patch, gathered into
/// `scratch` with the zero point where the window leaves the input, is a
/// dense layer's input ([`dense_s8`]); `scratch` holds at least
/// [`conv2d_scratch_bytes`].
pub fn conv2d_s8(
    x: &[i8],
    weights: &[u8],
    g: &Geometry,
    out_c: usize,
    q: &ChannelQuant<'_>,
    scratch: &mut [i8],
    y: &mut [i8],
) {
    let patch_len = g.k_h * g.k_w * g.in_c;
    if scratch.len() < conv2d_scratch_bytes(g) {
        return;
    }
    if pointwise(g) {
        for (xs, ys) in x
            .chunks_exact(g.in_c)
            .zip(y.chunks_exact_mut(out_c))
            .take(g.positions())
        {
            dense_s8(xs, weights, q, scratch, ys);
        }
        return;
    }
    let (patch, rest) = scratch.split_at_mut(patch_len);
    let row = g.k_w * g.in_c;
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            let (fy0, fy1, fx0, fx1, y0, x0) = g.taps(oy, ox);
            if fy1 - fy0 < g.k_h || fx1 - fx0 < g.k_w {
                patch.fill(q.input_zero_point);
            }
            for fy in fy0..fy1 {
                let iy = (y0 + fy as isize) as usize;
                let ix = (x0 + fx0 as isize) as usize;
                let n = (fx1 - fx0) * g.in_c;
                let from = &x[(iy * g.in_w + ix) * g.in_c..][..n];
                patch[fy * row + fx0 * g.in_c..][..n].copy_from_slice(from);
            }
            let ys = &mut y[(oy * g.out_w + ox) * out_c..][..out_c];
            dense_s8(patch, weights, q, rest, ys);
        }
    }
}

/// The plain `CONV_2D`: `y[oy][ox][o]` from `x` (`in_h × in_w × in_c`) and
/// weights `out_c × k_h × k_w × in_c`, tap by tap.
pub fn conv2d_s8_reference(
    x: &[i8],
    weights: &[u8],
    g: &Geometry,
    out_c: usize,
    q: &ChannelQuant<'_>,
    y: &mut [i8],
) {
    let zp = q.input_zero_point as i32;
    let filter = g.k_h * g.k_w * g.in_c;
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            let (fy0, fy1, fx0, fx1, y0, x0) = g.taps(oy, ox);
            let out = &mut y[(oy * g.out_w + ox) * out_c..][..out_c];
            for (o, v) in out.iter_mut().enumerate() {
                let w = &weights[o * filter..(o + 1) * filter];
                let mut acc = q.bias(o);
                for fy in fy0..fy1 {
                    let iy = (y0 + fy as isize) as usize;
                    for fx in fx0..fx1 {
                        let ix = (x0 + fx as isize) as usize;
                        let xs = &x[(iy * g.in_w + ix) * g.in_c..][..g.in_c];
                        let ws = &w[(fy * g.k_w + fx) * g.in_c..][..g.in_c];
                        for (&a, &b) in xs.iter().zip(ws) {
                            acc += (a as i32 - zp) * (b as i8 as i32);
                        }
                    }
                }
                *v = q.requantizer(o).apply(acc);
            }
        }
    }
}

/// `DEPTHWISE_CONV_2D`: output channel `c · depth_multiplier + m` from
/// input channel `c`, weights `k_h × k_w × out_c`. With a depth multiplier
/// of 1, each tap inside the input adds `(x − zp) · w` along the
/// contiguous channels into one accumulator per channel (in `scratch`, at
/// least [`depthwise_scratch_bytes`]); other multipliers run the plain
/// kernel.
pub fn depthwise_conv2d_s8(
    x: &[i8],
    weights: &[u8],
    g: &Geometry,
    depth_multiplier: usize,
    q: &ChannelQuant<'_>,
    scratch: &mut [i8],
    y: &mut [i8],
) {
    let c_n = g.in_c;
    let words = aligned_words(scratch);
    if depth_multiplier != 1 || words.len() < c_n {
        depthwise_conv2d_s8_reference(x, weights, g, depth_multiplier, q, y);
        return;
    }
    let acc = &mut words[..c_n];
    let zp = q.input_zero_point as i32;
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            let (fy0, fy1, fx0, fx1, y0, x0) = g.taps(oy, ox);
            for (c, a) in acc.iter_mut().enumerate() {
                *a = q.bias(c) as u32;
            }
            for fy in fy0..fy1 {
                let iy = (y0 + fy as isize) as usize;
                for fx in fx0..fx1 {
                    let ix = (x0 + fx as isize) as usize;
                    let xs = &x[(iy * g.in_w + ix) * c_n..][..c_n];
                    let ws = &weights[(fy * g.k_w + fx) * c_n..][..c_n];
                    for (a, (&xv, &wv)) in acc.iter_mut().zip(xs.iter().zip(ws)) {
                        let p = (xv as i32 - zp) * (wv as i8 as i32);
                        *a = (*a as i32).wrapping_add(p) as u32;
                    }
                }
            }
            let ys = &mut y[(oy * g.out_w + ox) * c_n..][..c_n];
            for (c, (v, &a)) in ys.iter_mut().zip(acc.iter()).enumerate() {
                *v = q.requantizer(c).apply(a as i32);
            }
        }
    }
}

/// The plain `DEPTHWISE_CONV_2D`, tap by tap per output channel.
pub fn depthwise_conv2d_s8_reference(
    x: &[i8],
    weights: &[u8],
    g: &Geometry,
    depth_multiplier: usize,
    q: &ChannelQuant<'_>,
    y: &mut [i8],
) {
    let zp = q.input_zero_point as i32;
    let out_c = g.in_c * depth_multiplier;
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            let (fy0, fy1, fx0, fx1, y0, x0) = g.taps(oy, ox);
            let out = &mut y[(oy * g.out_w + ox) * out_c..][..out_c];
            for (o, v) in out.iter_mut().enumerate() {
                let c = o / depth_multiplier.max(1);
                let mut acc = q.bias(o);
                for fy in fy0..fy1 {
                    let iy = (y0 + fy as isize) as usize;
                    for fx in fx0..fx1 {
                        let ix = (x0 + fx as isize) as usize;
                        let a = x[(iy * g.in_w + ix) * g.in_c + c] as i32 - zp;
                        let b = weights[(fy * g.k_w + fx) * out_c + o] as i8 as i32;
                        acc += a * b;
                    }
                }
                *v = q.requantizer(o).apply(acc);
            }
        }
    }
}

/// `AVERAGE_POOL_2D`: each channel's mean over the window's taps inside
/// the input, rounded half away from zero, clamped to `[act_min, act_max]`.
pub fn avg_pool2d_s8(x: &[i8], g: &Geometry, act_min: i32, act_max: i32, y: &mut [i8]) {
    let c_n = g.in_c;
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            let (fy0, fy1, fx0, fx1, y0, x0) = g.taps(oy, ox);
            let count = ((fy1 - fy0) * (fx1 - fx0)) as i32;
            let out = &mut y[(oy * g.out_w + ox) * c_n..][..c_n];
            for (c, v) in out.iter_mut().enumerate() {
                // In i64: a window of 2^24 taps of −128 reaches −2^31.
                let mut acc = 0i64;
                for fy in fy0..fy1 {
                    let iy = (y0 + fy as isize) as usize;
                    for fx in fx0..fx1 {
                        let ix = (x0 + fx as isize) as usize;
                        acc += x[(iy * g.in_w + ix) * c_n + c] as i64;
                    }
                }
                let count = count as i64;
                let mean = if count == 0 {
                    0
                } else if acc > 0 {
                    (acc + count / 2) / count
                } else {
                    (acc - count / 2) / count
                };
                *v = mean.clamp(act_min as i64, act_max as i64) as i8;
            }
        }
    }
}
