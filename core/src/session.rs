//! The device's loop in one object: a validated model, its monitor and its
//! decision rules bound once to the caller's memory, then one
//! [`Session::step`] per input.
//!
//! A step runs inference, takes the model's one decision
//! ([`crate::Output::decide`]: temperature, cost matrix, abstention), feeds
//! the monitor that same decision, and reports a *latched* alarm: once the
//! monitor raises drift, every step says "drifting since step N, on feature
//! F" until the application calls [`Session::acknowledge`] or no detector
//! raises drift for [`crate::monitor::Monitor::recovery_samples`] steps. The
//! monitor's thresholds were calibrated by the trainer through this same
//! step, so what the device sees is what the monitor was fitted on.
//!
//! ```
//! use vigie_core::{Session, Sizes};
//! # fn demo() -> Result<(), vigie_core::Error> {
//! # static MODEL: &[u8] = include_bytes!("../../firmware-demo/models/digits.vigie");
//! // Sizes are known before any buffer exists (a build script can emit
//! // them as constants: `vigie_core::session::sizes::rust_constants`,
//! // feature `alloc` of vigie-core as a build-dependency).
//! let sizes = Sizes::of(MODEL)?;
//! let mut arena = [0i8; 512];            // ≥ sizes.arena bytes (statics on a device)
//! let mut state = [0.0f32; 4096];        // ≥ sizes.monitor_state floats
//! let mut session = Session::from_bytes(MODEL, &mut arena, &mut state)?;
//! let input = [0.0f32; 64];              // sizes.input raw values, channel-major
//! let step = session.step(&input)?;
//! if let Some(d) = step.decision() {
//!     if !d.abstained { /* act on d.index, d.name */ }
//! }
//! if let Some(alarm) = step.alarm {
//!     // drifting since step `alarm.since`, named features in `alarm.features`
//!     let _ = alarm;
//! }
//! # Ok(()) }
//! # demo().unwrap();
//! ```

use crate::decision::Decision;
use crate::error::Buffer;
use crate::monitor::{Detector, Level, Monitor, Observation, MAX_NAMED};
use crate::{Error, Model, Output, Task};

/// The memory a model and its monitor need, read from the file alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Bytes of inference arena.
    pub arena: usize,
    /// Floats of monitor state (0 without a monitor).
    pub monitor_state: usize,
    /// Input values per inference (`channels × length`): what
    /// [`Session::step`] takes.
    pub input: usize,
    /// Raw values per row before encoding: one per column of the training
    /// file when the model has text (categorical) columns, which
    /// [`crate::encoding::Encoding::encode`] turns into `input` values;
    /// `input` otherwise.
    pub raw_input: usize,
    /// Input channels (features).
    pub channels: usize,
    /// Floats of adaptation state for [`Session::with_adaptation`] (0
    /// when the model has no adaptation section).
    pub adaptation: usize,
}

impl Sizes {
    /// Loads and validates a model file and returns what it needs.
    pub fn of(bytes: &[u8]) -> Result<Sizes, Error> {
        let model = Model::from_bytes(bytes)?;
        let monitor = Monitor::from_model(&model)?;
        crate::adapt::Adapter::from_model(&model)?;
        Ok(Sizes::of_model(&model, monitor.as_ref()))
    }

    /// What a loaded model and its monitor need.
    pub fn of_model(model: &Model<'_>, monitor: Option<&Monitor<'_>>) -> Sizes {
        let raw_input = crate::encoding::Encoding::from_model(model)
            .ok()
            .flatten()
            .map_or(model.input_len(), |e| e.raw_len());
        Sizes {
            arena: model.arena_len(),
            monitor_state: monitor.map_or(0, Monitor::state_len),
            input: model.input_len(),
            raw_input,
            channels: model.input_shape().channels as usize,
            adaptation: crate::adapt::Adapter::from_model(model)
                .ok()
                .flatten()
                .map_or(0, |a| a.state_len()),
        }
    }
}

/// Rust source with a model's sizes as constants, for a firmware's build
/// script: `ARENA` (bytes), `MONITOR_STATE` (floats), `INPUT` and
/// `RAW_INPUT` (floats) and `CHANNELS`, each prefixed by `prefix`.
#[cfg(feature = "alloc")]
pub mod sizes {
    use super::Sizes;
    use crate::Error;

