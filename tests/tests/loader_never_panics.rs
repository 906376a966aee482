//! Any byte string either loads or returns a typed error: every truncation
//! and every single-bit flip of real model files, with and without a
//! recomputed checksum, and 100,000 random byte strings. Whatever loads is
//! also run.

use vigie_core::format::{crc32, section_kind, split_file, ModelDef, HEADER_LEN};
use vigie_core::Error;
use vigie_tests::{data_dir, fixture_models, load_table, Rng};

/// Random byte strings tried, as the issue asks.
const RANDOM_STRINGS: usize = 100_000;

fn fixtures() -> Vec<(&'static str, Vec<u8>, Vec<f32>)> {
    let mut all = fixture_models();
    let motions = load_table("basicmotions_train.csv");
    all.push((
        "basicmotions forest on quantiles",
        forest_on_quantiles(&motions),
        motions.rows[0].clone(),
    ));
    all.push((
        "wine MLP with monitor",
        trained_with_monitor(),
        load_table("winequality-red.csv").rows[0].clone(),
    ));
    all
}

/// Quantile pooling (16 a channel) then three random trees of depth 3
/// over the 96 quantiles: every field of a tree layer (roots, nodes,
/// thresholds, shared leaf rows) under the truncations and bit flips.
fn forest_on_quantiles(motions: &vigie_tests::Table) -> Vec<u8> {
    use vigie_core::builder::{FloatLayer, FloatNode};
    fn grow(rng: &mut Rng, depth: usize, range: (f32, f32), nodes: &mut Vec<FloatNode>) {
        if depth == 0 {
            let scores = (0..4).map(|_| -(rng.below(400) as f32) / 100.0).collect();
            nodes.push(FloatNode::Leaf(scores));
            return;
        }
        let at = nodes.len();
        let threshold = range.0 + (range.1 - range.0) * rng.below(1000) as f32 / 1000.0;
        nodes.push(FloatNode::Split {
            feature: rng.below(96),
            threshold,
            right: 0,
        });
        grow(rng, depth - 1, range, nodes);
        let right = nodes.len();
        if let FloatNode::Split { right: r, .. } = &mut nodes[at] {
            *r = right;
        }
        grow(rng, depth - 1, range, nodes);
    }
    let mut model = vigie_tests::basicmotions_cnn(motions, 5);
    model.name = "basicmotions-forest-test".into();
    let range = (model.input.range.min, model.input.range.max);
    let mut rng = Rng(0x7EE5);
    let trees = (0..3)
        .map(|_| {
            let mut nodes = Vec::new();
            grow(&mut rng, 3, range, &mut nodes);
            nodes
        })
        .collect();
    model.layers = vec![
        FloatLayer::Quantiles1d { count: 16 },
        FloatLayer::Trees { classes: 4, trees },
    ];
    model.quantize().expect("the forest quantizes").to_bytes()
}

/// A model trained by the trainer, with its monitor and calibration
/// sections (the host-only sections are dropped to keep the file, and the
/// test, small).
fn trained_with_monitor() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES
        .get_or_init(|| {
            let mut args = vigie_trainer::pipeline::TrainArgs::new(
                data_dir().join("winequality-red.csv"),
                "quality",
            );
            args.cpu_backend = vigie_trainer::pipeline::CpuBackend::Flex;
            let built = vigie_trainer::pipeline::build(&args).unwrap();
            let (_, body) = split_file(&built.bytes).unwrap();
            let mut def = ModelDef::from_body(body).unwrap();
            def.strip_host_sections();
            assert!(def.section(section_kind::MONITOR).is_some());
            def.to_bytes()
        })
        .clone()
}

