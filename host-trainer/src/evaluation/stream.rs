//! Replay streams for devices: held-out windows, then the same windows
//! with a sensor fault, written with `vigie_core::replay`.

use anyhow::{bail, Result};

use crate::data::Target;
use crate::training::prepared::Prepared;

/// The fault injected into the second copy of the windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    /// Input channel.
    pub channel: usize,
    /// Gain applied to the channel in the first half of the faulty part.
    pub gain: f32,
    /// Offset added to it (after the gain), raw units.
    pub offset: f32,
}

/// Windows of a stream: label (when known) and values.
pub type Windows = Vec<(Option<u16>, Vec<f32>)>;

/// A stream: `windows` held-out windows in their order, then the same
/// windows again with `fault` (the channel multiplied by the gain and
/// shifted by the offset for the first half, then stuck at its first
/// reading for the second half).
/// Returns the windows and the index of the first faulty one.
pub fn fault_stream(p: &Prepared, windows: usize, fault: Fault) -> Result<(Windows, usize)> {
    let (data, rows) = p.test_rows();
    if fault.channel >= data.channels.len() {
        bail!("channel {} does not exist", fault.channel);
    }
    let rows = &rows[..windows.min(rows.len())];
    if rows.is_empty() {
        bail!("no held-out rows to stream");
    }
    let label = |r: usize| match &data.target {
        Target::Classes { y, .. } => Some(y[r] as u16),
        Target::Values { .. } => None,
    };
    let len = data.length;
    let span = fault.channel * len..(fault.channel + 1) * len;
    let mut out: Vec<(Option<u16>, Vec<f32>)> = rows
        .iter()
        .map(|&r| (label(r), data.row(r).to_vec()))
        .collect();
    let half = rows.len() / 2;
    let mut stuck = None;
    for (i, &r) in rows.iter().enumerate() {
        let mut x = data.row(r).to_vec();
        if i < half {
            x[span.clone()]
                .iter_mut()
                .for_each(|v| *v = *v * fault.gain + fault.offset);
        } else {
            let value = *stuck.get_or_insert(x[span.start]);
            x[span.clone()].fill(value);
        }
        out.push((label(r), x));
    }
    Ok((out, rows.len()))
}

/// A long stream drawn from few windows (`vigie_core::replay`'s version
/// 2): `steps` steps, each one of the first `windows` held-out windows drawn
/// at random (seeded), with `fault` from step `fault_from` on (the gain and
/// offset, never stuck: the stream shows what the device's adaptation does
/// with a sensor that moved). Returns the file.
pub fn drawn_stream(
    p: &Prepared,
    windows: usize,
    steps: usize,
    fault_from: usize,
    fault: Fault,
    seed: u64,
) -> Result<Vec<u8>> {
    let (data, rows) = p.test_rows();
    if fault.channel >= data.channels.len() {
        bail!("channel {} does not exist", fault.channel);
    }
    let rows = &rows[..windows.min(rows.len()).min(u16::MAX as usize)];
    if rows.is_empty() {
        bail!("no held-out rows to stream");
    }
    if fault_from >= steps {
        bail!("the fault starts at step {fault_from}, after the stream's {steps} steps");
    }
    let recorded: Windows = rows
        .iter()
        .map(|&r| {
            let label = match &data.target {
                Target::Classes { y, .. } => Some(y[r] as u16),
                Target::Values { .. } => None,
            };
            (label, data.row(r).to_vec())
        })
        .collect();
    let mut rng = crate::rng::Rng(seed ^ 0x5eed_5747);
    let schedule: Vec<u16> = (0..steps)
        .map(|_| rng.below(recorded.len()) as u16)
        .collect();
    let fault = vigie_core::replay::DrawnFault {
        from: fault_from,
        channel: fault.channel as u16,
        gain: fault.gain,
        offset: fault.offset,
    };
    Ok(vigie_core::replay::to_bytes_drawn(
        &recorded,
        data.channels.len(),
        &schedule,
        Some(fault),
    ))
}

/// Replays `stream` through `model` as the firmware does
/// (`vigie_core::replay::run`, with the adaptation turned on when the model
/// has one), handing each event to `emit`; returns the summary and the
/// stream's length.
fn replay_with<'a>(
    model: &vigie_core::Model<'a>,
    stream: &[u8],
    emit: &mut dyn FnMut(vigie_core::replay::Event<'_, 'a>),
) -> Result<(vigie_core::replay::Summary, usize)> {
    use vigie_core::monitor::Monitor;
    use vigie_core::replay::{run, Buffers, Replay};
    let stream = Replay::from_bytes(stream)?;
    let monitor = Monitor::from_model(model)?;
    let n = stream.values_per_window();
    let channels = model.input_shape().channels as usize;
    let mut memory = crate::device::Memory::new(model, monitor.as_ref());
    let mut session = memory.adapting_session(model, monitor.as_ref())?;
    let buffers = Buffers {
        input: &mut vec![0.0f32; n],
        scratch: &mut vec![0.0f32; n],
        explain: &mut vec![0.0f32; 2 * channels],
    };
    let summary = run(&mut session, &stream, buffers, &mut || 0, emit)?;
    Ok((summary, stream.len()))
}

/// Replays a stream on the host exactly as the firmware does
/// (`vigie_core::replay::run`, with the adaptation turned on when the model
/// has one) and returns the lines it prints: one per window, the
/// attribution of the window where drift is first raised after the fault,
/// then the summary.
pub fn replay_lines(model: &vigie_core::Model<'_>, stream: &[u8]) -> Result<Vec<String>> {
    use vigie_core::replay::Event;
    let mut lines = Vec::new();
    let (summary, _) = replay_with(model, stream, &mut |e| {
        lines.push(match e {
            Event::Step(s) => s.to_string(),
            Event::Explained(x, _) => x.to_string(),
        })
    })?;
    lines.push(format!("summary: {summary}"));
    Ok(lines)
}

/// The drift reports a device replaying `stream` sends home
/// (`vigie_core::report`), framed as the firmware writes them on its UART:
/// one when a drift episode starts or ends, and one with the counters at
/// the end.
pub fn replay_frames(model_bytes: &[u8], stream: &[u8], device: u32) -> Result<Vec<u8>> {
    use vigie_core::replay::{report, Event};
    use vigie_core::report::{frame, Reporter, FRAME_MAX};
    let model = &vigie_core::Model::from_bytes(model_bytes)?;
    // Boot 0, as the firmware demo.
    let mut reporter = Reporter::new(device, 0, model_bytes);
    let mut reports = Vec::new();
    let (_, len) = replay_with(model, stream, &mut |e| {
        if let Event::Step(s) = e {
            reports.extend(report(&mut reporter, s));
        }
    })?;
    reports.push(reporter.period(len.saturating_sub(1) as u32));
    let mut out = Vec::new();
    let mut buf = [0u8; FRAME_MAX];
    for r in &reports {
        out.extend_from_slice(frame(r, &mut buf)?);
    }
    Ok(out)
}