    /// The constants' source text.
    pub fn rust_constants(bytes: &[u8], prefix: &str) -> Result<alloc::string::String, Error> {
        let s = Sizes::of(bytes)?;
        Ok(alloc::format!(
            "/// Bytes of inference arena the model needs.\n\
             pub const {prefix}ARENA: usize = {};\n\
             /// Floats of monitor state the model needs.\n\
             pub const {prefix}MONITOR_STATE: usize = {};\n\
             /// Input values per inference (what `Session::step` takes).\n\
             pub const {prefix}INPUT: usize = {};\n\
             /// Raw values per row before `Encoding::encode` (= INPUT without text columns).\n\
             pub const {prefix}RAW_INPUT: usize = {};\n\
             /// Input channels.\n\
             pub const {prefix}CHANNELS: usize = {};\n\
             /// Floats of adaptation state (`Session::with_adaptation`; 0 without an adaptation section).\n\
             pub const {prefix}ADAPTATION_STATE: usize = {};\n",
            s.arena.max(1),
            s.monitor_state.max(1),
            s.input,
            s.raw_input,
            s.channels,
            s.adaptation
        ))
    }
}

/// How inference went for one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Inference {
    /// The model ran on the input as given.
    Ran,
    /// Some values were missing (NaN) and the model imputed them with its
    /// stored training values.
    Imputed {
        /// How many values were imputed.
        missing: u32,
    },
    /// Inference was skipped: a value was infinite, or missing in a model
    /// without imputation values. The monitor still saw the input.
    Skipped {
        /// Index of the first value that stopped it.
        index: u32,
    },
}

/// What the model answered for one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer<'a> {
    /// A classifier's decision.
    Class(Decision<'a>),
    /// A regression's first output value.
    Value(f32),
}

/// Inference and the decision, without the monitor: what
/// [`Session::infer`] returns and [`Session::watch`] takes. It owns no
/// buffer, so a host can keep it (the trainer's calibration replay does).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inferred<'a> {
    /// How inference went.
    pub inference: Inference,
    /// The answer, `None` when inference was skipped.
    pub answer: Option<Answer<'a>>,
}

impl<'a> Answer<'a> {
    /// The classifier's decision (`None` for a regression, or for no answer).
    pub fn decision<'s>(answer: &'s Option<Answer<'a>>) -> Option<&'s Decision<'a>> {
        match answer {
            Some(Answer::Class(d)) => Some(d),
            _ => None,
        }
    }
}

impl<'a> Inferred<'a> {
    /// The classifier's decision, if any.
    pub fn decision(&self) -> Option<&Decision<'a>> {
        Answer::decision(&self.answer)
    }
}

/// A latched drift alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    /// The step at which drift was first raised.
    pub since: u32,
    /// The detector that raised it.
    pub detector: Detector,
    /// The input channels it named, most suspicious first.
    pub features: heapless::Vec<u16, MAX_NAMED>,
    /// The last step at which a detector raised drift.
    pub last: u32,
}

/// What the monitor made of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// This step's raw detector events (`None` without a monitor).
    pub observation: Option<Observation>,
    /// The latched alarm, if drift was raised and not yet cleared.
    pub alarm: Option<Alarm>,
}

/// One step: the decision, the output tensor, the monitor's observation
/// and the latched alarm.
#[derive(Debug, Clone)]
pub struct Step<'a, 'r> {
    /// Steps since the session was bound or reset (0-based).
    pub index: u32,
    /// How inference went.
    pub inference: Inference,
    /// The answer (`None` when inference was skipped).
    pub answer: Option<Answer<'a>>,
    /// The raw output tensor (`None` when inference was skipped).
    pub output: Option<Output<'a, 'r>>,
    /// This step's raw detector events (`None` without a monitor).
    pub observation: Option<Observation>,
    /// The latched drift alarm: set from the step drift was raised until
    /// acknowledged or recovered, whatever this step's own level.
    pub alarm: Option<Alarm>,
    /// What the adaptation did at this step ([`Session::with_adaptation`]).
    pub adaptation: Option<crate::adapt::Event>,
    /// Whether the model and the monitor saw the adaptation's corrected
    /// input at this step (not the raw one).
    pub corrected: bool,
}

impl<'a> Step<'a, '_> {
    /// The classifier's decision (`None` for regression or when skipped).
    pub fn decision(&self) -> Option<&Decision<'a>> {
        Answer::decision(&self.answer)
    }

    /// This step's own level (stable without a monitor).
    pub fn level(&self) -> Level {
        self.observation.as_ref().map_or(Level::Stable, |o| o.level)
    }

    /// Whether a drift alarm is latched.
    pub fn drifting(&self) -> bool {
        self.alarm.is_some()
    }
}

