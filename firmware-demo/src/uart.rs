//! Where the drift reports go (`vigie_core::report` frames): UART0 of
//! QEMU's mps2-an386, an Arm CMSDK APB UART at 0x4000_4000, which QEMU
//! writes to the file or pipe given by `-serial` (the runner's
//! `uart0.bin` in the folder it runs from). With `stack.rs`, the only `unsafe` of the firmware:
//! volatile accesses to the UART's registers. On a board the frames are
//! printed as hexadecimal lines instead (`frame:`), over defmt.

#[cfg(feature = "qemu")]
mod cmsdk {
    const BASE: usize = 0x4000_4000;
    const DATA: usize = BASE;
    const STATE: usize = BASE + 0x04;
    const CTRL: usize = BASE + 0x08;
    const BAUDDIV: usize = BASE + 0x10;
    /// STATE: the transmit buffer is full.
    const TX_FULL: u32 = 1;
    /// CTRL: transmitter enabled.
    const TX_ENABLE: u32 = 1;

    /// Enables the transmitter (QEMU wants a divider of at least 16).
    pub fn init() {
        // SAFETY: these are the UART's memory-mapped registers on this
        // machine; nothing else in the firmware touches them.
        unsafe {
            (BAUDDIV as *mut u32).write_volatile(16);
            (CTRL as *mut u32).write_volatile(TX_ENABLE);
        }
    }

    /// Sends `bytes`, waiting while the transmit buffer is full.
    pub fn write(bytes: &[u8]) {
        for &b in bytes {
            // SAFETY: as in `init`.
            unsafe {
                while (STATE as *const u32).read_volatile() & TX_FULL != 0 {}
                (DATA as *mut u32).write_volatile(u32::from(b));
            }
        }
    }
}

/// Makes the report channel ready.
pub fn init() {
    #[cfg(feature = "qemu")]
    cmsdk::init();
}

/// Sends one frame.
pub fn send(frame: &[u8]) {
    #[cfg(feature = "qemu")]
    cmsdk::write(frame);
    #[cfg(feature = "board")]
    crate::out::say!("frame: {}", Hex(frame));
}

/// Bytes as hexadecimal digits.
#[cfg(feature = "board")]
struct Hex<'a>(&'a [u8]);

#[cfg(feature = "board")]
impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
