//! Target intrinsics: the one module of the crate allowed `unsafe`.
//!
//! The fast kernels multiply four int8 pairs with two instructions of the
//! Armv7E-M DSP extension (Cortex-M4 and M7), as CMSIS-NN does:
//!
//! - `SXTB16` sign-extends bytes 0 and 2 of a word into two 16-bit lanes
//!   (with `ROR #8`, bytes 1 and 3);
//! - `SADD16` adds two pairs of 16-bit lanes (wrapping);
//! - `SMLAD` adds the two lane products of two words to an accumulator.
//!
//! Stable Rust has no intrinsics for them, so on `thumbv7em` each is one
//! `asm!` instruction, and the loops of the kernels (widening an input to
//! 16-bit lanes once, [`widen_q15`] and [`widen_q15_x4`]; the inner
//! products over it, [`dot_q15_1x2`], [`dot_q15_2x1`] and
//! [`dot_q15_2x2`]; the gathering of a convolution's patch, [`copy_rows`])
//! are `asm!` loops, since LLVM spills their registers (and turns the copy
//! into a `memcpy` call per run). The `unsafe` here is those `asm!` blocks
//! and [`aligned_words`]. The single instructions touch registers only;
//! the loops read (and the widening loops and [`copy_rows`] write) only
//! within the slices they are given, checked before each loop, touch no
//! stack, and change no flag but those their SUBS, LSRS, MOVS, CMP, SADD16
//! and SMLAD set, which no Rust code reads (none claims
//! `preserves_flags`). Their LDRD and STRD reach only `u32` words, so they
//! are aligned; their plain LDRs and STRs of int8 bytes may be unaligned,
//! which Armv7E-M allows while CCR.UNALIGN_TRP is clear (cortex-m-rt and
//! every board here leave it clear).
//! On every other target the same functions are plain Rust with the same
//! results bit for bit, so the fast kernels run (and are tested against
//! their references) on the host too; the firmware's kernel benchmark
//! checks the fast kernels against their references on the device.
#![allow(unsafe_code)]

/// Lanes (byte 0, byte 2) of `x`, each sign-extended to 16 bits.
#[inline(always)]
pub fn sxtb16(x: u32) -> u32 {
    #[cfg(vigie_arm_dsp)]
    {
        let r: u32;
        // SAFETY: register-only instruction, no memory or flags touched.
        unsafe {
            core::arch::asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(vigie_arm_dsp))]
    portable::sxtb16(x)
}

