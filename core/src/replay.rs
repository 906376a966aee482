//! Recorded input streams, replayed on a device from flash (feature
//! `replay`: demo and test machinery; the device API is
//! [`crate::Session`]).
//!
//! A replay file holds a sequence of model inputs (windows or rows), each
//! with its label when known, and says from which window on a fault was
//! injected and into which input channel, so a device can check that its
//! monitor catches it. The firmware demo embeds one; `vigie stream` writes
//! them. Layout, all little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `VRPL` |
//! | 2 | version, 1 |
//! | 2 | reserved, 0 |
//! | 4 | windows `n` |
//! | 4 | values per window `v` (the model's input length) |
//! | 4 | first faulty window (`u32::MAX`: no fault) |
//! | 2 | faulty channel (`u16::MAX`: none) |
//! | 2 | reserved, 0 |
//! | 4 | CRC-32 of everything after the header |
//! | `n × (2 + 4v)` | per window: label (`u16`, `u16::MAX` unknown), then `v` `f32` |
//!
//! Version 2 is a long stream drawn from a few recorded windows (hours of
//! a sensor in a few kilobytes of flash): the header is the same (`n` is
//! the number of steps), then
//!
//! | bytes | field |
//! |---|---|
//! | 4 | recorded windows `m` |
//! | 4 | input channels `c` (each window is channel-major, `v / c` values a channel) |
//! | 4 | the fault's gain, `f32` |
//! | 4 | the fault's offset, `f32` (raw units, added after the gain) |
//! | `m × (2 + 4v)` | the recorded windows, as in version 1 |
//! | `n × 2` | per step, the recorded window it replays (`u16`) |
//!
//! From the first faulty step on, the faulty channel's values of every
//! window are `x · gain + offset` (in `f32`, the same on every machine).

use crate::error::Buffer;
use crate::format::crc32;
use crate::session::{Answer, Inference, Session};
use crate::Error;

/// Magic bytes of a replay file.
pub const MAGIC: [u8; 4] = *b"VRPL";
/// Version of a stream that holds every window.
pub const VERSION: u16 = 1;
/// Version of a stream drawn from recorded windows.
pub const VERSION_DRAWN: u16 = 2;
/// Bytes of version 2's header extension (windows, channels, gain,
/// offset).
pub const DRAWN_HEADER_LEN: usize = 16;
/// Bytes before the windows.
pub const HEADER_LEN: usize = 28;
/// Label of a window whose class is unknown.
pub const NO_LABEL: u16 = u16::MAX;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A validated replay file, borrowing its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Replay<'a> {
    /// The windows as recorded.
    body: &'a [u8],
    windows: usize,
    values: usize,
    fault_from: Option<usize>,
    fault_channel: Option<u16>,
    /// Version 2: per step, the recorded window (`u16` each), and the
    /// fault's gain and offset.
    drawn: Option<Drawn<'a>>,
}

/// What a version 2 stream adds.
#[derive(Debug, Clone, Copy)]
struct Drawn<'a> {
    schedule: &'a [u8],
    /// Input channels of a window.
    channels: usize,
    /// The faulty channel's values in a window.
    span: (usize, usize),
    gain: f32,
    offset: f32,
}

