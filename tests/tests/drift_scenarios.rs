//! Drift monitoring on streams made from the bundled real data: held-out
//! rows resampled, then altered from a known row on, replayed through the
//! model and monitor of `vigie-core`. Each scenario checks that the right
//! detector raises the alarm, names the right feature, and within the
//! delay bound of the monitoring issue (median over seeded runs).
//! `vigie drift-bench` prints the same figures over 50 runs.

use std::sync::OnceLock;

use vigie_core::monitor::{Detector, Monitor, Observation};
use vigie_core::Model;
use vigie_tests::data_dir;
use vigie_trainer::evaluation::drift::{Bench, Scenario, Source, Summary};
use vigie_trainer::pipeline::{self, Built, CpuBackend, TrainArgs};

/// Seeded runs per scenario (the benchmark uses 50).
const RUNS: usize = 25;
/// Rows of the stable stream for the false-alarm rate.
const STABLE_ROWS: usize = 100_000;
/// The whole monitor is calibrated for one drift alarm per 10,000 rows.
/// 100,000 rows expect about 10 alarms, with a Poisson spread of ±3; the
/// bound allows that spread (measured 1.1 since held-out rows no longer
/// include copies of training rows: wine's 240 repeated rows stay on one
/// side of the split).
const MAX_FALSE_ALARMS_PER_10K: f64 = 1.5;
/// Median delay bounds, in rows.
const BOUND_OFFSET_1_SIGMA: f64 = 30.0;
/// A 0.5σ shift is below the default smallest shift worth a quick alarm
/// (`--min-shift` 0.8): the mean CUSUM gains only a little more than its
/// allowance per row, so its delay moves by tens of rows with the
/// threshold's sampling from one calibration to the next (93 to 171 rows
/// on wine); the promise is "within a few hundred rows".
const BOUND_OFFSET_HALF_SIGMA: f64 = 300.0;
const BOUND_STUCK_OR_NOISE: f64 = 100.0;
const BOUND_DECORRELATION_OR_CLASS_MIX: f64 = 300.0;
/// The reconstruction detector's thresholds carry the error of a
/// reference fitted without the replayed rows (cross-fitting), which on
/// wine costs it about 50 rows over the class-mix bound.
const BOUND_DECORRELATION_WINE: f64 = 400.0;
/// Share of runs that must name the altered feature first: 23 of 25 (on a
/// slow ramp a correlated feature sometimes crosses its threshold first).
const MIN_NAMED: f64 = 0.9;
/// Share of runs whose first alarm comes from a detector meant for the
/// change. Not all: a shifted feature also leaves the principal subspace,
/// so the reconstruction detector is sometimes first, and rightly so.
const MIN_RIGHT_DETECTOR: f64 = 0.9;
/// A model that imputes counts holes against its training rate: the
/// missing-rate CUSUM needs a few holes in a row (at least
/// `MIN_HOLE_RUN`, 3; on penguins, whose reference rows have 0.7% with a
/// numeric hole, about 5) before a burst is drift, not one.
const BOUND_NAN_BURST_IMPUTED: f64 = 10.0;
/// Median delay bound, in windows, of a ×2 gain on one channel of a
/// window model (the monitoring issue's bound).
const BOUND_WINDOW_GAIN_2: f64 = 10.0;
/// Monitor state budget for winequality-red.
const MAX_WINE_STATE_BYTES: usize = 4096;

struct Setup {
    built: Built,
    feature: usize,
    pair: (usize, usize),
}

fn setup(file: &str, target: &str, feature: &str) -> Setup {
    setup_with(file, target, feature, |_| {})
}

/// Trains on `file` with the defaults, changed by `adjust`.
fn setup_with(
    file: &str,
    target: &str,
    feature: &str,
    adjust: impl FnOnce(&mut TrainArgs),
) -> Setup {
    let mut args = TrainArgs::new(data_dir().join(file), target);
    args.cpu_backend = CpuBackend::Flex;
    adjust(&mut args);
    let built = pipeline::build(&args).expect("trains");
    let p = &built.prepared;
    let names = &p.data.channels;
    let feature = names
        .iter()
        .position(|n| n == feature)
        .expect("feature exists");
    // The pair to decorrelate among the features the reconstruction
    // watches (a constant or sparse feature has retired from it).
    let watched: Vec<bool> = {
        let model = Model::from_bytes(&built.bytes).unwrap();
        let monitor = Monitor::from_model(&model).unwrap().unwrap();
        monitor.def().roles[..names.len()]
            .iter()
            .map(|&r| r != 0)
            .collect()
    };
    let (_, pair) = Source::held_out(p, &watched);
    Setup {
        built,
        feature,
        pair,
    }
}

