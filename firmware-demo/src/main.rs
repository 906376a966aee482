//! vigie on a Cortex-M4F: a model and its drift monitor, loaded in place
//! from flash, replaying a recorded sensor stream whose second half has a
//! fault injected, with the costs of each step.
//!
//! By default the model is the BasicMotions 1-D CNN (smartwatch activity
//! recognition, 6 IMU channels × 100 samples); feature `digits` swaps in the
//! digits MLP and its stream, with this same code. Feature `adapt` runs
//! the BasicMotions CNN trained with `--adapt` on a 750-window stream
//! whose accelerometer gains a one-deviation offset from window 100: the
//! monitor raises drift, the session corrects the input after its settling
//! period, the accuracy comes back, and the correction is confirmed. The
//! files in `models/` are written by `./make-assets.sh` (the tests check
//! they are what it writes).
//!
//! Output, one line per window (see `vigie_core::replay::Step`), then a
//! summary and the costs. Exit status 0 when the clean windows raised no
//! drift alarm and the faulty ones raised one within [`DRIFT_BOUND`]
//! windows.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use vigie_core::replay::{self, Replay};
use vigie_core::{Error, Session};

mod bench;
mod clock;
mod out;
mod stack;
mod uart;

use out::{finish, say};

#[cfg(not(any(feature = "digits", feature = "adapt")))]
mod assets {
    pub const NAME: &str = "BasicMotions 1-D CNN";
    pub static MODEL: &[u8] = include_bytes!("../models/basicmotions.vigie");
    pub static STREAM: &[u8] = include_bytes!("../models/basicmotions.replay");
}

#[cfg(feature = "digits")]
mod assets {
    pub const NAME: &str = "digits MLP";
    pub static MODEL: &[u8] = include_bytes!("../models/digits.vigie");
    pub static STREAM: &[u8] = include_bytes!("../models/digits.replay");
}

#[cfg(all(feature = "adapt", not(feature = "digits")))]
mod assets {
    pub const NAME: &str = "BasicMotions 1-D CNN with adaptation";
    pub static MODEL: &[u8] = include_bytes!("../models/basicmotions-adapt.vigie");
    pub static STREAM: &[u8] = include_bytes!("../models/basicmotions-adapt.replay");
}

#[cfg(all(feature = "adapt", feature = "digits"))]
compile_error!("choose one model: `digits` or `adapt`");

/// The embedded model's buffer sizes, read from the file by `build.rs`:
/// `ARENA` bytes, `MONITOR_STATE` floats, `INPUT` floats, `CHANNELS`,
/// `ADAPTATION_STATE` floats.
mod sizes {
    include!(concat!(env!("OUT_DIR"), "/sizes.rs"));
}
use sizes::{ADAPTATION_STATE, ARENA, CHANNELS, INPUT, MONITOR_STATE, RAW_INPUT};

/// `PUBLIC_KEY`, read by `build.rs` from `keys/demo.key.pub`: the firmware
/// runs only models signed with its secret half.
mod key {
    include!(concat!(env!("OUT_DIR"), "/key.rs"));
}

// The replayed windows are the model's inputs as they are: its training
// file had no text columns to encode (`vigie_core::encoding`).
const _: () = assert!(
    RAW_INPUT == INPUT,
    "this firmware does not encode text columns"
);

/// Windows after the fault within which drift must be raised.
pub const DRIFT_BOUND: usize = 10;
/// Whether the embedded model corrects its inputs after a confirmed drift
/// (it has an adaptation section).
const ADAPTS: bool = ADAPTATION_STATE != 0;

/// With adaptation: the largest loss of accuracy after the correction
/// against before the fault, in windows per hundred (the 2
/// points).
pub const RECOVERY_POINTS: usize = 2;
/// This device's number in its reports (`vigie replay --frames` makes the
/// same frames with `--device 1`).
pub const DEVICE: u32 = 1;
/// Its boot number: a real device counts its boots in flash, so that its
/// reports of each boot are told apart; the demo boots once.
pub const BOOT: u32 = 0;

