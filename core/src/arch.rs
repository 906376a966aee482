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
//! `asm!` instruction. The only `unsafe` is that `asm!` block: the
//! instructions touch registers only (no memory, no stack), and SADD16 /
//! SMLAD change nothing but the GE and Q flags, which no Rust code reads.
//! On every other target the same functions are plain Rust with the same
//! results bit for bit, so the fast kernels run (and are tested against
//! their references) on the host too; `arch_matches_portable` in the
//! firmware's self-test compares the two on the device.
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

/// Plain-Rust definitions of the instructions (the Arm ARM's pseudocode),
/// used off-target and as the device self-test's reference.
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
}
