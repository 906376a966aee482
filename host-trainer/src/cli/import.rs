//! `vigie import`: a TensorFlow Lite int8 model as a vigie model
//! (`vigie_core::tflite`).

use std::path::Path;

use anyhow::{Context, Result};
use vigie_core::Model;

use crate::files;

/// `vigie import MODEL.tflite --out MODEL.vigie`: maps the model's
/// operators into vigie layers, exactly or not at all, and writes the file
/// only when it loads and validates as a device would.
pub fn import(tflite: &Path, out: &Path, force: bool) -> Result<()> {
    files::check_output(
        out,
        "--out",
        files::Kind::Model,
        &[("MODEL", tflite)],
        force,
    )?;
    let bytes =
        std::fs::read(tflite).with_context(|| format!("cannot read {}", tflite.display()))?;
    let name = tflite
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    let imported = vigie_core::tflite::import(&bytes, &name)
        .map_err(|e| anyhow::anyhow!("{}: {e}", tflite.display()))?;
    let file = imported.model.to_bytes();
    let model = Model::from_bytes(&file)
        .map_err(|e| anyhow::anyhow!("the imported model does not load: {e}"))?;
    files::write_atomically(out, &file)?;
    println!(
        "{}: {} operators of {} became {} layers; {} bytes, arena {} bytes, {} MACs per inference",
        out.display(),
        imported.operators.len(),
        tflite.display(),
        model.def().layers.len(),
        file.len(),
        model.arena_len(),
        model.macs(),
    );
    for (i, (op, layer)) in imported.operators.iter().enumerate() {
        match layer {
            Some(l) => println!(
                "  operator {i:>2} {op:<16} -> layer {l} ({})",
                model.layer_kind(*l).unwrap_or("?")
            ),
            None => println!("  operator {i:>2} {op:<16} -> nothing (moves no data)"),
        }
    }
    println!("no drift monitor: an imported model has no reference data (`vigie inspect` shows the rest)");
    Ok(())
}