#[entry]
fn main() -> ! {
    stack::paint();
    let clock = clock::Clock::start(cortex_m::Peripherals::take().expect("taken once"));
    // Static RAM: the arena, the monitor state and one input window.
    let arena = cortex_m::singleton!(: [i8; ARENA] = [0; ARENA]).expect("once");
    let state = cortex_m::singleton!(: [f32; MONITOR_STATE] = [0.0; MONITOR_STATE]).expect("once");
    // The adaptation's moments and corrected input (none without an
    // adaptation section).
    let adaptation =
        cortex_m::singleton!(: [f32; ADAPTATION_STATE] = [0.0; ADAPTATION_STATE]).expect("once");
    let input = cortex_m::singleton!(: [f32; INPUT] = [0.0; INPUT]).expect("once");
    // For the occlusion attribution: an occluded copy of the input, and a
    // baseline and an attribution per channel.
    let scratch = cortex_m::singleton!(: [f32; INPUT] = [0.0; INPUT]).expect("once");
    let explain = cortex_m::singleton!(: [f32; 2 * CHANNELS] = [0.0; 2 * CHANNELS]).expect("once");
    let buffers = replay::Buffers {
        input,
        scratch,
        explain,
    };
    match replay_stream(&clock, arena, state, adaptation, buffers) {
        Ok(ok) => finish(ok),
        Err(e) => {
            say!("error: {}", e);
            finish(false)
        }
    }
}

fn replay_stream(
    clock: &clock::Clock,
    arena: &mut [i8],
    state: &mut [f32],
    adaptation: &mut [f32],
    buffers: replay::Buffers<'_>,
) -> Result<bool, Error> {
    // Only a model signed with the trusted key runs.
    let t0 = clock.now();
    vigie_core::signature::verify(assets::MODEL, &key::PUBLIC_KEY)?;
    say!(
        "signature: Ed25519, signed by the embedded key, verified in {} {}",
        clock.to_units(clock.now().wrapping_sub(t0)),
        clock::UNIT
    );
    // Where an inference's instructions go, layer by layer, on the
    // stream's first window (before the session takes the arena).
    layer_split(clock, arena, buffers.input)?;
    let t0 = clock.now();
    // Loads and validates the model and its monitor in place, and binds
    // them to the static buffers.
    let mut session = Session::from_bytes(assets::MODEL, arena, state)?;
    if ADAPTS {
        // Corrects one or two inputs that moved, after a confirmed drift.
        session = session.with_adaptation(adaptation)?;
    }
    let load = clock.to_units(clock.now().wrapping_sub(t0));
    let model = session.model().clone();
    let state_bytes = session.monitor().map_or(0, |m| m.state_bytes());
    let stream = Replay::from_bytes(assets::STREAM)?;
    say!(
        "model: {}, {} bytes, {} MACs, arena {} bytes, monitor state {} bytes, adaptation state {} bytes, loaded and validated in {} {}",
        assets::NAME,
        assets::MODEL.len(),
        model.macs(),
        model.arena_len(),
        state_bytes,
        4 * ADAPTATION_STATE,
        load,
        clock::UNIT
    );
    say!(
        "stream: {} windows of {} values, fault from window {:?} on channel {:?}",
        stream.len(),
        stream.values_per_window(),
        stream.fault_from(),
        stream
            .fault_channel()
            .and_then(|c| model.input_names().get(c as usize))
    );
    if let Some((gain, offset)) = stream.drawn_fault() {
        say!(
            "stream: each window one of {} recorded ones, drawn at random; the fault is x * {} + {}",
            stream.recorded(),
            gain,
            offset
        );
    }
    let (mut infer, mut watch, mut explain_cost) = (0u64, 0u64, 0);
    // A report home when a drift episode starts or ends, and one at the
    // end with the counters: frames on the UART.
    uart::init();
    let mut reporter = vigie_core::report::Reporter::new(DEVICE, BOOT, assets::MODEL);
    let mut frame = [0u8; vigie_core::report::FRAME_MAX];
    let mut frames = 0;
    let mut send = |r: &vigie_core::report::Report| match vigie_core::report::frame(r, &mut frame) {
        Ok(f) => {
            uart::send(f);
            frames += 1;
        }
        Err(e) => say!("error: {}", e),
    };
    let arena_bytes = ARENA;
    let summary = replay::run(
        &mut session,
        &stream,
        buffers,
        &mut || clock.now(),
        &mut |e| match e {
            replay::Event::Step(step) => {
                say!("{}", step);
                for r in &replay::report(&mut reporter, step) {
                    send(r);
                }
                infer += u64::from(clock.to_units(step.inference_ticks));
                watch += u64::from(clock.to_units(step.monitor_ticks));
            }
            // Which inputs the prediction at the alarm rests on.
            replay::Event::Explained(e, ticks) => {
                say!("{}", e);
                explain_cost = clock.to_units(ticks);
            }
        },
    )?;
    send(&reporter.period(stream.len().saturating_sub(1) as u32));
    say!("summary: {}", summary);
    say!(
        "reports: {} frames on the UART (at most {} bytes each)",
        frames,
        vigie_core::report::FRAME_MAX
    );
    say!(
        "cost: occlusion attribution of one window {} {}",
        explain_cost,
        clock::UNIT
    );

    let n = stream.len().max(1) as u64;
    let per_inference = infer / n;
    if ADAPTS {
        say!(
            "cost: step with adaptation (tracking, correction, inference, monitor) {} {} per window",
            per_inference,
            clock::UNIT
        );
    } else {
        say!(
            "cost: inference {} {} ({} per MAC), monitor update {} {} per window",
            per_inference,
            clock::UNIT,
            bench::PerMac(per_inference, model.macs()),
            watch / n,
            clock::UNIT
        );
    }
    let kernels = [
        bench::dense(clock),
        bench::conv(clock),
        bench::quantiles(clock),
        bench::trees(clock),
    ];
    for k in &kernels {
        say!("cost: {}", k);
    }
    let sweep = bench::sweep();
    say!(
        "kernels: fast equal to reference on {} of {} shapes",
        sweep.equal,
        sweep.shapes
    );
    say!(
        "memory: static RAM {} bytes (arena {}, monitor state {}, adaptation state {}, input {}, attribution buffers {}), stack peak {} bytes, flash model {} bytes, stream {} bytes",
        stack::static_bytes(),
        arena_bytes,
        4 * MONITOR_STATE,
        4 * ADAPTATION_STATE,
        4 * stream.values_per_window(),
        4 * (INPUT + 2 * CHANNELS),
        stack::peak(),
        assets::MODEL.len(),
        assets::STREAM.len()
    );
    let ok = kernels.iter().all(|k| k.equal)
        && sweep.equal == sweep.shapes
        && summary.false_alarms == 0
        && summary.delay().is_some_and(|d| d <= DRIFT_BOUND)
        && (!ADAPTS || recovered(&summary));
    say!("result: {}", if ok { "ok" } else { "FAILED" });
    Ok(ok)
}

