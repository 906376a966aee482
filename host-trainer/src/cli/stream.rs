//! `vigie stream`: a replay file of held-out rows, clean then faulty, or
//! a long stream drawn from them (`--steps`).

use std::path::Path;

use anyhow::{bail, Result};

use crate::data::{self};
use crate::files;
use crate::training::args::TrainArgs;

/// How long a drawn stream is (`--steps`, `--fault-from`).
#[derive(Debug, Clone, Copy)]
pub struct Drawn {
    /// Steps.
    pub steps: usize,
    /// First faulty step.
    pub fault_from: usize,
}

/// `vigie stream`: a replay file of held-out rows, clean then faulty.
pub fn stream(
    args: &TrainArgs,
    model_path: &Path,
    windows: usize,
    (fault_channel, gain, offset): (&str, f32, f32),
    drawn: Option<Drawn>,
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
    if let Some(d) = drawn {
        let file = crate::evaluation::stream::drawn_stream(
            &prepared,
            windows,
            d.steps,
            d.fault_from,
            fault,
            args.seed,
        )?;
        files::write_atomically(out, &file)?;
        println!(
            "{}: {} steps drawn from {} held-out windows ({} clean, then `{fault_channel}` ×{gain} {offset:+}), {} bytes",
            out.display(),
            d.steps,
            windows.min(prepared.test_rows().1.len()),
            d.fault_from,
            file.len()
        );
        return Ok(());
    }
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
