//! Adaptation after a confirmed drift: when a sensor ages, moves or is
//! swapped, one or two inputs shift (an offset) or stretch (a gain). Such
//! a drift needs no retraining: an affine correction of those inputs,
//! estimated from the recent values' mean and spread against the training
//! values', brings them back where the model expects them. No label is
//! needed.
//!
//! Why moments and not quartiles: quartiles tracked by stochastic
//! approximation on integer-valued inputs (digits' pixels) wandered by
//! 0.25 to 0.45 interquartile ranges on clean data, as much as a
//! one-standard-deviation offset moved them, so the drifted channel could
//! not be told from the others. Exponentially weighted means and mean
//! squares over the same memory wander by about a tenth of a standard
//! deviation.
//!
//! What it does, step by step ([`Adapter`], driven by
//! [`crate::session::Session`]):
//!
//! 1. Always: each input channel's mean and mean square are tracked on
//!    the raw (uncorrected) values, exponentially weighted with a weight of
//!    [`AdaptationDef::rate`] per sample (per window for window models):
//!    they follow the last few dozen samples.
//! 2. A drift alarm from a detector that sees one input at a time (a mean
//!    or variance CUSUM, or a distribution) naming at most
//!    [`AdaptationDef::max_channels`] channels starts a settling period of
//!    [`AdaptationDef::settle`] samples, for the estimates to forget the
//!    values before the drift.
//! 3. Then, per named channel that moved, and per other channel whose mean
//!    moved (a fault of two inputs may be named by one; such a channel is
//!    left out when it cannot be corrected): the gain
//!    `g = σ_ref / σ_recent` and the offset that maps the recent mean onto
//!    the reference one; or, where the training values pile up at an end
//!    ([`AdaptationEnds`]), the map of the smallest and largest values
//!    seen since the alarm onto those ends, kept when the moments it
//!    gives are within [`CONSISTENT`] of the training ones. The
//!    correction is refused when:
//!    - more channels moved (by their own moments, [`MOVED`]) than a
//!      correction may touch, or more than one in [`NARROWED_SHARE`] of
//!      the others narrowed ([`NARROWED`]): a class-mix change moves or
//!      narrows every input that tells the classes apart, a sensor moves
//!      one or two and narrows none of the others;
//!    - the alarm came from a detector that does not see one input (the
//!      reconstruction: a decorrelation; the class mix; the confidence),
//!      or none of the channels it named moved;
//!    - a channel's recent spread collapsed below `1 / max_gain` of its
//!      reference (a stuck sensor), or the gain or offset passes its bound.
//! 4. An applied correction is confirmed after [`AdaptationDef::confirm`]
//!    samples without a new alarm, and rolled back if one comes first. The
//!    monitor restarts on the corrected inputs. [`Adapter::undo`] removes
//!    it at any time.
//!
//! Every change of state is reported ([`Event`]), so a device can send
//! home what was corrected, by how much and when.

use serde::{Deserialize, Serialize};

use crate::error::Buffer;
use crate::format::{read_f32, section_kind};
use crate::monitor::{feature_channel, Detector};
use crate::session::Alarm;
use crate::{Error, Model};

/// Most channels a correction may touch.
pub const MAX_CORRECTED: usize = 4;
/// Floats of state per channel before the scratch input: recent mean and
/// mean square, gain and offset, smallest and largest value.
const HEAD: usize = 6;
/// Largest standardized value the moments take in (a reading a million
/// training deviations out is a broken sensor, not a drift to correct).
pub const MAX_STANDARDIZED: f32 = 1e6;
/// How far a channel's recent moments must have moved from its reference
/// ones to count as drifted: the mean's shift in reference standard
/// deviations, or the relative growth of the standard deviation. On
/// clean digits, wine and BasicMotions streams the estimates wander by
/// about 0.1 to 0.2 (at a weight of 0.02); a one-deviation offset moves
/// them by 1.
pub const MOVED: f32 = 0.5;