/// With adaptation: the correction was applied and confirmed, never
/// rolled back, and the accuracy while it was in force is within
/// [`RECOVERY_POINTS`] of the accuracy before the fault.
fn recovered(s: &replay::Summary) -> bool {
    // a/b ≥ c/d − p/100, in integers: 100·a·d + p·b·d ≥ 100·c·b (in u64:
    // a stream of 13,000 windows would overflow 32 bits).
    let [a, b, c, d] = [
        s.corrected_correct,
        s.corrected_windows,
        s.clean_correct,
        s.clean_windows,
    ]
    .map(|v| v as u64);
    let p = RECOVERY_POINTS as u64;
    s.corrected_at.is_some()
        && s.confirmed_at.is_some()
        && s.rolled_back_at.is_none()
        && b > 0
        && d > 0
        && 100 * a * d + p * b * d >= 100 * c * b
}

/// Prints one inference's cost split by layer: each layer's kind, MACs,
/// cost and cost per MAC, from a counter read after every layer
/// ([`vigie_core::Model::run_quantized_traced`]), and the input
/// quantization before them.
fn layer_split(clock: &clock::Clock, arena: &mut [i8], input: &mut [f32]) -> Result<(), Error> {
    let model = vigie_core::Model::from_bytes(assets::MODEL)?;
    let stream = Replay::from_bytes(assets::STREAM)?;
    stream.window(0, input)?;
    let mut at = [0u32; vigie_core::format::MAX_LAYERS + 1];
    let t0 = clock.now();
    model.quantize_input(input, arena)?;
    at[0] = clock.now();
    let mut next = 1;
    model.run_quantized_traced(arena, &mut |_| {
        if let Some(t) = at.get_mut(next) {
            *t = clock.now();
            next += 1;
        }
    })?;
    say!(
        "cost by layer: input quantization {} {}",
        clock.to_units(at[0].wrapping_sub(t0)),
        clock::UNIT
    );
    for i in 0..model.def().layers.len() {
        let cost = clock.to_units(at[i + 1].wrapping_sub(at[i]));
        say!(
            "cost by layer: {} {} {} {}{}",
            i,
            model.layer_kind(i).unwrap_or("?"),
            cost,
            clock::UNIT,
            LayerMacs(cost, model.layer_macs(i).unwrap_or(0))
        );
    }
    Ok(())
}

/// A layer's MACs and cost per MAC, ` (N MACs, x per MAC)`, for a layer
/// with MACs; nothing otherwise.
struct LayerMacs(u32, u64);

impl core::fmt::Display for LayerMacs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let LayerMacs(cost, macs) = *self;
        if macs == 0 {
            return Ok(());
        }
        write!(
            f,
            " ({} MACs, {} per MAC)",
            macs,
            bench::PerMac(cost.into(), macs)
        )
    }
}
