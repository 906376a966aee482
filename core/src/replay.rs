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

use crate::error::Buffer;
use crate::format::crc32;
use crate::session::{Answer, Inference, Session};
use crate::Error;

/// Magic bytes of a replay file.
pub const MAGIC: [u8; 4] = *b"VRPL";
/// Version written and read.
pub const VERSION: u16 = 1;
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
    body: &'a [u8],
    windows: usize,
    values: usize,
    fault_from: Option<usize>,
    fault_channel: Option<u16>,
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
        if u16_at(bytes, 4) != VERSION {
            return bad("version is not 1");
        }
        let windows = u32_at(bytes, 8) as usize;
        let values = u32_at(bytes, 12) as usize;
        let fault_from = u32_at(bytes, 16);
        let fault_channel = u16_at(bytes, 20);
        let body = &bytes[HEADER_LEN..];
        let stride = values.checked_mul(4).and_then(|v| v.checked_add(2));
        match stride.and_then(|s| s.checked_mul(windows)) {
            Some(len) if len == body.len() => {}
            _ => return bad("length does not match its window count"),
        }
        if crc32(body) != u32_at(bytes, 24) {
            return bad("checksum mismatch: the file is corrupted");
        }
        Ok(Replay {
            body,
            windows,
            values,
            fault_from: (fault_from != u32::MAX).then_some(fault_from as usize),
            fault_channel: (fault_channel != u16::MAX).then_some(fault_channel),
        })
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.windows
    }

    /// Whether there is no window.
    pub fn is_empty(&self) -> bool {
        self.windows == 0
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
        if i >= self.windows || out.len() != self.values {
            return Err(Error::ReplayMalformed {
                what: "window index or buffer length out of range",
            });
        }
        let at = i * (2 + 4 * self.values);
        let label = u16_at(self.body, at);
        for (k, v) in out.iter_mut().enumerate() {
            *v = f32::from_bits(u32_at(self.body, at + 2 + 4 * k));
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
    /// Clock ticks spent in inference (from the caller's clock).
    pub inference_ticks: u32,
    /// Clock ticks spent in the monitor update.
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
        Ok(())
    }
}

/// Runs one window through a session (model, decision, monitor). `now` is
/// the caller's clock (SysTick on a device, anything on a host), read
/// around inference alone and around the monitor update.
pub fn step<'a>(
    session: &mut Session<'a, '_>,
    window: usize,
    input: &[f32],
    label: Option<u16>,
    now: &mut dyn FnMut() -> u32,
) -> Result<Step<'a>, Error> {
    let t0 = now();
    let inference = session.run(input)?;
    let t1 = now();
    let inferred = session.decide(inference)?;
    let output_crc = match inference {
        Inference::Skipped { .. } => 0,
        _ => {
            let mut digest = crate::format::CRC32.digest();
            for &b in session.output()?.raw() {
                digest.update(&[b as u8]);
            }
            digest.finalize()
        }
    };
    let prediction = inferred.answer.map(|a| match a {
        Answer::Class(d) => Prediction::Class {
            index: d.index,
            probability: d.probability,
            name: d.name,
            abstained: d.abstained,
        },
        Answer::Value(v) => Prediction::Value(v),
    });
    let t2 = now();
    let verdict = session.watch(input, &inferred)?;
    let t3 = now();
    Ok(Step {
        window,
        label,
        prediction,
        output_crc,
        drifting_since: verdict.alarm.as_ref().map(|a| a.since),
        observation: verdict.observation,
        channels: session.model().input_names(),
        inference_ticks: t1.wrapping_sub(t0),
        monitor_ticks: t3.wrapping_sub(t2),
    })
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
        let faulty = self.fault_from.is_some_and(|f| s.window >= f);
        let drift = s.level() == crate::monitor::Level::Drift;
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
        }
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

/// Writes a replay file: `windows` of `(label, values)`, all of one length.
#[cfg(feature = "alloc")]
pub fn to_bytes(
    windows: &[(Option<u16>, alloc::vec::Vec<f32>)],
    fault_from: Option<usize>,
    fault_channel: Option<u16>,
) -> alloc::vec::Vec<u8> {
    let values = windows.first().map_or(0, |w| w.1.len());
    let mut body = alloc::vec::Vec::new();
    for (label, xs) in windows {
        debug_assert_eq!(xs.len(), values, "windows of one length");
        body.extend_from_slice(&label.unwrap_or(NO_LABEL).to_le_bytes());
        for x in xs {
            body.extend_from_slice(&x.to_bits().to_le_bytes());
        }
    }
    let mut out = alloc::vec::Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(windows.len() as u32).to_le_bytes());
    out.extend_from_slice(&(values as u32).to_le_bytes());
    let from = fault_from.map_or(u32::MAX, |f| f as u32);
    out.extend_from_slice(&from.to_le_bytes());
    out.extend_from_slice(&fault_channel.unwrap_or(u16::MAX).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&crc32(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
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
}
