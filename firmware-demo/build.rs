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
    } else if env::var_os("CARGO_FEATURE_ADAPT").is_some() {
        "models/basicmotions-adapt.vigie"
    } else {
        "models/basicmotions.vigie"
    };
    let bytes = fs::read(model).expect("the embedded model is readable");
    let sizes = vigie_core::session::sizes::rust_constants(&bytes, "")
        .unwrap_or_else(|e| panic!("{model}: {e}; rerun ./make-assets.sh"));
    fs::write(out.join("sizes.rs"), sizes).expect("OUT_DIR is writable");
    println!("cargo:rerun-if-changed=models");
    public_key(&out);
    mlperf(&out);
}

/// The public key the firmware trusts (`keys/demo.key.pub`, two lines:
/// a label, then 64 hexadecimal digits) as `key.rs`.
fn public_key(out: &std::path::Path) {
    let path = "keys/demo.key.pub";
    let text = fs::read_to_string(path).expect("the demo public key is readable");
    let digits = text.lines().nth(1).unwrap_or("").trim();
    assert_eq!(
        digits.len(),
        64,
        "{path}: line 2 holds 64 hexadecimal digits"
    );
    let bytes: Vec<String> = (0..32)
        .map(|i| {
            let b = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16)
                .unwrap_or_else(|_| panic!("{path}: line 2 is not hexadecimal"));
            format!("{b:#04x}")
        })
        .collect();
    fs::write(
        out.join("key.rs"),
        format!(
            "/// The Ed25519 public key models must be signed with ({path}).\npub const PUBLIC_KEY: [u8; 32] = [{}];\n",
            bytes.join(", ")
        ),
    )
    .expect("OUT_DIR is writable");
    println!("cargo:rerun-if-changed={path}");
}

/// Records of TFLite's outputs the device checks itself against.
const MLPERF_RECORDS: usize = 4;

/// For `src/bin/mlperf.rs`: imports the chosen MLPerf Tiny model
/// (`mlperf.vigie`), copies the first [`MLPERF_RECORDS`] records of
/// TFLite's outputs for it (`mlperf.ref`, from `bench/tflite_reference.py`)
/// and writes their sizes (`mlperf.rs`).
fn mlperf(out: &std::path::Path) {
    let models = [
        (
            "CARGO_FEATURE_MLPERF_AD01",
            "ad01_int8",
            "anomaly detection (ToyADMOS), FC autoencoder",
        ),
        (
            "CARGO_FEATURE_MLPERF_KWS",
            "kws_ref_model",
            "keyword spotting (Speech Commands), DS-CNN",
        ),
        (
            "CARGO_FEATURE_MLPERF_VWW",
            "vww_96_int8",
            "visual wake words (person), MobileNetV1 0.25",
        ),
        (
            "CARGO_FEATURE_MLPERF_IC",
            "pretrainedResnet_quant",
            "image classification (CIFAR-10), ResNet-8",
        ),
    ];
    let Some(&(_, file, task)) = models.iter().find(|(f, _, _)| env::var_os(f).is_some()) else {
        return;
    };
    let dir = PathBuf::from("../models/mlperf-tiny");
    let tflite = dir.join(format!("{file}.tflite"));
    let bytes = fs::read(&tflite).unwrap_or_else(|e| panic!("{}: {e}", tflite.display()));
    let imported = vigie_core::tflite::import(&bytes, file)
        .unwrap_or_else(|e| panic!("{}: {e}", tflite.display()));
    let model = imported.model.to_bytes();
    let loaded = vigie_core::Model::from_bytes(&model).expect("an imported model loads");
    let (input, output) = (loaded.input_len(), loaded.output_len());
    // `.ref`: inputs and outputs; `.out` (a large input): outputs only, the
    // inputs regenerated from the script's xorshift.
    let mut reference = dir.join(format!("{file}.ref"));
    let records = if reference.exists() {
        fs::read(&reference).unwrap_or_else(|e| panic!("{}: {e}", reference.display()))
    } else {
        reference = dir.join(format!("{file}.out"));
        let outputs =
            fs::read(&reference).unwrap_or_else(|e| panic!("{}: {e}", reference.display()));
        let mut state = 0x9E37_79B9u32;
        let mut records = Vec::new();
        for y in outputs.chunks_exact(output) {
            for _ in 0..input {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                records.push((state >> 24) as u8);
            }
            records.extend_from_slice(y);
        }
        records
    };
    let take = MLPERF_RECORDS * (input + output);
    assert!(
        records.len() >= take,
        "{}: too few records",
        reference.display()
    );
    fs::write(out.join("mlperf.vigie"), &model).expect("OUT_DIR is writable");
    fs::write(out.join("mlperf.ref"), &records[..take]).expect("OUT_DIR is writable");
    fs::write(
        out.join("mlperf.rs"),
        format!(
            "/// The model's name.\npub const NAME: &str = \"{file}: {task}\";\n\
             /// Its size in the .tflite file.\npub const TFLITE_BYTES: usize = {};\n\
             /// Bytes of inference arena.\npub const ARENA: usize = {};\n\
             /// int8 input and output values.\npub const INPUT: usize = {input};\npub const OUTPUT: usize = {output};\n\
             /// Records of TFLite's outputs.\npub const RECORDS: usize = {MLPERF_RECORDS};\n",
            bytes.len(),
            loaded.arena_len(),
        ),
    )
    .expect("OUT_DIR is writable");
    println!("cargo:rerun-if-changed={}", tflite.display());
    println!("cargo:rerun-if-changed={}", reference.display());
}
