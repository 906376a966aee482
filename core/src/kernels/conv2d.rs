//! 2-D convolutions over channels-last (NHWC) int8 tensors, as TFLite's
//! reference kernels compute them (`ConvPerChannel`,
//! `DepthwiseConvPerChannel`): for each output position and channel, the
//! sum of `(x − zp_in) · w` over the window's taps that fall inside the
//! input (padding adds nothing), plus the bias, requantized per output
//! channel and clamped by the fused activation.
//!
//! These are the plain kernels, written for clarity; the 2-D layers come
//! from imported models (`vigie import`) and have no SIMD fast path yet, so
//! there is no second version to keep in agreement. Accumulators stay in
//! `i32`: validation bounds `256 · Σ|w| + |bias|` per output channel.

use super::ChannelQuant;
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

/// `CONV_2D`: `y[oy][ox][o]` from `x` (`in_h × in_w × in_c`) and weights
/// `out_c × k_h × k_w × in_c`.
pub fn conv2d_s8(
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
/// input channel `c`, weights `k_h × k_w × out_c`.
pub fn depthwise_conv2d_s8(
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
                let mut acc = 0i32;
                for fy in fy0..fy1 {
                    let iy = (y0 + fy as isize) as usize;
                    for fx in fx0..fx1 {
                        let ix = (x0 + fx as isize) as usize;
                        acc += x[(iy * g.in_w + ix) * c_n + c] as i32;
                    }
                }
                let mean = if count == 0 {
                    0
                } else if acc > 0 {
                    (acc + count / 2) / count
                } else {
                    (acc - count / 2) / count
                };
                *v = mean.clamp(act_min, act_max) as i8;
            }
        }
    }
}
