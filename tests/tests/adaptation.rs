//! Adaptation after a confirmed drift (`vigie_core::adapt`), on streams of
//! held-out rows of digits, red wine and BasicMotions: an offset (+1σ) or
//! a gain (×1.5) of one input from step 400 is caught by the monitor,
//! corrected from the recent moments, and the accuracy comes back; a
//! class-mix change and a stuck sensor are never "corrected".
//!
//! The accuracy table of the note comes from this test's output
//! (`cargo test --release -p vigie-tests --test adaptation -- --nocapture`).

use vigie_core::adapt::{Event, Refusal};
use vigie_core::Session;
use vigie_tests::{data_dir, Rng};
use vigie_trainer::pipeline::{build, Built, CpuBackend, TrainArgs};

/// Step from which the fault is applied.
const DRIFT_AT: usize = 400;
/// Steps in a stream.
const STEPS: usize = 2000;
/// Step from which the second fault of [`Fault::TwoOffsets`] is applied.
const SECOND_AT: usize = 850;
/// Largest loss of accuracy after a correction against the same rows
/// without drift (the median over [`SEEDS`]): 2 points, as the issue asks.
/// The comparison is paired (the same rows), so no allowance for the
/// noise of different samples is needed.
const RECOVERY_TOLERANCE: f64 = 0.02;
/// Widest gain estimated for an offset (true gain 1), either way: the
/// recent spread over about 200 effective samples of a skewed input
/// (red wine's total sulfur dioxide, kurtosis about 7) wanders by about
/// 10%, and this is three times that.
const GAIN_RANGE: f32 = 1.35;
/// Steps after a correction before its accuracy counts: the monitor
/// restarts, and the first windows are still those the estimate saw.
const SETTLED: usize = 50;
/// Largest error of an estimated offset, in the channel's deviations: the
/// recent mean over about 100 samples wanders by 0.1, and the held-out
/// rows' own mean differs from the training rows' by about as much.
const OFFSET_TOLERANCE: f32 = 0.35;

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// Held-out rows (raw, channel-major) and their classes.
    rows: Vec<(Vec<f32>, usize)>,
    length: usize,
    /// The input channel the fault hits, its training mean and standard
    /// deviation (over every sample of a window).
    channel: usize,
    sd: f32,
    /// The channel of next largest standard deviation, and it.
    second: (usize, f32),
}

fn case(name: &'static str, file: &str, target: &str, test: Option<&str>) -> Case {
    case_at(name, data_dir().join(file), target, test)
}

fn case_at(name: &'static str, file: std::path::PathBuf, target: &str, test: Option<&str>) -> Case {
    let mut args = TrainArgs::new(file, target);
    args.cpu_backend = CpuBackend::Flex;
    args.adapt = true;
    args.test = test.map(|t| data_dir().join(t));
    if args.test.is_some() {
        args.test_split = 0.0;
    }
    let Built {
        bytes, prepared, ..
    } = build(&args).expect("trains");
    let (d, rows) = prepared.test_rows();
    let vigie_trainer::data::Target::Classes { y, .. } = &d.target else {
        panic!("a classifier")
    };
    let rows: Vec<(Vec<f32>, usize)> = rows.iter().map(|&r| (d.row(r).to_vec(), y[r])).collect();
    let (channels, length) = (d.channels.len(), d.length);
    // The channel with the widest training spread relative to its range is
    // one the model reads; take the one of largest standard deviation.
    let stats = &prepared.stats;
    let mut order: Vec<usize> = (0..channels).collect();
    order.sort_by(|&a, &b| stats.std[b].total_cmp(&stats.std[a]));
    let channel = order[0];
    let second = (order[1], stats.std[order[1]]);
    Case {
        name,
        bytes,
        rows,
        length,
        channel,
        sd: stats.std[channel],
        second,
    }
}

fn digits() -> Case {
    case("digits", "digits.csv", "digit", None)
}

fn wine() -> Case {
    case("winequality-red", "winequality-red.csv", "quality", None)
}

/// Fisher's iris (`tests/data/iris.csv`): 4 inputs, so a class-mix change
/// moves too few of them by their means to tell it from a sensor's fault.
fn iris() -> Case {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/iris.csv");
    case_at("iris", file, "label", None)
}

