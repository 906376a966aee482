//! `vigie keygen`, `vigie sign` and `vigie verify`: Ed25519 keys in text
//! files, and signed model files (`vigie_core::signature`).
//!
//! A key file is two lines: a label saying what it holds, then 64
//! hexadecimal digits (the 32-byte secret seed, or the public key).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use vigie_core::signature::{self, PUBLIC_KEY_LEN};
use vigie_core::Model;

use crate::files;

/// First line of a secret key file.
pub const SECRET_LABEL: &str = "vigie ed25519 secret key (keep it private; it signs models)";
/// First line of a public key file.
pub const PUBLIC_LABEL: &str = "vigie ed25519 public key (give it to devices; it verifies models)";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a key file: its label line, then 32 bytes in hexadecimal. Errors
/// name the file and the line.
pub fn read_key(path: &Path, label: &str) -> Result<[u8; 32]> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    if first.trim() != label {
        let other = if label == SECRET_LABEL {
            PUBLIC_LABEL
        } else {
            SECRET_LABEL
        };
        if first.trim() == other {
            bail!(
                "{}: line 1: this is a {} file, where a {} was expected",
                path.display(),
                if other == SECRET_LABEL {
                    "secret key"
                } else {
                    "public key"
                },
                if label == SECRET_LABEL {
                    "secret key (--key)"
                } else {
                    "public key (--pub)"
                }
            );
        }
        bail!(
            "{}: line 1: `{}` is not a vigie key label; write keys with `vigie keygen`",
            path.display(),
            first.trim()
        );
    }
    let digits = lines.next().unwrap_or("").trim();
    let mut key = [0u8; 32];
    if digits.len() != 64 {
        bail!(
            "{}: line 2: {} hexadecimal digits, where a key has 64",
            path.display(),
            digits.len()
        );
    }
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|_| {
            anyhow::anyhow!(
                "{}: line 2, column {}: `{}` is not hexadecimal",
                path.display(),
                2 * i + 1,
                &digits[2 * i..2 * i + 2]
            )
        })?;
    }
    Ok(key)
}

/// The public key file written beside a secret key file `key`.
pub fn public_path(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// `vigie keygen --out KEY`: a new key pair from the operating system's
/// randomness, the secret in `KEY` (readable by its owner only) and the
/// public key in `KEY.pub`. Never overwrites a key.
pub fn keygen(out: &Path) -> Result<()> {
    let public = public_path(out);
    for p in [out, public.as_path()] {
        if p.exists() {
            bail!(
                "{} exists; vigie never overwrites a key (a lost secret key cannot sign updates again): choose another --out or move it away",
                p.display()
            );
        }
    }
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| anyhow::anyhow!("no randomness from the operating system: {e}"))?;
    let pk = signature::public_key(&seed);
    let secret = format!("{SECRET_LABEL}\n{}\n", hex(&seed));
    files::write_atomically(out, secret.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", out.display()))?;
    }
    files::write_atomically(
        &public,
        format!("{PUBLIC_LABEL}\n{}\n", hex(&pk)).as_bytes(),
    )?;
    println!(
        "secret key {} (keep it private), public key {} ({})",
        out.display(),
        public.display(),
        hex(&pk)
    );
    Ok(())
}

/// The model's bytes with an update probe section
/// (`vigie_core::update::ProbeDef`): the training mean of each input
/// channel (zeros for a model without a monitor) and the CRC-32 of the
/// int8 output the model gives on it, for a device's dry run before it
/// switches to the model.
pub fn with_probe(model: &Model<'_>) -> Result<Vec<u8>> {
    use vigie_core::format::{le, section_kind, Section};
    use vigie_core::monitor::Monitor;
    let shape = model.input_shape();
    let (channels, length) = (shape.channels as usize, shape.length as usize);
    let monitor = Monitor::from_model(model)?;
    let mut input = vec![0.0f32; channels * length];
    if let Some(m) = &monitor {
        for (c, xs) in input.chunks_exact_mut(length).enumerate() {
            xs.fill(m.training_mean(c).unwrap_or(0.0));
        }
    }
    let mut arena = vec![0i8; model.arena_len()];
    let out = model.run(&input, &mut arena)?;
    let levels: Vec<u8> = out.raw().iter().map(|&q| q as u8).collect();
    let bytes = le::from_f32(&input);
    let probe = vigie_core::update::ProbeDef {
        input: &bytes,
        output_crc: vigie_core::format::crc32(&levels),
    };
    let data = postcard::to_allocvec(&probe)?;
    let mut def = model.def().clone();
    def.sections.retain(|s| s.kind != section_kind::PROBE);
    def.sections
        .push(Section {
            kind: section_kind::PROBE,
            required: false,
            data: &data,
        })
        .map_err(|_| anyhow::anyhow!("the model has no room for another section"))?;
    Ok(def.to_bytes())
}

/// `vigie sign --model M --key K [--out O]`: the model with its update
/// probe, signed (in place unless `--out`), once it loads and validates.
pub fn sign(model: &Path, key: &Path, out: Option<&Path>) -> Result<()> {
    println!("{}", sign_model(model, key, out)?);
    Ok(())
}

/// Signs as [`sign`] does, and returns what it did, for people.
pub fn sign_model(model: &Path, key: &Path, out: Option<&Path>) -> Result<String> {
    let seed = read_key(key, SECRET_LABEL)?;
    let bytes = files::read_model_file(model)?;
    let probed = with_probe(&files::load(model, &bytes)?)?;
    let signed =
        signature::sign(&probed, &seed).map_err(|e| anyhow::anyhow!("{}: {e}", model.display()))?;
    let target = out.unwrap_or(model);
    if out.is_some() {
        files::check_output(
            target,
            "--out",
            files::Kind::Model,
            &[("--model", model)],
            false,
        )?;
    }
    files::write_atomically(target, &signed)?;
    Ok(format!(
        "{}: signed by {} ({} bytes, {} of them the signature trailer; with an update probe)",
        target.display(),
        hex(&signature::public_key(&seed)),
        signed.len(),
        signature::TRAILER_LEN
    ))
}

/// `vigie verify --model M --pub P`: whether the model is signed by that
/// key and loads; exits non-zero when not.
pub fn verify(model: &Path, public: &Path) -> Result<()> {
    let pk: [u8; PUBLIC_KEY_LEN] = read_key(public, PUBLIC_LABEL)?;
    let bytes = files::read_model_file(model)?;
    Model::from_bytes_signed(&bytes, &pk)
        .map_err(|e| anyhow::anyhow!("{}: refused: {e}", model.display()))?;
    println!("{}: signed by {} and valid", model.display(), hex(&pk));
    Ok(())
}
