//! Kernel benchmarks: one 256→64 int8 dense layer (16,384 MACs) and one
//! convolution shaped like the BasicMotions CNN's second (16 → 16
//! channels, kernel 5, length 50, "same" padding: 64,000 MACs), weights in
//! flash, each through the fast kernel and its reference, which must agree
//! byte for byte on the device too; and one quantile pooling shaped like
//! an MLP on quantiles of a BasicMotions window (6 channels × 100 values,
//! 32 quantiles each), whose cost is per input value (it has no MACs).

use vigie_core::kernels::conv1d::{
    conv1d_s8, conv1d_s8_reference, conv1d_scratch_bytes, conv1d_scratch_len, Conv1dShape,
};
use vigie_core::kernels::dense::{
    dense_s16, dense_s16_reference, dense_s8, dense_s8_reference, dense_scratch_bytes,
};
use vigie_core::kernels::quantiles::{quantiles_s8, quantiles_s8_reference, QuantileShape};
use vigie_core::kernels::trees::{trees_s8, trees_s8_reference};
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
/// The 16-bit input's shift: its values reach ±32,768, so sums 128 times
/// an int8 input's come down to the int8 range instead of clamping at its
/// ends (where a wrong lane would go unseen).
static SHIFT16: [u8; OUT] = [(-18i8) as u8; OUT];

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

/// One kernel measured: its fast and reference versions on the same
/// input, in [`crate::clock::UNIT`].
pub struct Measured {
    /// What was run.
    pub name: &'static str,
    /// Multiply-accumulates of one pass (input values, for a kernel
    /// without MACs).
    pub macs: u32,
    /// What `macs` counts: "MAC" or "value".
    pub per: &'static str,
    /// Cost of the fast kernel.
    pub fast: u32,
    /// Cost of the reference kernel.
    pub reference: u32,
    /// Whether their outputs are equal.
    pub equal: bool,
}

impl core::fmt::Display for Measured {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} kernel {} {} ({} per {}), reference kernel {} ({} per {}), outputs {}",
            self.name,
            self.fast,
            crate::clock::UNIT,
            PerMac(self.fast.into(), self.macs.into()),
            self.per,
            self.reference,
            PerMac(self.reference.into(), self.macs.into()),
            self.per,
            if self.equal { "equal" } else { "DIFFERENT" }
        )
    }
}

/// A cost divided by a MAC count, printed with two decimals.
pub struct PerMac(pub u64, pub u64);

impl core::fmt::Display for PerMac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let macs = self.1.max(1);
        write!(f, "{}.{:02}", self.0 / macs, self.0 * 100 / macs % 100)
    }
}

/// Times `fast` then `reference`; each writes its output, and the outputs
/// are compared.
fn measure<const N: usize>(
    clock: &Clock,
    name: &'static str,
    macs: u32,
    fast: impl FnOnce(&mut [i8; N]),
    reference: impl FnOnce(&mut [i8; N]),
) -> Measured {
    let (mut a, mut b) = ([0i8; N], [0i8; N]);
    let t0 = clock.now();
    fast(&mut a);
    let t1 = clock.now();
    reference(&mut b);
    let t2 = clock.now();
    Measured {
        name,
        macs,
        per: "MAC",
        fast: clock.to_units(t1.wrapping_sub(t0)),
        reference: clock.to_units(t2.wrapping_sub(t1)),
        equal: a == b,
    }
}

