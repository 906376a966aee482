//! `vigie stream`: a replay file of held-out rows, clean then faulty.

use std::path::Path;

use anyhow::{bail, Result};

use crate::data::{self};
use crate::files;
use crate::training::args::TrainArgs;

/// `vigie stream`: a replay file of held-out rows, clean then faulty.
pub fn stream(
    args: &TrainArgs,
    model_path: &Path,
    windows: usize,
    (fault_channel, gain, offset): (&str, f32, f32),
    out: &Path,
    force: bool,
) -> Result<()> {
    let mut inputs = vec![("--model", model_path), ("--data", args.data.as_path())];
    if let Some(t) = &args.test {
        inputs.push(("--test", t.as_path()));
    }
    files::check_output(out, "--out", files::Kind::Stream, &inputs, force)?;
    let bytes = files::read_model_file(model_path)?;
    let model = files::load(model_path, &bytes)?;
    let prepared = crate::training::prepared::prepare(args)?;
    data::check_model_inputs(&prepared.data, &model, model_path)?;
    let channels: Vec<&str> = model.input_names().iter().collect();
    let Some(channel) = channels.iter().position(|c| *c == fault_channel) else {
        bail!(
            "--fault-channel `{fault_channel}` is not an input of {} (inputs: {})",
            model_path.display(),
            channels.join(", ")
        );
    };
    if !gain.is_finite() || !offset.is_finite() || (gain == 1.0 && offset == 0.0) {
        bail!("--gain and --offset must be finite numbers, and make a fault (a gain other than 1 or an offset other than 0)");
    }
    let fault = crate::evaluation::stream::Fault {
        channel,
        gain,
        offset,
    };
    let (windows, fault_from) = crate::evaluation::stream::fault_stream(&prepared, windows, fault)?;
    let file = vigie_core::replay::to_bytes(&windows, Some(fault_from), Some(channel as u16));
    files::write_atomically(out, &file)?;
    println!(
        "{}: {} windows ({} clean, then {} with `{fault_channel}` ×{gain} {offset:+}, then stuck), {} bytes",
        out.display(),
        windows.len(),
        fault_from,
        windows.len() - fault_from,
        file.len()
    );
    Ok(())
}
