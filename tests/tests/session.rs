//! The device's loop, `vigie_core::Session`, on the committed firmware
//! models and their recorded streams (real held-out rows of the bundled
//! data): it starts from the reference, takes one decision, feeds the
//! monitor that decision, sees non-finite inputs, latches drift, names the
//! buffer that is too small; and the monitor the trainer fits is fitted on
//! the session's decision.

use vigie_core::error::Buffer;
use vigie_core::monitor::{Detector, Level};
use vigie_core::replay::Replay;
use vigie_core::{Error, Inference, Session, Sizes};
use vigie_tests::data_dir;
use vigie_trainer::device::Memory;
use vigie_trainer::evaluation::drift::Source;
use vigie_trainer::pipeline::{self, CpuBackend, TrainArgs};

fn firmware_file(name: &str) -> Vec<u8> {
    let path = data_dir().join("../firmware-demo/models").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The clean (pre-fault) windows of a firmware stream.
fn clean_windows(stream: &[u8]) -> Vec<Vec<f32>> {
    let r = Replay::from_bytes(stream).unwrap();
    let clean = r.fault_from().unwrap_or(r.len());
    (0..clean)
        .map(|w| {
            let mut x = vec![0.0f32; r.values_per_window()];
            r.window(w, &mut x).unwrap();
            x
        })
        .collect()
}

#[test]
fn sizes_come_from_the_file_and_match_what_the_session_binds() {
    let model = firmware_file("digits.vigie");
    let sizes = Sizes::of(&model).unwrap();
    // Arena: 64 inputs of 2 bytes (its first layer reads them at 16 bits),
    // 64 outputs of the first layer, and between them its input laid out
    // for the dense kernel (8 bytes per 4 inputs, 3 to align).
    assert_eq!(
        (sizes.arena, sizes.input, sizes.channels),
        (323, 64, 64),
        "{sizes:?}"
    );
    // 9,536 bytes of state for 64 monitored features.
    assert_eq!(sizes.monitor_state * 4, 9536);
    let (mut arena, mut state) = (vec![0i8; sizes.arena], vec![0.0f32; sizes.monitor_state]);
    let session = Session::from_bytes(&model, &mut arena, &mut state).unwrap();
    assert_eq!(session.sizes(), sizes);
    let constants = vigie_core::session::sizes::rust_constants(&model, "DIGITS_").unwrap();
    assert!(
        constants.contains("pub const DIGITS_ARENA: usize = 323;"),
        "{constants}"
    );
    assert!(constants.contains("pub const DIGITS_MONITOR_STATE: usize = 2384;"));
}

#[test]
fn a_too_small_monitor_state_is_named_as_such() {
    let model = firmware_file("digits.vigie");
    let mut arena = vec![0i8; 323];
    let mut state = vec![0.0f32; 100];
    let err = Session::from_bytes(&model, &mut arena, &mut state).unwrap_err();
    assert_eq!(
        err,
        Error::BufferTooSmall {
            buffer: Buffer::MonitorState,
            needed: 2384,
            found: 100
        }
    );
    let text = err.to_string();
    assert!(
        text.starts_with("monitor state of 100 floats is too small"),
        "{text}"
    );
    let mut state = vec![0.0f32; 2384];
    let mut small_arena = vec![0i8; 322];
    let err = Session::from_bytes(&model, &mut small_arena, &mut state).unwrap_err();
    assert!(matches!(
        err,
        Error::BufferTooSmall {
            buffer: Buffer::Arena,
            needed: 323,
            found: 322
        }
    ));
}

#[test]
fn a_session_starts_from_the_reference() {
    // A zeroed state is not the reference (the class mix would read as
    // "no class ever seen"): binding resets it, so clean rows raise no drift.
    for (model, stream) in [
        ("digits.vigie", "digits.replay"),
        ("basicmotions.vigie", "basicmotions.replay"),
    ] {
        let bytes = firmware_file(model);
        let sizes = Sizes::of(&bytes).unwrap();
        let mut arena = vec![0i8; sizes.arena];
        let mut state = vec![0.0f32; sizes.monitor_state];
        let mut session = Session::from_bytes(&bytes, &mut arena, &mut state).unwrap();
        for (i, x) in clean_windows(&firmware_file(stream)).iter().enumerate() {
            let step = session.step(x).unwrap();
            assert_eq!(step.index, i as u32);
            assert_ne!(step.level(), Level::Drift, "{model}: clean window {i}");
            assert!(step.alarm.is_none());
            assert!(step.decision().is_some());
        }
    }
}

#[test]
fn a_non_finite_input_reaches_the_guard_and_the_alarm_stays_latched_until_acknowledged() {
    let bytes = firmware_file("digits.vigie");
    let clean = clean_windows(&firmware_file("digits.replay"));
    let mut arena = vec![0i8; 323];
    let mut state = vec![0.0f32; 2384];
    let mut session = Session::from_bytes(&bytes, &mut arena, &mut state).unwrap();
    for x in &clean[..5] {
        assert!(session.step(x).unwrap().alarm.is_none());
    }
    let mut broken = clean[5].clone();
    broken[36] = f32::NAN;
    let step = session.step(&broken).unwrap();
    // The model has no imputation values: inference is skipped, not an
    // error, and the guard still sees the row.
    assert_eq!(step.inference, Inference::Skipped { index: 36 });
    assert!(step.answer.is_none() && step.output.is_none());
    let obs = step.observation.clone().unwrap();
    assert_eq!(obs.level, Level::Drift);
    assert!(obs.has(Detector::GuardNonFinite));
    assert_eq!(obs.features.first(), Some(&36));
    let alarm = step.alarm.clone().unwrap();
    assert_eq!((alarm.since, alarm.detector), (5, Detector::GuardNonFinite));
    // Clean rows after it: the detectors are back to stable, the latch is not.
    for x in &clean[6..12] {
        let step = session.step(x).unwrap();
        assert_eq!(step.inference, Inference::Ran);
        assert_eq!(step.alarm.as_ref().map(|a| a.since), Some(5));
    }
    session.acknowledge();
    assert!(session.step(&clean[12]).unwrap().alarm.is_none());
    // Quiet inputs clear a latch by themselves, after the recovery period:
    // the digits file's rows, in file order (the 40-row stream repeated
    // would not be a stable stream).
    session.step(&broken).unwrap();
    let recovery = session.monitor().unwrap().recovery_samples();
    assert_eq!(recovery, 128);
    let digits = vigie_tests::load_table("digits.csv");
    let mut cleared_after = None;
    for (i, x) in digits.rows.iter().enumerate() {
        let step = session.step(x).unwrap();
        if step.alarm.is_none() {
            cleared_after = Some(i + 1);
            break;
        }
    }
    let cleared_after = cleared_after.expect("the latch clears on quiet inputs");
    assert!(cleared_after >= recovery as usize, "{cleared_after}");
    // reset() starts over: step count and latch.
    session.step(&broken).unwrap();
    session.reset().unwrap();
    assert_eq!(session.steps(), 0);
    assert!(session.alarm().is_none());
}

/// A monitor is fitted and calibrated on the session's decision. Here the
/// model decides with a temperature far from 1 and a cost matrix; had the
/// monitor been fitted on the untempered argmax, its confidence reference
/// would be off and its class mix another.
#[test]
fn the_monitor_is_fitted_on_the_sessions_decision() {
    // Wine: the quality classes 3 and 8 are rare, and missing them costs
    // 10 (examples/wine_costs.csv), so the cost rule decides other classes
    // than argmax.
    let mut args = TrainArgs::new(data_dir().join("winequality-red.csv"), "quality");
    args.cpu_backend = CpuBackend::Flex;
    args.cost_matrix = Some(data_dir().join("../examples/wine_costs.csv"));
    args.temperature = Some(TEMPERATURE);
    let built = pipeline::build(&args).unwrap();
    let model = vigie_core::Model::from_bytes(&built.bytes).unwrap();
    assert_eq!(model.calibration().temperature, TEMPERATURE);
    assert!(!model.calibration().costs.is_empty());
    let monitor = vigie_core::monitor::Monitor::from_model(&model)
        .unwrap()
        .unwrap();
    let p = &built.prepared;
    // The stored reference is exactly the session's decisions on the
    // training and validation rows (class mix) and on the validation rows,
    // which the model did not learn from (confidence).
    let mut memory = Memory::new(&model, None);
    let mut session = memory.session(&model, None).unwrap();
    let decide = |s: &mut Session<'_, '_>, r: usize| {
        let d = *s.infer(p.data.row(r)).unwrap().decision().unwrap();
        (d.index, d.probability)
    };
    let k = model.output_len();
    let mut mix = vec![0.0f32; k];
    for &r in p.splits.train.iter().chain(&p.splits.val) {
        mix[decide(&mut session, r).0] += 1.0;
    }
    let n = (p.splits.train.len() + p.splits.val.len()) as f32;
    for (c, m) in mix.iter().enumerate() {
        let stored = vigie_core::format::read_f32(monitor.def().prior, c);
        assert_eq!(stored, m / n, "class {c}");
    }
    let conf: Vec<f64> = p
        .splits
        .val
        .iter()
        .map(|&r| decide(&mut session, r).1 as f64)
        .collect();
    let mean = conf.iter().sum::<f64>() / conf.len() as f64;
    assert_eq!(monitor.def().confidence_mean, mean as f32);
    // And over 100,000 stable held-out rows replayed through the session,
    // the confidence detector raises no drift.
    let (src, _) = Source::held_out(p, &vec![true; p.data.channels.len()]);
    let mut memory = Memory::new(&model, Some(&monitor));
    let mut session = memory.session(&model, Some(&monitor)).unwrap();
    let mut rng = vigie_trainer::rng::Rng(7);
    let mut confidence_alarms = 0;
    for _ in 0..STABLE_ROWS {
        let x = src.data.row(src.rows[rng.below(src.rows.len())]);
        let step = session.step(x).unwrap();
        if let Some(o) = step.observation {
            if o.level == Level::Drift && o.detector == Some(Detector::Confidence) {
                confidence_alarms += 1;
            }
        }
    }
    assert_eq!(confidence_alarms, 0);
}

/// A temperature far from 1 (the wine model's fitted one is near 1).
const TEMPERATURE: f32 = 2.5;
/// Stable rows replayed.
const STABLE_ROWS: usize = 100_000;
