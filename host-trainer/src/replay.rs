//! Replay streams for devices: held-out windows, then the same windows
//! with a sensor fault, written with `vigie_core::replay`.

use anyhow::{bail, Result};

use crate::data::Target;
use crate::pipeline::Prepared;

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

/// Replays a stream on the host exactly as the firmware does (one
/// `vigie_core::replay::step` per window) and returns the lines it prints:
/// one per window, the attribution of the window where drift is first
/// raised after the fault, then the summary.
pub fn replay_lines(model: &vigie_core::Model<'_>, stream: &[u8]) -> Result<Vec<String>> {
    use vigie_core::monitor::Monitor;
    use vigie_core::replay::{explain, step, Replay, Summary};
    let stream = Replay::from_bytes(stream)?;
    let monitor = Monitor::from_model(model)?;
    let mut state = vec![0.0f32; monitor.as_ref().map_or(0, |m| m.state_len())];
    if let Some(m) = &monitor {
        m.reset(&mut state)?;
    }
    let mut arena = vec![0i8; model.arena_len()];
    let mut input = vec![0.0f32; stream.values_per_window()];
    let mut summary = Summary::new(&stream);
    let mut lines = Vec::with_capacity(stream.len() + 2);
    let channels = model.input_shape().channels as usize;
    let mut scratch = vec![0.0f32; stream.values_per_window()];
    let (mut baseline, mut attributions) = (vec![0.0f32; channels], vec![0.0f32; channels]);
    for w in 0..stream.len() {
        let label = stream.window(w, &mut input)?;
        let monitored = monitor.as_ref().map(|m| (m, state.as_mut_slice()));
        let s = step(model, monitored, &mut arena, w, &input, label, &mut || 0)?;
        lines.push(s.to_string());
        summary.add(&s);
        if let (Some(m), true) = (&monitor, summary.drift_at == Some(w)) {
            let e = explain(
                model,
                m,
                w,
                &input,
                &mut scratch,
                &mut baseline,
                &mut attributions,
                &mut arena,
            )?;
            lines.push(e.to_string());
        }
    }
    lines.push(format!("summary: {summary}"));
    Ok(lines)
}