fn basic_motions() -> Case {
    case(
        "BasicMotions",
        "basicmotions_train.csv",
        "activity",
        Some("basicmotions_test.csv"),
    )
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// No fault: what the model gets on the same rows without drift.
    None,
    Offset,
    Gain,
    Stuck,
    ClassMix,
    /// An offset of one deviation on the faulty channel and on the one of
    /// next largest deviation, both from step 400.
    TwoInputs,
    /// An offset, then from step 850 (after the correction, before it is
    /// confirmed) another channel's offset.
    TwoOffsets,
}

/// What a stream showed.
#[derive(Debug)]
struct Run {
    /// The step of the first correction.
    applied: Option<usize>,
    events: Vec<(usize, Event)>,
    /// Per step, whether the decision was the row's class.
    correct: Vec<bool>,
}

impl Run {
    /// The accuracy over `steps`.
    fn accuracy(&self, steps: std::ops::Range<usize>) -> f64 {
        let n = steps.len().max(1) as f64;
        self.correct[steps].iter().filter(|&&c| c).count() as f64 / n
    }
}

/// A session's buffers for a model: its arena, its monitor's state and its
/// adaptation's state.
fn buffers(bytes: &[u8]) -> (Vec<i8>, Vec<f32>, Vec<f32>) {
    let sizes = vigie_core::Sizes::of(bytes).unwrap();
    let model = vigie_core::Model::from_bytes(bytes).unwrap();
    let adaptation = vigie_core::adapt::Adapter::from_model(&model)
        .unwrap()
        .unwrap()
        .state_len();
    (
        vec![0i8; sizes.arena],
        vec![0.0f32; sizes.monitor_state],
        vec![0.0f32; adaptation],
    )
}

fn stream(c: &Case, fault: Fault, adapt: bool, seed: u64) -> Run {
    let (mut arena, mut state, mut adapt_state) = buffers(&c.bytes);
    let mut session = Session::from_bytes(&c.bytes, &mut arena, &mut state).unwrap();
    if adapt {
        session = session.with_adaptation(&mut adapt_state).unwrap();
    }
    let mut rng = Rng(seed);
    let majority = {
        let mut n = vec![0usize; 64];
        c.rows.iter().for_each(|r| n[r.1] += 1);
        (0..64).max_by_key(|&k| n[k]).unwrap()
    };
    let mut stuck: Option<Vec<f32>> = None;
    let (mut applied, mut events) = (None, Vec::new());
    let mut correct = Vec::with_capacity(STEPS);
    let span = c.channel * c.length..(c.channel + 1) * c.length;
    for step in 0..STEPS {
        let drifted = step >= DRIFT_AT;
        let (mut x, truth) = loop {
            let r = &c.rows[rng.below(c.rows.len())];
            if drifted && matches!(fault, Fault::ClassMix) && r.1 != majority {
                continue;
            }
            break r.clone();
        };
        if drifted {
            match fault {
                Fault::Offset => x[span.clone()].iter_mut().for_each(|v| *v += c.sd),
                Fault::TwoOffsets => {
                    x[span.clone()].iter_mut().for_each(|v| *v += c.sd);
                    if step >= SECOND_AT {
                        let (ch, sd) = c.second;
                        x[ch * c.length..(ch + 1) * c.length]
                            .iter_mut()
                            .for_each(|v| *v += 2.0 * sd);
                    }
                }
                Fault::Gain => x[span.clone()].iter_mut().for_each(|v| *v *= 1.5),
                Fault::TwoInputs => {
                    x[span.clone()].iter_mut().for_each(|v| *v += c.sd);
                    let (ch, sd) = c.second;
                    x[ch * c.length..(ch + 1) * c.length]
                        .iter_mut()
                        .for_each(|v| *v += sd);
                }
                Fault::Stuck => {
                    let s = stuck.get_or_insert_with(|| x[span.clone()].to_vec());
                    x[span.clone()].copy_from_slice(s);
                }
                Fault::ClassMix | Fault::None => {}
            }
        }
        let s = session.step(&x).unwrap();
        correct.push(s.decision().is_some_and(|d| d.index == truth));
        if let Some(e) = s.adaptation.clone() {
            if matches!(e, Event::Applied { .. }) {
                applied.get_or_insert(step);
            }
            events.push((step, e));
        }
    }
    Run {
        applied,
        events,
        correct,
    }
}

/// Seeds of the streams whose median the recovery is judged on.
const SEEDS: [u64; 5] = [7, 8, 9, 10, 11];