/// The convolution benchmark.
pub fn conv(clock: &Clock) -> Measured {
    let q = quant();
    let input = CONV_INPUT.map(|b| b as i8);
    let mut scratch = [0i8; conv1d_scratch_bytes(16, 5)];
    debug_assert_eq!(scratch.len(), conv1d_scratch_len(&CONV));
    measure::<{ 16 * 50 }>(
        clock,
        "conv1d 16x50 k5 -> 16",
        CONV_MACS,
        |y| conv1d_s8(&input, &CONV_WEIGHTS, &CONV, &q, &mut scratch, y),
        |y| conv1d_s8_reference(&input, &CONV_WEIGHTS, &CONV, &q, y),
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

/// The requantization of the sweep's 16-bit dense shapes.
fn quant16() -> ChannelQuant<'static> {
    ChannelQuant {
        shift: &SHIFT16,
        input_zero_point: 0,
        ..quant()
    }
}

/// The dense benchmark.
pub fn dense(clock: &Clock) -> Measured {
    let q = quant();
    let input = INPUT.map(|b| b as i8);
    let mut scratch = [0i8; dense_scratch_bytes(IN)];
    measure::<OUT>(
        clock,
        "dense 256x64",
        MACS,
        |y| dense_s8(&input, &WEIGHTS, &q, &mut scratch, y),
        |y| dense_s8_reference(&input, &WEIGHTS, &q, y),
    )
}

const QUANTILES: QuantileShape = QuantileShape {
    channels: 6,
    in_len: 100,
    count: 32,
};
static QUANTILE_INPUT: [u8; 6 * 100] = bytes(6);

/// The quantile pooling benchmark, per input value.
pub fn quantiles(clock: &Clock) -> Measured {
    let input = QUANTILE_INPUT.map(|b| b as i8);
    Measured {
        per: "value",
        ..measure::<{ 6 * 32 }>(
            clock,
            "quantiles 6x100 -> 32",
            (QUANTILES.channels * QUANTILES.in_len) as u32,
            |y| quantiles_s8(&input, &QUANTILES, y),
            |y| quantiles_s8_reference(&input, &QUANTILES, y),
        )
    }
}

/// Trees of the tree benchmark: complete, of depth [`TREE_DEPTH`], over
/// [`TREE_FEATURES`] features and [`TREE_CLASSES`] classes; shaped like a
/// forest on a window's quantiles (ACSF1's forest: 50 trees of about 100
/// nodes, 10 classes, 32 quantiles); ten trees, as the cost is per tree
/// and the reference walks every node's parents.
const TREES: usize = 10;
const TREE_DEPTH: usize = 6;
const TREE_FEATURES: usize = 32;
const TREE_CLASSES: usize = 10;
/// Nodes of one complete tree of depth [`TREE_DEPTH`].
const TREE_NODES: usize = (1 << (TREE_DEPTH + 1)) - 1;
const TREE_LEAF_ROWS: usize = 16;

/// The forest's nodes in the file's layout: in preorder, each split's
/// right child after its left subtree; features, thresholds and leaf rows
/// drawn from a fixed LCG.
const fn tree_nodes() -> [u8; 5 * TREES * TREE_NODES] {
    let mut out = [0u8; 5 * TREES * TREE_NODES];
    let noise: [u8; 3 * TREES * TREE_NODES] = bytes(7);
    let mut t = 0;
    while t < TREES {
        let mut i = 0;
        while i < TREE_NODES {
            // Depth and subtree size of node `i`, walking from the root.
            let (mut at, mut size, mut depth) = (0usize, TREE_NODES, 0usize);
            while at != i {
                let half = (size - 1) / 2;
                if i <= at + half {
                    at += 1;
                } else {
                    at += 1 + half;
                }
                size = half;
                depth += 1;
            }
            let k = t * TREE_NODES + i;
            let (f, r) = if depth == TREE_DEPTH {
                (
                    vigie_core::format::TREE_LEAF,
                    noise[3 * k] as usize % TREE_LEAF_ROWS,
                )
            } else {
                (
                    (noise[3 * k] as usize % TREE_FEATURES) as u16,
                    t * TREE_NODES + i + 1 + (size - 1) / 2,
                )
            };
            let f = f.to_le_bytes();
            let r = (r as u16).to_le_bytes();
            out[5 * k] = f[0];
            out[5 * k + 1] = f[1];
            out[5 * k + 2] = noise[3 * k + 1];
            out[5 * k + 3] = r[0];
            out[5 * k + 4] = r[1];
            i += 1;
        }
        t += 1;
    }
    out
}

static TREE_NODE_BYTES: [u8; 5 * TREES * TREE_NODES] = tree_nodes();
static TREE_ROOTS: [u8; 2 * TREES] = {
    let mut out = [0u8; 2 * TREES];
    let mut t = 0;
    while t < TREES {
        let r = ((t * TREE_NODES) as u16).to_le_bytes();
        out[2 * t] = r[0];
        out[2 * t + 1] = r[1];
        t += 1;
    }
    out
};
static TREE_LEAVES: [u8; TREE_LEAF_ROWS * TREE_CLASSES] = bytes(8);
static TREE_INPUT: [u8; TREE_FEATURES] = bytes(9);

/// The tree benchmark, per tree.
pub fn trees(clock: &Clock) -> Measured {
    let def = vigie_core::format::TreesDef {
        classes: TREE_CLASSES as u16,
        roots: &TREE_ROOTS,
        nodes: &TREE_NODE_BYTES,
        leaves: &TREE_LEAVES,
        output: vigie_core::QParams {
            scale: 0.05,
            zero_point: 0,
        },
    };
    let input = TREE_INPUT.map(|b| b as i8);
    Measured {
        per: "tree",
        ..measure::<TREE_CLASSES>(
            clock,
            "trees 10 x depth 6 over 32 -> 10",
            TREES as u32,
            |y| trees_s8(&input, &def, y),
            |y| trees_s8_reference(&input, &def, y),
        )
    }
}

/// The fast kernels against their references over a sweep of small
/// shapes, on the device: what `core/tests/kernels_match_reference.rs`
/// checks on the host, where the `asm!` loops are plain Rust. The shapes
/// reach every branch of those loops: dense inputs of every length from 1
/// to 40 (each count of 4-value groups modulo 4, each tail), int8 and
/// 16-bit, odd and even output counts; convolutions with 1 to 6 input
/// channels, kernels 1 to 7, strides 1 and 2, both paddings, and 1 to 17
/// filters (an odd last filter, a second block of 16).
pub struct Sweep {
    /// Shapes run.
    pub shapes: u32,
    /// Shapes whose fast output equals the reference's.
    pub equal: u32,
}

/// Runs the [`Sweep`].
pub fn sweep() -> Sweep {
    use vigie_core::format::Padding;
    use vigie_core::kernels::window_geometry;
    let q = quant();
    let (mut shapes, mut equal) = (0u32, 0u32);
    let dense_input = INPUT.map(|b| b as i8);
    for n in 1..=40usize {
        for outs in [1usize, 2, 3, 5] {
            let (mut fast, mut reference) = ([0i8; 5], [0i8; 5]);
            let mut scratch = [0i8; dense_scratch_bytes(40)];
            let w = &WEIGHTS[..n * outs];
            dense_s8(&dense_input[..n], w, &q, &mut scratch, &mut fast[..outs]);
            dense_s8_reference(&dense_input[..n], w, &q, &mut reference[..outs]);
            shapes += 1;
            equal += u32::from(fast == reference);
            // The same rows on a 16-bit input (`2n` bytes, little-endian).
            let x = &dense_input[..2 * n];
            let q16 = quant16();
            dense_s16(x, w, &q16, &mut scratch, &mut fast[..outs]);
            dense_s16_reference(x, w, &q16, &mut reference[..outs]);
            shapes += 1;
            equal += u32::from(fast == reference);
        }
    }
    let conv_input = CONV_INPUT.map(|b| b as i8);
    for in_channels in [1usize, 2, 3, 6] {
        for kernel in [1usize, 2, 3, 5, 7] {
            for stride in [1usize, 2] {
                for out_channels in [1usize, 3, 4, 17] {
                    for in_len in [1usize, 6, 13] {
                        for padding in [Padding::Same, Padding::Valid] {
                            let Some((out_len, pad_left)) = window_geometry(
                                in_len as u32,
                                kernel as u32,
                                stride as u32,
                                padding,
                            ) else {
                                continue;
                            };
                            let s = Conv1dShape {
                                in_channels,
                                in_len,
                                out_channels,
                                out_len: out_len as usize,
                                kernel,
                                stride,
                                pad_left: pad_left as usize,
                            };
                            let n = out_channels * s.out_len;
                            let (mut fast, mut reference) = ([0i8; 17 * 13], [0i8; 17 * 13]);
                            // Dirty scratch: the kernel must not depend on it.
                            let mut scratch = [0x5Ai8; conv1d_scratch_bytes(6, 7)];
                            let x = &conv_input[..in_channels * in_len];
                            let w = &CONV_WEIGHTS[..out_channels * in_channels * kernel];
                            conv1d_s8(x, w, &s, &q, &mut scratch, &mut fast[..n]);
                            conv1d_s8_reference(x, w, &s, &q, &mut reference[..n]);
                            shapes += 1;
                            equal += u32::from(fast == reference);
                        }
                    }
                }
            }
        }
    }
    Sweep { shapes, equal }
}
