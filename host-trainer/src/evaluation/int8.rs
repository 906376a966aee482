//! What the device gives on rows of a data set, through a vigie-core
//! session, and its metrics against the truth.

use anyhow::{bail, Context, Result};
use vigie_core::Model;

use crate::data::{Dataset, Target};
use crate::evaluation::metrics::{self, TestMetrics};

/// What the device gives for rows of a data set, through a session.
pub struct Int8<'a> {
    /// Dequantized outputs, `output_len` per row.
    pub values: Vec<f32>,
    /// The raw int8 output levels, `output_len` per row (probabilities at
    /// any temperature come from them: `vigie_core::engine::level_probability`).
    pub levels: Vec<i8>,
    /// The session's decision per row (classifiers).
    pub decisions: Vec<vigie_core::decision::Decision<'a>>,
}

impl Int8<'_> {
    /// The decided class of each row.
    pub fn classes(&self) -> Vec<usize> {
        self.decisions.iter().map(|d| d.index).collect()
    }
}

/// Int8 outputs and decisions of `model` on rows of `d`, through a
/// vigie-core session (what the device computes and decides).
pub fn int8_outputs<'a>(model: &Model<'a>, d: &Dataset, rows: &[usize]) -> Result<Int8<'a>> {
    let mut memory = crate::device::Memory::new(model, None);
    let mut session = memory.session(model, None)?;
    let mut out = Int8 {
        values: Vec::with_capacity(rows.len() * model.output_len()),
        levels: Vec::with_capacity(rows.len() * model.output_len()),
        decisions: Vec::new(),
    };
    for &r in rows {
        let inferred = session
            .infer(d.row(r))
            .with_context(|| format!("{}: row {} (line {})", d.source.display(), r, r + 2))?;
        if let vigie_core::Inference::Skipped { index } = inferred.inference {
            bail!(
                "{}: row {} (line {}): input value {index} is missing or infinite and the model does not impute",
                d.source.display(),
                r,
                r + 2
            );
        }
        out.decisions.extend(inferred.decision().copied());
        let output = session.output()?;
        out.values.extend(output.values());
        out.levels.extend_from_slice(output.raw());
    }
    Ok(out)
}

fn argmax_rows(v: &[f32], k: usize) -> Vec<usize> {
    v.chunks(k)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(0, |b, (i, x)| if *x > row[b] { i } else { b })
        })
        .collect()
}

/// Metrics of float and int8 outputs against the truth. The int8 classes
/// are the session's decisions.
pub fn compare(
    d: &Dataset,
    rows: &[usize],
    float: Option<&[f32]>,
    int8: &Int8,
    k: usize,
) -> TestMetrics {
    match &d.target {
        Target::Classes { names, y } => {
            let truth: Vec<usize> = rows.iter().map(|&r| y[r]).collect();
            let int8_pred = int8.classes();
            let m8 = metrics::classification(&truth, &int8_pred, names.len());
            let (mut float_m, mut agreement, mut drop) = (None, None, None);
            if let Some(f) = float {
                let fp = argmax_rows(f, k);
                let mf = metrics::classification(&truth, &fp, names.len());
                let agree = fp.iter().zip(&int8_pred).filter(|(a, b)| a == b).count() as f64
                    / fp.len().max(1) as f64;
                agreement = Some(agree);
                drop = Some(100.0 * (mf.accuracy - m8.accuracy));
                float_m = Some(mf);
            }
            TestMetrics::Classification {
                rows: rows.len(),
                classes: names.clone(),
                int8: m8,
                float: float_m,
                agreement,
                accuracy_drop_points: drop,
            }
        }
        Target::Values { y, .. } => {
            let truth: Vec<f32> = rows.iter().map(|&r| y[r]).collect();
            let int8 = &int8.values;
            let m8 = metrics::regression(&truth, int8);
            let (mut float_m, mut diff) = (None, None);
            if let Some(f) = float {
                float_m = Some(metrics::regression(&truth, f));
                diff = Some(
                    f.iter()
                        .zip(int8)
                        .map(|(a, b)| (a - b).abs() as f64)
                        .sum::<f64>()
                        / f.len().max(1) as f64,
                );
            }
            TestMetrics::Regression {
                rows: rows.len(),
                int8: m8,
                float: float_m,
                float_int8_mean_abs_diff: diff,
            }
        }
    }
}
