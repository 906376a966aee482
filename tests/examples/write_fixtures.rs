//! Writes the test fixture models (a digits MLP and a BasicMotions CNN with
//! seeded weights, calibrated on the bundled data) into a folder, for
//! example as the fuzzer's seed corpus:
//! `cargo run -p vigie-tests --example write_fixtures -- fuzz/corpus/load_and_run`.

use vigie_tests::{basicmotions_cnn, calibrate, digits_mlp, load_table};

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "fixtures".into());
    std::fs::create_dir_all(&dir)?;
    let digits = load_table("digits.csv");
    let mut mlp = digits_mlp(&digits, 3);
    calibrate(&mut mlp, &digits.rows[..300]);
    let motions = load_table("basicmotions_train.csv");
    let mut cnn = basicmotions_cnn(&motions, 5);
    calibrate(&mut cnn, &motions.rows);
    for (name, model) in [("digits-mlp.vigie", mlp), ("basicmotions-cnn.vigie", cnn)] {
        let bytes = model.quantize().expect("fixture quantizes").to_bytes();
        let path = std::path::Path::new(&dir).join(name);
        std::fs::write(&path, &bytes)?;
        println!("{}: {} bytes", path.display(), bytes.len());
    }
    Ok(())
}
