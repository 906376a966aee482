//! Every fast kernel equals its plain reference, bit for bit, on random
//! shapes and values; requantization equals its `i128` reference, including
//! the saturating corners.

use proptest::prelude::*;
use vigie_core::format::{Padding, Window2d};
use vigie_core::kernels::conv1d::{
    conv1d_s8, conv1d_s8_reference, conv1d_scratch_len, Conv1dShape,
};
use vigie_core::kernels::conv2d::{
    conv2d_s8, conv2d_s8_reference, conv2d_scratch_bytes, depthwise_conv2d_s8,
    depthwise_conv2d_s8_reference, depthwise_scratch_bytes, Geometry,
};
use vigie_core::kernels::dense::{
    dense_s16, dense_s16_reference, dense_s8, dense_s8_reference, dense_scratch_bytes,
};
use vigie_core::kernels::pool::{
    avg_pool1d_s8, avg_pool1d_s8_reference, max_pool1d_s8, max_pool1d_s8_reference, PoolShape,
};
use vigie_core::kernels::quantiles::{
    quantile_rank, quantiles_s8, quantiles_s8_reference, QuantileShape,
};
use vigie_core::kernels::{window_geometry, ChannelQuant};
use vigie_core::math::{
    quantize_affine, quantize_affine16, quantize_affine16_reference, quantize_affine_reference,
};
use vigie_core::requant::{
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_reference,
    saturating_rounding_doubling_high_mul, Prepared, Requantizer, MAX_SHIFT, MIN_MULTIPLIER,
    MIN_SHIFT,
};

/// Cases per property, as the issue asks (at least 256).
const CASES: u32 = 256;

fn edgy_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        3 => any::<i32>(),
        1 => Just(i32::MIN),
        1 => Just(i32::MAX),
        1 => Just(i32::MIN + 1),
        1 => Just(0),
        1 => Just(-1),
        1 => Just(1 << 30),
        1 => -70_000i32..70_000,
    ]
}

fn edgy_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => any::<f32>(),
        3 => -300.0f32..300.0,
        2 => (-600i32..600).prop_map(|k| k as f32 * 0.5),
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(0.0f32),
    ]
}

fn multiplier() -> impl Strategy<Value = i32> {
    prop_oneof![9 => MIN_MULTIPLIER..=i32::MAX, 1 => Just(0)]
}

/// Per-channel parameters for `channels` outputs, with a bias small enough
/// for the accumulator bound validation enforces on real models.
fn channel_params(
    channels: usize,
) -> impl Strategy<Value = (Vec<i32>, Vec<i32>, Vec<i8>, i8, i8, i8, i8)> {
    (
        prop::collection::vec(-1_000_000i32..1_000_000, channels),
        prop::collection::vec(multiplier(), channels),
        prop::collection::vec(MIN_SHIFT as i8..=MAX_SHIFT as i8, channels),
        any::<i8>(),
        any::<i8>(),
        any::<i8>(),
        any::<i8>(),
    )
}

struct Params {
    bias: Vec<u8>,
    multiplier: Vec<u8>,
    shift: Vec<u8>,
    zp_in: i8,
    zp_out: i8,
    lo: i32,
    hi: i32,
}

impl Params {
    fn new(p: (Vec<i32>, Vec<i32>, Vec<i8>, i8, i8, i8, i8)) -> Self {
        let (bias, mult, shift, zp_in, zp_out, a, b) = p;
        Params {
            bias: bias.iter().flat_map(|v| v.to_le_bytes()).collect(),
            multiplier: mult.iter().flat_map(|v| v.to_le_bytes()).collect(),
            shift: shift.iter().map(|&s| s as u8).collect(),
            zp_in,
            zp_out,
            lo: a.min(b) as i32,
            hi: a.max(b) as i32,
        }
    }

    fn quant(&self) -> ChannelQuant<'_> {
        ChannelQuant {
            bias: &self.bias,
            multiplier: &self.multiplier,
            shift: &self.shift,
            input_zero_point: self.zp_in,
            output_zero_point: self.zp_out,
            act_min: self.lo,
            act_max: self.hi,
        }
    }
}