impl<'a> Replay<'a> {
    /// Checks the header, the length and the CRC.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, Error> {
        let bad = |what| Err(Error::ReplayMalformed { what });
        if bytes.len() < HEADER_LEN {
            return bad("shorter than its 28-byte header");
        }
        if bytes[..4] != MAGIC {
            return bad("does not start with `VRPL`");
        }
        let version = u16_at(bytes, 4);
        if version != VERSION && version != VERSION_DRAWN {
            return bad("version is neither 1 nor 2");
        }
        let steps = u32_at(bytes, 8) as usize;
        let values = u32_at(bytes, 12) as usize;
        let fault_from = u32_at(bytes, 16);
        let fault_channel = u16_at(bytes, 20);
        let after = &bytes[HEADER_LEN..];
        if checksum(version, bytes) != u32_at(bytes, 24) {
            return bad("checksum mismatch: the file is corrupted");
        }
        // Bytes of one window: its label, then its values.
        let stride = values.checked_mul(4).and_then(|v| v.checked_add(2));
        let (body, windows, drawn) = if version == VERSION {
            if stride.and_then(|s| s.checked_mul(steps)) != Some(after.len()) {
                return bad("length does not match its window count");
            }
            (after, steps, None)
        } else {
            if after.len() < DRAWN_HEADER_LEN {
                return bad("shorter than its 44-byte header");
            }
            let recorded = u32_at(after, 0) as usize;
            let channels = u32_at(after, 4) as usize;
            let gain = f32::from_bits(u32_at(after, 8));
            let offset = f32::from_bits(u32_at(after, 12));
            if channels == 0 || values % channels != 0 {
                return bad("values per window are not a whole number per channel");
            }
            let length = values / channels;
            let span = match fault_channel {
                u16::MAX => (0, 0),
                c if (c as usize) < channels => (c as usize * length, (c as usize + 1) * length),
                _ => return bad("faulty channel is not one of its channels"),
            };
            if !gain.is_finite() || !offset.is_finite() {
                return bad("fault gain or offset is not finite");
            }
            if u16_at(bytes, 6) != 0 || u16_at(bytes, 22) != 0 {
                return bad("reserved header fields are not 0");
            }
            if (fault_from == u32::MAX) != (fault_channel == u16::MAX) {
                return bad("has a first faulty step without a faulty channel, or the reverse");
            }
            let rest = &after[DRAWN_HEADER_LEN..];
            let windows_len = stride.and_then(|s| s.checked_mul(recorded));
            let Some(split) = windows_len.filter(|&l| l <= rest.len()) else {
                return bad("length does not match its window count");
            };
            let (body, schedule) = rest.split_at(split);
            if steps.checked_mul(2) != Some(schedule.len()) {
                return bad("length does not match its step count");
            }
            if schedule
                .chunks_exact(2)
                .any(|c| u16::from_le_bytes([c[0], c[1]]) as usize >= recorded)
            {
                return bad("step replays a window it does not hold");
            }
            let drawn = Drawn {
                schedule,
                channels,
                span,
                gain,
                offset,
            };
            (body, recorded, Some(drawn))
        };
        Ok(Replay {
            body,
            windows,
            values,
            fault_from: (fault_from != u32::MAX).then_some(fault_from as usize),
            fault_channel: (fault_channel != u16::MAX).then_some(fault_channel),
            drawn,
        })
    }

    /// Number of windows (steps of a drawn stream).
    pub fn len(&self) -> usize {
        match &self.drawn {
            Some(d) => d.schedule.len() / 2,
            None => self.windows,
        }
    }

    /// Whether there is no window.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Windows the file records (as many as [`Replay::len`] unless the
    /// stream is drawn from them).
    pub fn recorded(&self) -> usize {
        self.windows
    }

    /// The fault a drawn stream applies from [`Replay::fault_from`] on:
    /// gain and offset (`None` for a stream that records its faulty
    /// windows as they are).
    pub fn drawn_fault(&self) -> Option<(f32, f32)> {
        self.drawn
            .filter(|_| self.fault_from.is_some())
            .map(|d| (d.gain, d.offset))
    }

    /// The input channels a drawn stream's windows hold (`None` for a
    /// version 1 stream, which does not say).
    pub fn channels(&self) -> Option<usize> {
        self.drawn.map(|d| d.channels)
    }

    /// Values per window.
    pub fn values_per_window(&self) -> usize {
        self.values
    }

    /// First window with the injected fault, if any.
    pub fn fault_from(&self) -> Option<usize> {
        self.fault_from
    }

    /// Input channel the fault was injected into, if any.
    pub fn fault_channel(&self) -> Option<u16> {
        self.fault_channel
    }

    /// Copies window `i` into `out` (exactly [`Replay::values_per_window`]
    /// values) and returns its label.
    pub fn window(&self, i: usize, out: &mut [f32]) -> Result<Option<u16>, Error> {
        let bad = Err(Error::ReplayMalformed {
            what: "window index or buffer length out of range",
        });
        if i >= self.len() || out.len() != self.values {
            return bad;
        }
        let recorded = match &self.drawn {
            Some(d) => u16_at(d.schedule, 2 * i) as usize,
            None => i,
        };
        let at = recorded * (2 + 4 * self.values);
        let label = u16_at(self.body, at);
        for (k, v) in out.iter_mut().enumerate() {
            *v = f32::from_bits(u32_at(self.body, at + 2 + 4 * k));
        }
        if let (Some(d), Some(from)) = (&self.drawn, self.fault_from) {
            if i >= from {
                for v in &mut out[d.span.0..d.span.1] {
                    *v = *v * d.gain + d.offset;
                }
            }
        }
        Ok((label != NO_LABEL).then_some(label))
    }
}

