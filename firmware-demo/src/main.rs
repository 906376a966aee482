//! vigie on a Cortex-M4F: a model and its drift monitor, loaded in place
//! from flash, replaying a recorded sensor stream whose second half has a
//! fault injected, with the costs of each step.
//!
//! By default the model is the BasicMotions 1-D CNN (smartwatch activity
//! recognition, 6 IMU channels × 100 samples); feature `digits` swaps in the
//! digits MLP and its stream, with this same code. Both pairs of files in
//! `models/` are written by `./make-assets.sh` (the tests check they are
//! what it writes).
//!
//! Output, one line per window (see `vigie_core::replay::Step`), then a
//! summary and the costs. Exit status 0 when the clean windows raised no
//! drift alarm and the faulty ones raised one within [`DRIFT_BOUND`]
//! windows.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use vigie_core::monitor::Monitor;
use vigie_core::replay::{self, Replay, Summary};
use vigie_core::{Error, Model};

mod bench;
mod clock;
mod out;
mod stack;

use out::{finish, say};

#[cfg(not(feature = "digits"))]
mod assets {
    pub const NAME: &str = "BasicMotions 1-D CNN";
    pub static MODEL: &[u8] = include_bytes!("../models/basicmotions.vigie");
    pub static STREAM: &[u8] = include_bytes!("../models/basicmotions.replay");
    /// Arena bytes (the model asks for 2,400).
    pub const ARENA: usize = 2560;
    /// Monitor state, in floats (the model asks for 230).
    pub const STATE: usize = 256;
    /// Values per window.
    pub const INPUT: usize = 600;
    /// Input channels.
    pub const CHANNELS: usize = 6;
}

#[cfg(feature = "digits")]
mod assets {
    pub const NAME: &str = "digits MLP";
    pub static MODEL: &[u8] = include_bytes!("../models/digits.vigie");
    pub static STREAM: &[u8] = include_bytes!("../models/digits.replay");
    /// Arena bytes (the model asks for 128).
    pub const ARENA: usize = 128;
    /// Monitor state, in floats (the model asks for 2,382).
    pub const STATE: usize = 2400;
    /// Values per window.
    pub const INPUT: usize = 64;
    /// Input channels.
    pub const CHANNELS: usize = 64;
}

/// Windows after the fault within which drift must be raised.
pub const DRIFT_BOUND: usize = 10;

#[entry]
fn main() -> ! {
    stack::paint();
    let clock = clock::Clock::start(cortex_m::Peripherals::take().expect("taken once"));
    // Static RAM: the arena, the monitor state and one input window.
    let arena = cortex_m::singleton!(: [i8; assets::ARENA] = [0; assets::ARENA]).expect("once");
    let state = cortex_m::singleton!(: [f32; assets::STATE] = [0.0; assets::STATE]).expect("once");
    let input = cortex_m::singleton!(: [f32; assets::INPUT] = [0.0; assets::INPUT]).expect("once");
    // For the occlusion attribution: an occluded copy of the input, and a
    // baseline and an attribution per channel.
    let scratch =
        cortex_m::singleton!(: [f32; assets::INPUT] = [0.0; assets::INPUT]).expect("once");
    let explain = cortex_m::singleton!(: [f32; 2 * assets::CHANNELS] = [0.0; 2 * assets::CHANNELS])
        .expect("once");
    let buffers = Buffers {
        arena,
        state,
        input,
        scratch,
        explain,
    };
    match replay_stream(&clock, buffers) {
        Ok(ok) => finish(ok),
        Err(e) => {
            say!("error: {}", e);
            finish(false)
        }
    }
}

/// The static RAM the replay works in.
struct Buffers<'b> {
    arena: &'b mut [i8],
    state: &'b mut [f32],
    input: &'b mut [f32],
    scratch: &'b mut [f32],
    explain: &'b mut [f32],
}

