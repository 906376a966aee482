//! Kernel benchmarks: one 256→64 int8 dense layer (16,384 MACs) and one
//! convolution shaped like the BasicMotions CNN's second (16 → 16
//! channels, kernel 5, length 50, "same" padding: 64,000 MACs), weights in
//! flash, each through the fast kernel and its reference, which must agree
//! byte for byte on the device too.

use vigie_core::kernels::conv1d::{
    conv1d_s8, conv1d_s8_reference, conv1d_scratch_len, Conv1dShape,
};
use vigie_core::kernels::dense::{dense_s8, dense_s8_reference};
use vigie_core::kernels::ChannelQuant;

use crate::clock::Clock;

const IN: usize = 256;
const OUT: usize = 64;
/// Multiply-accumulates of one pass.
pub const MACS: u32 = (IN * OUT) as u32;

/// Deterministic pseudo-random bytes (a 32-bit LCG), built at compile time.
const fn bytes<const N: usize>(seed: u32) -> [u8; N] {
    let mut out = [0u8; N];
    let mut s = seed;
    let mut i = 0;
    while i < N {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        out[i] = (s >> 24) as u8;
        i += 1;
    }
    out
}

static WEIGHTS: [u8; IN * OUT] = bytes(1);
static INPUT: [u8; IN] = bytes(2);
/// Biases, i32 little-endian, small.
static BIAS: [u8; 4 * OUT] = {
    let raw: [u8; OUT] = bytes(3);
    let mut out = [0u8; 4 * OUT];
    let mut i = 0;
    while i < OUT {
        let b = (raw[i] as i8 as i32) * 64;
        let le = b.to_le_bytes();
        out[4 * i] = le[0];
        out[4 * i + 1] = le[1];
        out[4 * i + 2] = le[2];
        out[4 * i + 3] = le[3];
        i += 1;
    }
    out
};
/// Q31 multiplier 0.75 for every channel.
static MULTIPLIER: [u8; 4 * OUT] = {
    let le = 0x6000_0000i32.to_le_bytes();
    let mut out = [0u8; 4 * OUT];
    let mut i = 0;
    while i < 4 * OUT {
        out[i] = le[i % 4];
        i += 1;
    }
    out
};
/// Shift −10 (a right shift) for every channel.
static SHIFT: [u8; OUT] = [(-10i8) as u8; OUT];

const CONV: Conv1dShape = Conv1dShape {
    in_channels: 16,
    in_len: 50,
    out_channels: 16,
    out_len: 50,
    kernel: 5,
    stride: 1,
    pad_left: 2,
};
/// Multiply-accumulates of one convolution (padding taps not counted).
pub const CONV_MACS: u32 = 16 * 16 * (50 * 5 - 2 * (2 + 1));
static CONV_WEIGHTS: [u8; 16 * 16 * 5] = bytes(4);
static CONV_INPUT: [u8; 16 * 50] = bytes(5);

/// Costs of one pass of the fast and the reference convolution, and
/// whether their outputs are equal.
pub fn conv(clock: &Clock) -> (u32, u32, bool) {
    let q = quant();
    let mut input = [0i8; 16 * 50];
    for (x, &b) in input.iter_mut().zip(CONV_INPUT.iter()) {
        *x = b as i8;
    }
    let mut scratch = [0i8; 16 * 5];
    debug_assert_eq!(scratch.len(), conv1d_scratch_len(&CONV));
    let (mut fast, mut reference) = ([0i8; 16 * 50], [0i8; 16 * 50]);
    let t0 = clock.now();
    conv1d_s8(&input, &CONV_WEIGHTS, &CONV, &q, &mut scratch, &mut fast);
    let t1 = clock.now();
    conv1d_s8_reference(&input, &CONV_WEIGHTS, &CONV, &q, &mut reference);
    let t2 = clock.now();
    (
        clock.to_units(t1.wrapping_sub(t0)),
        clock.to_units(t2.wrapping_sub(t1)),
        fast == reference,
    )
}

fn quant() -> ChannelQuant<'static> {
    ChannelQuant {
        bias: &BIAS,
        multiplier: &MULTIPLIER,
        shift: &SHIFT,
        input_zero_point: -128,
        output_zero_point: 3,
        act_min: -128,
        act_max: 127,
    }
}

/// Costs of one pass of each kernel, in [`crate::clock::UNIT`], and
/// whether their outputs are equal.
pub fn dense(clock: &Clock) -> (u32, u32, bool) {
    let q = quant();
    let mut input = [0i8; IN];
    for (x, &b) in input.iter_mut().zip(INPUT.iter()) {
        *x = b as i8;
    }
    let (mut fast, mut reference) = ([0i8; OUT], [0i8; OUT]);
    let t0 = clock.now();
    dense_s8(&input, &WEIGHTS, &q, &mut fast);
    let t1 = clock.now();
    dense_s8_reference(&input, &WEIGHTS, &q, &mut reference);
    let t2 = clock.now();
    (
        clock.to_units(t1.wrapping_sub(t0)),
        clock.to_units(t2.wrapping_sub(t1)),
        fast == reference,
    )
}