/// What the model predicted for one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prediction<'a> {
    /// A class, its softmax probability and its name.
    Class {
        /// Index of the decided class.
        index: usize,
        /// Its calibrated probability.
        probability: f32,
        /// Its name.
        name: &'a str,
        /// Whether the model abstained (probability below its threshold).
        abstained: bool,
    },
    /// A regression value.
    Value(f32),
}

/// One replayed window: the model's answer and the monitor's verdict.
/// Its `Display` is the line the firmware prints and the host test
/// recomputes, so the two are compared character for character (floats
/// print in their shortest round-trip form, so equal text means equal bits).
#[derive(Debug, Clone)]
pub struct Step<'a> {
    /// Window index in the stream.
    pub window: usize,
    /// Its label, when the stream has one.
    pub label: Option<u16>,
    /// The prediction (`None` when inference refused the input, e.g. NaN).
    pub prediction: Option<Prediction<'a>>,
    /// CRC-32 of the raw int8 output tensor: every output byte, checked.
    pub output_crc: u32,
    /// The monitor's observation, when the model has a monitor.
    pub observation: Option<crate::monitor::Observation>,
    /// The step from which a drift alarm is latched, if one is.
    pub drifting_since: Option<u32>,
    /// Input channel names, to name drifted features.
    pub channels: crate::format::Names<'a>,
    /// What the session's adaptation did at this window
    /// ([`Session::with_adaptation`]).
    pub adaptation: Option<crate::adapt::Event>,
    /// Whether the model saw the adaptation's corrected input.
    pub corrected: bool,
    /// With an alarm latched: the standardized score of the first input
    /// it named, at this window (a drift report's direction and size,
    /// [`crate::report`]).
    pub alarm_score: Option<f32>,
    /// Clock ticks spent in inference (from the caller's clock); with
    /// adaptation, in the whole step (adaptation, inference and monitor).
    pub inference_ticks: u32,
    /// Clock ticks spent in the monitor update (0 with adaptation: it is
    /// in `inference_ticks`).
    pub monitor_ticks: u32,
}

impl Step<'_> {
    /// Whether the model's class is the window's label.
    pub fn correct(&self) -> Option<bool> {
        match (self.prediction, self.label) {
            (Some(Prediction::Class { index, .. }), Some(l)) => Some(index == l as usize),
            (None, Some(_)) => Some(false),
            _ => None,
        }
    }

    /// The monitor's level (stable when there is no monitor).
    pub fn level(&self) -> crate::monitor::Level {
        self.observation
            .as_ref()
            .map_or(crate::monitor::Level::Stable, |o| o.level)
    }
}

impl core::fmt::Display for Step<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use crate::monitor::Level;
        write!(f, "window {:3}: ", self.window)?;
        match self.prediction {
            Some(Prediction::Class {
                index,
                probability,
                name,
                abstained,
            }) => {
                write!(f, "class {index} {name} p={probability}")?;
                if abstained {
                    write!(f, " abstain")?;
                }
            }
            Some(Prediction::Value(v)) => write!(f, "value {v}")?,
            None => write!(f, "no prediction")?,
        }
        write!(f, " out={:08x}", self.output_crc)?;
        let Some(obs) = &self.observation else {
            return Ok(());
        };
        let level = match obs.level {
            Level::Stable => "stable",
            Level::Warning => "warning",
            Level::Drift => "DRIFT",
        };
        write!(f, " | {level}")?;
        if let Some(d) = obs.detector {
            write!(f, " {} score={}", d.name(), obs.score)?;
            for (i, &c) in obs.features.iter().enumerate() {
                let sep = if i == 0 { " channel " } else { "," };
                let (c, spread) = crate::monitor::feature_channel(self.channels.len(), c as usize);
                write!(f, "{sep}{}", self.channels.get(c).unwrap_or("?"))?;
                if spread {
                    write!(f, ".sd")?;
                }
            }
        }
        if let Some(since) = self.drifting_since {
            write!(f, " [drifting since {since}]")?;
        }
        if let Some(e) = &self.adaptation {
            use crate::adapt::Event;
            write!(f, " | adapt ")?;
            match e {
                Event::Applied { channels } => {
                    write!(f, "applied")?;
                    for &(c, gain, offset) in channels {
                        let name = self.channels.get(c as usize).unwrap_or("?");
                        write!(f, " {name} gain={gain} offset={offset}")?;
                    }
                }
                Event::Refused { why } => write!(f, "refused: {}", refusal_text(*why))?,
                Event::Confirmed => write!(f, "confirmed")?,
                Event::RolledBack => write!(f, "rolled back")?,
            }
        }
        Ok(())
    }
}

