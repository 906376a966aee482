//! Ed25519 verification of the embedded digits model's signature with
//! vigie-core's crate (ed25519-compact) and with ed25519-dalek, in
//! instructions under QEMU: `cargo run --release --bin verify_bench
//! --features verify-bench,digits`. `size.sh` compares their flash.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

#[path = "../clock.rs"]
mod clock;
#[path = "../out.rs"]
mod out;

use out::{finish, say};

mod key {
    include!(concat!(env!("OUT_DIR"), "/key.rs"));
}

static MODEL: &[u8] = include_bytes!("../../models/digits.vigie");

#[entry]
fn main() -> ! {
    let clock = clock::Clock::start(cortex_m::Peripherals::take().expect("taken once"));
    let t0 = clock.now();
    let compact = vigie_core::signature::verify(MODEL, &key::PUBLIC_KEY).is_ok();
    let t_compact = clock.to_units(clock.now().wrapping_sub(t0));
    // The same message and signature for dalek: the file up to its
    // trailer, and the trailer's last 64 bytes.
    let trailer = vigie_core::signature::TRAILER_LEN;
    let signed = &MODEL[..MODEL.len() - trailer];
    let mut sig = [0u8; 64];
    sig.copy_from_slice(&MODEL[MODEL.len() - 64..]);
    let t0 = clock.now();
    let dalek = VerifyingKey::from_bytes(&key::PUBLIC_KEY)
        .map(|k| k.verify(signed, &Signature::from_bytes(&sig)).is_ok())
        .unwrap_or(false);
    let t_dalek = clock.to_units(clock.now().wrapping_sub(t0));
    say!(
        "verify {} bytes: ed25519-compact {} {} ({}), ed25519-dalek {} {} ({})",
        MODEL.len(),
        t_compact,
        clock::UNIT,
        if compact { "valid" } else { "REFUSED" },
        t_dalek,
        clock::UNIT,
        if dalek { "valid" } else { "REFUSED" }
    );
    finish(compact && dalek)
}