/// The median of a few values.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn an_offset_or_a_gain_of_one_input_is_corrected_and_the_accuracy_comes_back() {
    let cases = [digits(), wine(), basic_motions()];
    println!("Medians over {} seeds; accuracies on the same rows, from 50 steps after the correction to the end:", SEEDS.len());
    println!("| data set | fault | without drift | drifted, uncorrected | corrected | corrected after (steps) | then (seed {}) |", SEEDS[0]);
    println!("|---|---|---|---|---|---|---|");
    for c in &cases {
        for fault in [Fault::Offset, Fault::Gain, Fault::TwoInputs] {
            let (mut clean, mut uncorrected, mut corrected, mut after) =
                (vec![], vec![], vec![], vec![]);
            let mut then = String::new();
            for seed in SEEDS {
                let run = stream(c, fault, true, seed);
                let at = run.applied.unwrap_or_else(|| {
                    panic!(
                        "{} {fault:?} seed {seed}: no correction: {:?}",
                        c.name, run.events
                    )
                });
                // The corrected channel is the faulty one.
                assert!(run.events.iter().any(|(s, e)| *s == at
                    && matches!(e, Event::Applied { channels } if channels.iter().any(|ch| ch.0 as usize == c.channel))));
                // Both faulty inputs are corrected, by one correction.
                if let Fault::TwoInputs = fault {
                    let second = c.second.0;
                    let both = |channels: &[(u16, f32, f32)]| {
                        [c.channel, second]
                            .iter()
                            .all(|&k| channels.iter().any(|ch| ch.0 as usize == k))
                    };
                    assert!(
                        run.events.iter().any(
                            |(_, e)| matches!(e, Event::Applied { channels } if both(channels))
                        ),
                        "{} seed {seed}: {:?}",
                        c.name,
                        run.events
                    );
                }
                // The estimate is the fault's inverse: for an offset of one
                // deviation, a gain near 1 and an offset near −σ·gain.
                if let Fault::Offset = fault {
                    let (_, gain, offset) = run
                        .events
                        .iter()
                        .find_map(|(_, e)| match e {
                            Event::Applied { channels } => channels.first().copied(),
                            _ => None,
                        })
                        .unwrap();
                    assert!(
                        (1.0 / GAIN_RANGE..GAIN_RANGE).contains(&gain),
                        "{} gain {gain}",
                        c.name
                    );
                    let expected = -gain * c.sd;
                    assert!(
                        (offset - expected).abs() < OFFSET_TOLERANCE * c.sd,
                        "{} offset {offset}, expected {expected}",
                        c.name
                    );
                }
                // The same rows without drift, and drifted without the
                // adaptation (one draw per step: the same rows).
                let steps = (at + SETTLED).min(STEPS)..STEPS;
                let without = stream(c, Fault::None, false, seed);
                let plain = stream(c, fault, false, seed);
                clean.push(without.accuracy(steps.clone()));
                uncorrected.push(plain.accuracy(steps.clone()));
                corrected.push(run.accuracy(steps));
                after.push((at - DRIFT_AT) as f64);
                if seed == SEEDS[0] {
                    then = run
                        .events
                        .iter()
                        .skip(1)
                        .map(|(step, e)| format!("{e:?} at {}", step - DRIFT_AT))
                        .collect::<Vec<_>>()
                        .join(", ");
                }
            }
            let gaps: Vec<f64> = clean.iter().zip(&corrected).map(|(a, b)| a - b).collect();
            let (clean, uncorrected, corrected) =
                (median(clean), median(uncorrected), median(corrected));
            println!(
                "| {} | {:?} of channel {} | {:.3} | {:.3} | {:.3} | {} | {} |",
                c.name,
                fault,
                c.channel,
                clean,
                uncorrected,
                corrected,
                median(after),
                then
            );
            let gap = median(gaps);
            assert!(
                gap <= RECOVERY_TOLERANCE,
                "{} {fault:?}: the corrected accuracy is {gap} below the same rows' without drift (median)",
                c.name
            );
        }
    }
}