/// A pooling window that fits its input, and the input.
fn pool_case() -> impl Strategy<Value = (PoolShape, Vec<i8>)> {
    (1usize..=5, 1usize..=30, 1usize..=7, 1usize..=5, padding())
        .prop_filter_map("no window fits", |(channels, in_len, kernel, stride, p)| {
            let (out_len, pad_left) =
                window_geometry(in_len as u32, kernel as u32, stride as u32, p)?;
            Some(PoolShape {
                channels,
                in_len,
                out_len: out_len as usize,
                kernel,
                stride,
                pad_left: pad_left as usize,
            })
        })
        .prop_flat_map(|s| {
            (
                Just(s),
                prop::collection::vec(any::<i8>(), s.channels * s.in_len),
            )
        })
}

type PoolKernel = fn(&[i8], &PoolShape, &mut [i8]);

/// Outputs of a fast pooling kernel and of its reference.
fn both(
    fast: PoolKernel,
    reference: PoolKernel,
    s: &PoolShape,
    input: &[i8],
) -> (Vec<i8>, Vec<i8>) {
    let n = s.channels * s.out_len;
    let (mut a, mut b) = (vec![0i8; n], vec![0i8; n]);
    fast(input, s, &mut a);
    reference(input, s, &mut b);
    (a, b)
}