fn wine() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| setup("winequality-red.csv", "quality", "pH"))
}

fn digits() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| setup("digits.csv", "digit", "px52"))
}

fn with_monitor<T>(s: &Setup, f: impl FnOnce(&Bench<'_>) -> T) -> T {
    let model = Model::from_bytes(&s.built.bytes).unwrap();
    let monitor = Monitor::from_model(&model)
        .unwrap()
        .expect("monitor section");
    let (src, _) = Source::held_out(
        &s.built.prepared,
        &vec![true; s.built.prepared.data.channels.len()],
    );
    f(&Bench {
        model: &model,
        monitor: &monitor,
        src: &src,
    })
}

fn bench(s: &Setup, scenario: Scenario) -> Summary {
    let r = with_monitor(s, |b| b.scenario(&scenario, RUNS, 1).unwrap());
    eprintln!("{r:?}");
    r
}

/// Benchmarks a scenario on wine's benchmark feature and asserts that it
/// is caught within `bound` rows, with the feature named.
fn wine_catches(scenario: fn(usize) -> Scenario, bound: f64) -> Summary {
    let s = wine();
    let r = bench(s, scenario(s.feature));
    assert_caught(&r, bound, true);
    r
}

/// The scenario that decorrelates the set's most correlated pair.
fn decorrelated_pair(s: &Setup) -> Scenario {
    Scenario::Decorrelate {
        a: s.pair.0,
        b: s.pair.1,
    }
}

fn assert_caught(r: &Summary, bound: f64, named: bool) {
    assert_eq!(r.missed, 0, "{r:?}");
    assert!(
        r.right_detector as f64 >= MIN_RIGHT_DETECTOR * r.runs as f64,
        "an unexpected detector fired first: {r:?}"
    );
    let median = r.median_delay.unwrap();
    assert!(median <= bound, "median delay {median} > {bound}: {r:?}");
    if named {
        // Runs whose first alarm named no input (the model's outputs, or a
        // reconstruction alarm that cannot say which input moved) are
        // counted by the detector check above; those that name one must
        // name the right one.
        let feature_runs = r.runs - r.unnamed;
        assert!(
            r.right_feature as f64 >= MIN_NAMED * feature_runs as f64,
            "feature named in {}/{feature_runs}: {r:?}",
            r.right_feature,
        );
    }
}

#[test]
fn stable_wine_stream_stays_under_one_false_alarm_per_10k_rows() {
    let (rate, by) = with_monitor(wine(), |b| b.false_alarm_rate(STABLE_ROWS, 7).unwrap());
    assert!(rate <= MAX_FALSE_ALARMS_PER_10K, "{rate} per 10k: {by:?}");
}

#[test]
fn stable_digits_stream_stays_under_one_false_alarm_per_10k_rows() {
    let (rate, by) = with_monitor(digits(), |b| b.false_alarm_rate(STABLE_ROWS, 7).unwrap());
    assert!(rate <= MAX_FALSE_ALARMS_PER_10K, "{rate} per 10k: {by:?}");
}

#[test]
fn one_sigma_offset_is_caught_by_the_mean_cusum_within_30_rows() {
    let r = wine_catches(
        |feature| Scenario::Offset {
            feature,
            sigmas: 1.0,
        },
        BOUND_OFFSET_1_SIGMA,
    );
    assert!(
        r.detectors
            .iter()
            .any(|(d, n)| d == Detector::Mean.name() && *n * 2 > RUNS),
        "{r:?}"
    );
}

#[test]
fn half_sigma_offset_is_caught_within_300_rows() {
    wine_catches(
        |feature| Scenario::Offset {
            feature,
            sigmas: 0.5,
        },
        BOUND_OFFSET_HALF_SIGMA,
    );
}

#[test]
fn gain_change_is_caught_and_named() {
    wine_catches(
        |feature| Scenario::Gain { feature, gain: 1.5 },
        BOUND_OFFSET_1_SIGMA,
    );
}

#[test]
fn gradual_drift_over_2000_rows_is_caught_before_the_ramp_ends() {
    wine_catches(
        |feature| Scenario::Gradual {
            feature,
            sigmas: 2.0,
        },
        vigie_trainer::evaluation::drift::RAMP_ROWS as f64,
    );
}

#[test]
fn stuck_sensor_is_caught_within_100_rows() {
    wine_catches(|feature| Scenario::Stuck { feature }, BOUND_STUCK_OR_NOISE);
}

#[test]
fn doubled_noise_is_caught_within_100_rows() {
    wine_catches(|feature| Scenario::Noise { feature }, BOUND_STUCK_OR_NOISE);
}

#[test]
fn decorrelated_pair_is_caught_by_the_reconstruction_error_within_400_rows() {
    let s = wine();
    let r = bench(s, decorrelated_pair(s));
    assert_caught(&r, BOUND_DECORRELATION_WINE, false);
    // The detector names the pair when the pair's residual stands out, and
    // nothing otherwise: a named input is one of the pair.
    let named = r.runs - r.unnamed;
    assert!(
        r.right_feature as f64 >= 0.8 * named as f64,
        "pair named in {}/{named}: {r:?}",
        r.right_feature
    );
}

#[test]
fn decorrelated_digits_pixels_are_caught_within_300_rows() {
    let s = digits();
    let r = bench(s, decorrelated_pair(s));
    assert_eq!(r.missed, 0, "{r:?}");
    assert!(
        r.median_delay.unwrap() <= BOUND_DECORRELATION_OR_CLASS_MIX,
        "{r:?}"
    );
}

#[test]
fn class_mix_change_is_caught_within_300_rows() {
    assert_caught(
        &bench(digits(), Scenario::ClassMix),
        BOUND_DECORRELATION_OR_CLASS_MIX,
        false,
    );
    assert_caught(
        &bench(wine(), Scenario::ClassMix),
        BOUND_DECORRELATION_OR_CLASS_MIX,
        false,
    );
}

#[test]
fn nan_burst_is_flagged_on_the_same_row() {
    let s = wine();
    let r = bench(s, Scenario::NanBurst { feature: s.feature });
    assert_caught(&r, 0.0, true);
    assert_eq!(r.p90_delay, Some(0.0));
}

/// Penguins has holes (two rows without any measurement; eleven without
/// `sex`, which is categorical and gets a "missing" level, not a NaN); a
/// model trained with `--impute` expects them.
fn penguins() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        setup_with("penguins.csv", "species", "body_mass_g", |a| {
            a.impute = Some(vigie_trainer::data::Impute::Median)
        })
    })
}