/// Why a correction was refused, as the lines print it.
fn refusal_text(why: crate::adapt::Refusal) -> &'static str {
    use crate::adapt::Refusal;
    match why {
        Refusal::ManyInputsMoved => "many inputs moved",
        Refusal::NotOneInput => "not one input",
        Refusal::Stuck => "stuck",
        Refusal::OutOfBounds => "out of bounds",
    }
}

/// Runs one window through a session (model, decision, monitor). `now` is
/// the caller's clock (SysTick on a device, anything on a host), read
/// around inference alone and around the monitor update, or around the
/// whole step when the session adapts ([`Session::with_adaptation`]).
pub fn step<'a>(
    session: &mut Session<'a, '_>,
    window: usize,
    input: &[f32],
    label: Option<u16>,
    now: &mut dyn FnMut() -> u32,
) -> Result<Step<'a>, Error> {
    if session.adapter().is_some() {
        return adapted_step(session, window, input, label, now);
    }
    let t0 = now();
    let inference = session.run(input)?;
    let t1 = now();
    let inferred = session.decide(inference)?;
    let output_crc = match inference {
        Inference::Skipped { .. } => 0,
        _ => output_crc(session.output()?.raw()),
    };
    let t2 = now();
    let verdict = session.watch(input, &inferred)?;
    let t3 = now();
    Ok(Step {
        window,
        label,
        prediction: inferred.answer.map(prediction),
        output_crc,
        drifting_since: verdict.alarm.as_ref().map(|a| a.since),
        observation: verdict.observation,
        channels: session.model().input_names(),
        adaptation: None,
        corrected: false,
        alarm_score: alarm_score(session, input),
        inference_ticks: t1.wrapping_sub(t0),
        monitor_ticks: t3.wrapping_sub(t2),
    })
}

/// [`step`] through [`Session::step`], which corrects the input first.
fn adapted_step<'a>(
    session: &mut Session<'a, '_>,
    window: usize,
    input: &[f32],
    label: Option<u16>,
    now: &mut dyn FnMut() -> u32,
) -> Result<Step<'a>, Error> {
    let t0 = now();
    let s = session.step(input)?;
    let t1 = now();
    let output_crc = s.output.as_ref().map_or(0, |o| output_crc(o.raw()));
    let (prediction, observation) = (s.answer.map(prediction), s.observation);
    let (drifting_since, adaptation) = (s.alarm.as_ref().map(|a| a.since), s.adaptation);
    let corrected = s.corrected;
    Ok(Step {
        window,
        label,
        prediction,
        output_crc,
        drifting_since,
        observation,
        channels: session.model().input_names(),
        adaptation,
        corrected,
        alarm_score: alarm_score(session, input),
        inference_ticks: t1.wrapping_sub(t0),
        monitor_ticks: 0,
    })
}

/// The standardized score of the first input the session's latched alarm
/// names, on `input`.
fn alarm_score(session: &Session<'_, '_>, input: &[f32]) -> Option<f32> {
    let f = *session.alarm()?.features.first()?;
    session.monitor()?.standardized_score(input, f as usize)
}

/// Counts one replayed window in `reporter` ([`crate::report::Reporter`]):
/// the reports to send when a drift episode started or ended at it.
pub fn report(reporter: &mut crate::report::Reporter, s: &Step<'_>) -> crate::report::Reports {
    let abstained = matches!(
        s.prediction,
        Some(Prediction::Class {
            abstained: true,
            ..
        })
    );
    reporter.step(
        s.window as u32,
        abstained,
        s.observation.as_ref(),
        s.drifting_since,
        s.alarm_score,
    )
}

/// CRC-32 of an int8 output tensor.
fn output_crc(raw: &[i8]) -> u32 {
    let mut digest = crate::format::CRC32.digest();
    for &b in raw {
        digest.update(&[b as u8]);
    }
    digest.finalize()
}

