//! Tells the crate whether the target has the Armv7E-M DSP extension
//! (SXTB16, SADD16, SMLAD), which rustc does not expose as a `cfg`.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(vigie_arm_dsp)");
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    // Every Armv7E-M core (Cortex-M4, M7) has the DSP extension.
    if target.starts_with("thumbv7em-") {
        println!("cargo:rustc-cfg=vigie_arm_dsp");
    }
}
