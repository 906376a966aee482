//! `vigie strip`: the device copy of a model file.

use std::path::Path;

use anyhow::Result;
use vigie_core::Model;

use crate::files;

/// `vigie strip`: the model without its host-only sections.
pub fn strip(model_path: &Path, out: &Path, force: bool) -> Result<()> {
    files::check_output(
        out,
        "--out",
        files::Kind::Model,
        &[("--model", model_path)],
        force,
    )?;
    let bytes = files::read_model_file(model_path)?;
    let model = files::load(model_path, &bytes)?;
    let mut def = model.def().clone();
    let dropped: Vec<&str> = def
        .sections
        .iter()
        .filter(|s| vigie_core::format::section_kind::HOST_ONLY.contains(&s.kind))
        .map(|s| vigie_core::format::section_kind::name(s.kind))
        .collect();
    def.strip_host_sections();
    let stripped = def.to_bytes();
    // What is written must load and run exactly as before.
    Model::from_bytes(&stripped)
        .map_err(|e| anyhow::anyhow!("the stripped model does not load: {e}"))?;
    files::write_atomically(out, &stripped)?;
    println!(
        "{}: {} bytes (was {}; dropped the host-only sections: {})",
        out.display(),
        stripped.len(),
        bytes.len(),
        if dropped.is_empty() {
            "none".to_string()
        } else {
            dropped.join(", ")
        }
    );
    Ok(())
}