/// The session's answer as printed.
fn prediction(a: Answer<'_>) -> Prediction<'_> {
    match a {
        Answer::Class(d) => Prediction::Class {
            index: d.index,
            probability: d.probability,
            name: d.name,
            abstained: d.abstained,
        },
        Answer::Value(v) => Prediction::Value(v),
    }
}

/// What a replay showed: accuracy before the fault, false alarms, and the
/// window where drift was first raised after it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Labelled windows before the fault.
    pub clean_windows: usize,
    /// Of those, correctly classified.
    pub clean_correct: usize,
    /// Drift alarms before the fault.
    pub false_alarms: usize,
    /// First window at or after the fault with a drift alarm.
    pub drift_at: Option<usize>,
    /// The channel the fault went into.
    pub fault_channel: Option<u16>,
    /// The first faulty window.
    pub fault_from: Option<usize>,
    /// The first channel named by that alarm.
    pub named: Option<u16>,
    /// With adaptation: the window where a correction was first applied.
    pub corrected_at: Option<usize>,
    /// Labelled faulty windows the model saw raw before any correction
    /// was in force, and of those correctly classified.
    pub uncorrected_windows: usize,
    /// See `uncorrected_windows`.
    pub uncorrected_correct: usize,
    /// Labelled faulty windows the model saw corrected, and of those
    /// correctly classified.
    pub corrected_windows: usize,
    /// See `corrected_windows`.
    pub corrected_correct: usize,
    /// The window where the correction was confirmed.
    pub confirmed_at: Option<usize>,
    /// The window where the correction was rolled back.
    pub rolled_back_at: Option<usize>,
    /// The first refusal to correct.
    pub refused: Option<(usize, crate::adapt::Refusal)>,
}

impl Summary {
    /// An empty summary for `replay`.
    pub fn new(replay: &Replay<'_>) -> Self {
        Summary {
            fault_channel: replay.fault_channel(),
            fault_from: replay.fault_from(),
            ..Summary::default()
        }
    }

    /// Counts one step.
    pub fn add(&mut self, s: &Step<'_>) {
        use crate::adapt::Event;
        let faulty = self.fault_from.is_some_and(|f| s.window >= f);
        let drift = s.level() == crate::monitor::Level::Drift;
        if let (true, Some(ok)) = (faulty, s.correct()) {
            // By what the model saw: the window that applies a correction
            // still ran on the raw input.
            // (Raw windows after a correction was removed count in neither.)
            let bucket = if s.corrected {
                Some((&mut self.corrected_windows, &mut self.corrected_correct))
            } else if self.corrected_at.is_none() {
                Some((&mut self.uncorrected_windows, &mut self.uncorrected_correct))
            } else {
                None
            };
            if let Some((n, right)) = bucket {
                *n += 1;
                *right += usize::from(ok);
            }
        }
        match &s.adaptation {
            Some(Event::Applied { .. }) if self.corrected_at.is_none() => {
                self.corrected_at = Some(s.window)
            }
            Some(Event::Confirmed) if self.confirmed_at.is_none() => {
                self.confirmed_at = Some(s.window)
            }
            Some(Event::RolledBack) if self.rolled_back_at.is_none() => {
                self.rolled_back_at = Some(s.window)
            }
            Some(Event::Refused { why }) if self.refused.is_none() => {
                self.refused = Some((s.window, *why))
            }
            _ => {}
        }
        if !faulty {
            if let Some(ok) = s.correct() {
                self.clean_windows += 1;
                self.clean_correct += usize::from(ok);
            }
            self.false_alarms += usize::from(drift);
        } else if drift && self.drift_at.is_none() {
            self.drift_at = Some(s.window);
            self.named = s
                .observation
                .as_ref()
                .and_then(|o| o.features.first().copied());
        }
    }

    /// Windows from the fault to the first drift alarm.
    pub fn delay(&self) -> Option<usize> {
        Some(self.drift_at? - self.fault_from?)
    }
}

impl core::fmt::Display for Summary {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "clean accuracy {}/{}, false alarms {}",
            self.clean_correct, self.clean_windows, self.false_alarms
        )?;
        match (self.fault_from, self.drift_at) {
            (Some(from), Some(at)) => write!(
                f,
                ", fault from window {from}, drift raised at window {at} (delay {})",
                at - from
            ),
            (Some(from), None) => write!(f, ", fault from window {from}, drift NOT raised"),
            _ => Ok(()),
        }?;
        let adapted = self.corrected_at.is_some() || self.refused.is_some();
        if !adapted {
            return Ok(());
        }
        write!(
            f,
            "; adaptation: accuracy uncorrected {}/{}",
            self.uncorrected_correct, self.uncorrected_windows
        )?;
        if let Some((at, why)) = self.refused {
            write!(f, ", refused at window {at} ({})", refusal_text(why))?;
        }
        if let Some(at) = self.corrected_at {
            write!(
                f,
                ", corrected at window {at}, accuracy corrected {}/{}",
                self.corrected_correct, self.corrected_windows
            )?;
        }
        if let Some(at) = self.confirmed_at {
            write!(f, ", confirmed at window {at}")?;
        }
        if let Some(at) = self.rolled_back_at {
            write!(f, ", rolled back at window {at}")?;
        }
        Ok(())
    }
}