fn replay_stream(clock: &clock::Clock, b: Buffers<'_>) -> Result<bool, Error> {
    let Buffers {
        arena,
        state,
        input,
        scratch,
        explain: explain_buffers,
    } = b;
    let t0 = clock.now();
    let model = Model::from_bytes(assets::MODEL)?;
    let monitor = Monitor::from_model(&model)?;
    let load = clock.to_units(clock.now().wrapping_sub(t0));
    let stream = Replay::from_bytes(assets::STREAM)?;
    say!(
        "model: {}, {} bytes, {} MACs, arena {} bytes, monitor state {} bytes, loaded and validated in {} {}",
        assets::NAME,
        assets::MODEL.len(),
        model.macs(),
        model.arena_len(),
        monitor.as_ref().map_or(0, |m| m.state_bytes()),
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
    let found = input.len();
    let input = input
        .get_mut(..stream.values_per_window())
        .ok_or(Error::RunInputLength {
            expected: stream.values_per_window(),
            found,
        })?;
    let state = match &monitor {
        Some(m) => {
            let found = 4 * state.len();
            let state = state
                .get_mut(..m.state_len())
                .ok_or(Error::RunArenaTooSmall {
                    needed: m.state_bytes(),
                    found,
                })?;
            m.reset(state)?;
            Some(state)
        }
        None => None,
    };
    let mut state = state;
    let mut summary = Summary::new(&stream);
    let (mut infer, mut watch) = (0u64, 0u64);
    let mut explain_cost = 0;
    let mut now = || clock.now();
    for w in 0..stream.len() {
        let label = stream.window(w, input)?;
        let monitored = monitor.as_ref().zip(state.as_deref_mut());
        let step = replay::step(&model, monitored, arena, w, input, label, &mut now)?;
        say!("{}", step);
        summary.add(&step);
        if let (Some(m), true) = (&monitor, summary.drift_at == Some(w)) {
            // Which inputs the prediction at the alarm rests on.
            let channels = model.input_shape().channels as usize;
            let (baseline, attributions) = explain_buffers.split_at_mut(channels);
            let t = clock.now();
            let e = replay::explain(
                &model,
                m,
                w,
                input,
                &mut scratch[..input.len()],
                baseline,
                &mut attributions[..channels],
                arena,
            )?;
            explain_cost = clock.to_units(clock.now().wrapping_sub(t));
            say!("{}", e);
        }
        infer += u64::from(clock.to_units(step.inference_ticks));
        watch += u64::from(clock.to_units(step.monitor_ticks));
    }
    say!("summary: {}", summary);
    say!(
        "cost: occlusion attribution of one window {} {}",
        explain_cost,
        clock::UNIT
    );

    let n = stream.len().max(1) as u64;
    let per_inference = infer / n;
    say!(
        "cost: inference {} {} ({}.{:02} per MAC), monitor update {} {} per window",
        per_inference,
        clock::UNIT,
        per_inference / model.macs().max(1),
        per_inference * 100 / model.macs().max(1) % 100,
        watch / n,
        clock::UNIT
    );
    let (fast, reference, equal) = bench::dense(clock);
    say!(
        "cost: dense 256x64 kernel {} {} ({}.{:02} per MAC), reference kernel {} ({}.{:02} per MAC), outputs {}",
        fast,
        clock::UNIT,
        fast / bench::MACS,
        fast * 100 / bench::MACS % 100,
        reference,
        reference / bench::MACS,
        reference * 100 / bench::MACS % 100,
        if equal { "equal" } else { "DIFFERENT" }
    );
    let (conv_fast, conv_reference, conv_equal) = bench::conv(clock);
    say!(
        "cost: conv1d 16x50 k5 -> 16 kernel {} {} ({}.{:02} per MAC), reference kernel {} ({}.{:02} per MAC), outputs {}",
        conv_fast,
        clock::UNIT,
        conv_fast / bench::CONV_MACS,
        conv_fast * 100 / bench::CONV_MACS % 100,
        conv_reference,
        conv_reference / bench::CONV_MACS,
        conv_reference * 100 / bench::CONV_MACS % 100,
        if conv_equal { "equal" } else { "DIFFERENT" }
    );
    say!(
        "memory: static RAM {} bytes (arena {}, monitor state {}, input {}, attribution buffers {}), stack peak {} bytes, flash model {} bytes, stream {} bytes",
        stack::static_bytes(),
        arena.len(),
        4 * state.as_ref().map_or(0, |s| s.len()),
        4 * input.len(),
        4 * (assets::INPUT + 2 * assets::CHANNELS),
        stack::peak(),
        assets::MODEL.len(),
        assets::STREAM.len()
    );
    let ok =
        equal && summary.false_alarms == 0 && summary.delay().is_some_and(|d| d <= DRIFT_BOUND);
    say!("result: {}", if ok { "ok" } else { "FAILED" });
    Ok(ok)
}
