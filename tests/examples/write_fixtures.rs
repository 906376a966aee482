//! Writes the test fixture models (a digits MLP, a BasicMotions CNN and a
//! BasicMotions MLP on quantiles, with
//! seeded weights, calibrated on the bundled data) into a folder, for
//! example as the fuzzer's seed corpus:
//! `cargo run -p vigie-tests --example write_fixtures -- fuzz/corpus/load_and_run`.

use vigie_tests::fixture_models;

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "fixtures".into());
    std::fs::create_dir_all(&dir)?;
    for (name, bytes, _) in fixture_models() {
        let path = std::path::Path::new(&dir).join(name);
        std::fs::write(&path, &bytes)?;
        println!("{}: {} bytes", path.display(), bytes.len());
    }
    Ok(())
}