/// Lanes (byte 1, byte 3) of `x`, each sign-extended to 16 bits.
#[inline(always)]
pub fn sxtb16_ror8(x: u32) -> u32 {
    #[cfg(vigie_arm_dsp)]
    {
        let r: u32;
        // SAFETY: register-only instruction, no memory or flags touched.
        unsafe {
            core::arch::asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
                options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
    #[cfg(not(vigie_arm_dsp))]
    portable::sxtb16(x.rotate_right(8))
}

/// Lane-wise wrapping 16-bit addition.
#[inline(always)]
pub fn sadd16(a: u32, b: u32) -> u32 {
    #[cfg(vigie_arm_dsp)]
    {
        let r: u32;
        // SAFETY: register-only instruction; it sets the GE flags, which
        // no Rust code reads (no `preserves_flags`).
        unsafe {
            core::arch::asm!("sadd16 {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a,
                b = in(reg) b, options(pure, nomem, nostack));
        }
        r
    }
    #[cfg(not(vigie_arm_dsp))]
    portable::sadd16(a, b)
}

/// `acc + a.lo·b.lo + a.hi·b.hi` over signed 16-bit lanes, wrapping.
#[inline(always)]
pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    #[cfg(vigie_arm_dsp)]
    {
        let r: i32;
        // SAFETY: register-only instruction; it may set the sticky Q
        // flag, which no Rust code reads (no `preserves_flags`).
        unsafe {
            core::arch::asm!("smlad {r}, {a}, {b}, {acc}", r = lateout(reg) r, a = in(reg) a,
                b = in(reg) b, acc = in(reg) acc, options(pure, nomem, nostack));
        }
        r
    }
    #[cfg(not(vigie_arm_dsp))]
    portable::smlad(a, b, acc)
}

/// The word-aligned middle of a byte buffer as words (what the kernels
/// widen their inputs into): at most 3 bytes are skipped at each end.
pub fn aligned_words(bytes: &mut [i8]) -> &mut [u32] {
    // SAFETY: every bit pattern is a valid `u32`, and `align_to_mut` gives
    // a correctly aligned, in-bounds middle that borrows `bytes` mutably.
    unsafe { bytes.align_to_mut::<u32>().1 }
}

/// `(Σ p0[i]·w[i], Σ p1[i]·w[i])` over `4·groups` taps of one filter row
/// `w` (int8) and two input patches already widened to 16-bit lanes with
/// the zero point taken off, interleaved as the convolution writes them:
/// per 4 taps, 4 words `[p0 (0, 2)] [p0 (1, 3)] [p1 (0, 2)] [p1 (1, 3)]`,
/// the lanes [`sxtb16`] and its `ror #8` form give the weights. On the DSP
/// target, one loop of 11 instructions per 8 MACs (each weight word is
/// loaded and widened once for both positions, and the patches need no
/// widening; `wide` is words, so LDRD finds them aligned); elsewhere the
/// same sums in plain Rust.
#[inline(always)]
pub fn dot_q15_2x1(wide: &[u32], w: &[u8], groups: usize) -> (i32, i32) {
    let groups = groups.min(wide.len() / 4).min(w.len() / 4);
    if groups == 0 {
        return (0, 0);
    }
    #[cfg(vigie_arm_dsp)]
    {
        let (mut a0, mut a1) = (0i32, 0i32);
        // SAFETY: the loop reads `4·groups` words of `wide` (aligned, as
        // LDRD needs: they are `u32`) and `4·groups` bytes of `w`; both
        // hold that many (checked above); `groups` ≥ 1.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldr {w}, [{pw}], #4",
                "ldrd {a}, {b}, [{pp}], #8",
                "sxtb16 {t}, {w}",
                "sxtb16 {w}, {w}, ror #8",
                "smlad {a0}, {t}, {a}, {a0}",
                "smlad {a0}, {w}, {b}, {a0}",
                "ldrd {a}, {b}, [{pp}], #8",
                "smlad {a1}, {t}, {a}, {a1}",
                "smlad {a1}, {w}, {b}, {a1}",
                "subs {n}, {n}, #1",
                "bne 2b",
                pp = inout(reg) wide.as_ptr() => _,
                pw = inout(reg) w.as_ptr() => _,
                n = inout(reg) groups => _,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a = out(reg) _,
                b = out(reg) _,
                w = out(reg) _,
                t = out(reg) _,
                options(nostack, readonly),
            );
        }
        (a0, a1)
    }
    #[cfg(not(vigie_arm_dsp))]
    portable::dot_q15_2x1(wide, w, groups)
}

/// One group of [`dot_q15_2x2`]: 4 weights of each row (`{pw0}`, `{pw1}`,
/// post-incremented) times the group's four patch words (`{pp}`,
/// post-incremented by 16), into `{c00}`, `{c01}`, `{c10}`, `{c11}`.
#[cfg(vigie_arm_dsp)]
macro_rules! group_2x2 {
    () => {
        concat!(
            "ldr {w}, [{pw0}], #4\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "ldrd {a}, {b}, [{pp}]\n",
            "smlad {c00}, {t}, {a}, {c00}\n",
            "smlad {c00}, {w}, {b}, {c00}\n",
            "ldrd {a}, {b}, [{pp}, #8]\n",
            "smlad {c01}, {t}, {a}, {c01}\n",
            "smlad {c01}, {w}, {b}, {c01}\n",
            "ldr {w}, [{pw1}], #4\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad {c11}, {t}, {a}, {c11}\n",
            "smlad {c11}, {w}, {b}, {c11}\n",
            "ldrd {a}, {b}, [{pp}], #16\n",
            "smlad {c10}, {t}, {a}, {c10}\n",
            "smlad {c10}, {w}, {b}, {c10}\n",
        )
    };
}

