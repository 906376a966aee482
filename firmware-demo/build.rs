//! Puts the chosen board's memory layout where cortex-m-rt's link.x finds
//! it, links defmt's script for the board builds, and writes the embedded
//! model's buffer sizes as constants (`sizes.rs`, read by `main.rs`), so no
//! size is copied by hand.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let board = if env::var_os("CARGO_FEATURE_NRF52840").is_some() {
        "nrf52840"
    } else if env::var_os("CARGO_FEATURE_STM32F411").is_some() {
        "stm32f411"
    } else {
        "qemu"
    };
    let layout = format!("memory/{board}.x");
    fs::copy(&layout, out.join("memory.x")).expect("the memory layout is readable");
    println!("cargo:rustc-link-search={}", out.display());
    if board != "qemu" {
        println!("cargo:rustc-link-arg=-Tdefmt.x");
    }
    println!("cargo:rerun-if-changed={layout}");
    let model = if env::var_os("CARGO_FEATURE_DIGITS").is_some() {
        "models/digits.vigie"
    } else {
        "models/basicmotions.vigie"
    };
    let bytes = fs::read(model).expect("the embedded model is readable");
    let sizes = vigie_core::session::sizes::rust_constants(&bytes, "")
        .unwrap_or_else(|e| panic!("{model}: {e}; rerun ./make-assets.sh"));
    fs::write(out.join("sizes.rs"), sizes).expect("OUT_DIR is writable");
    println!("cargo:rerun-if-changed=models");
}
