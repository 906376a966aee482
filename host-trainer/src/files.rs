//! Files a person gives and gets: model files read with their path in
//! every error, outputs checked before any work (never one of the
//! command's inputs, never a file of another kind without `--force`) and
//! written atomically.

use std::path::Path;

use anyhow::{bail, Context, Result};
use vigie_core::Model;

/// Reads a model file, with the path in every error.
pub fn read_model_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read model file {}", path.display()))
}

/// Loads a model, naming the file in the error.
pub fn load<'a>(path: &Path, bytes: &'a [u8]) -> Result<Model<'a>> {
    Model::from_bytes(bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Bytes of the model's device copy: the file without its host-only
/// sections (what `vigie strip` writes, what a microcontroller's flash
/// holds).
pub fn device_len(model: &Model<'_>) -> usize {
    let mut def = model.def().clone();
    def.strip_host_sections();
    def.to_bytes().len()
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// failure never leaves a half-written file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        bail!("cannot write {}: {e}", path.display());
    }
    Ok(())
}

/// What a command writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `.vigie` model file.
    Model,
    /// A replay stream (`vigie stream`).
    Stream,
    /// Predictions, CSV (`vigie predict`).
    Predictions,
    /// The model card, HTML (`vigie report`).
    Html,
    /// Report frames (`vigie fleet simulate`, `vigie replay --frames`).
    /// They have no header, and a device's capture looks the same, so an
    /// existing file is replaced without `--force` only when the command
    /// knows it for its own output ([`first_report`]).
    Frames,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Model => "a vigie model",
            Kind::Stream => "a vigie replay stream",
            Kind::Predictions => "predictions",
            Kind::Html => "an HTML page",
            Kind::Frames => "report frames",
        }
    }
}

/// [`check_output`] for a frames file, which has no header: an existing
/// `out` whose first report is the command's `own` earlier output is
/// replaced freely; anything else (a device's capture included) as
/// [`check_output`] says.
pub fn check_frames_output(
    out: &Path,
    flag: &str,
    inputs: &[(&str, &Path)],
    force: bool,
    own: impl Fn(&vigie_core::report::Report) -> bool,
) -> Result<()> {
    if first_report(out).is_some_and(|r| own(&r)) {
        return Ok(());
    }
    check_output(out, flag, Kind::Frames, inputs, force)
}

/// The first report of a frames file (leading zero bytes skipped), if its
/// first piece is one.
fn first_report(path: &Path) -> Option<vigie_core::report::Report> {
    use std::io::Read;
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(path)
        .ok()?
        .take(512)
        .read_to_end(&mut head)
        .ok()?;
    let start = head.iter().position(|&b| b != 0)?;
    let piece = head[start..].split(|&b| b == 0).next()?;
    vigie_core::report::read_frame(piece).ok()
}

/// What an existing file holds, from its first bytes.
fn sniff(path: &Path) -> Option<Result<Kind, &'static str>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(512);
    let file = std::fs::File::open(path).ok()?;
    file.take(512).read_to_end(&mut head).ok()?;
    if head.starts_with(b"VIGI") {
        return Some(Ok(Kind::Model));
    }
    if head.starts_with(b"VRPL") {
        return Some(Ok(Kind::Stream));
    }
    let text = String::from_utf8_lossy(&head);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let lower = text.to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        return Some(Ok(Kind::Html));
    }
    if text.starts_with("row,") {
        return Some(Ok(Kind::Predictions));
    }
    if head.is_empty() {
        return None; // an empty file holds nothing to lose
    }
    Some(Err(if std::str::from_utf8(&head).is_ok() {
        "a text or CSV file (data?)"
    } else {
        "a binary file"
    }))
}

/// Whether two existing paths are one file: the same canonical path
/// (symbolic links resolved) or the same inode (hard links).
fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(x), Ok(y)) = (a.canonicalize(), b.canonicalize()) {
        if x == y {
            return true;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    false
}

/// Refuses to write `out` (as `flag`, holding `kind`) over one of the
/// command's `inputs` (`(flag, path)`), whatever `force` says, and over an
/// existing file of another kind unless `force`. Called before any work, so
/// a slip costs nothing.
pub fn check_output(
    out: &Path,
    flag: &str,
    kind: Kind,
    inputs: &[(&str, &Path)],
    force: bool,
) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!(
                "{flag} {}: the folder {} does not exist; create it, or choose another {flag} path",
                out.display(),
                dir.display()
            );
        }
    }
    if out.is_dir() {
        bail!(
            "{flag} {}: that is a folder; give a file path in it",
            out.display()
        );
    }
    if !out.exists() {
        return Ok(());
    }
    for (input_flag, input) in inputs {
        if same_file(out, input) {
            bail!(
                "{flag} {}: that is the file given as {input_flag}; writing {} there would destroy it. Choose another {flag} path (--force never overwrites an input)",
                out.display(),
                kind.name()
            );
        }
    }
    match sniff(out) {
        Some(Ok(found)) if found == kind => Ok(()),
        None => Ok(()),
        _ if force => Ok(()),
        Some(found) => {
            let what = match found {
                Ok(k) => k.name(),
                Err(what) => what,
            };
            bail!(
                "{flag} {}: the file exists and holds {what}, not {}; choose another {flag} path, or pass --force to replace it",
                out.display(),
                kind.name()
            )
        }
    }
}