#[test]
fn holes_as_frequent_as_in_training_are_not_drift_for_a_model_that_imputes() {
    let (rate, by) = with_monitor(penguins(), |b| {
        // One or two of the about 275 reference rows (the other may be a
        // test row).
        let rate = b.monitor.def().missing_rate;
        assert!((0.003..0.008).contains(&rate), "{rate}");
        b.false_alarm_rate(STABLE_ROWS, 7).unwrap()
    });
    assert!(rate <= MAX_FALSE_ALARMS_PER_10K, "{rate} per 10k: {by:?}");
    // A hole is not a non-finite input for a model that fills it; the
    // missing-rate CUSUM may fire within the whole monitor's budget.
    assert!(!by.iter().any(|(d, _)| d == "guard-non-finite"), "{by:?}");
}

#[test]
fn a_sensor_that_drops_out_is_caught_by_the_missing_rate_and_named() {
    let s = penguins();
    let r = bench(s, Scenario::NanBurst { feature: s.feature });
    assert_caught(&r, BOUND_NAN_BURST_IMPUTED, true);
    assert!(
        r.detectors.iter().all(|(d, _)| d == "missing-rate"),
        "{r:?}"
    );
}

#[test]
fn digits_single_feature_drifts_are_caught_and_named() {
    let s = digits();
    for scenario in [
        Scenario::Offset {
            feature: s.feature,
            sigmas: 1.0,
        },
        Scenario::Offset {
            feature: s.feature,
            sigmas: 0.5,
        },
        Scenario::Stuck { feature: s.feature },
        Scenario::Noise { feature: s.feature },
    ] {
        let r = bench(s, scenario);
        assert_eq!(r.missed, 0, "{r:?}");
        assert!(r.right_feature as f64 >= 0.9 * r.runs as f64, "{r:?}");
    }
}

#[test]
fn wine_monitor_state_fits_in_4_kib() {
    with_monitor(wine(), |b| {
        let mon = b.monitor;
        assert!(
            mon.state_bytes() <= MAX_WINE_STATE_BYTES,
            "{} bytes",
            mon.state_bytes()
        );
    });
}

