//! Reports a device sends home: what its monitor saw, for a fleet
//! (`vigie fleet ingest`). No heap: a [`Reporter`] follows a session's steps
//! and returns a [`Report`] when a drift episode starts or ends (and when
//! the application asks, [`Reporter::period`]); [`frame`] writes it as a
//! postcard message with a CRC-32, COBS-encoded and ended by a zero byte,
//! so that a reader of a noisy UART finds the next frame after any damage.
//!
//! Frame layout: `COBS(postcard(Report) ‖ CRC-32 little-endian) ‖ 0x00`,
//! at most [`FRAME_MAX`] bytes.

use postcard::experimental::max_size::MaxSize;
use serde::{Deserialize, Serialize};

use crate::format::crc32;
use crate::monitor::Detector;
use crate::Error;

/// A drift episode: from the step the session latched an alarm to the step
/// it cleared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, MaxSize)]
pub struct Episode {
    /// The detector that raised it ([`Detector::index`]).
    pub detector: u8,
    /// The input channel it named first (`None` when it named none).
    pub feature: Option<u16>,
    /// Which way that feature moved: +1 up, -1 down, 0 unknown.
    pub direction: i8,
    /// By how much, in training deviations of its monitored score
    /// (averaged over the episode's steps so far).
    pub size: f32,
    /// The step the alarm was latched at.
    pub start: u32,
    /// The step it cleared at (`None` while it lasts).
    pub end: Option<u32>,
}

/// Counters since the session started.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, MaxSize)]
pub struct Counters {
    /// Steps.
    pub steps: u32,
    /// Decisions the model abstained from.
    pub abstentions: u32,
    /// Steps on which each detector raised drift (was the observation's top
    /// detector at a drift step), in [`Detector::ALL`] order (saturating).
    pub alarms: [u16; Detector::COUNT],
}

/// One report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, MaxSize)]
pub struct Report {
    /// The device (set by the application: a serial number).
    pub device: u32,
    /// The model it runs: the CRC-32 of its file.
    pub model: u32,
    /// The device's boot (or session) number, set by the application from
    /// a counter it keeps in flash: reports are numbered from 0 again at
    /// each boot.
    pub boot: u32,
    /// This report's number in the boot, from 0: with `device`, `model`
    /// and `boot`, a report's identity (a fleet stores it once).
    pub sequence: u32,
    /// The step the report was made at.
    pub step: u32,
    /// The episode it is about: open when it started, closed when it
    /// ended; `None` in a periodic report without an open episode.
    pub episode: Option<Episode>,
    /// Counters so far.
    pub counters: Counters,
}

/// Bytes of a report's postcard encoding at most.
pub const REPORT_MAX: usize = Report::POSTCARD_MAX_SIZE;
/// Bytes of a frame at most: COBS adds one byte per 254, and one; then the
/// zero that ends it.
pub const FRAME_MAX: usize = cobs_max(REPORT_MAX + 4) + 1;

/// The longest COBS encoding of `n` bytes.
pub const fn cobs_max(n: usize) -> usize {
    n + n / 254 + 1
}

/// Writes `report` as a frame into `out` and returns the frame's bytes.
pub fn frame<'o>(report: &Report, out: &'o mut [u8; FRAME_MAX]) -> Result<&'o [u8], Error> {
    let mut raw = [0u8; REPORT_MAX + 4];
    let used = postcard::to_slice(report, &mut raw[..REPORT_MAX])
        .map_err(|_| Error::ReportFrame {
            what: "report larger than its bound",
        })?
        .len();
    let crc = crc32(&raw[..used]);
    raw[used..used + 4].copy_from_slice(&crc.to_le_bytes());
    let n = cobs_encode(&raw[..used + 4], &mut out[..FRAME_MAX - 1]).ok_or(Error::ReportFrame {
        what: "frame larger than its bound",
    })?;
    out[n] = 0;
    Ok(&out[..n + 1])
}

