//! Stack high-water mark: paint the free RAM below the stack with a
//! pattern at start, find the lowest word that lost it at the end.
//!
//! One of the two `unsafe` places of the firmware (with `uart.rs`): volatile reads and writes of the
//! words between the end of the static data (`__sheap`, from cortex-m-rt's
//! link.x) and a margin below the current stack pointer, which no Rust
//! object occupies (there is no heap).

const PATTERN: u32 = 0xC0FF_EE5A;
/// Left unpainted below the stack pointer at the time of painting.
const MARGIN: usize = 64;

extern "C" {
    static __sheap: u32;
    static _stack_start: u32;
}

fn bounds() -> (usize, usize) {
    // Only the addresses of linker symbols are taken.
    let bottom = core::ptr::addr_of!(__sheap) as usize;
    let top = core::ptr::addr_of!(_stack_start) as usize;
    (bottom.next_multiple_of(4), top)
}

/// Paints the unused stack. Call first thing in `main`.
#[inline(never)]
pub fn paint() {
    let (bottom, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize - MARGIN;
    let mut a = bottom;
    while a + 4 <= sp {
        // SAFETY: [bottom, sp) is RAM no object lives in (see module doc).
        unsafe { (a as *mut u32).write_volatile(PATTERN) };
        a += 4;
    }
}

/// Bytes of stack used at most since [`paint`].
pub fn peak() -> usize {
    let (bottom, top) = bounds();
    let mut a = bottom;
    // SAFETY: reads of RAM words in [bottom, top).
    while a < top && unsafe { (a as *const u32).read_volatile() } == PATTERN {
        a += 4;
    }
    top - a
}

/// Bytes of RAM taken by static data (.data and .bss).
pub fn static_bytes() -> usize {
    extern "C" {
        static __sdata: u32;
    }
    let start = core::ptr::addr_of!(__sdata) as usize;
    bounds().0 - start
}