#[test]
fn a_class_mix_change_and_a_stuck_sensor_are_never_corrected() {
    let cases = [digits(), wine()];
    for c in &cases {
        for fault in [Fault::ClassMix, Fault::Stuck] {
            let run = stream(c, fault, true, 11);
            println!("{} {fault:?}: {:?}", c.name, run.events);
            // The monitor raised the alarm, and the adaptation refused it.
            assert!(
                run.events
                    .iter()
                    .any(|(_, e)| matches!(e, Event::Refused { .. })),
                "{} {fault:?}: {:?}",
                c.name,
                run.events
            );
            assert!(
                !run.events
                    .iter()
                    .any(|(_, e)| matches!(e, Event::Applied { .. })),
                "{} {fault:?}: {:?}",
                c.name,
                run.events
            );
        }
    }
}

/// On iris, a stream of one class moves one input's mean by more than
/// half a deviation and the others' by less, as a sensor's fault would; but
/// it narrows the petals' spreads to a quarter, which no sensor fault does
/// to other inputs: the correction is refused.
#[test]
fn a_class_mix_change_that_narrows_the_other_inputs_is_not_corrected() {
    let c = iris();
    for seed in [7, 11] {
        let run = stream(&c, Fault::ClassMix, true, seed);
        println!("iris ClassMix (seed {seed}): {:?}", run.events);
        assert!(
            run.events.iter().any(|(_, e)| matches!(
                e,
                Event::Refused {
                    why: Refusal::ManyInputsMoved
                }
            )),
            "{:?}",
            run.events
        );
        assert!(
            !run.events
                .iter()
                .any(|(_, e)| matches!(e, Event::Applied { .. })),
            "{:?}",
            run.events
        );
    }
    // The same model's sensor faults are still corrected.
    let run = stream(&c, Fault::Offset, true, 7);
    assert!(run.applied.is_some(), "{:?}", run.events);
}

/// A correction that a second fault proves wrong before it is confirmed
/// is rolled back, and no other is tried until the session is reset.
#[test]
fn a_correction_followed_by_a_new_alarm_is_rolled_back() {
    for c in [wine(), basic_motions()] {
        let run = stream(&c, Fault::TwoOffsets, true, 5);
        println!("{}: {:?}", c.name, run.events);
        let kinds: Vec<&str> = run
            .events
            .iter()
            .map(|(_, e)| match e {
                Event::Applied { .. } => "applied",
                Event::RolledBack => "rolled back",
                Event::Confirmed => "confirmed",
                Event::Refused { .. } => "refused",
            })
            .collect();
        assert_eq!(
            kinds,
            ["applied", "rolled back"],
            "{}: {:?}",
            c.name,
            run.events
        );
    }
}

/// The correction reaches the model, and `undo_adaptation` removes it:
/// with a correction in force the model's output on a drifted input
/// differs from the plain model's on it; after the undo it is the same.
#[test]
fn an_applied_correction_can_be_undone() {
    let c = wine();
    let (mut arena, mut state, mut adapt_state) = buffers(&c.bytes);
    let mut session = Session::from_bytes(&c.bytes, &mut arena, &mut state)
        .unwrap()
        .with_adaptation(&mut adapt_state)
        .unwrap();
    let mut rng = Rng(3);
    let span = c.channel * c.length..(c.channel + 1) * c.length;
    let mut applied = false;
    for step in 0..STEPS {
        let mut x = c.rows[rng.below(c.rows.len())].0.clone();
        if step >= DRIFT_AT {
            x[span.clone()].iter_mut().for_each(|v| *v += c.sd);
        }
        let s = session.step(&x).unwrap();
        if matches!(s.adaptation, Some(Event::Applied { .. })) {
            applied = true;
            break;
        }
    }
    assert!(applied);
    let (gain, offset) = session.correction(c.channel);
    assert!(gain != 1.0 || offset != 0.0);
    // The plain model on a drifted row.
    let model = vigie_core::Model::from_bytes(&c.bytes).unwrap();
    let mut plain_arena = vec![0i8; model.arena_len()];
    let mut x = c.rows[0].0.clone();
    x[span.clone()].iter_mut().for_each(|v| *v += c.sd);
    let plain: Vec<i8> = model.run(&x, &mut plain_arena).unwrap().raw().to_vec();
    let seen: Vec<i8> = session.step(&x).unwrap().output.unwrap().raw().to_vec();
    assert_ne!(seen, plain, "the correction does not reach the model");
    session.undo_adaptation().unwrap();
    assert_eq!(session.correction(c.channel), (1.0, 0.0));
    assert!(session.alarm().is_none());
    let seen: Vec<i8> = session.step(&x).unwrap().output.unwrap().raw().to_vec();
    assert_eq!(seen, plain);
}