/// Reads one frame (its bytes up to, and without or with, its ending
/// zero): the report, or why not (damaged, cut, or not a report).
pub fn read_frame(frame: &[u8]) -> Result<Report, Error> {
    let bad = |what| Error::ReportFrame { what };
    let frame = frame.strip_suffix(&[0]).unwrap_or(frame);
    let mut raw = [0u8; REPORT_MAX + 4];
    let n = cobs_decode(frame, &mut raw).ok_or(bad("not COBS, or too long"))?;
    if n < 4 {
        return Err(bad("shorter than its checksum"));
    }
    let (body, crc) = raw[..n].split_at(n - 4);
    if crc32(body).to_le_bytes() != crc {
        return Err(bad("checksum mismatch: damaged in transit"));
    }
    let (report, rest) =
        postcard::take_from_bytes::<Report>(body).map_err(|_| bad("not a report"))?;
    if !rest.is_empty() {
        return Err(bad("bytes after the report"));
    }
    if report.episode.is_some_and(|e| !e.size.is_finite()) {
        return Err(bad("has a size that is not a number"));
    }
    Ok(report)
}

/// Splits a byte stream into frames at each zero byte, however the bytes
/// arrive (a UART's reads, a file's blocks, one message at a time), and
/// reads each: a gateway's or a host's side of the line, no heap. Bytes
/// past [`FRAME_MAX`] before a zero make the frame damaged, never a
/// larger buffer.
#[derive(Debug, Clone)]
pub struct Deframer {
    frame: [u8; FRAME_MAX],
    len: usize,
    overlong: bool,
}

impl Default for Deframer {
    fn default() -> Self {
        Self::new()
    }
}

impl Deframer {
    /// Nothing read yet.
    pub const fn new() -> Self {
        Deframer {
            frame: [0; FRAME_MAX],
            len: 0,
            overlong: false,
        }
    }

    /// Takes one byte; at a frame's ending zero, the report it carries or
    /// why not. Zeros between frames (idle line) give nothing.
    pub fn push(&mut self, byte: u8) -> Option<Result<Report, Error>> {
        if byte != 0 {
            if self.len < FRAME_MAX {
                self.frame[self.len] = byte;
                self.len += 1;
            } else {
                self.overlong = true;
            }
            return None;
        }
        if self.len == 0 && !self.overlong {
            return None;
        }
        let read = if self.overlong {
            Err(Error::ReportFrame {
                what: "longer than any report frame",
            })
        } else {
            read_frame(&self.frame[..self.len])
        };
        self.len = 0;
        self.overlong = false;
        Some(read)
    }

    /// Whether bytes of an unfinished frame are held: at the end of a
    /// stream, that frame was cut.
    pub fn pending(&self) -> bool {
        self.len > 0 || self.overlong
    }
}

/// COBS-encodes `data` into `out`; the length written, or `None` when
/// `out` is too short.
pub fn cobs_encode(data: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut code_at = 0;
    let mut code = 1u8;
    let mut n = 1;
    if out.is_empty() {
        return None;
    }
    for &b in data {
        if b == 0 {
            *out.get_mut(code_at)? = code;
            code_at = n;
            n += 1;
            code = 1;
        } else {
            *out.get_mut(n)? = b;
            n += 1;
            code += 1;
            if code == 0xFF {
                *out.get_mut(code_at)? = code;
                code_at = n;
                n += 1;
                code = 1;
            }
        }
    }
    *out.get_mut(code_at)? = code;
    Some(n)
}

/// Decodes a COBS block (without its ending zero) into `out`; the length
/// written, or `None` when it is not COBS (a zero inside, a code past the
/// end) or `out` is too short.
pub fn cobs_decode(data: &[u8], out: &mut [u8]) -> Option<usize> {
    let (mut i, mut n) = (0, 0);
    while i < data.len() {
        let code = data[i] as usize;
        if code == 0 || i + code > data.len() {
            return None;
        }
        for &b in &data[i + 1..i + code] {
            if b == 0 {
                return None;
            }
            *out.get_mut(n)? = b;
            n += 1;
        }
        i += code;
        if code < 0xFF && i < data.len() {
            *out.get_mut(n)? = 0;
            n += 1;
        }
    }
    Some(n)
}

