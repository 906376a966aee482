//! int8 kernels, one per file. Each has a fast version used by the engine
//! and a plain `_reference` version written for clarity (`i64`
//! accumulation, explicit padding checks); tests assert they agree bit for
//! bit. The 1-D kernels' tensors are channels-first `(channels, length)`,
//! contiguous; the 2-D kernels of imported models (`conv2d`, `softmax`)
//! read and write TFLite's channels-last order (the pooling and softmax
//! kernels there have one plain version only).
//!
//! Kernels trust their arguments to be consistent: the engine calls them
//! only with shapes validated at load. Out-of-range indices would still be
//! caught by Rust's bounds checks, never read out of bounds.

pub mod add;
pub mod conv1d;
pub mod conv2d;
pub mod dense;
pub mod pool;
pub mod quantiles;
pub mod softmax;
pub mod trees;

use crate::format::read_i32;
use crate::requant::Requantizer;

/// Per-output-channel parameters shared by dense and convolution layers.
#[derive(Debug, Clone, Copy)]
pub struct ChannelQuant<'a> {
    /// i32 little-endian bias per channel.
    pub bias: &'a [u8],
    /// i32 little-endian Q31 multiplier per channel.
    pub multiplier: &'a [u8],
    /// i8 shift per channel.
    pub shift: &'a [u8],
    /// Zero point of the input tensor.
    pub input_zero_point: i8,
    /// Zero point of the output tensor.
    pub output_zero_point: i8,
    /// Fused activation clamp, low end.
    pub act_min: i32,
    /// Fused activation clamp, high end.
    pub act_max: i32,
}

impl<'a> ChannelQuant<'a> {
    /// The parameters of a dense or convolution layer whose input tensor is
    /// quantized by `input`: bias, multipliers and shifts from the file, and
    /// the fused activation as a clamp on the output.
    pub fn new(
        bias: &'a [u8],
        multiplier: &'a [u8],
        shift: &'a [u8],
        input: crate::format::QParams,
        output: crate::format::QParams,
        activation: crate::format::Activation,
    ) -> Self {
        let (act_min, act_max) =
            crate::requant::activation_range(activation, output.scale, output.zero_point);
        ChannelQuant {
            bias,
            multiplier,
            shift,
            input_zero_point: input.zero_point,
            output_zero_point: output.zero_point,
            act_min,
            act_max,
        }
    }

    /// The bias of channel `o`.
    #[inline(always)]
    pub fn bias(&self, o: usize) -> i32 {
        read_i32(self.bias, o)
    }

    /// The requantizer of channel `o`.
    #[inline(always)]
    pub fn requantizer(&self, o: usize) -> Requantizer {
        self.requantizer_of(
            read_i32(self.multiplier, o),
            self.shift.get(o).copied().unwrap_or(0),
        )
    }

    /// The requantizer of a channel whose Q31 multiplier and i8 shift (as
    /// its byte in the file) the caller has read: a kernel that walks the
    /// channels in step reads them without an index.
    #[inline(always)]
    pub fn requantizer_of(&self, multiplier: i32, shift: u8) -> Requantizer {
        Requantizer {
            multiplier,
            shift: shift as i8 as i32,
            output_zero_point: self.output_zero_point as i32,
            min: self.act_min,
            max: self.act_max,
        }
    }
}

/// Output length and left padding of a window of `kernel` moved by `stride`
/// over `len` positions; `None` when no window fits (or an argument is 0).
pub fn window_geometry(
    len: u32,
    kernel: u32,
    stride: u32,
    padding: crate::format::Padding,
) -> Option<(u32, u32)> {
    if len == 0 || kernel == 0 || stride == 0 {
        return None;
    }
    match padding {
        crate::format::Padding::Valid => {
            if len < kernel {
                None
            } else {
                Some(((len - kernel) / stride + 1, 0))
            }
        }
        crate::format::Padding::Same => {
            let out = len.div_ceil(stride);
            let needed = (out as u64 - 1) * stride as u64 + kernel as u64;
            let pad_total = needed.saturating_sub(len as u64) as u32;
            Some((out, pad_total / 2))
        }
    }
}

/// Left padding of a window over a validated layer (0 where no window fits,
/// which validation has already refused).
pub fn pad_left(len: u32, kernel: u16, stride: u16, padding: crate::format::Padding) -> usize {
    window_geometry(len, kernel as u32, stride as u32, padding).map_or(0, |(_, pad)| pad as usize)
}

/// Range `[lo, hi)` of kernel taps of window `o` that fall inside the input.
#[inline(always)]
pub(crate) fn valid_taps(
    o: usize,
    stride: usize,
    pad_left: usize,
    kernel: usize,
    len: usize,
) -> (usize, usize, usize) {
    // Window covers input positions [o·stride − pad_left, … + kernel).
    let start = o * stride;
    let lo = pad_left.saturating_sub(start);
    let first = (start + lo).saturating_sub(pad_left);
    let hi = kernel.min((len + pad_left).saturating_sub(start));
    (lo, hi.max(lo), first)
}
