//! An MLPerf Tiny reference model on a Cortex-M4F, imported from its
//! `.tflite` by `build.rs` (`vigie_core::tflite::import`): the firmware
//! runs TFLite's own recorded inputs (`bench/tflite_reference.py`), checks
//! that every int8 output equals TFLite's, and prints the costs: the
//! instructions of an inference, split by layer, per MAC, the arena and the
//! flash, and which of the two boards' memories hold the model.
//!
//! `cargo run --release --bin mlperf --features mlperf-ad01` (QEMU). Exit
//! status 0 when every output equals TFLite's.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use vigie_core::{Error, Model};

#[path = "../clock.rs"]
mod clock;
#[path = "../out.rs"]
mod out;
#[path = "../stack.rs"]
mod stack;

use out::{finish, say};

/// `NAME`, `TFLITE_BYTES`, `ARENA`, `INPUT`, `OUTPUT`, `RECORDS`, written
/// by `build.rs` from the imported model.
mod mlperf {
    include!(concat!(env!("OUT_DIR"), "/mlperf.rs"));
}

static MODEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/mlperf.vigie"));
/// `RECORDS` × (`INPUT` + `OUTPUT`) int8: TFLite's inputs and outputs.
static REFERENCE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/mlperf.ref"));

/// Flash and RAM of the boards the firmware also runs on.
const BOARDS: [(&str, usize, usize); 2] = [
    ("nRF52840", 1024 * 1024, 256 * 1024),
    ("STM32F411", 512 * 1024, 128 * 1024),
];
/// Room the tables leave for the program's own code and stack on a board
/// (this firmware's code and stack peak are printed beside it).
const PROGRAM_FLASH: usize = 64 * 1024;
const PROGRAM_RAM: usize = 32 * 1024;

#[entry]
fn main() -> ! {
    stack::paint();
    let clock = clock::Clock::start(cortex_m::Peripherals::take().expect("taken once"));
    let arena = cortex_m::singleton!(: [i8; mlperf::ARENA] = [0; mlperf::ARENA]).expect("once");
    match run(&clock, arena) {
        Ok(ok) => finish(ok),
        Err(e) => {
            say!("error: {}", e);
            finish(false)
        }
    }
}

fn run(clock: &clock::Clock, arena: &mut [i8]) -> Result<bool, Error> {
    let t0 = clock.now();
    let model = Model::from_bytes(MODEL)?;
    let load = clock.to_units(clock.now().wrapping_sub(t0));
    let macs = model.macs();
    say!(
        "model: {}, {} layers, {} MACs; {} bytes of flash (the .tflite: {}), arena {} bytes; loaded and validated in {} {}",
        mlperf::NAME,
        model.def().layers.len(),
        macs,
        MODEL.len(),
        mlperf::TFLITE_BYTES,
        model.arena_len(),
        load,
        clock::UNIT
    );
    let (mut differing, mut per_inference) = (0usize, 0u32);
    for (r, record) in REFERENCE
        .chunks_exact(mlperf::INPUT + mlperf::OUTPUT)
        .enumerate()
    {
        let (x, expected) = record.split_at(mlperf::INPUT);
        for (a, &b) in arena.iter_mut().zip(x) {
            *a = b as i8;
        }
        let t0 = clock.now();
        let mut at = [0u32; vigie_core::format::MAX_LAYERS];
        let mut next = 0;
        let out = model.run_quantized_traced(arena, &mut |_| {
            if let Some(t) = at.get_mut(next) {
                *t = clock.now();
                next += 1;
            }
        })?;
        let cost = clock.to_units(at[next.max(1) - 1].wrapping_sub(t0));
        differing += out
            .raw()
            .iter()
            .zip(expected)
            .filter(|(a, b)| **a != **b as i8)
            .count();
        if r == 0 {
            per_inference = cost;
            let mut before = t0;
            for (i, &t) in at.iter().take(next).enumerate() {
                let c = clock.to_units(t.wrapping_sub(before));
                let m = model.layer_macs(i).unwrap_or(0);
                let kind = model.layer_kind(i).unwrap_or("?");
                if m == 0 {
                    say!("cost by layer: {} {} {} {}", i, kind, c, clock::UNIT);
                } else {
                    say!(
                        "cost by layer: {} {} {} {} ({} MACs, {} per MAC)",
                        i,
                        kind,
                        c,
                        clock::UNIT,
                        m,
                        PerMac(c.into(), m)
                    );
                }
                before = t;
            }
        }
    }
    say!(
        "cost: inference {} {} ({} per MAC)",
        per_inference,
        clock::UNIT,
        PerMac(per_inference.into(), macs)
    );
    say!(
        "outputs: {} of {} int8 values differ from TFLite's on {} inputs",
        differing,
        mlperf::RECORDS * mlperf::OUTPUT,
        mlperf::RECORDS
    );
    for (board, flash, ram) in BOARDS {
        let fits = MODEL.len() + PROGRAM_FLASH <= flash && model.arena_len() + PROGRAM_RAM <= ram;
        say!(
            "board: {} ({} KiB flash, {} KiB RAM): model {} KiB + program {} KiB of flash, arena {} B + stack and statics {} KiB of RAM: {}",
            board,
            flash / 1024,
            ram / 1024,
            MODEL.len().div_ceil(1024),
            PROGRAM_FLASH / 1024,
            model.arena_len(),
            PROGRAM_RAM / 1024,
            if fits { "holds it" } else { "too small" }
        );
    }
    say!(
        "memory: static RAM {} bytes, stack peak {} bytes",
        stack::static_bytes(),
        stack::peak()
    );
    let ok = differing == 0;
    say!("result: {}", if ok { "ok" } else { "FAILED" });
    Ok(ok)
}

/// Instructions per MAC with two decimals.
struct PerMac(u64, u64);

impl core::fmt::Display for PerMac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let macs = self.1.max(1);
        write!(f, "{}.{:02}", self.0 / macs, self.0 * 100 / macs % 100)
    }
}