#[test]
fn state_and_report_serialize_with_postcard_for_sending_home() {
    with_monitor(wine(), |b| {
        let (model, mon, src) = (b.model, b.monitor, b.src);
        let mut state = vec![0.0f32; mon.state_len()];
        mon.reset(&mut state).unwrap();
        let mut arena = vec![0i8; model.arena_len()];
        let mut last = None;
        for &r in src.rows.iter().take(50) {
            let x = src.data.row(r);
            let c = model.run(x, &mut arena).unwrap().decide().unwrap();
            last = Some(
                mon.observe(&mut state, x, Some((c.index, c.probability)))
                    .unwrap(),
            );
        }
        let obs = last.unwrap();
        let bytes = postcard::to_allocvec(&obs).unwrap();
        assert_eq!(postcard::from_bytes::<Observation>(&bytes).unwrap(), obs);
        let saved = postcard::to_allocvec(&state).unwrap();
        let restored: Vec<f32> = postcard::from_bytes(&saved).unwrap();
        assert_eq!(restored, state);
        // A restored state carries on exactly like the original.
        let mut copy = restored;
        let x = src.data.row(src.rows[60]);
        let a = mon.observe(&mut state, x, None).unwrap();
        let b = mon.observe(&mut copy, x, None).unwrap();
        assert_eq!(a, b);
    });
}

#[test]
fn the_guard_warns_past_its_stated_margin_on_a_pixel_trained_on_0_to_16() {
    use vigie_core::format::read_f32;
    use vigie_core::monitor::{Detector, Level};
    use vigie_trainer::device::Memory;
    with_monitor(digits(), |b| {
        let def = b.monitor.def();
        let pixel = (0..def.features as usize)
            .find(|&f| read_f32(def.min, f) == 0.0 && read_f32(def.max, f) == 16.0)
            .expect("a pixel trained on 0..16");
        let row = b.src.data.row(b.src.rows[0]).to_vec();
        let guard_level = |value: f32| {
            let mut x = row.clone();
            x[pixel] = value;
            let mut memory = Memory::new(b.model, Some(b.monitor));
            let mut session = memory.session(b.model, Some(b.monitor)).unwrap();
            let obs = session.step(&x).unwrap().observation.unwrap();
            (obs.fired & Detector::GuardRange as u16 != 0, obs.level)
        };
        // Inside the range (16) and inside the 5% margin: nothing.
        assert!(!guard_level(16.0).0);
        // Past the margin, each of these warns (the first user's values).
        for v in [17.0, 40.0, 50.0, -1.0, -10.0, -30.0] {
            let (fired, level) = guard_level(v);
            assert!(fired, "{v} raised nothing");
            assert!(
                matches!(level, Level::Warning | Level::Drift),
                "{v}: {level:?}"
            );
        }
        // A gross excursion, 10 ranges out, is drift.
        assert_eq!(guard_level(16.0 + 10.0 * 16.0 + 1.0).1, Level::Drift);
    });
}

fn basicmotions() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        setup_with("basicmotions_train.csv", "activity", "gyr_y", |a| {
            a.test = Some(data_dir().join("basicmotions_test.csv"))
        })
    })
}

/// A gain on one axis of a wrist sensor hides in its mean (the axis
/// swings around zero) and, on its own, in its spread (which varies more
/// with the activity than ×2). Against the other axes' spreads it stands
/// out (`vigie_core::monitor::spread`).
#[test]
fn a_doubled_gain_on_one_window_channel_is_caught_within_10_windows_and_named() {
    let s = basicmotions();
    let r = bench(
        s,
        Scenario::Gain {
            feature: s.feature,
            gain: 2.0,
        },
    );
    assert_caught(&r, BOUND_WINDOW_GAIN_2, true);
}

#[test]
fn stable_basicmotions_stream_stays_under_one_false_alarm_per_10k_windows() {
    let s = basicmotions();
    let (rate, by) = with_monitor(s, |b| b.false_alarm_rate(STABLE_ROWS, 7).unwrap());
    assert!(rate <= MAX_FALSE_ALARMS_PER_10K, "{rate} per 10k: {by:?}");
}

/// The calibration replays run on every core, each block's random stream
/// started where one thread's single stream reaches it (`Rng::skipped`):
/// the thresholds, and so the monitor section, are the same on one thread
/// (the plain replay) as on several.
#[test]
fn monitor_calibration_is_the_same_on_one_thread_as_on_several() {
    use vigie_trainer::monitor_fit::{build, Options, MIN_SHIFT};
    let s = wine();
    let model = Model::from_bytes(&s.built.bytes).unwrap();
    let p = &s.built.prepared;
    let fit = |workers: usize| {
        let opts = Options {
            false_alarm_rate: 1e-4,
            min_shift: MIN_SHIFT,
            seed: 0,
            calibrate: true,
            held_out_rows: None,
            replay_workers: Some(workers),
        };
        build(&model, &p.data, &p.splits.train, &p.splits.val, opts, None)
            .unwrap()
            .section
    };
    let one = fit(1);
    assert!(one.len() > 100, "a calibrated section: {} bytes", one.len());
    assert_eq!(one, fit(2));
    assert_eq!(one, fit(3));
}
