//! vigie-core on a Cortex-M4F: loads the digits model from flash in place,
//! validates it, and classifies a few bundled digits with a static arena,
//! printing through semihosting. Exits with status 0 when every prediction
//! matches the label, 1 otherwise.
//!
//! The model is `models/digits.vigie`, made by
//! `vigie train --data data/digits.csv --target digit --seed 0 --out firmware-demo/models/digits.vigie`
//! (the tests check the committed file is what that command writes).
#![no_std]
#![no_main]

use core::panic::PanicInfo;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use vigie_core::Model;

mod samples;

/// The model, used where it lies in flash.
static MODEL: &[u8] = include_bytes!("../models/digits.vigie");

/// Scratch for inference; the model says how much it needs.
const ARENA_BYTES: usize = 1024;

#[entry]
fn main() -> ! {
    let model = match Model::from_bytes(MODEL) {
        Ok(m) => m,
        Err(e) => {
            hprintln!("model does not load: {}", e);
            finish(false);
        }
    };
    hprintln!(
        "model: {} MACs, arena {} bytes, {} inputs",
        model.macs(),
        model.arena_len(),
        model.input_len()
    );
    let mut arena = [0i8; ARENA_BYTES];
    let mut right = 0;
    for (i, (input, label)) in samples::DIGITS.iter().enumerate() {
        match model.run(input, &mut arena).and_then(|out| out.class()) {
            Ok(c) => {
                hprintln!(
                    "sample {}: predicted {} (p={}) label {}",
                    i,
                    c.name,
                    c.probability,
                    label
                );
                right += usize::from(c.index == *label);
            }
            Err(e) => hprintln!("sample {}: {}", i, e),
        }
    }
    hprintln!("{}/{} right", right, samples::DIGITS.len());
    finish(right == samples::DIGITS.len())
}

/// Ends the program: a semihosting exit in QEMU, then sleep on a board.
fn finish(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    finish(false)
}