/// How much narrower than its reference a channel's recent spread must be
/// to count as narrowed: half (its estimates over about 100 samples
/// wander by 0.1 to 0.2 on clean data, skewed inputs included).
pub const NARROWED: f32 = 2.0;
/// More than one input in this many of the others (those the alarm did not
/// name and that were not constant in training) narrowed is a change of
/// the world, not of a sensor. Measured at the
/// moment of the estimate: on clean or sensor-faulty streams 8 or 9 of
/// digits' 64 pixels narrowed by chance (rare values) and 1 of segment's
/// 18 inputs; under a class-mix change 27 of digits' 64 and 2 of iris's 4.
pub const NARROWED_SHARE: usize = 4;

/// The smallest reference deviation: a channel constant in training is
/// standardized by this.
pub const MIN_DEVIATION: f32 = 1e-6;

/// What adaptation needs from training, in the model file (section
/// [`section_kind::ADAPTATION`], postcard).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdaptationDef<'a> {
    /// Per input channel, the mean of its raw training values (every
    /// sample of a window), f32 little-endian.
    pub means: &'a [u8],
    /// Per input channel, their standard deviation, f32 little-endian.
    pub deviations: &'a [u8],
    /// Largest gain a correction applies (and smallest, its inverse).
    pub max_gain: f32,
    /// Largest offset of a channel's mean, in its reference standard
    /// deviations.
    pub max_offset: f32,
    /// Most channels one correction may touch (at most
    /// [`MAX_CORRECTED`]): a drift of more inputs is the world's, not a
    /// sensor's.
    pub max_channels: u16,
    /// Samples between the alarm and the estimate.
    pub settle: u32,
    /// Samples without an alarm that confirm a correction.
    pub confirm: u32,
    /// Weight of a new sample in the exponentially weighted moments (per
    /// window for window models).
    pub rate: f32,
}

/// Where a channel's training values pile up at their ends (a clipped
/// or discrete input: a pixel at 0 or 16, a saturated sensor), stored
/// after the [`AdaptationDef`] in the same section (a section without it
/// reads as having no such end). A correction then maps the recent ends
/// exactly onto these rather than matching moments: moments estimated
/// over a hundred samples miss a pile of values by a tenth of a
/// deviation, and the monitor's bins see a pile that moved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdaptationEnds<'a> {
    /// Per input channel, its smallest training value when at least
    /// [`ATOM_SHARE`] of the values equal it, NaN otherwise; f32
    /// little-endian.
    pub lows: &'a [u8],
    /// The same for its largest value.
    pub highs: &'a [u8],
}

/// How far a correction from piled-up ends may leave the channel's moments
/// from the training ones (its mean, in training deviations; its spread,
/// relatively) before the moments' own correction is used instead: twice
/// the wander of the recent moments on clean data.
pub const CONSISTENT: f32 = 0.3;

/// The share of a channel's training values that must equal its smallest
/// (or largest) for that end to be matched: over a 300-sample settling
/// period such a value is seen with a probability of 99.8%.
pub const ATOM_SHARE: f32 = 0.02;

/// Why no correction was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Refusal {
    /// More inputs moved than a correction may touch, or many narrowed:
    /// the world changed (a class-mix change moves or narrows every input
    /// that tells the classes apart), not a sensor.
    ManyInputsMoved,
    /// The alarm came from a detector that sees several inputs together
    /// (a decorrelation) or the outputs, or named no input.
    NotOneInput,
    /// A channel's recent spread collapsed below `1 / max_gain` of its
    /// reference: a stuck sensor.
    Stuck,
    /// The gain or the offset passes its bound.
    OutOfBounds,
}

/// A change of the adaptation's state, reported by the step it happened
/// at. Serializes with postcard, so a device can send it home.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// A correction applied: per channel, `x' = gain · x + offset`.
    Applied {
        /// The corrected channels, with their gain and offset.
        channels: heapless::Vec<(u16, f32, f32), MAX_CORRECTED>,
    },
    /// No correction for this alarm.
    Refused {
        /// Why.
        why: Refusal,
    },
    /// The correction held for [`AdaptationDef::confirm`] samples.
    Confirmed,
    /// A new alarm came before confirmation: the correction is removed.
    RolledBack,
}