/// The occlusion attribution of one window's prediction, for printing:
/// the three input channels whose replacement by their training mean moves
/// the predicted class's probability most (see [`crate::explain`]).
#[derive(Debug, Clone, Copy)]
pub struct Explained<'a> {
    /// Window index in the stream.
    pub window: usize,
    /// The explained class (0 for regression).
    pub class: usize,
    /// Its probability (or the regression value).
    pub score: f32,
    /// Input channel names.
    pub channels: crate::format::Names<'a>,
    /// Up to three (channel, change when occluded), largest first.
    pub top: [(u16, f32); 3],
    /// How many of `top` are set.
    pub count: usize,
}

impl core::fmt::Display for Explained<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "explain window {}: class {} p={} ;",
            self.window, self.class, self.score
        )?;
        for &(c, a) in &self.top[..self.count] {
            let name = self.channels.get(c as usize).unwrap_or("?");
            // The change of the probability when the channel is occluded.
            write!(f, " {name} {}", -a)?;
        }
        Ok(())
    }
}

/// Explains one window's decision through the session (occlusion, with
/// the monitor's training means as baseline). `scratch` holds one input,
/// `baseline` and `attributions` one float per input channel.
pub fn explain<'a>(
    session: &mut Session<'a, '_>,
    window: usize,
    input: &[f32],
    scratch: &mut [f32],
    baseline: &mut [f32],
    attributions: &mut [f32],
) -> Result<Explained<'a>, Error> {
    let (class, score) = session.explain(input, scratch, baseline, attributions)?;
    let mut top = [(0u16, 0.0f32); 3];
    let mut count = 0;
    for (c, &a) in attributions.iter().enumerate() {
        // Insertion into the three largest magnitudes (ties: lower index).
        let mut at = count;
        while at > 0 && a.abs() > top[at - 1].1.abs() {
            at -= 1;
        }
        if at < 3 {
            let end = count.min(2);
            let mut i = end;
            while i > at {
                top[i] = top[i - 1];
                i -= 1;
            }
            top[at] = (c as u16, a);
            count = (count + 1).min(3);
        }
    }
    Ok(Explained {
        window,
        class,
        score,
        channels: session.model().input_names(),
        top,
        count,
    })
}

/// The memory a replay works in besides the session's, provided by the
/// caller (statics on a device).
pub struct Buffers<'b> {
    /// One window: at least the stream's values per window.
    pub input: &'b mut [f32],
    /// The occluded copy of a window, as long as `input`.
    pub scratch: &'b mut [f32],
    /// A baseline and an attribution per input channel: at least twice
    /// the model's channels.
    pub explain: &'b mut [f32],
}

/// What a replay reports as it goes.
pub enum Event<'e, 'a> {
    /// One window.
    Step(&'e Step<'a>),
    /// The attribution of the window where drift was first raised after
    /// the fault, and the clock ticks it took.
    Explained(&'e Explained<'a>, u32),
}

/// Replays `stream` through a session (reset first): one [`step`] per
/// window, and at the first drift alarm after the fault the occlusion
/// attribution of that window ([`explain`]). Each is handed to `emit`;
/// `now` is the clock read around each part. Returns the summary.
pub fn run<'a>(
    session: &mut Session<'a, '_>,
    stream: &Replay<'_>,
    b: Buffers<'_>,
    now: &mut dyn FnMut() -> u32,
    emit: &mut dyn FnMut(Event<'_, 'a>),
) -> Result<Summary, Error> {
    let n = stream.values_per_window();
    let channels = session.model().input_shape().channels as usize;
    for (buffer, needed, found) in [
        (Buffer::Input, n, b.input.len()),
        (Buffer::Scratch, n, b.scratch.len()),
        (Buffer::PerChannel, 2 * channels, b.explain.len()),
    ] {
        buffer.check(needed, found)?;
    }
    if stream.channels().is_some_and(|c| c != channels) {
        return Err(Error::ReplayMalformed {
            what: "has another number of input channels than the model",
        });
    }
    let (input, scratch) = (&mut b.input[..n], &mut b.scratch[..n]);
    let (baseline, rest) = b.explain.split_at_mut(channels);
    let attributions = &mut rest[..channels];
    session.reset()?;
    let monitored = session.monitor().is_some();
    let mut summary = Summary::new(stream);
    for w in 0..stream.len() {
        let label = stream.window(w, input)?;
        let s = step(session, w, input, label, now)?;
        emit(Event::Step(&s));
        summary.add(&s);
        if monitored && summary.drift_at == Some(w) {
            let t = now();
            let e = explain(session, w, input, scratch, baseline, attributions)?;
            let ticks = now().wrapping_sub(t);
            emit(Event::Explained(&e, ticks));
        }
    }
    Ok(summary)
}

