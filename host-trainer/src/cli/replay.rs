//! `vigie replay`: a replay file through the session, as on a device.

use std::path::Path;

use anyhow::{Context, Result};

use crate::files;

/// `vigie replay`: a stream through a model and its monitor, as on a device.
pub fn replay(
    model_path: &Path,
    stream_path: &Path,
    frames: Option<&Path>,
    device: u32,
    force: bool,
) -> Result<()> {
    // The frames file is checked before any work: never over an input,
    // never over another file without --force, unless it is this
    // replay's own earlier output (its first report from this model and
    // device).
    if let Some(out) = frames {
        let crc = std::fs::read(model_path)
            .ok()
            .map(|m| vigie_core::format::crc32(&m));
        files::check_frames_output(
            out,
            "--frames",
            &[("--model", model_path), ("--stream", stream_path)],
            force,
            |r| Some(r.model) == crc && r.device == device,
        )?;
    }
    let bytes = files::read_model_file(model_path)?;
    let model = files::load(model_path, &bytes)?;
    let stream = std::fs::read(stream_path)
        .with_context(|| format!("{}: cannot read the stream", stream_path.display()))?;
    let lines = crate::evaluation::stream::replay_lines(&model, &stream)
        .with_context(|| format!("{}", stream_path.display()))?;
    for line in lines {
        println!("{line}");
    }
    if let Some(out) = frames {
        let bytes = crate::evaluation::stream::replay_frames(&bytes, &stream, device)?;
        crate::files::write_atomically(out, &bytes)?;
        println!("frames: {} bytes written to {}", bytes.len(), out.display());
    }
    Ok(())
}