/// Where the adaptation stands.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// No correction; waiting for an alarm.
    Watching,
    /// An alarm (at `alarm.since`); estimating at `since + settle`, even
    /// if the session's latch clears it meanwhile (a fault the monitor
    /// sees now and then: the moments decide). A newer alarm raised
    /// within `settle` samples of the episode's first (`first`) moves the
    /// estimate to `settle` after it (the change may have started only
    /// then); later ones do not, so the wait is at most twice `settle`.
    Settling { alarm: Alarm, first: u32 },
    /// A correction applied at `at`, not yet confirmed.
    Applied { at: u32 },
    /// A confirmed correction.
    Confirmed,
    /// Done for this episode (refused): waits for the alarm to clear.
    Waiting,
    /// A correction was rolled back: no other is tried until the
    /// application resets the session or undoes the adaptation (it was
    /// told, and a person should look).
    Stopped,
}

/// A validated adaptation definition, with its phase.
#[derive(Debug, Clone)]
pub struct Adapter<'a> {
    def: AdaptationDef<'a>,
    ends: Option<AdaptationEnds<'a>>,
    channels: usize,
    length: usize,
    phase: Phase,
}

impl<'a> Adapter<'a> {
    /// The model's adaptation section, validated (`None` when it has none).
    pub fn from_model(model: &Model<'a>) -> Result<Option<Self>, Error> {
        let Some(section) = model.def().section(section_kind::ADAPTATION) else {
            return Ok(None);
        };
        let place = model.def().section_place(section_kind::ADAPTATION);
        let bad = |field| Error::SectionInvalid { place, field };
        let (def, rest) = postcard::take_from_bytes::<AdaptationDef<'a>>(section.data)
            .map_err(|_| bad("body"))?;
        let ends = if rest.is_empty() {
            None
        } else {
            // Bytes after the ends are left to later extensions.
            let (ends, _later) =
                postcard::take_from_bytes::<AdaptationEnds<'a>>(rest).map_err(|_| bad("ends"))?;
            Some(ends)
        };
        let shape = model.input_shape();
        let channels = shape.channels as usize;
        if let Some(e) = &ends {
            // Each end finite or NaN (none), and the low one below the
            // high one when both are set.
            let valid = |b: &[u8]| {
                b.len() == 4 * channels && (0..channels).all(|c| !read_f32(b, c).is_infinite())
            };
            if !valid(e.lows)
                || !valid(e.highs)
                || (0..channels).any(|c| read_f32(e.lows, c) >= read_f32(e.highs, c))
            {
                return Err(bad("ends"));
            }
        }
        for (bytes, field, non_negative) in [
            (def.means, "means", false),
            (def.deviations, "deviations", true),
        ] {
            if bytes.len() != 4 * channels
                || (0..channels).any(|c| {
                    let v = read_f32(bytes, c);
                    !v.is_finite() || (non_negative && v < 0.0)
                })
            {
                return Err(bad(field));
            }
        }
        let finite_positive = |v: f32| v.is_finite() && v > 0.0;
        if !(finite_positive(def.max_gain) && def.max_gain >= 1.0) {
            return Err(bad("max_gain"));
        }
        if !finite_positive(def.max_offset) {
            return Err(bad("max_offset"));
        }
        if def.max_channels == 0 || def.max_channels as usize > MAX_CORRECTED {
            return Err(bad("max_channels"));
        }
        if !(finite_positive(def.rate) && def.rate <= 1.0) {
            return Err(bad("rate"));
        }
        Ok(Some(Adapter {
            def,
            ends,
            channels,
            length: shape.length as usize,
            phase: Phase::Watching,
        }))
    }

