//! Measures the flash taken by vigie-core's code alone, without the model,
//! the firmware's printing or Rust's formatting: `size.sh` builds this
//! program three times (no feature: the baseline; `probe-core`: loading,
//! validation, inference and decisions; `probe-core,probe-monitor`: the
//! monitor too) and reports the differences of their `.text`. The model and inputs come through `black_box`, so nothing
//! is folded away; the program is only linked, never run.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;

#[cfg(feature = "probe-core")]
fn use_core(bytes: &[u8], input: &[f32], arena: &mut [i8], state: &mut [f32]) -> u32 {
    use vigie_core::monitor::Monitor;
    use vigie_core::Model;
    let Ok(model) = Model::from_bytes(bytes) else {
        return 1;
    };
    let Ok(out) = model.run(input, arena) else {
        return 2;
    };
    let Ok(d) = out.decide() else {
        return 3;
    };
    let (index, probability) = (d.index, d.probability);
    if cfg!(not(feature = "probe-monitor")) {
        return index as u32 + probability.to_bits();
    }
    let Ok(Some(monitor)) = Monitor::from_model(&model) else {
        return 4;
    };
    if monitor.reset(state).is_err() {
        return 5;
    }
    match monitor.observe(state, input, Some((index, probability))) {
        Ok(o) => {
            o.fired as u32
                + monitor
                    .observe_label(state, true)
                    .map_or(6, |o| o.fired as u32)
        }
        Err(_) => 7,
    }
}

/// Ed25519 verification of a model file (`probe-signature`).
#[cfg(feature = "probe-signature")]
fn use_signature(bytes: &[u8], key: &[u8; 32]) -> u32 {
    vigie_core::signature::verify(bytes, key).is_ok() as u32
}

/// The same with ed25519-dalek (`verify-bench`), to compare.
#[cfg(all(feature = "verify-bench", not(feature = "probe-signature")))]
fn use_signature(bytes: &[u8], key: &[u8; 32]) -> u32 {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let n = bytes.len().saturating_sub(64);
    let Ok(sig) = <[u8; 64]>::try_from(&bytes[n..]) else {
        return 2;
    };
    match VerifyingKey::from_bytes(key) {
        Ok(k) => k.verify(&bytes[..n], &Signature::from_bytes(&sig)).is_ok() as u32,
        Err(_) => 3,
    }
}

#[cfg(not(any(feature = "probe-signature", feature = "verify-bench")))]
fn use_signature(bytes: &[u8], key: &[u8; 32]) -> u32 {
    (bytes.len() + key.len()) as u32
}

#[cfg(not(feature = "probe-core"))]
fn use_core(bytes: &[u8], input: &[f32], arena: &mut [i8], state: &mut [f32]) -> u32 {
    (bytes.len() + input.len() + arena.len() + state.len()) as u32
}

#[entry]
fn main() -> ! {
    static mut ARENA: [i8; 256] = [0; 256];
    static mut STATE: [f32; 256] = [0.0; 256];
    let bytes: &[u8] = black_box(&[]);
    let input: &[f32] = black_box(&[]);
    // SAFETY (cortex-m-rt): `static mut` in `#[entry]` is handed out once
    // as `&'static mut`.
    let r = use_core(bytes, input, ARENA, STATE);
    black_box(r);
    let key: &[u8; 32] = black_box(&[0; 32]);
    black_box(use_signature(bytes, key));
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