fn padding() -> impl Strategy<Value = Padding> {
    prop_oneof![Just(Padding::Valid), Just(Padding::Same)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn requantization_equals_i128_reference(x in edgy_i32(), m in edgy_i32(), shift in -33i32..=33) {
        prop_assert_eq!(
            multiply_by_quantized_multiplier(x, m, shift),
            multiply_by_quantized_multiplier_reference(x as i64, m, shift)
        );
    }

    #[test]
    fn requantization_with_valid_parameters_equals_i128_reference(
        x in edgy_i32(), m in multiplier(), shift in MIN_SHIFT..=MAX_SHIFT
    ) {
        prop_assert_eq!(
            multiply_by_quantized_multiplier(x, m, shift),
            multiply_by_quantized_multiplier_reference(x as i64, m, shift)
        );
    }

    #[test]
    fn prepared_requantizer_equals_requantizer(
        x in edgy_i32(), m in edgy_i32(), shift in -33i32..=33, zp in any::<i8>(),
        a in any::<i8>(), b in any::<i8>()
    ) {
        // Every multiplier and shift, valid or not: the short path where it
        // applies, the general one elsewhere, the same outputs.
        let r = Requantizer {
            multiplier: m, shift, output_zero_point: zp as i32,
            min: a.min(b) as i32, max: a.max(b) as i32,
        };
        prop_assert_eq!(Prepared::new(r).apply(x), r.apply(x));
    }

    #[test]
    fn input_quantization_equals_reference(
        x in edgy_f32(), scale in edgy_f32(), offset in edgy_f32()
    ) {
        prop_assert_eq!(
            quantize_affine(x, scale, offset),
            quantize_affine_reference(x, scale, offset)
        );
    }

    #[test]
    fn doubling_high_mul_equals_i128_reference(a in edgy_i32(), b in edgy_i32()) {
        let exact = (a as i128 * b as i128 + (1i128 << 30)).div_euclid(1i128 << 31);
        let want = exact.clamp(i32::MIN as i128, i32::MAX as i128) as i32;
        prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b), want);
    }

    #[test]
    fn dense_equals_reference(
        (n_in, n_out, input, weights, params) in (1usize..=80, 1usize..=24).prop_flat_map(|(i, o)| (
            Just(i), Just(o),
            prop::collection::vec(any::<i8>(), i),
            prop::collection::vec(any::<u8>(), i * o),
            channel_params(o),
        ))
    ) {
        let p = Params::new(params);
        let mut reference = vec![0i8; n_out];
        dense_s8_reference(&input, &weights, &p.quant(), &mut reference);
        // Scratch at each byte offset (the kernel word-aligns its part), and
        // an output that differs from the reference everywhere first, so a
        // run that wrote nothing cannot pass.
        for offset in 0..4 {
            let mut scratch = vec![0i8; dense_scratch_bytes(n_in) + offset];
            let mut fast: Vec<i8> = reference.iter().map(|&v| !v).collect();
            dense_s8(&input, &weights, &p.quant(), &mut scratch[offset..], &mut fast);
            prop_assert_eq!(&fast, &reference);
        }
        prop_assert_eq!(input.len(), n_in);
    }

    #[test]
    fn dense16_equals_reference(
        (n_in, n_out, input, weights, params) in (1usize..=80, 1usize..=24).prop_flat_map(|(i, o)| (
            Just(i), Just(o),
            prop::collection::vec(any::<i16>(), i),
            prop::collection::vec(any::<u8>(), i * o),
            channel_params(o),
        ))
    ) {
        let p = Params::new(params);
        let bytes: Vec<i8> = input.iter().flat_map(|v| v.to_le_bytes()).map(|b| b as i8).collect();
        let mut reference = vec![0i8; n_out];
        dense_s16_reference(&bytes, &weights, &p.quant(), &mut reference);
        // Scratch at each byte offset, and an output that differs from the
        // reference everywhere first.
        for offset in 0..4 {
            let mut scratch = vec![0i8; dense_scratch_bytes(n_in) + offset];
            let mut fast: Vec<i8> = reference.iter().map(|&v| !v).collect();
            dense_s16(&bytes, &weights, &p.quant(), &mut scratch[offset..], &mut fast);
            prop_assert_eq!(&fast, &reference);
        }
    }

    #[test]
    fn input_quantization16_equals_reference(
        x in edgy_f32(), scale in edgy_f32(), offset in edgy_f32()
    ) {
        prop_assert_eq!(
            quantize_affine16(x, scale, offset),
            quantize_affine16_reference(x, scale, offset)
        );
    }

    #[test]
    fn conv1d_equals_reference(
        (in_c, len, out_c, kernel, stride, pad, input, weights, params) in
            // Up to 40 output channels: across the kernel's blocks of 16, odd too.
            (1usize..=6, 1usize..=30, 1usize..=40, 1usize..=6, 1usize..=4, padding())
            .prop_flat_map(|(ic, l, oc, k, s, p)| (
                Just(ic), Just(l), Just(oc), Just(k), Just(s), Just(p),
                prop::collection::vec(any::<i8>(), ic * l),
                prop::collection::vec(any::<u8>(), oc * ic * k),
                channel_params(oc),
            ))
    ) {
        let geometry = window_geometry(len as u32, kernel as u32, stride as u32, pad);
        prop_assume!(geometry.is_some());
        let (out_len, pad_left) = geometry.unwrap();
        let shape = Conv1dShape {
            in_channels: in_c, in_len: len, out_channels: out_c, out_len: out_len as usize,
            kernel, stride, pad_left: pad_left as usize,
        };
        let p = Params::new(params);
        let n = out_c * out_len as usize;
        let mut reference = vec![0i8; n];
        conv1d_s8_reference(&input, &weights, &shape, &p.quant(), &mut reference);
        // Scratch starts dirty (the kernel must not depend on its contents)
        // and at each byte offset (the kernel word-aligns its widened part);
        // the output differs from the reference everywhere first, so a run
        // that wrote nothing cannot pass.
        for offset in 0..4 {
            let mut scratch = vec![0x5Ai8; conv1d_scratch_len(&shape) + offset];
            let mut fast: Vec<i8> = reference.iter().map(|&v| !v).collect();
            conv1d_s8(&input, &weights, &shape, &p.quant(), &mut scratch[offset..], &mut fast);
            prop_assert_eq!(&fast, &reference);
        }
    }

    #[test]
    fn max_pool_equals_reference((s, input) in pool_case()) {
        let (fast, reference) = both(max_pool1d_s8, max_pool1d_s8_reference, &s, &input);
        prop_assert_eq!(fast, reference);
    }

    #[test]
    fn avg_pool_equals_reference((s, input) in pool_case()) {
        let (fast, reference) = both(avg_pool1d_s8, avg_pool1d_s8_reference, &s, &input);
        prop_assert_eq!(fast, reference);
    }

    #[test]
    fn global_avg_pool_equals_reference(
        (c, len, input) in (1usize..=8, 1usize..=200)
            .prop_flat_map(|(c, l)| (Just(c), Just(l), prop::collection::vec(any::<i8>(), c * l)))
    ) {
        let (fast, reference) = both(avg_pool1d_s8, avg_pool1d_s8_reference, &PoolShape::global(c, len), &input);
        prop_assert_eq!(fast, reference);
    }
}