/// `[Σ p0·w0, Σ p1·w0, Σ p0·w1, Σ p1·w1]` over `4·groups` taps of two
/// filter rows `w0`, `w1` (int8) and two input patches widened and
/// interleaved as for [`dot_q15_2x1`]. On the DSP target one loop of 36
/// instructions per 32 MACs (two groups a pass, an odd group first): each weight word is loaded and widened once
/// for both positions, and each pair of patch words is loaded once for
/// both filters but the first position's (loaded again for the second
/// filter, which keeps the loop within the registers there are); elsewhere
/// the same sums in plain Rust.
#[inline(always)]
pub fn dot_q15_2x2(wide: &[u32], w0: &[u8], w1: &[u8], groups: usize) -> [i32; 4] {
    let groups = groups
        .min(wide.len() / 4)
        .min(w0.len() / 4)
        .min(w1.len() / 4);
    if groups == 0 {
        return [0; 4];
    }
    #[cfg(vigie_arm_dsp)]
    {
        let (mut c00, mut c01, mut c10, mut c11) = (0i32, 0i32, 0i32, 0i32);
        // SAFETY: the loop reads `4·groups` words of `wide` (aligned, as
        // LDRD needs: they are `u32`) and `4·groups` bytes of each row;
        // all hold that many (checked above); `groups` ≥ 1.
        unsafe {
            core::arch::asm!(
                // An odd group first, then two groups per pass.
                "lsrs {n}, {n}, #1",
                "bcc 3f",
                group_2x2!(),
                "3:",
                "cmp {n}, #0",
                "beq 4f",
                "2:",
                group_2x2!(),
                group_2x2!(),
                "subs {n}, {n}, #1",
                "bne 2b",
                "4:",
                pp = inout(reg) wide.as_ptr() => _,
                pw0 = inout(reg) w0.as_ptr() => _,
                pw1 = inout(reg) w1.as_ptr() => _,
                n = inout(reg) groups => _,
                c00 = inout(reg) c00,
                c01 = inout(reg) c01,
                c10 = inout(reg) c10,
                c11 = inout(reg) c11,
                a = out(reg) _,
                b = out(reg) _,
                w = out(reg) _,
                t = out(reg) _,
                options(nostack, readonly),
            );
        }
        [c00, c01, c10, c11]
    }
    #[cfg(not(vigie_arm_dsp))]
    {
        let (c00, c01) = portable::dot_q15_2x1(wide, w0, groups);
        let (c10, c11) = portable::dot_q15_2x1(wide, w1, groups);
        [c00, c01, c10, c11]
    }
}

/// Copies `rows` runs of `run` bytes, the `r`-th starting at
/// `src[r·stride]`, one after another into `dst`: the gathering of a
/// convolution's input patch. On the DSP target one `asm!` loop (words
/// first, with unaligned LDR and STR, then bytes; 14 instructions for a run
/// of 5), since LLVM turns the plain loop into a call to `memcpy` per run,
/// whose set-up costs more than a run of a few bytes; elsewhere plain Rust.
/// Copies nothing unless `src` and `dst` hold all the runs (checked
/// without overflow).
#[inline(always)]
pub fn copy_rows(src: &[i8], stride: usize, run: usize, rows: usize, dst: &mut [i8]) {
    // In checked arithmetic: a wrapped product would pass the check and
    // let the loop read past `src`.
    let needed = rows
        .checked_sub(1)
        .and_then(|r| r.checked_mul(stride))
        .and_then(|v| v.checked_add(run));
    if run == 0 || stride < run || dst.len() / run < rows || needed.is_none_or(|n| src.len() < n) {
        return;
    }
    #[cfg(vigie_arm_dsp)]
    {
        // SAFETY: run `r` reads `src[r·stride .. r·stride + run]` and
        // writes `dst[r·run .. (r + 1)·run]`, within both slices for every
        // `r < rows` (checked above: `(rows − 1)·stride + run ≤ src.len()`,
        // `rows·run ≤ dst.len()`); `rows` ≥ 1 and `run` ≥ 1. The word
        // accesses are LDR and STR, which may be unaligned on Armv7E-M.
        // `dst` is borrowed mutably, so the two do not overlap.
        unsafe {
            core::arch::asm!(
                "2:",
                "movs {n}, {words}",
                "beq 4f",
                "3:",
                "ldr {t}, [{s}], #4",
                "str {t}, [{d}], #4",
                "subs {n}, {n}, #1",
                "bne 3b",
                "4:",
                "movs {n}, {bytes}",
                "beq 6f",
                "5:",
                "ldrb {t}, [{s}], #1",
                "strb {t}, [{d}], #1",
                "subs {n}, {n}, #1",
                "bne 5b",
                "6:",
                "add {s}, {s}, {skip}",
                "subs {rows}, {rows}, #1",
                "bne 2b",
                s = inout(reg) src.as_ptr() => _,
                d = inout(reg) dst.as_mut_ptr() => _,
                rows = inout(reg) rows => _,
                words = in(reg) run / 4,
                bytes = in(reg) run % 4,
                skip = in(reg) stride - run,
                n = out(reg) _,
                t = out(reg) _,
                options(nostack),
            );
        }
    }
    #[cfg(not(vigie_arm_dsp))]
    for (d, r) in dst.chunks_exact_mut(run).zip(0..rows) {
        d.copy_from_slice(&src[r * stride..r * stride + run]);
    }
}