/// The reports of one step: none, an episode's start or end, or the end of
/// one and the start of the alarm that replaced it.
pub type Reports = heapless::Vec<Report, 2>;

/// Follows a session's steps and says when to send a report.
#[derive(Debug, Clone)]
pub struct Reporter {
    device: u32,
    boot: u32,
    model: u32,
    sequence: u32,
    counters: Counters,
    open: Option<Episode>,
    /// Steps of the open episode whose feature score was measured, and
    /// the scores' mean.
    measured: u32,
    mean: f32,
}

impl Reporter {
    /// A reporter for `device`, in its boot number `boot`, running the
    /// model whose file is `model_bytes`.
    pub fn new(device: u32, boot: u32, model_bytes: &[u8]) -> Self {
        Reporter {
            device,
            boot,
            model: crc32(model_bytes),
            sequence: 0,
            counters: Counters::default(),
            open: None,
            measured: 0,
            mean: 0.0,
        }
    }

    /// Counts one step and returns the report to send when a drift
    /// episode started or ended at it: the step's index, whether the model
    /// abstained, the monitor's observation, the step the session's alarm
    /// is latched from (`None` when none is), and the standardized score
    /// of the feature the episode names at this step, when measured
    /// ([`crate::monitor::Monitor::standardized_score`]).
    pub fn step(
        &mut self,
        index: u32,
        abstained: bool,
        observation: Option<&crate::monitor::Observation>,
        drifting_since: Option<u32>,
        score: Option<f32>,
    ) -> Reports {
        let c = &mut self.counters;
        c.steps = c.steps.saturating_add(1);
        c.abstentions = c.abstentions.saturating_add(u32::from(abstained));
        // The detector that raised drift at this step (the observation's
        // top one; others may only be at their warning level).
        if let Some(d) = observation
            .filter(|o| o.level == crate::monitor::Level::Drift)
            .and_then(|o| o.detector)
        {
            let k = d.index();
            if let Some(n) = c.alarms.get_mut(k) {
                *n = n.saturating_add(1);
            }
        }
        let mut out = Reports::new();
        // An episode ends when the alarm clears, or when another alarm
        // replaced it (acknowledged, or the session reset).
        if let Some(open) = self.open {
            if drifting_since != Some(open.start) {
                let mut e = open;
                e.end = Some(index);
                self.open = None;
                let r = self.report(index, Some(e));
                let _ = out.push(r);
            }
        }
        match (self.open.is_some(), drifting_since) {
            // The step that latched the alarm: its observation names the
            // detector and the inputs.
            (false, Some(since)) => {
                self.open = Some(Episode {
                    detector: observation
                        .and_then(|o| o.detector)
                        .map_or(u8::MAX, |d| d.index() as u8),
                    feature: observation.and_then(|o| o.features.first().copied()),
                    direction: 0,
                    size: 0.0,
                    start: since,
                    end: None,
                });
                (self.measured, self.mean) = (0, 0.0);
                self.measure(score);
                let open = self.open;
                let r = self.report(index, open);
                let _ = out.push(r);
            }
            (true, Some(_)) => self.measure(score),
            _ => {}
        }
        out
    }

    /// The feature the open episode names, if one is open and names one:
    /// the application measures its score for [`Reporter::step`].
    pub fn watched_feature(&self) -> Option<u16> {
        self.open.and_then(|e| e.feature)
    }

    /// A report of the counters now (and of the open episode, if any).
    pub fn period(&mut self, index: u32) -> Report {
        let open = self.open;
        self.report(index, open)
    }

    /// Adds one measured score of the episode's feature: the episode's
    /// direction and size follow the scores' running mean.
    fn measure(&mut self, score: Option<f32>) {
        let (Some(z), Some(e)) = (score.filter(|z| z.is_finite()), self.open.as_mut()) else {
            return;
        };
        self.measured = self.measured.saturating_add(1);
        self.mean += (z - self.mean) / self.measured as f32;
        e.direction = if self.mean > 0.0 {
            1
        } else if self.mean < 0.0 {
            -1
        } else {
            0
        };
        e.size = self.mean.abs();
    }