/// A quantile pooling and an input for it: short windows, long ones
/// (counts above 255 in one bin), and few levels (many ties).
fn quantile_case() -> impl Strategy<Value = (QuantileShape, Vec<i8>)> {
    (1usize..=4, 1usize..=600, any::<bool>())
        .prop_flat_map(|(channels, in_len, few_levels)| {
            let values = if few_levels {
                prop::collection::vec(-3i8..=3, channels * in_len).boxed()
            } else {
                prop::collection::vec(any::<i8>(), channels * in_len).boxed()
            };
            (
                Just(channels),
                Just(in_len),
                1usize..=in_len.min(70),
                values,
            )
        })
        .prop_map(|(channels, in_len, count, values)| {
            (
                QuantileShape {
                    channels,
                    in_len,
                    count,
                },
                values,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn quantiles_equal_reference((s, input) in quantile_case()) {
        let n = s.channels * s.count;
        let (mut fast, mut reference) = (vec![0i8; n], vec![0i8; n]);
        quantiles_s8(&input, &s, &mut fast);
        quantiles_s8_reference(&input, &s, &mut reference);
        prop_assert_eq!(fast, reference);
    }

    #[test]
    fn quantiles_are_the_sorted_window_at_their_ranks((s, input) in quantile_case()) {
        let mut out = vec![0i8; s.channels * s.count];
        quantiles_s8(&input, &s, &mut out);
        for c in 0..s.channels {
            let mut sorted = input[c * s.in_len..(c + 1) * s.in_len].to_vec();
            sorted.sort_unstable();
            for k in 0..s.count {
                prop_assert_eq!(out[c * s.count + k], sorted[quantile_rank(k, s.count, s.in_len)]);
            }
        }
    }
}

#[test]
fn quantile_ranks_run_from_the_minimum_to_the_maximum() {
    assert_eq!(quantile_rank(0, 5, 101), 0);
    assert_eq!(quantile_rank(4, 5, 101), 100);
    assert_eq!(quantile_rank(2, 5, 101), 50);
    // One quantile is the lower median.
    assert_eq!(quantile_rank(0, 1, 10), 4);
    // A window of 1,460 values read at 64 ranks: every 23rd value or so.
    assert_eq!(quantile_rank(1, 64, 1460), 23);
    assert_eq!(quantile_rank(63, 64, 1460), 1459);
}

#[test]
fn saturating_corners_agree_with_reference() {
    let corners = [
        i32::MIN,
        i32::MIN + 1,
        -1,
        0,
        1,
        i32::MAX - 1,
        i32::MAX,
        1 << 30,
    ];
    for &x in &corners {
        for &m in &corners {
            for shift in -33..=33 {
                assert_eq!(
                    multiply_by_quantized_multiplier(x, m, shift),
                    multiply_by_quantized_multiplier_reference(x as i64, m, shift),
                    "x={x} m={m} shift={shift}"
                );
            }
        }
    }
    // The one saturating case of the doubling high multiply.
    assert_eq!(
        multiply_by_quantized_multiplier(i32::MIN, i32::MIN, 0),
        i32::MAX
    );
    // A left shift that would overflow saturates instead of wrapping.
    assert_eq!(
        multiply_by_quantized_multiplier(1 << 20, i32::MAX, 30),
        i32::MAX - 1
    );
}

/// A 2-D window over an NHWC input that fits it: (window, geometry).
fn window_2d() -> impl Strategy<Value = (Window2d, Geometry)> {
    (
        (1u16..=9, 1u16..=9, 1u16..=12),
        (1u16..=4, 1u16..=4, 1u16..=3, 1u16..=3),
        padding(),
    )
        .prop_filter_map("the window fits", |((h, w, c), (kh, kw, sh, sw), p)| {
            let win = Window2d {
                in_height: h,
                in_width: w,
                in_channels: c,
                kernel_height: kh,
                kernel_width: kw,
                stride_height: sh,
                stride_width: sw,
                padding: p,
            };
            Geometry::of(&win).map(|g| (win, g))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn conv2d_equals_reference(
        ((_, g), out_c, input, weights, params) in window_2d()
            .prop_flat_map(|(win, g)| (1usize..=20).prop_flat_map(move |oc| (
                Just((win, g)),
                Just(oc),
                prop::collection::vec(any::<i8>(), g.in_h * g.in_w * g.in_c),
                prop::collection::vec(any::<u8>(), oc * g.k_h * g.k_w * g.in_c),
                channel_params(oc),
            )))
    ) {
        let p = Params::new(params);
        let n = g.positions() * out_c;
        let mut reference = vec![0i8; n];
        conv2d_s8_reference(&input, &weights, &g, out_c, &p.quant(), &mut reference);
        for offset in 0..4 {
            let mut scratch = vec![0x5Ai8; conv2d_scratch_bytes(&g) + offset];
            let mut fast: Vec<i8> = reference.iter().map(|&v| !v).collect();
            conv2d_s8(&input, &weights, &g, out_c, &p.quant(), &mut scratch[offset..], &mut fast);
            prop_assert_eq!(&fast, &reference);
        }
    }

    #[test]
    fn depthwise_conv2d_equals_reference(
        ((_, g), input, weights, params) in window_2d()
            .prop_flat_map(|(win, g)| (
                Just((win, g)),
                prop::collection::vec(any::<i8>(), g.in_h * g.in_w * g.in_c),
                prop::collection::vec(any::<u8>(), g.k_h * g.k_w * g.in_c),
                channel_params(g.in_c),
            ))
    ) {
        let p = Params::new(params);
        let n = g.positions() * g.in_c;
        let mut reference = vec![0i8; n];
        depthwise_conv2d_s8_reference(&input, &weights, &g, 1, &p.quant(), &mut reference);
        for offset in 0..4 {
            let mut scratch = vec![0x5Ai8; depthwise_scratch_bytes(&g, 1) + offset];
            let mut fast: Vec<i8> = reference.iter().map(|&v| !v).collect();
            depthwise_conv2d_s8(&input, &weights, &g, 1, &p.quant(), &mut scratch[offset..], &mut fast);
            prop_assert_eq!(&fast, &reference);
        }
    }
}

#[test]
fn max_pool_by_two_equals_reference_on_odd_and_even_rows() {
    // The pool by 2 has its own loop; every row length from 1 to 9, both
    // paddings ("same" keeps an odd row's last value as a window).
    for in_len in 1usize..=9 {
        for p in [Padding::Same, Padding::Valid] {
            let Some((out_len, pad_left)) = window_geometry(in_len as u32, 2, 2, p) else {
                continue;
            };
            let s = PoolShape {
                channels: 3,
                in_len,
                out_len: out_len as usize,
                kernel: 2,
                stride: 2,
                pad_left: pad_left as usize,
            };
            let input: Vec<i8> = (0..3 * in_len)
                .map(|i| (i as i8).wrapping_mul(37))
                .collect();
            let (fast, reference) = both(max_pool1d_s8, max_pool1d_s8_reference, &s, &input);
            assert_eq!(fast, reference, "length {in_len}, {p:?}");
        }
    }
}

#[test]
fn copy_rows_copies_each_run_and_nothing_that_does_not_fit() {
    use vigie_core::arch::copy_rows;
    let src: Vec<i8> = (0..20).collect();
    let mut dst = [0i8; 6];
    // Three runs of 2, every 7th value: 0 1, 7 8, 14 15.
    copy_rows(&src, 7, 2, 3, &mut dst);
    assert_eq!(dst, [0, 1, 7, 8, 14, 15]);
    // A source too short, a stride whose product wraps, no rows, a run
    // longer than the stride: nothing is copied, nothing panics.
    for (stride, run, rows) in [(7, 2, 4), (usize::MAX - 5, 2, 2), (7, 2, 0), (1, 2, 3)] {
        let mut dst = [9i8; 6];
        copy_rows(&src, stride, run, rows, &mut dst);
        assert_eq!(dst, [9; 6], "stride {stride}, run {run}, rows {rows}");
    }
}

/// A random forest in the file's layout, grown in preorder from `seed`:
/// `trees` trees over `features` inputs, `classes` scores a leaf row,
/// splits down to `depth` levels (some branches stop early).
struct Forest {
    classes: u16,
    roots: Vec<u8>,
    nodes: Vec<u8>,
    leaves: Vec<u8>,
}

impl Forest {
    fn random(seed: u64, trees: usize, features: usize, classes: usize, depth: usize) -> Forest {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let rows = 1 + (next() % 12) as usize;
        let leaves: Vec<u8> = (0..rows * classes).map(|_| next() as u8).collect();
        let mut nodes: Vec<(u16, i8, u16)> = Vec::new();
        fn grow(
            next: &mut dyn FnMut() -> u64,
            nodes: &mut Vec<(u16, i8, u16)>,
            depth: usize,
            features: usize,
            rows: usize,
        ) {
            if depth == 0 || next() % 5 == 0 {
                nodes.push((
                    vigie_core::format::TREE_LEAF,
                    0,
                    (next() as usize % rows) as u16,
                ));
                return;
            }
            let at = nodes.len();
            nodes.push(((next() as usize % features) as u16, next() as i8, 0));
            grow(next, nodes, depth - 1, features, rows);
            nodes[at].2 = nodes.len() as u16;
            grow(next, nodes, depth - 1, features, rows);
        }
        let mut roots = Vec::new();
        for _ in 0..trees {
            roots.extend((nodes.len() as u16).to_le_bytes());
            grow(&mut next, &mut nodes, depth, features, rows);
        }
        let nodes = nodes
            .iter()
            .flat_map(|&(f, t, r)| {
                let (f, r) = (f.to_le_bytes(), r.to_le_bytes());
                [f[0], f[1], t as u8, r[0], r[1]]
            })
            .collect();
        Forest {
            classes: classes as u16,
            roots,
            nodes,
            leaves,
        }
    }

    fn def(&self) -> vigie_core::format::TreesDef<'_> {
        vigie_core::format::TreesDef {
            classes: self.classes,
            roots: &self.roots,
            nodes: &self.nodes,
            leaves: &self.leaves,
            output: vigie_core::QParams {
                scale: 0.05,
                zero_point: 20,
            },
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn trees_equal_reference(
        seed in any::<u64>(),
        trees in 1usize..=24,
        features in 1usize..=64,
        classes in 1usize..=70,
        depth in 0usize..=7,
        input_seed in any::<u64>(),
    ) {
        let forest = Forest::random(seed, trees, features, classes, depth);
        let def = forest.def();
        let mut s = input_seed | 1;
        let input: Vec<i8> = (0..features)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 56) as i8
            })
            .collect();
        let (mut fast, mut reference) = (vec![0i8; classes], vec![0i8; classes]);
        vigie_core::kernels::trees::trees_s8(&input, &def, &mut fast);
        vigie_core::kernels::trees::trees_s8_reference(&input, &def, &mut reference);
        prop_assert_eq!(fast, reference);
    }
}

/// One tree of one split: `x[0] ≤ 10` reaches the first leaf row, else the
/// second; two trees that agree give that row, two that differ the mean,
/// rounded half away from zero.
#[test]
fn trees_average_the_reached_leaves_rounding_half_away_from_zero() {
    // Tree 0: split on x[0] at 10 → leaf row 0 | leaf row 1.
    // Tree 1: split on x[1] at -5 → leaf row 1 | leaf row 0.
    let node = |f: u16, t: i8, r: u16| {
        let (f, r) = (f.to_le_bytes(), r.to_le_bytes());
        [f[0], f[1], t as u8, r[0], r[1]]
    };
    let leaf = vigie_core::format::TREE_LEAF;
    let nodes: Vec<u8> = [
        node(0, 10, 2),
        node(leaf, 0, 0),
        node(leaf, 0, 1),
        node(1, -5, 5),
        node(leaf, 0, 1),
        node(leaf, 0, 0),
    ]
    .concat();
    let roots = [0u8, 0, 3, 0];
    let leaves = [100u8, (-7i8) as u8, 3, (-100i8) as u8, 8, 0];
    let def = vigie_core::format::TreesDef {
        classes: 3,
        roots: &roots,
        nodes: &nodes,
        leaves: &leaves,
        output: vigie_core::QParams {
            scale: 0.1,
            zero_point: 0,
        },
    };
    let run = |x: [i8; 2]| {
        let mut out = [0i8; 3];
        vigie_core::kernels::trees::trees_s8(&x, &def, &mut out);
        let mut reference = [0i8; 3];
        vigie_core::kernels::trees::trees_s8_reference(&x, &def, &mut reference);
        assert_eq!(out, reference);
        out
    };
    // Both trees reach row 0.
    assert_eq!(run([10, 0]), [100, -7, 3]);
    // Both reach row 1.
    assert_eq!(run([11, -5]), [-100, 8, 0]);
    // Rows 0 and 1: (100 − 100)/2 = 0, (−7 + 8)/2 = 0.5 → 1, 3/2 = 1.5 → 2.
    assert_eq!(run([10, -5]), [0, 1, 2]);
}