    /// The definition.
    pub fn def(&self) -> &AdaptationDef<'a> {
        &self.def
    }

    /// Floats of the caller's buffer: per channel its recent mean and mean
    /// square (of the values standardized by the training moments, so
    /// that no real value overflows them), a gain and an offset, and its
    /// smallest and largest raw value since the alarm, then one input's
    /// worth of scratch for the corrected input.
    pub fn state_len(&self) -> usize {
        HEAD * self.channels + self.channels * self.length
    }

    /// Where the channels' extremes since the alarm start in the state.
    fn extremes_at(&self) -> usize {
        4 * self.channels
    }

    /// Forgets the extremes: the estimate sees those since now.
    fn restart_extremes(&self, state: &mut [f32]) {
        let at = self.extremes_at();
        if let Some(x) = state.get_mut(at..at + 2 * self.channels) {
            for pair in x.chunks_exact_mut(2) {
                pair[0] = f32::INFINITY;
                pair[1] = f32::NEG_INFINITY;
            }
        }
    }

    /// How many channels have an end where training values pile up.
    pub fn piled_channels(&self) -> usize {
        (0..self.channels)
            .filter(|&c| self.piled_ends(c) != (None, None))
            .count()
    }

    /// Channel `c`'s training ends where values pile up (`None` where they
    /// do not).
    fn piled_ends(&self, c: usize) -> (Option<f32>, Option<f32>) {
        let Some(e) = &self.ends else {
            return (None, None);
        };
        let end = |b: &[u8]| Some(read_f32(b, c)).filter(|v| v.is_finite());
        (end(e.lows), end(e.highs))
    }

    /// Channel `c`'s training mean and standard deviation (never below
    /// [`MIN_DEVIATION`]).
    fn reference(&self, c: usize) -> (f32, f32) {
        (
            read_f32(self.def.means, c),
            read_f32(self.def.deviations, c).max(MIN_DEVIATION),
        )
    }

    /// Channel `c`'s recent mean and standard deviation, from the
    /// standardized moments the state holds.
    fn recent(&self, state: &[f32], c: usize) -> Option<(f32, f32)> {
        let z = state.get(2 * c..2 * c + 2)?;
        let (m, s) = self.reference(c);
        let sd = crate::math::sqrt((z[1] - z[0] * z[0]).max(0.0));
        Some((m + s * z[0], s * sd))
    }

    /// Back to the reference: estimates at the training moments, no
    /// correction.
    pub fn reset(&mut self, state: &mut [f32]) -> Result<(), Error> {
        Buffer::Adaptation.check(self.state_len(), state.len())?;
        for c in 0..self.channels {
            // Standardized: mean 0, mean square 1.
            state[2 * c] = 0.0;
            state[2 * c + 1] = 1.0;
        }
        let corrections = &mut state[2 * self.channels..4 * self.channels];
        for pair in corrections.chunks_exact_mut(2) {
            pair[0] = 1.0;
            pair[1] = 0.0;
        }
        self.restart_extremes(state);
        self.phase = Phase::Watching;
        Ok(())
    }

    /// Whether a correction is in force: one channel's gain or offset is
    /// not the identity's (it stays in force while a confirmed correction
    /// is estimated again after a new alarm).
    pub fn correcting(&self, state: &[f32]) -> bool {
        state
            .get(2 * self.channels..4 * self.channels)
            .is_some_and(|pairs| pairs.chunks_exact(2).any(|p| p[0] != 1.0 || p[1] != 0.0))
    }

    /// Channel `c`'s correction `(gain, offset)`.
    pub fn correction(&self, state: &[f32], c: usize) -> (f32, f32) {
        if c >= self.channels {
            return (1.0, 0.0);
        }
        let at = 2 * self.channels + 2 * c;
        match state.get(at..at + 2) {
            Some(p) => (p[0], p[1]),
            None => (1.0, 0.0),
        }
    }

    /// Removes the correction (the application, or a person, decided
    /// so); the adaptation watches again.
    pub fn undo(&mut self, state: &mut [f32]) {
        let corrections = state.get_mut(2 * self.channels..4 * self.channels);
        for pair in corrections.into_iter().flat_map(|s| s.chunks_exact_mut(2)) {
            pair[0] = 1.0;
            pair[1] = 0.0;
        }
        self.phase = Phase::Watching;
    }

    /// The corrected copy of `input` in the buffer's scratch, or `None`
    /// when no correction is in force (the input is used as it is).
    pub fn corrected<'s>(&self, state: &'s mut [f32], input: &[f32]) -> Option<&'s [f32]> {
        if !self.correcting(state) {
            return None;
        }
        let n = self.channels * self.length;
        if state.len() < HEAD * self.channels + n || input.len() < n {
            return None;
        }
        let (head, scratch) = state.split_at_mut(HEAD * self.channels);
        let scratch = scratch.get_mut(..n)?;
        for c in 0..self.channels {
            let (gain, offset) = (
                head[2 * self.channels + 2 * c],
                head[2 * self.channels + 2 * c + 1],
            );
            let from = c * self.length;
            for (y, &x) in scratch[from..from + self.length]
                .iter_mut()
                .zip(input.get(from..from + self.length)?)
            {
                *y = gain * x + offset;
            }
        }
        Some(scratch)
    }

    /// Moves each channel's recent moments towards the raw `input` (an
    /// input of another length than the model's is ignored; non-finite
    /// values are skipped).
    pub fn track(&self, state: &mut [f32], input: &[f32]) {
        if input.len() != self.channels * self.length {
            return;
        }
        let w = self.def.rate / self.length.max(1) as f32;
        for c in 0..self.channels {
            let (m, s) = self.reference(c);
            let Some(values) = input.get(c * self.length..(c + 1) * self.length) else {
                return;
            };
            let at = self.extremes_at() + 2 * c;
            let (Some(&[mut z0, mut z1]), Some(&[mut lo, mut hi])) =
                (state.get(2 * c..2 * c + 2), state.get(at..at + 2))
            else {
                return;
            };
            let inv = 1.0 / s;
            for &x in values.iter().filter(|x| x.is_finite()) {
                // Bounded, so that the mean square stays finite.
                let u = ((x - m) * inv).clamp(-MAX_STANDARDIZED, MAX_STANDARDIZED);
                z0 += w * (u - z0);
                z1 += w * (u * u - z1);
                if x < lo {
                    lo = x;
                }
                if x > hi {
                    hi = x;
                }
            }
            if let Some(z) = state.get_mut(2 * c..2 * c + 2) {
                z.copy_from_slice(&[z0, z1]);
            }
            if let Some(e) = state.get_mut(at..at + 2) {
                e.copy_from_slice(&[lo, hi]);
            }
        }
    }

    /// One step of the adaptation, after the monitor saw step `index`;
    /// `alarm` is the session's latched alarm. Returns an event when the state changed; `Applied` asks the
    /// session to restart the monitor on the corrected inputs, and
    /// `RolledBack` on the raw ones.
    pub fn update(
        &mut self,
        state: &mut [f32],
        index: u32,
        alarm: Option<&Alarm>,
    ) -> Option<Event> {
        match &self.phase {
            // A confirmed correction stays in force until a new alarm,
            // and while the channels that alarm names are estimated again
            // from the raw moments.
            Phase::Watching | Phase::Confirmed => {
                let a = alarm?;
                self.settle(state, a, a.since);
                None
            }
            Phase::Settling {
                alarm: latest,
                first,
            } => {
                let first = *first;
                if let Some(a) = alarm.filter(|a| {
                    a.since != latest.since && a.since.wrapping_sub(first) < self.def.settle
                }) {
                    self.settle(state, a, first);
                    return None;
                }
                if index.wrapping_sub(latest.since) < self.def.settle {
                    return None;
                }
                let latest = latest.clone();
                // An alarm the latch cleared meanwhile may have been a
                // false one: its channels must then pass the full bar.
                let event = match self.estimate(state, &latest, alarm.is_none()) {
                    Ok(channels) => {
                        self.phase = Phase::Applied { at: index };
                        Event::Applied { channels }
                    }
                    // The alarm cleared while the estimates settled, and
                    // the channels it named are back: nothing to correct
                    // or to say.
                    Err(Refusal::NotOneInput) if alarm.is_none() => {
                        self.phase = self.after_episode(state);
                        return None;
                    }
                    Err(why) => {
                        self.phase = if alarm.is_some() {
                            Phase::Waiting
                        } else {
                            self.after_episode(state)
                        };
                        Event::Refused { why }
                    }
                };
                Some(event)
            }
            Phase::Applied { at } => {
                if alarm.is_some() {
                    self.undo(state);
                    self.phase = Phase::Stopped;
                    return Some(Event::RolledBack);
                }
                if index.wrapping_sub(*at) >= self.def.confirm {
                    self.phase = Phase::Confirmed;
                    return Some(Event::Confirmed);
                }
                None
            }
            Phase::Stopped => None,
            Phase::Waiting => {
                if alarm.is_none() {
                    self.phase = self.after_episode(state);
                }
                None
            }
        }
    }

    /// Settles from `alarm` (the episode's first at step `first`): the
    /// extremes start again from now.
    fn settle(&mut self, state: &mut [f32], alarm: &Alarm, first: u32) {
        self.phase = Phase::Settling {
            alarm: alarm.clone(),
            first,
        };
        self.restart_extremes(state);
    }

    /// Where an episode that ended without a new correction leaves the
    /// adaptation: confirmed if a (confirmed) correction is still in
    /// force, watching otherwise.
    fn after_episode(&self, state: &[f32]) -> Phase {
        if self.correcting(state) {
            Phase::Confirmed
        } else {
            Phase::Watching
        }
    }

    /// The correction for `alarm`'s channels, written into `state`, or why
    /// there is none.
    /// `strict`: the alarm was cleared, so its channels must pass the
    /// full bar ([`MOVED`]) rather than half of it.
    fn estimate(
        &self,
        state: &mut [f32],
        alarm: &Alarm,
        strict: bool,
    ) -> Result<heapless::Vec<(u16, f32, f32), MAX_CORRECTED>, Refusal> {
        if !matches!(
            alarm.detector,
            Detector::Mean | Detector::Variance | Detector::Distribution
        ) || alarm.features.is_empty()
        {
            return Err(Refusal::NotOneInput);
        }
        // The channels the alarm named.
        let mut named: heapless::Vec<u16, MAX_CORRECTED> = heapless::Vec::new();
        for &f in &alarm.features {
            let (c, _) = feature_channel(self.channels, f as usize);
            if !named.contains(&(c as u16)) {
                let _ = named.push(c as u16);
            }
        }
        // Whether the others moved: a sensor moves one or two inputs, a
        // change of the world (of the class mix) many at once. By their
        // means; and by spreads that collapsed, since fewer classes in the
        // stream narrow every input that tells them apart (on iris, one
        // class's petals spread a quarter as wide as all classes' while
        // their means move by less than half a deviation), and a sensor
        // fault narrows no other input. A channel of rare values (a pixel
        // almost always 0) narrows by chance when its events do not come
        // for a while, so narrowing counts when more than a quarter of the
        // inputs narrowed ([`NARROWED_SHARE`]). A spread that grew is left
        // out: such a channel grows one from a single event.
        let (mut others, mut narrowed, mut compared) = (0, 0, 0);
        // The other channels whose mean moved: a fault of two inputs may
        // be named by one (corrected with it, within `max_channels`).
        let mut moved: heapless::Vec<u16, MAX_CORRECTED> = heapless::Vec::new();
        for c in 0..self.channels {
            if named.contains(&(c as u16)) {
                continue;
            }
            let (m, s) = self.reference(c);
            let (m_now, s_now) = self.recent(state, c).ok_or(Refusal::NotOneInput)?;
            if (m_now - m).abs() > MOVED * s {
                others += 1;
                let _ = moved.push(c as u16);
            }
            // A channel constant in training cannot narrow.
            if read_f32(self.def.deviations, c) > MIN_DEVIATION {
                compared += 1;
                narrowed += usize::from(s_now * NARROWED < s);
            }
        }
        if narrowed * NARROWED_SHARE > compared {
            return Err(Refusal::ManyInputsMoved);
        }
        if others > self.def.max_channels as usize {
            // Early: no need to look at the named ones.
            return Err(Refusal::ManyInputsMoved);
        }
        // The named channels that moved, by mean or spread (the alarm
        // named them already: half the bar confirms it, unless it cleared).
        let bar = if strict { MOVED } else { 0.5 * MOVED };
        let mut channels: heapless::Vec<u16, MAX_CORRECTED> = heapless::Vec::new();
        for &c in &named {
            let (m, s) = self.reference(c as usize);
            let (m_now, s_now) = self.recent(state, c as usize).ok_or(Refusal::NotOneInput)?;
            if (m_now - m).abs() > bar * s || (s_now / s - 1.0).abs() > bar {
                let _ = channels.push(c);
            }
        }
        if others + channels.len() > self.def.max_channels as usize {
            return Err(Refusal::ManyInputsMoved);
        }
        if channels.is_empty() {
            return Err(Refusal::NotOneInput);
        }
        let mut out: heapless::Vec<(u16, f32, f32), MAX_CORRECTED> = heapless::Vec::new();
        for &c in &channels {
            let _ = out.push(self.channel_correction(state, c as usize)?);
        }
        // The others that moved are corrected with them when they can be;
        // one that cannot (its spread collapsed: a rare value that stopped
        // coming) is left as it is rather than refusing the whole.
        for &c in &moved {
            if let Ok(fix) = self.channel_correction(state, c as usize) {
                let _ = out.push(fix);
            }
        }
        for &(c, gain, offset) in &out {
            let at = 2 * self.channels + 2 * c as usize;
            if let Some(p) = state.get_mut(at..at + 2) {
                p[0] = gain;
                p[1] = offset;
            }
        }
        Ok(out)
    }

    /// Channel `c`'s correction `(c, gain, offset)`, or why there is none.
    fn channel_correction(&self, state: &[f32], c: usize) -> Result<(u16, f32, f32), Refusal> {
        let (m, s) = self.reference(c);
        let (m_now, s_now) = self.recent(state, c).ok_or(Refusal::NotOneInput)?;
        // (Written so that a NaN estimate counts as stuck too.)
        let lively = s_now * self.def.max_gain >= s;
        if !lively {
            return Err(Refusal::Stuck);
        }
        let (gain, offset) = self.matched(state, c, (m, s), (m_now, s_now));
        let bounded = gain <= self.def.max_gain
            && gain * self.def.max_gain >= 1.0
            && (m_now - m).abs() <= self.def.max_offset * s
            && offset.is_finite();
        if !bounded {
            return Err(Refusal::OutOfBounds);
        }
        Ok((c as u16, gain, offset))
    }

    /// Channel `c`'s gain and offset: the recent ends mapped exactly onto
    /// the training ones where values pile up at both ends; one piled end
    /// mapped exactly, with the gain of the moments, where only one does;
    /// the moments matched otherwise, or when the ends' map leaves the
    /// corrected moments more than [`CONSISTENT`] from the training ones.
    fn matched(
        &self,
        state: &[f32],
        c: usize,
        (m, s): (f32, f32),
        (m_now, s_now): (f32, f32),
    ) -> (f32, f32) {
        let moments = s / s_now;
        let by_moments = (moments, m - moments * m_now);
        let at = self.extremes_at() + 2 * c;
        let (lo_now, hi_now) = match state.get(at..at + 2) {
            Some(e) if e[0].is_finite() && e[1].is_finite() => (e[0], e[1]),
            _ => return by_moments,
        };
        let by_ends = match self.piled_ends(c) {
            // (All finite: the recent ends were checked, the training ones
            // validated.)
            (Some(lo), Some(hi)) if hi_now > lo_now => {
                let gain = (hi - lo) / (hi_now - lo_now);
                (gain, lo - gain * lo_now)
            }
            (Some(lo), None) => (moments, lo - moments * lo_now),
            (None, Some(hi)) => (moments, hi - moments * hi_now),
            _ => return by_moments,
        };
        // The ends are raw extremes: one glitch since the alarm, values
        // from before the fault, or a pile the fault did not move (a
        // sensor clipped after its fault) would set them. They are kept
        // only when the corrected moments land near the training ones.
        let (gain, offset) = by_ends;
        let mean_error = (gain * m_now + offset - m).abs();
        let spread_ratio = gain * s_now / s;
        let consistent = mean_error <= CONSISTENT * s
            && spread_ratio * (1.0 + CONSISTENT) >= 1.0
            && spread_ratio <= 1.0 + CONSISTENT;
        if consistent {
            by_ends
        } else {
            by_moments
        }
    }
}