/// A model, its monitor and its decision rules, bound to the caller's
/// memory. See the [module documentation](self).
#[derive(Debug)]
pub struct Session<'a, 'b> {
    model: Model<'a>,
    monitor: Option<Monitor<'a>>,
    arena: &'b mut [i8],
    state: &'b mut [f32],
    steps: u32,
    alarm: Option<Alarm>,
    quiet: u32,
    /// Inputs that can be missing: all but a categorical column's one-hot
    /// channels.
    numeric_inputs: u32,
    /// Adaptation after a confirmed drift, when asked for.
    adapter: Option<crate::adapt::Adapter<'a>>,
    adapt_state: &'b mut [f32],
}

impl<'a, 'b> Session<'a, 'b> {
    /// Loads a model file with its monitor (if it has one) and binds it.
    pub fn from_bytes(
        bytes: &'a [u8],
        arena: &'b mut [i8],
        state: &'b mut [f32],
    ) -> Result<Self, Error> {
        let model = Model::from_bytes(bytes)?;
        let monitor = Monitor::from_model(&model)?;
        Self::new(model, monitor, arena, state)
    }

    /// Binds a model and an optional monitor to an arena of at least
    /// [`Model::arena_len`] bytes and a monitor state of at least
    /// [`Monitor::state_len`] floats (any length without a monitor), and
    /// resets the state.
    pub fn new(
        model: Model<'a>,
        monitor: Option<Monitor<'a>>,
        arena: &'b mut [i8],
        state: &'b mut [f32],
    ) -> Result<Self, Error> {
        Buffer::Arena.check(model.arena_len(), arena.len())?;
        if let Some(m) = &monitor {
            Buffer::MonitorState.check(m.state_len(), state.len())?;
        }
        let numeric_inputs = match crate::encoding::Encoding::from_model(&model)? {
            Some(e) => e
                .def()
                .columns
                .iter()
                .filter(|c| !c.is_categorical())
                .count() as u32,
            None => model.input_len() as u32,
        };
        let mut session = Session {
            numeric_inputs,
            model,
            monitor,
            arena,
            state,
            steps: 0,
            alarm: None,
            quiet: 0,
            adapter: None,
            adapt_state: &mut [],
        };
        session.reset()?;
        Ok(session)
    }

    /// Turns on adaptation after a confirmed drift ([`crate::adapt`]),
    /// with its state in `state` (at least
    /// [`crate::adapt::Adapter::state_len`] floats). The model needs an
    /// adaptation section (`vigie train --adapt`).
    pub fn with_adaptation(mut self, state: &'b mut [f32]) -> Result<Self, Error> {
        // It acts on the monitor's alarms: without a monitor it would never
        // act.
        if self.monitor.is_none() {
            return Err(Error::AdaptationMissing);
        }
        let mut adapter =
            crate::adapt::Adapter::from_model(&self.model)?.ok_or(Error::AdaptationMissing)?;
        adapter.reset(state)?;
        self.adapter = Some(adapter);
        self.adapt_state = state;
        Ok(self)
    }

