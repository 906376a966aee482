//! `vigie explain` on real data: permutation importance through the core
//! ranks alcohol first on winequality-red (its best known predictor),
//! measured on the rows the model was not trained on, and
//! `--row` gives one occlusion attribution per input.

mod common;
use common::{repo, scratch, vigie};

use serde_json::Value;

/// Runs `vigie`, which must succeed, and reads its JSON output.
fn vigie_json(args: &[&str]) -> Value {
    let o = vigie(args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
}

#[test]
fn wine_importance_ranks_alcohol_first_and_row_attribution_covers_every_input() {
    let model = scratch("explain").join("wine.vigie").display().to_string();
    let wine = repo("data/winequality-red.csv");
    vigie_json(&[
        "train", "--quiet", "--seed", "0", "--data", &wine, "--target", "quality", "--out", &model,
    ]);

    let e = vigie_json(&["explain", "--json", "--model", &model, "--data", &wine]);
    let imp = e["importance"].as_array().unwrap();
    assert_eq!(imp.len(), 11);
    // Measured on the rows the model was not trained on: the training and
    // validation rows of the file are recognized and left out.
    let (rows, seen) = (
        e["rows"].as_u64().unwrap(),
        e["training_rows"].as_u64().unwrap(),
    );
    assert_eq!(rows + seen, 1599);
    assert!(
        seen > 1100 && seen < 1300,
        "{seen} training rows recognized"
    );
    assert_eq!(imp[0]["feature"], "alcohol", "{imp:?}");
    // Shuffling the best feature costs accuracy well beyond its spread.
    let (drop, sd) = (
        imp[0]["drop"].as_f64().unwrap(),
        imp[0]["sd"].as_f64().unwrap(),
    );
    assert!(drop > 0.05 && drop > 3.0 * sd, "{drop} ± {sd}");

    let r = vigie_json(&[
        "explain", "--json", "--model", &model, "--data", &wine, "--row", "3",
    ]);
    assert_eq!(r["line"], 5);
    assert_eq!(r["attributions"].as_array().unwrap().len(), 11);
    let o = vigie(&[
        "explain", "--model", &model, "--data", &wine, "--row", "5000",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("has 1599 data rows"));
}
