//! `vigie explain` on real data: permutation importance through the core
//! ranks alcohol first on winequality-red (its best known predictor), and
//! `--row` gives one occlusion attribution per input.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn repo(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(p)
        .display()
        .to_string()
}

fn vigie(args: &[&str]) -> Value {
    let o = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .output()
        .expect("vigie runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}

#[test]
fn wine_importance_ranks_alcohol_first_and_row_attribution_covers_every_input() {
    let model = std::env::temp_dir().join(format!("vigie-explain-{}.vigie", std::process::id()));
    let model = model.display().to_string();
    let wine = repo("data/winequality-red.csv");
    vigie(&[
        "train", "--quiet", "--seed", "0", "--data", &wine, "--target", "quality", "--out", &model,
    ]);

    let e = vigie(&["explain", "--json", "--model", &model, "--data", &wine]);
    let imp = e["importance"].as_array().unwrap();
    assert_eq!(imp.len(), 11);
    assert_eq!(imp[0]["feature"], "alcohol", "{imp:?}");
    // Shuffling the best feature costs accuracy well beyond its spread.
    let (drop, sd) = (
        imp[0]["drop"].as_f64().unwrap(),
        imp[0]["sd"].as_f64().unwrap(),
    );
    assert!(drop > 0.05 && drop > 3.0 * sd, "{drop} ± {sd}");

    let r = vigie(&[
        "explain", "--json", "--model", &model, "--data", &wine, "--row", "3",
    ]);
    assert_eq!(r["line"], 5);
    assert_eq!(r["attributions"].as_array().unwrap().len(), 11);
    let o = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args([
            "explain", "--model", &model, "--data", &wine, "--row", "5000",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("has 1599 data rows"));
    let _ = std::fs::remove_file(&model);
}
