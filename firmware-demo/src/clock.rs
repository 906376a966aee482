//! Cost counters. In QEMU: SysTick on the core clock; run under
//! `-icount shift=0` (the runner in .cargo/config.toml), one tick is
//! exactly 40 instructions (instructions = ticks × 40 / 2^shift, measured
//! with shift 5 and 10 too), since QEMU counts instructions, not cycles.
//! On a board: the DWT cycle counter, in core cycles.

use cortex_m::peripheral::Peripherals;

/// What one unit of [`Clock::now`] is.
#[cfg(feature = "qemu")]
pub const UNIT: &str = "instructions";
/// What one unit of [`Clock::now`] is.
#[cfg(feature = "board")]
pub const UNIT: &str = "cycles";

/// Instructions per SysTick tick under `-icount shift=0`.
#[cfg(feature = "qemu")]
const INSTRUCTIONS_PER_TICK: u32 = 40;

/// A free-running counter; differences of [`Clock::now`] are exact while
/// shorter than 2^24 ticks (QEMU) or 2^32 cycles (board).
pub struct Clock;

impl Clock {
    /// Starts the counter.
    pub fn start(mut p: Peripherals) -> Clock {
        #[cfg(feature = "qemu")]
        {
            use cortex_m::peripheral::syst::SystClkSource;
            p.SYST.set_clock_source(SystClkSource::Core);
            p.SYST.set_reload(0x00FF_FFFF);
            p.SYST.clear_current();
            p.SYST.enable_counter();
        }
        #[cfg(feature = "board")]
        {
            p.DCB.enable_trace();
            p.DWT.enable_cycle_counter();
        }
        Clock
    }

    /// The counter, scaled so that `b.wrapping_sub(a)` of two readings is
    /// the elapsed count times [`Clock::SCALE`] (SysTick is 24 bits and
    /// counts down, so its reading is moved to the top of a `u32`).
    pub fn now(&self) -> u32 {
        #[cfg(feature = "qemu")]
        {
            (0x00FF_FFFF - cortex_m::peripheral::SYST::get_current()) << 8
        }
        #[cfg(feature = "board")]
        {
            cortex_m::peripheral::DWT::cycle_count()
        }
    }

    /// Converts a difference of two [`Clock::now`] readings to [`UNIT`].
    pub fn to_units(&self, delta: u32) -> u32 {
        #[cfg(feature = "qemu")]
        {
            (delta >> 8) * INSTRUCTIONS_PER_TICK
        }
        #[cfg(feature = "board")]
        {
            delta
        }
    }
}