/// The instructions that widen one word of 4 int8 values from pointer
/// operand `$src` (post-incremented) to two words of 16-bit lanes minus the
/// zero point (`{nzp}`), stored at `{pw}` (post-incremented by 8): the body
/// of both widening loops, written once. Scratch operands `{x}`, `{e}`,
/// `{o}`.
#[cfg(vigie_arm_dsp)]
macro_rules! widen_word {
    ($src:literal) => {
        concat!(
            "ldr {x}, [{",
            $src,
            "}], #4\n",
            "sxtb16 {e}, {x}\n",
            "sxtb16 {o}, {x}, ror #8\n",
            "sadd16 {e}, {e}, {nzp}\n",
            "sadd16 {o}, {o}, {nzp}\n",
            "strd {e}, {o}, [{pw}], #8\n",
        )
    };
}

/// `−zp` in both 16-bit lanes, what the widening loops add.
#[inline(always)]
fn neg_zp_lanes(zp: i8) -> u32 {
    let n = (zp as i32).wrapping_neg() as u16 as u32;
    n | (n << 16)
}

/// Widens the first `4·groups` taps of two int8 patches `p0`, `p1` to
/// 16-bit lanes minus the zero point `zp`, into `wide` in the interleaved
/// layout [`dot_q15_2x1`] reads. On the DSP target one loop of 14
/// instructions per 8 taps; elsewhere plain Rust.
#[inline(always)]
pub fn widen_q15_x4(p0: &[i8], p1: &[i8], zp: i8, wide: &mut [u32], groups: usize) {
    let groups = groups
        .min(p0.len() / 4)
        .min(p1.len() / 4)
        .min(wide.len() / 4);
    if groups == 0 {
        return;
    }
    #[cfg(vigie_arm_dsp)]
    {
        // SAFETY: the loop reads `4·groups` bytes of `p0` and of `p1` and
        // writes `4·groups` words of `wide` (aligned, as STRD needs), all
        // within the slices (checked above); `groups` ≥ 1. The slices do
        // not overlap: `wide` is borrowed mutably.
        unsafe {
            core::arch::asm!(
                "2:",
                widen_word!("p0"),
                widen_word!("p1"),
                "subs {n}, {n}, #1",
                "bne 2b",
                p0 = inout(reg) p0.as_ptr() => _,
                p1 = inout(reg) p1.as_ptr() => _,
                pw = inout(reg) wide.as_mut_ptr() => _,
                n = inout(reg) groups => _,
                nzp = in(reg) neg_zp_lanes(zp),
                x = out(reg) _,
                e = out(reg) _,
                o = out(reg) _,
                options(nostack),
            );
        }
    }
    #[cfg(not(vigie_arm_dsp))]
    portable::widen_q15_x4(p0, p1, neg_zp_lanes(zp), wide, groups)
}