/// The CRC-32 a file's header holds: of everything after the header for
/// version 1; for version 2 also of the header's first 24 bytes, whose
/// fault fields decide the values replayed.
fn checksum(version: u16, bytes: &[u8]) -> u32 {
    let (head, after) = (&bytes[..24], &bytes[HEADER_LEN..]);
    if version == VERSION {
        return crc32(after);
    }
    let mut digest = crate::format::CRC32.digest();
    digest.update(head);
    digest.update(after);
    digest.finalize()
}

/// Writes a replay file: `windows` of `(label, values)`, all of one length.
#[cfg(feature = "alloc")]
pub fn to_bytes(
    windows: &[(Option<u16>, alloc::vec::Vec<f32>)],
    fault_from: Option<usize>,
    fault_channel: Option<u16>,
) -> alloc::vec::Vec<u8> {
    let body = windows_bytes(windows);
    let values = windows.first().map_or(0, |w| w.1.len());
    with_header(
        VERSION,
        windows.len(),
        values,
        fault_from,
        fault_channel,
        &body,
    )
}

/// A fault a drawn stream applies to one channel from one step on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawnFault {
    /// First faulty step.
    pub from: usize,
    /// The channel.
    pub channel: u16,
    /// `x · gain + offset`.
    pub gain: f32,
    /// Raw units, added after the gain.
    pub offset: f32,
}

/// Writes a drawn replay file (version 2): `steps[i]` is the index in
/// `recorded` of the window step `i` replays; each window holds
/// `channels` channels, channel-major.
#[cfg(feature = "alloc")]
pub fn to_bytes_drawn(
    recorded: &[(Option<u16>, alloc::vec::Vec<f32>)],
    channels: usize,
    steps: &[u16],
    fault: Option<DrawnFault>,
) -> alloc::vec::Vec<u8> {
    let mut body = alloc::vec::Vec::new();
    body.extend_from_slice(&(recorded.len() as u32).to_le_bytes());
    body.extend_from_slice(&(channels as u32).to_le_bytes());
    let (gain, offset) = fault.map_or((1.0f32, 0.0f32), |f| (f.gain, f.offset));
    body.extend_from_slice(&gain.to_bits().to_le_bytes());
    body.extend_from_slice(&offset.to_bits().to_le_bytes());
    body.extend_from_slice(&windows_bytes(recorded));
    for s in steps {
        body.extend_from_slice(&s.to_le_bytes());
    }
    let values = recorded.first().map_or(0, |w| w.1.len());
    with_header(
        VERSION_DRAWN,
        steps.len(),
        values,
        fault.map(|f| f.from),
        fault.map(|f| f.channel),
        &body,
    )
}

/// Windows as the file stores them: label, then values.
#[cfg(feature = "alloc")]
fn windows_bytes(windows: &[(Option<u16>, alloc::vec::Vec<f32>)]) -> alloc::vec::Vec<u8> {
    let values = windows.first().map_or(0, |w| w.1.len());
    let mut body = alloc::vec::Vec::new();
    for (label, xs) in windows {
        debug_assert_eq!(xs.len(), values, "windows of one length");
        body.extend_from_slice(&label.unwrap_or(NO_LABEL).to_le_bytes());
        for x in xs {
            body.extend_from_slice(&x.to_bits().to_le_bytes());
        }
    }
    body
}

/// The 28-byte header, then `body`.
#[cfg(feature = "alloc")]
fn with_header(
    version: u16,
    windows: usize,
    values: usize,
    fault_from: Option<usize>,
    fault_channel: Option<u16>,
    body: &[u8],
) -> alloc::vec::Vec<u8> {
    let mut out = alloc::vec::Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(windows as u32).to_le_bytes());
    out.extend_from_slice(&(values as u32).to_le_bytes());
    let from = fault_from.map_or(u32::MAX, |f| f as u32);
    out.extend_from_slice(&from.to_le_bytes());
    out.extend_from_slice(&fault_channel.unwrap_or(u16::MAX).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(body);
    seal(&mut out);
    out
}

