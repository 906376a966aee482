//! Where the firmware's lines go: semihosting in QEMU, defmt over RTT on a
//! board (read by `probe-rs run`). Lines are formatted with `core::fmt` in
//! both cases, so a board prints exactly what QEMU prints.

#[cfg(all(feature = "qemu", feature = "board"))]
compile_error!("choose one target: `qemu` (default) or a board feature with --no-default-features");
#[cfg(not(any(feature = "qemu", feature = "board")))]
compile_error!("choose a target: `qemu` (default), `nrf52840` or `stm32f411`");

/// Prints one line.
#[cfg(feature = "qemu")]
macro_rules! say {
    ($($arg:tt)*) => { cortex_m_semihosting::hprintln!($($arg)*) };
}

/// Prints one line.
#[cfg(feature = "board")]
macro_rules! say {
    ($($arg:tt)*) => { defmt::println!("{}", defmt::Display2Format(&format_args!($($arg)*))) };
}

pub(crate) use say;

/// Ends the program: a semihosting exit code in QEMU; on a board, a
/// breakpoint, which ends `probe-rs run` (its exit status says nothing of
/// `success`, so the last line does).
pub fn finish(success: bool) -> ! {
    #[cfg(feature = "qemu")]
    cortex_m_semihosting::debug::exit(if success {
        cortex_m_semihosting::debug::EXIT_SUCCESS
    } else {
        cortex_m_semihosting::debug::EXIT_FAILURE
    });
    #[cfg(feature = "board")]
    {
        say!("{}", if success { "PASS" } else { "FAIL" });
        cortex_m::asm::bkpt();
    }
    loop {
        cortex_m::asm::wfi();
    }
}

#[cfg(feature = "qemu")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    say!("panic: {}", info);
    finish(false)
}

#[cfg(feature = "board")]
use defmt_rtt as _;
#[cfg(feature = "board")]
use panic_probe as _;