    fn report(&mut self, index: u32, episode: Option<Episode>) -> Report {
        let r = Report {
            device: self.device,
            model: self.model,
            boot: self.boot,
            sequence: self.sequence,
            step: index,
            episode,
            counters: self.counters,
        };
        self.sequence = self.sequence.wrapping_add(1);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(sequence: u32) -> Report {
        Report {
            device: 0xDEAD_BEEF,
            model: 0x0102_0304,
            boot: 12,
            sequence,
            step: 4321,
            episode: Some(Episode {
                detector: 2,
                feature: Some(300),
                direction: -1,
                size: 1.25,
                start: 4000,
                end: None,
            }),
            counters: Counters {
                steps: 4322,
                abstentions: 0,
                alarms: [0, 0, 7, 0, 0, 0, 0, 0, 0, 0],
            },
        }
    }

    #[test]
    fn a_frame_round_trips_and_has_one_zero_at_its_end() {
        let mut out = [0u8; FRAME_MAX];
        let r = sample(9);
        let f = frame(&r, &mut out).unwrap().to_vec();
        assert!(f.len() <= FRAME_MAX);
        assert_eq!(f.iter().filter(|&&b| b == 0).count(), 1);
        assert_eq!(*f.last().unwrap(), 0);
        assert_eq!(read_frame(&f).unwrap(), r);
        // The largest report fits the bound.
        let big = Report {
            device: u32::MAX,
            model: u32::MAX,
            boot: u32::MAX,
            sequence: u32::MAX,
            step: u32::MAX,
            episode: Some(Episode {
                detector: u8::MAX,
                feature: Some(u16::MAX),
                direction: i8::MIN,
                size: f32::MAX,
                start: u32::MAX,
                end: Some(u32::MAX),
            }),
            counters: Counters {
                steps: u32::MAX,
                abstentions: u32::MAX,
                alarms: [u16::MAX; Detector::COUNT],
            },
        };
        assert_eq!(read_frame(frame(&big, &mut out).unwrap()).unwrap(), big);
    }

    #[test]
    fn the_deframer_reads_frames_across_noise_idle_zeros_and_an_overlong_run() {
        let mut out = [0u8; FRAME_MAX];
        let a = frame(&sample(1), &mut out).unwrap().to_vec();
        let b = frame(&sample(2), &mut out).unwrap().to_vec();
        let mut line = vec![0, 0];
        line.extend_from_slice(&a);
        line.extend_from_slice(&[0x41; FRAME_MAX + 7]);
        line.push(0);
        line.extend_from_slice(&[0x55, 0xAA, 0]);
        line.extend_from_slice(&b);
        line.extend_from_slice(&a[..5]);
        let mut d = Deframer::new();
        let got: Vec<Option<u32>> = line
            .iter()
            .filter_map(|&x| d.push(x))
            .map(|r| r.ok().map(|r| r.sequence))
            .collect();
        assert_eq!(got, [Some(1), None, None, Some(2)]);
        // The cut frame at the end is held, not read.
        assert!(d.pending());
    }

    #[test]
    fn every_cut_and_every_bit_flip_of_a_frame_is_refused() {
        let mut out = [0u8; FRAME_MAX];
        let f = frame(&sample(1), &mut out).unwrap().to_vec();
        let body = &f[..f.len() - 1];
        for cut in 0..body.len() {
            assert!(read_frame(&body[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..body.len() {
            for bit in 0..8 {
                let mut g = body.to_vec();
                g[i] ^= 1 << bit;
                assert!(read_frame(&g).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn cobs_round_trips_runs_of_zeros_and_long_blocks() {
        let mut data = [0u8; 600];
        for (i, b) in data.iter_mut().enumerate() {
            *b = if i % 7 == 0 || (300..320).contains(&i) {
                0
            } else {
                (i % 251) as u8 + 1
            };
        }
        for n in [0, 1, 253, 254, 255, 509, 600] {
            let mut enc = [0u8; 700];
            let k = cobs_encode(&data[..n], &mut enc).unwrap();
            assert!(k <= cobs_max(n));
            assert!(!enc[..k].contains(&0));
            let mut dec = [0u8; 700];
            let m = cobs_decode(&enc[..k], &mut dec).unwrap();
            assert_eq!(&dec[..m], &data[..n], "length {n}");
        }
        // Too small an output is refused, not a panic.
        assert!(cobs_encode(&data, &mut [0u8; 10]).is_none());
        assert!(cobs_decode(&[5, 1, 2], &mut [0u8; 10]).is_none());
    }

    #[test]
    fn a_reporter_reports_an_episode_when_it_starts_and_when_it_ends() {
        let mut obs = crate::monitor::Observation::stable();
        let mut rep = Reporter::new(7, 3, b"model bytes");
        assert!(rep.step(0, false, Some(&obs), None, None).is_empty());
        obs.level = crate::monitor::Level::Drift;
        obs.detector = Some(Detector::Mean);
        obs.fired = Detector::Mean as u16 | Detector::Variance as u16;
        let _ = obs.features.push(3);
        let start = rep.step(1, false, Some(&obs), Some(1), None)[0];
        let e = start.episode.unwrap();
        assert_eq!(
            (start.boot, start.sequence, e.start, e.feature, e.end),
            (3, 0, 1, Some(3), None)
        );
        assert_eq!(e.detector as usize, Detector::Mean.index());
        assert_eq!(rep.watched_feature(), Some(3));
        obs = crate::monitor::Observation::stable();
        assert!(rep.step(2, true, Some(&obs), Some(1), Some(2.0)).is_empty());
        assert!(rep
            .step(3, false, Some(&obs), Some(1), Some(1.0))
            .is_empty());
        let end = rep.step(4, false, Some(&obs), None, None)[0];
        let e = end.episode.unwrap();
        assert_eq!(
            (end.sequence, e.end, e.direction, e.size),
            (1, Some(4), 1, 1.5)
        );
        assert_eq!(end.counters.steps, 5);
        assert_eq!(end.counters.abstentions, 1);
        // Only the detector that raised drift counts, not one at warning.
        assert_eq!(end.counters.alarms[Detector::Mean.index()], 1);
        assert_eq!(end.counters.alarms[Detector::Variance.index()], 0);
        assert_eq!(end.model, crc32(b"model bytes"));
        let period = rep.period(4);
        assert_eq!((period.sequence, period.episode), (2, None));
    }

    #[test]
    fn an_alarm_that_replaces_another_ends_it_and_starts_its_own() {
        let mut obs = crate::monitor::Observation::stable();
        obs.level = crate::monitor::Level::Drift;
        obs.detector = Some(Detector::Mean);
        let mut rep = Reporter::new(1, 0, b"m");
        assert_eq!(rep.step(5, false, Some(&obs), Some(5), None).len(), 1);
        // Acknowledged, and raised again at once: no step without alarm.
        obs.detector = Some(Detector::ClassMix);
        let both = rep.step(9, false, Some(&obs), Some(9), None);
        assert_eq!(both.len(), 2);
        assert_eq!(both[0].episode.unwrap().start, 5);
        assert_eq!(both[0].episode.unwrap().end, Some(9));
        assert_eq!(both[1].episode.unwrap().start, 9);
        assert_eq!(
            both[1].episode.unwrap().detector as usize,
            Detector::ClassMix.index()
        );
        assert_eq!((both[0].sequence, both[1].sequence), (1, 2));
    }

    #[test]
    fn a_frame_with_a_size_that_is_not_a_number_is_refused() {
        let mut r = sample(1);
        if let Some(e) = r.episode.as_mut() {
            e.size = f32::NAN;
        }
        let mut out = [0u8; FRAME_MAX];
        let f = frame(&r, &mut out).unwrap().to_vec();
        assert!(read_frame(&f).is_err());
    }
}