/// Widens the first `4·groups` values of `x` to 16-bit lanes minus the
/// zero point `zp`, into `wide`: per 4 values, 2 words `[x (0, 2)] [x (1,
/// 3)]`, the layout [`dot_q15_1x2`] reads. On the DSP target one loop of 8
/// instructions per 4 values; elsewhere plain Rust.
#[inline(always)]
pub fn widen_q15(x: &[i8], zp: i8, wide: &mut [u32], groups: usize) {
    let groups = groups.min(x.len() / 4).min(wide.len() / 2);
    if groups == 0 {
        return;
    }
    #[cfg(vigie_arm_dsp)]
    {
        // SAFETY: the loop reads `4·groups` bytes of `x` and writes
        // `2·groups` words of `wide` (aligned, as STRD needs), within the
        // slices (checked above); `groups` ≥ 1; `wide` is borrowed
        // mutably, so they do not overlap.
        unsafe {
            core::arch::asm!(
                "2:",
                widen_word!("px"),
                "subs {n}, {n}, #1",
                "bne 2b",
                px = inout(reg) x.as_ptr() => _,
                pw = inout(reg) wide.as_mut_ptr() => _,
                n = inout(reg) groups => _,
                nzp = in(reg) neg_zp_lanes(zp),
                x = out(reg) _,
                e = out(reg) _,
                o = out(reg) _,
                options(nostack),
            );
        }
    }
    #[cfg(not(vigie_arm_dsp))]
    portable::widen_q15(x, neg_zp_lanes(zp), wide, groups)
}

/// One group of [`dot_q15_1x2`]: two input words (`{pp}`, post-incremented)
/// times 4 weights of each row (`{pw0}`, `{pw1}`), into `{a0}` and `{a1}`.
#[cfg(vigie_arm_dsp)]
macro_rules! group_1x2 {
    () => {
        concat!(
            "ldrd {a}, {b}, [{pp}], #8\n",
            "ldr {w}, [{pw0}], #4\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad {a0}, {t}, {a}, {a0}\n",
            "smlad {a0}, {w}, {b}, {a0}\n",
            "ldr {w}, [{pw1}], #4\n",
            "sxtb16 {t}, {w}\n",
            "sxtb16 {w}, {w}, ror #8\n",
            "smlad {a1}, {t}, {a}, {a1}\n",
            "smlad {a1}, {w}, {b}, {a1}\n",
        )
    };
}

/// `(Σ x[i]·w0[i], Σ x[i]·w1[i])` over `4·groups` values of an input
/// already widened by [`widen_q15`] and two int8 weight rows. On the DSP
/// target one loop of 46 instructions per 32 MACs (four groups a pass, the
/// `groups mod 4` first); elsewhere plain Rust.
#[inline(always)]
pub fn dot_q15_1x2(wide: &[u32], w0: &[u8], w1: &[u8], groups: usize) -> (i32, i32) {
    let groups = groups
        .min(wide.len() / 2)
        .min(w0.len() / 4)
        .min(w1.len() / 4);
    if groups == 0 {
        return (0, 0);
    }
    #[cfg(vigie_arm_dsp)]
    {
        let (mut a0, mut a1) = (0i32, 0i32);
        // SAFETY: the loop reads `2·groups` words of `wide` (aligned, as
        // LDRD needs) and `4·groups` bytes of each row, within the slices
        // (checked above); `groups` ≥ 1.
        unsafe {
            core::arch::asm!(
                // `groups mod 4` groups first (one, then two), then four
                // groups per pass.
                "lsrs {n}, {n}, #1",
                "bcc 3f",
                group_1x2!(),
                "3:",
                "lsrs {n}, {n}, #1",
                "bcc 5f",
                group_1x2!(),
                group_1x2!(),
                "5:",
                "cmp {n}, #0",
                "beq 4f",
                "2:",
                group_1x2!(),
                group_1x2!(),
                group_1x2!(),
                group_1x2!(),
                "subs {n}, {n}, #1",
                "bne 2b",
                "4:",
                pp = inout(reg) wide.as_ptr() => _,
                pw0 = inout(reg) w0.as_ptr() => _,
                pw1 = inout(reg) w1.as_ptr() => _,
                n = inout(reg) groups => _,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a = out(reg) _,
                b = out(reg) _,
                w = out(reg) _,
                t = out(reg) _,
                options(nostack, readonly),
            );
        }
        (a0, a1)
    }
    #[cfg(not(vigie_arm_dsp))]
    portable::dot_q15_1x2(wide, w0, w1, groups)
}

/// Plain-Rust definitions of the instructions (the Arm ARM's pseudocode)
/// and of the loops, used off-target.
pub mod portable {
    fn lane(x: u32, i: u32) -> i32 {
        (x >> (16 * i)) as u16 as i16 as i32
    }