/// Writes the checksum of a replay file's header (bytes 24 to 27) for the
/// version it names (nothing for a file shorter than its header).
pub fn seal(bytes: &mut [u8]) {
    if bytes.len() < HEADER_LEN {
        return;
    }
    let crc = checksum(u16_at(bytes, 4), bytes);
    bytes[24..28].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;

    #[test]
    fn replay_round_trips_and_refuses_corruption() {
        let windows = alloc::vec![
            (Some(2), alloc::vec![1.5, -0.25]),
            (None, alloc::vec![f32::NAN, 3.0])
        ];
        let bytes = to_bytes(&windows, Some(1), Some(0));
        let r = Replay::from_bytes(&bytes).unwrap();
        assert_eq!((r.len(), r.values_per_window()), (2, 2));
        assert_eq!((r.fault_from(), r.fault_channel()), (Some(1), Some(0)));
        let mut x = [0.0f32; 2];
        assert_eq!(r.window(0, &mut x).unwrap(), Some(2));
        assert_eq!(x, [1.5, -0.25]);
        assert_eq!(r.window(1, &mut x).unwrap(), None);
        assert!(x[0].is_nan() && x[1] == 3.0);
        assert!(r.window(2, &mut x).is_err());
        for cut in 0..bytes.len() {
            assert!(
                Replay::from_bytes(&bytes[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
        let mut flipped = bytes.clone();
        flipped[HEADER_LEN + 3] ^= 1;
        assert!(Replay::from_bytes(&flipped).is_err());
    }

    #[test]
    fn a_drawn_stream_replays_its_schedule_with_the_fault_and_refuses_corruption() {
        // Two channels of two values; the fault on channel 1 from step 2.
        let recorded = alloc::vec![
            (Some(0), alloc::vec![1.0, 2.0, 3.0, 4.0]),
            (Some(1), alloc::vec![5.0, 6.0, 7.0, 8.0])
        ];
        let fault = DrawnFault {
            from: 2,
            channel: 1,
            gain: 2.0,
            offset: 0.5,
        };
        let bytes = to_bytes_drawn(&recorded, 2, &[1, 0, 1, 0], Some(fault));
        let r = Replay::from_bytes(&bytes).unwrap();
        assert_eq!((r.len(), r.recorded(), r.values_per_window()), (4, 2, 4));
        assert_eq!((r.fault_from(), r.fault_channel()), (Some(2), Some(1)));
        assert_eq!(r.drawn_fault(), Some((2.0, 0.5)));
        let mut x = [0.0f32; 4];
        assert_eq!(r.window(0, &mut x).unwrap(), Some(1));
        assert_eq!(x, [5.0, 6.0, 7.0, 8.0]);
        assert_eq!(r.window(1, &mut x).unwrap(), Some(0));
        assert_eq!(x, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(r.window(2, &mut x).unwrap(), Some(1));
        assert_eq!(x, [5.0, 6.0, 14.5, 16.5]);
        assert_eq!(r.window(3, &mut x).unwrap(), Some(0));
        assert_eq!(x, [1.0, 2.0, 6.5, 8.5]);
        assert!(r.window(4, &mut x).is_err());
        for cut in 0..bytes.len() {
            assert!(
                Replay::from_bytes(&bytes[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
        // A step naming a window the file does not hold, with a valid CRC.
        let bad = to_bytes_drawn(&recorded, 2, &[0, 2], None);
        assert!(Replay::from_bytes(&bad).is_err());
        // A faulty channel past the channels.
        let bad = to_bytes_drawn(
            &recorded,
            2,
            &[0],
            Some(DrawnFault {
                channel: 2,
                ..fault
            }),
        );
        assert!(Replay::from_bytes(&bad).is_err());
        // Channels that do not divide the values.
        assert!(Replay::from_bytes(&to_bytes_drawn(&recorded, 3, &[0], None)).is_err());
        // The checksum covers the header's fault fields: another first
        // faulty step is refused.
        let mut moved = bytes.clone();
        moved[16] ^= 1;
        assert!(Replay::from_bytes(&moved).is_err());
        // A non-finite gain, with a valid checksum.
        let nan = to_bytes_drawn(
            &recorded,
            2,
            &[0],
            Some(DrawnFault {
                gain: f32::NAN,
                ..fault
            }),
        );
        assert!(Replay::from_bytes(&nan).is_err());
    }
}
