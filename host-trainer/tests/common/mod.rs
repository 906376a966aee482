//! Helpers shared by the command-line tests: run the built `vigie`, find
//! the repository's files, and make a fresh scratch folder.
#![allow(dead_code)] // each test file uses some of them

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the built `vigie` with `args`.
pub fn vigie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .output()
        .expect("vigie runs")
}

/// Runs `vigie` expecting it to succeed (showing its standard error when it
/// does not); returns its output.
#[track_caller]
pub fn succeeds(args: &[&str]) -> Output {
    let o = vigie(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Runs `vigie` expecting success, and asserts that its standard output
/// says each of `parts`; returns that output.
#[track_caller]
pub fn prints(args: &[&str], parts: &[&str]) -> String {
    let text = String::from_utf8_lossy(&succeeds(args).stdout).into_owned();
    for part in parts {
        says(&text, part);
    }
    text
}

/// A path inside the repository.
pub fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .display()
        .to_string()
}

/// A bundled data set.
pub fn data(file: &str) -> String {
    repo(&format!("data/{file}"))
}

/// A fresh folder for one test's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigie-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A path as a `&str` argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Runs `vigie` expecting it to fail; returns standard error.
pub fn refused(args: &[&str]) -> String {
    let o = vigie(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Trains a model with seed 0 on the bundled `file` for `target` into
/// `out`, with `extra` flags, expecting success; returns the output.
#[track_caller]
pub fn train_bundled(file: &str, target: &str, out: &Path, extra: &[&str]) -> Output {
    let path = data(file);
    let mut args = vec![
        "train",
        "--seed",
        "0",
        "--data",
        &path,
        "--target",
        target,
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    succeeds(&args)
}

/// Trains a quick (5-epoch) wine-quality model on `csv` into `out`, with
/// `extra` flags; returns standard error.
pub fn train_quick_wine(csv: &Path, out: &Path, extra: &[&str]) -> String {
    let quick = repo("examples/quick.toml");
    let mut args = vec![
        "train",
        "--quiet",
        "--seed",
        "0",
        "--data",
        s(csv),
        "--target",
        "quality",
        "--config",
        &quick,
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    let o = vigie(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `vigie` with the words of `line` (paths without spaces), expecting
/// it to fail; returns standard error.
pub fn refused_line(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    refused(&words)
}

/// Asserts that `text` (an error, an output) says `part`, showing it whole
/// when it does not.
#[track_caller]
pub fn says(text: &str, part: &str) {
    assert!(text.contains(part), "`{part}` missing from:\n{text}");
}

/// A headless browser on this machine (Debian's `chromium`, which
/// `./test.sh` installs), if any.
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}