    fn pack(lo: i32, hi: i32) -> u32 {
        (lo as u16 as u32) | ((hi as u16 as u32) << 16)
    }

    /// See [`super::sxtb16`].
    pub fn sxtb16(x: u32) -> u32 {
        pack(x as u8 as i8 as i32, (x >> 16) as u8 as i8 as i32)
    }

    /// See [`super::sadd16`].
    pub fn sadd16(a: u32, b: u32) -> u32 {
        pack(lane(a, 0) + lane(b, 0), lane(a, 1) + lane(b, 1))
    }

    /// See [`super::smlad`].
    pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        acc.wrapping_add(lane(a, 0) * lane(b, 0))
            .wrapping_add(lane(a, 1) * lane(b, 1))
    }

    /// See [`super::dot_q15_2x1`]: the same sums over `groups` groups, as
    /// plain products (`group_dot`), which a host vectorizes.
    pub fn dot_q15_2x1(wide: &[u32], w: &[u8], groups: usize) -> (i32, i32) {
        let (mut a0, mut a1) = (0i32, 0i32);
        for (g, q) in wide.chunks_exact(4).zip(w.chunks_exact(4)).take(groups) {
            a0 = a0.wrapping_add(group_dot(g[0], g[1], q));
            a1 = a1.wrapping_add(group_dot(g[2], g[3], q));
        }
        (a0, a1)
    }

    /// See [`super::widen_q15_x4`]: `p0`'s two words of each group, then
    /// `p1`'s (`neg_zp` is `−zp` in both lanes).
    pub fn widen_q15_x4(p0: &[i8], p1: &[i8], neg_zp: u32, wide: &mut [u32], groups: usize) {
        widen_every(p0, neg_zp, wide, 4, groups);
        if let Some(odd) = wide.get_mut(2..) {
            widen_every(p1, neg_zp, odd, 4, groups);
        }
    }

    /// See [`super::widen_q15`] (`neg_zp` is `−zp` in both lanes).
    pub fn widen_q15(x: &[i8], neg_zp: u32, wide: &mut [u32], groups: usize) {
        widen_every(x, neg_zp, wide, 2, groups);
    }

    /// The widening loop of both: group `g` of `x` to words `stride·g`
    /// and `stride·g + 1` of `wide`, written with the instruction
    /// functions above.
    fn widen_every(x: &[i8], neg_zp: u32, wide: &mut [u32], stride: usize, groups: usize) {
        for (v, out) in x.chunks_exact(4).zip(wide.chunks_mut(stride)).take(groups) {
            let v = u32::from_le_bytes([v[0] as u8, v[1] as u8, v[2] as u8, v[3] as u8]);
            if let [even, odd, ..] = out {
                *even = sadd16(sxtb16(v), neg_zp);
                *odd = sadd16(sxtb16(v.rotate_right(8)), neg_zp);
            }
        }
    }

    /// See [`super::dot_q15_1x2`]: the same sums over `groups` groups, as
    /// plain products (`group_dot`).
    pub fn dot_q15_1x2(wide: &[u32], w0: &[u8], w1: &[u8], groups: usize) -> (i32, i32) {
        let (mut a0, mut a1) = (0i32, 0i32);
        for ((g, p), q) in wide
            .chunks_exact(2)
            .zip(w0.chunks_exact(4))
            .zip(w1.chunks_exact(4))
            .take(groups)
        {
            a0 = a0.wrapping_add(group_dot(g[0], g[1], p));
            a1 = a1.wrapping_add(group_dot(g[0], g[1], q));
        }
        (a0, a1)
    }

    /// One group's products: the widened words `even` (values 0 and 2)
    /// and `odd` (1 and 3) times 4 int8 weights, as two SMLADs on the
    /// weights' SXTB16 lanes give them. At most 4 · 32,768 · 128 in
    /// magnitude (a 16-bit input's lanes; 4 · 255 · 128 for int8).
    fn group_dot(even: u32, odd: u32, w: &[u8]) -> i32 {
        let w = |i: usize| w[i] as i8 as i32;
        lane(even, 0) * w(0) + lane(even, 1) * w(2) + lane(odd, 0) * w(1) + lane(odd, 1) * w(3)
    }
}