/// Loads and, when it loads, runs through a session: the outcome is `Ok`
/// or a typed error.
fn load_and_run(bytes: &[u8], input: &[f32]) -> Result<usize, Error> {
    let sizes = vigie_core::Sizes::of(bytes)?;
    let mut arena = vec![0i8; sizes.arena];
    let mut state = vec![0.0f32; sizes.monitor_state];
    let mut session = vigie_core::Session::from_bytes(bytes, &mut arena, &mut state)?;
    let mut input = input.to_vec();
    input.resize(sizes.input, 0.5);
    let n = session.model().output_len();
    for _ in 0..3 {
        let step = session.step(&input)?;
        if let Some(d) = step.decision() {
            assert!(d.index < n);
            assert!((0.0..=1.0).contains(&d.probability));
        }
        session.observe_label(false)?;
    }
    input[0] = f32::NAN;
    let step = session.step(&input)?;
    assert!(matches!(
        step.inference,
        vigie_core::Inference::Skipped { index: 0 } | vigie_core::Inference::Imputed { .. }
    ));
    Ok(n)
}

fn with_fixed_checksum(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() >= HEADER_LEN {
        let crc = crc32(&bytes[HEADER_LEN..]);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    }
    bytes
}

#[test]
fn fixtures_load_and_run() {
    for (name, bytes, input) in fixtures() {
        assert!(load_and_run(&bytes, &input).is_ok(), "{name}");
    }
}

#[test]
fn every_truncation_is_refused() {
    for (name, bytes, input) in fixtures() {
        for len in 0..bytes.len() {
            let err = load_and_run(&bytes[..len], &input).expect_err(name);
            if len < HEADER_LEN {
                assert_eq!(err, Error::LoadTooShort { len });
            } else {
                assert!(
                    matches!(err, Error::LoadLengthMismatch { .. }),
                    "{name} at {len}: {err:?}"
                );
            }
        }
    }
}

#[test]
fn every_single_bit_flip_is_refused_by_header_or_checksum() {
    for (name, bytes, input) in fixtures() {
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let err = load_and_run(&flipped, &input).expect_err(name);
            assert!(
                matches!(
                    err,
                    Error::LoadBadMagic
                        | Error::LoadUnsupportedVersion { .. }
                        | Error::LoadUnsupportedFlags { .. }
                        | Error::LoadLengthMismatch { .. }
                        | Error::LoadChecksumMismatch { .. }
                ),
                "{name}, bit {bit}: {err:?}"
            );
        }
    }
}

#[test]
fn every_single_bit_flip_with_recomputed_checksum_loads_or_errs() {
    for (name, bytes, input) in fixtures() {
        let (mut loaded, mut refused) = (0, 0);
        for bit in HEADER_LEN * 8..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            match load_and_run(&with_fixed_checksum(flipped), &input) {
                Ok(_) => loaded += 1,
                Err(_) => refused += 1,
            }
        }
        eprintln!("{name}: {loaded} flipped bodies loaded and ran, {refused} refused");
        // Most bytes are weights, where any value is a valid model; flips in
        // shapes, lengths and parameters must be refused.
        assert!(
            loaded > 0 && refused > 0,
            "{name}: {loaded} loaded, {refused} refused"
        );
    }
}

#[test]
fn random_byte_strings_load_or_err() {
    let mut rng = Rng(0x5eed);
    let (_, template, input) = fixtures().remove(1);
    let mut outcomes = [0usize; 2];
    for i in 0..RANDOM_STRINGS {
        let len = rng.below(700);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        // Half of the strings carry a valid header, so the body decoder and
        // the validator see them; some are mutations of a real body.
        if i % 2 == 0 && len >= HEADER_LEN {
            if i % 4 == 0 {
                bytes = template.clone();
                for _ in 0..1 + rng.below(8) {
                    let at = HEADER_LEN + rng.below(template.len() - HEADER_LEN);
                    bytes[at] = rng.next_u64() as u8;
                }
            }
            bytes[..4].copy_from_slice(b"VIGI");
            bytes[4..8].copy_from_slice(&[1, 0, 0, 0]);
            let body_len = (bytes.len() - HEADER_LEN) as u32;
            bytes[8..12].copy_from_slice(&body_len.to_le_bytes());
            bytes = with_fixed_checksum(bytes);
            assert!(split_file(&bytes).is_ok());
        }
        outcomes[usize::from(load_and_run(&bytes, &input).is_ok())] += 1;
    }
    eprintln!(
        "random strings: {} refused, {} loaded and ran",
        outcomes[0], outcomes[1]
    );
    assert_eq!(outcomes[0] + outcomes[1], RANDOM_STRINGS);
}