    /// The adaptation, when turned on.
    pub fn adapter(&self) -> Option<&crate::adapt::Adapter<'a>> {
        self.adapter.as_ref()
    }

    /// Channel `c`'s correction in force, `(gain, offset)` (`(1, 0)`
    /// when none).
    pub fn correction(&self, c: usize) -> (f32, f32) {
        match &self.adapter {
            Some(a) if a.correcting(self.adapt_state) => a.correction(self.adapt_state, c),
            _ => (1.0, 0.0),
        }
    }

    /// Removes the correction in force: the model and the monitor see the
    /// raw inputs again, and the monitor starts over.
    pub fn undo_adaptation(&mut self) -> Result<(), Error> {
        if let Some(a) = &mut self.adapter {
            a.undo(self.adapt_state);
            if let Some(m) = &self.monitor {
                m.reset(self.state)?;
            }
            self.alarm = None;
            self.quiet = 0;
        }
        Ok(())
    }

    /// The model.
    pub fn model(&self) -> &Model<'a> {
        &self.model
    }

    /// The monitor, if bound.
    pub fn monitor(&self) -> Option<&Monitor<'a>> {
        self.monitor.as_ref()
    }

    /// The sizes of what is bound.
    pub fn sizes(&self) -> Sizes {
        Sizes::of_model(&self.model, self.monitor.as_ref())
    }

    /// Steps since binding or the last reset.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// The latched alarm, if any.
    pub fn alarm(&self) -> Option<&Alarm> {
        self.alarm.as_ref()
    }

    /// Back to the reference: the monitor's evidence, the latched alarm and
    /// the step count are cleared.
    pub fn reset(&mut self) -> Result<(), Error> {
        if let Some(m) = &self.monitor {
            m.reset(self.state)?;
        }
        self.steps = 0;
        self.alarm = None;
        self.quiet = 0;
        if let Some(a) = &mut self.adapter {
            a.reset(self.adapt_state)?;
        }
        Ok(())
    }

    /// The application has seen the alarm (and, say, recalibrated the
    /// sensor): the latch clears, the monitor keeps its evidence.
    pub fn acknowledge(&mut self) {
        self.alarm = None;
        self.quiet = 0;
    }

    /// Runs one input (raw values, channel-major) through the model and
    /// its monitor.
    pub fn step(&mut self, input: &[f32]) -> Result<Step<'a, '_>, Error> {
        // The adaptation's buffer is taken out while it lends the
        // corrected input, and always put back.
        let adapt_state = core::mem::take(&mut self.adapt_state);
        let done = self.step_adapted(adapt_state, input);
        self.adapt_state = adapt_state;
        let (inferred, verdict, adaptation, corrected) = done?;
        let output = match inferred.inference {
            Inference::Skipped { .. } => None,
            _ => Some(self.model.last_output(self.arena)?),
        };
        Ok(Step {
            index: self.steps.wrapping_sub(1),
            inference: inferred.inference,
            answer: inferred.answer,
            output,
            observation: verdict.observation,
            alarm: verdict.alarm,
            adaptation,
            corrected,
        })
    }

    /// [`Session::step`]'s work: the adaptation tracks the raw input and
    /// lends its correction, the model and the monitor see the corrected
    /// input, and the adaptation moves on with what the monitor said.
    #[allow(clippy::type_complexity)]
    fn step_adapted(
        &mut self,
        adapt_state: &mut [f32],
        input: &[f32],
    ) -> Result<(Inferred<'a>, Verdict, Option<crate::adapt::Event>, bool), Error> {
        let corrected = match &self.adapter {
            Some(a) => {
                a.track(adapt_state, input);
                a.corrected(adapt_state, input)
            }
            None => None,
        };
        let was_corrected = corrected.is_some();
        let used = corrected.unwrap_or(input);
        let inferred = self.infer(used)?;
        let mut verdict = self.watch(used, &inferred)?;
        let index = self.steps.wrapping_sub(1);
        let event = match &mut self.adapter {
            Some(a) => a.update(adapt_state, index, self.alarm.as_ref()),
            None => None,
        };
        if let Some(e) = &event {
            let applied = matches!(e, crate::adapt::Event::Applied { .. });
            if applied || matches!(e, crate::adapt::Event::RolledBack) {
                // The monitor starts again on the inputs the model now
                // sees. A rollback keeps the alarm that caused it latched.
                if let Some(m) = &self.monitor {
                    m.reset(self.state)?;
                }
                if applied {
                    self.alarm = None;
                    self.quiet = 0;
                    verdict.alarm = None;
                }
            }
        }
        Ok((inferred, verdict, event, was_corrected))
    }

    /// The first half of [`Session::step`]: inference and the decision
    /// ([`Session::run`], then [`Session::decide`]). The output tensor
    /// stays in the arena ([`Session::output`]).
    pub fn infer(&mut self, input: &[f32]) -> Result<Inferred<'a>, Error> {
        let inference = self.run(input)?;
        self.decide(inference)
    }

    /// Inference alone: the model runs on `input` (raw values,
    /// channel-major) and leaves its output in the arena. A non-finite
    /// value skips it (unless the model imputes missing values), which is
    /// not an error: the monitor must still see the input.
    pub fn run(&mut self, input: &[f32]) -> Result<Inference, Error> {
        // `Model::run` checks the input's length first.
        match self.model.run(input, self.arena) {
            Ok(_) => {}
            Err(Error::RunNonFiniteInput { index }) => {
                return Ok(Inference::Skipped {
                    index: index as u32,
                })
            }
            Err(e) => return Err(e),
        }
        let imputes = !self.model.def().input.missing.is_empty();
        let missing = if imputes {
            input.iter().filter(|v| v.is_nan()).count() as u32
        } else {
            0
        };
        Ok(if missing > 0 {
            Inference::Imputed { missing }
        } else {
            Inference::Ran
        })
    }

    /// The decision on the output [`Session::run`] left in the arena. When
    /// more than half of the numeric inputs were imputed, the decision is
    /// marked `mostly_imputed` and abstains: the model would answer from
    /// training averages.
    pub fn decide(&self, inference: Inference) -> Result<Inferred<'a>, Error> {
        if let Inference::Skipped { .. } = inference {
            return Ok(Inferred {
                inference,
                answer: None,
            });
        }
        let out = self.model.last_output(self.arena)?;
        let answer = match out.task() {
            Task::Classification => {
                let mut d = out.decide()?;
                if let Inference::Imputed { missing } = inference {
                    if 2 * missing > self.numeric_inputs {
                        d.mostly_imputed = true;
                        d.abstained = true;
                    }
                }
                Answer::Class(d)
            }
            Task::Regression => Answer::Value(out.value(0).unwrap_or(f32::NAN)),
        };
        Ok(Inferred {
            inference,
            answer: Some(answer),
        })
    }

    /// The output tensor of the last inference that ran.
    pub fn output(&self) -> Result<Output<'a, '_>, Error> {
        self.model.last_output(self.arena)
    }

    /// The second half of [`Session::step`]: the monitor sees the input
    /// (non-finite values included: its guard reports them) and the
    /// decision taken for it, and the alarm latch is updated.
    pub fn watch(&mut self, input: &[f32], inferred: &Inferred<'a>) -> Result<Verdict, Error> {
        let index = self.steps;
        self.steps = self.steps.wrapping_add(1);
        let Some(m) = &self.monitor else {
            return Ok(Verdict {
                observation: None,
                alarm: None,
            });
        };
        let decided = inferred.decision().map(|d| (d.index, d.probability));
        let obs = m.observe(self.state, input, decided)?;
        self.latch(index, &obs);
        Ok(Verdict {
            observation: Some(obs),
            alarm: self.alarm.clone(),
        })
    }

    /// Feeds back whether the decision for the last step was right (the
    /// error-rate detector). Updates the latch like a step.
    pub fn observe_label(&mut self, correct: bool) -> Result<Observation, Error> {
        let Some(m) = &self.monitor else {
            return Ok(Observation::stable());
        };
        let obs = m.observe_label(self.state, correct)?;
        if obs.level == Level::Drift {
            self.latch(self.steps.wrapping_sub(1), &obs);
        }
        Ok(obs)
    }

    fn latch(&mut self, index: u32, obs: &Observation) {
        match obs.level {
            Level::Drift => {
                self.quiet = 0;
                match &mut self.alarm {
                    Some(a) => a.last = index,
                    None => {
                        self.alarm = Some(Alarm {
                            since: index,
                            detector: obs.detector.unwrap_or(Detector::Mean),
                            features: obs.features.clone(),
                            last: index,
                        })
                    }
                }
            }
            Level::Warning | Level::Stable => {
                if self.alarm.is_some() {
                    self.quiet += 1;
                    let recovery = self.monitor.as_ref().map_or(0, Monitor::recovery_samples);
                    if self.quiet >= recovery {
                        self.alarm = None;
                        self.quiet = 0;
                    }
                }
            }
        }
    }

    /// Occlusion attribution of the decision for `input` (see
    /// [`crate::explain::occlusion`]), with the monitor's training means
    /// as baseline. `scratch` holds one input; `baseline` and `out` one
    /// float per channel. Returns (decided class, its probability), or (0,
    /// value) for a regression.
    pub fn explain(
        &mut self,
        input: &[f32],
        scratch: &mut [f32],
        baseline: &mut [f32],
        out: &mut [f32],
    ) -> Result<(usize, f32), Error> {
        let channels = self.model.input_shape().channels as usize;
        for (buffer, len, needed) in [
            (Buffer::Scratch, scratch.len(), self.model.input_len()),
            (Buffer::PerChannel, baseline.len(), channels),
            (Buffer::PerChannel, out.len(), channels),
        ] {
            buffer.check(needed, len)?;
        }
        let (scratch, baseline, out) = (
            &mut scratch[..self.model.input_len()],
            &mut baseline[..channels],
            &mut out[..channels],
        );
        for (f, b) in baseline.iter_mut().enumerate() {
            *b = self
                .monitor
                .as_ref()
                .and_then(|m| m.training_mean(f))
                .unwrap_or(0.0);
        }
        crate::explain::occlusion(&self.model, baseline, input, scratch, self.arena, out)
    }
}
