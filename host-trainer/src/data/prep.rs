//! Splits and statistics: stratified, seeded splits, and standardization and
//! imputation statistics taken from the training split only.

use crate::data::{Dataset, Impute, Target};
use crate::rng::Rng;

/// Row indices of the three splits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splits {
    /// Training rows.
    pub train: Vec<usize>,
    /// Validation rows (early stopping, calibration of the monitor).
    pub val: Vec<usize>,
    /// Test rows (empty when a separate test file is used).
    pub test: Vec<usize>,
}

/// Splits rows into train/validation/test, stratified by class for
/// classification, seeded. `test` and `val` are fractions of all rows.
/// Rows whose features repeat an earlier row's go to that row's split, so
/// a duplicate never sits on both sides (it would leak the answer).
pub fn split(d: &Dataset, test: f64, val: f64, seed: u64) -> Splits {
    let mut rng = Rng(seed ^ 0x5EED_5EED_5EED_5EED);
    let groups: Vec<Vec<usize>> = match &d.target {
        Target::Classes { names, y } => (0..names.len())
            .map(|c| (0..y.len()).filter(|&i| y[i] == c).collect())
            .collect(),
        Target::Values { y, .. } => vec![(0..y.len()).collect()],
    };
    let mut s = Splits {
        train: vec![],
        val: vec![],
        test: vec![],
    };
    for mut g in groups {
        rng.shuffle(&mut g);
        let n = g.len() as f64;
        let n_test = (n * test).round() as usize;
        let n_val = ((n * val).round() as usize).min(g.len() - n_test.min(g.len()));
        let n_test = n_test.min(g.len());
        s.test.extend_from_slice(&g[..n_test]);
        s.val.extend_from_slice(&g[n_test..n_test + n_val]);
        s.train.extend_from_slice(&g[n_test + n_val..]);
    }
    let firsts = crate::data::checks::first_occurrences(d);
    if firsts.iter().any(Option::is_some) {
        let mut side = vec![0u8; d.len()];
        for (k, rows) in [&s.train, &s.val, &s.test].into_iter().enumerate() {
            for &r in rows {
                side[r] = k as u8;
            }
        }
        for (r, first) in firsts.iter().enumerate() {
            if let Some(f) = first {
                side[r] = side[*f];
            }
        }
        let pick = |k: u8| (0..d.len()).filter(|&r| side[r] == k).collect();
        s = Splits {
            train: pick(0),
            val: pick(1),
            test: pick(2),
        };
    }
    s.train.sort_unstable();
    s.val.sort_unstable();
    s.test.sort_unstable();
    s
}

/// Per-channel statistics of the training split.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Mean per channel (missing values ignored).
    pub mean: Vec<f32>,
    /// Standard deviation per channel (1 when constant).
    pub std: Vec<f32>,
    /// Value replacing a missing cell, per channel (empty without imputation).
    pub impute: Vec<f32>,
}

/// Channel `c`'s present values over `rows` of `d` (every sample of a
/// window).
fn samples<'d>(d: &'d Dataset, rows: &'d [usize], c: usize) -> impl Iterator<Item = f32> + 'd {
    let length = d.length;
    rows.iter().flat_map(move |&r| {
        d.row(r)[c * length..(c + 1) * length]
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
    })
}

/// Each channel's mean and standard deviation over `rows` of `d` (missing
/// values ignored; 0 for a constant channel).
pub fn moments(d: &Dataset, rows: &[usize]) -> Vec<(f64, f64)> {
    (0..d.channels.len())
        .map(|c| {
            let (mut count, mut sum) = (0usize, 0.0f64);
            for x in samples(d, rows, c) {
                count += 1;
                sum += x as f64;
            }
            let n = count.max(1) as f64;
            let mean = sum / n;
            let var = samples(d, rows, c)
                .map(|x| (x as f64 - mean).powi(2))
                .sum::<f64>()
                / n;
            (mean, var.sqrt())
        })
        .collect()
}

/// Per channel, its smallest and its largest value over `rows` of `d`
/// (every sample of a window), each kept only when at least `share` of the
/// values equal it: where values pile up at an end (a clipped or discrete
/// input).
pub fn piled_ends(d: &Dataset, rows: &[usize], share: f32) -> Vec<(Option<f32>, Option<f32>)> {
    (0..d.channels.len())
        .map(|c| {
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            let mut count = 0usize;
            for x in samples(d, rows, c) {
                lo = lo.min(x);
                hi = hi.max(x);
                count += 1;
            }
            if count == 0 || lo >= hi {
                return (None, None);
            }
            let (mut at_lo, mut at_hi) = (0usize, 0usize);
            for x in samples(d, rows, c) {
                at_lo += usize::from(x == lo);
                at_hi += usize::from(x == hi);
            }
            let piled = |n: usize| n as f64 >= share as f64 * count as f64;
            (piled(at_lo).then_some(lo), piled(at_hi).then_some(hi))
        })
        .collect()
}

/// Statistics of `rows` of `d`, channel by channel, streamed over the
/// rows (a median copies one channel at a time).
pub fn stats(d: &Dataset, rows: &[usize], impute: Option<Impute>) -> Stats {
    let mut s = Stats {
        mean: vec![],
        std: vec![],
        impute: vec![],
    };
    for (c, (mean, std)) in moments(d, rows).into_iter().enumerate() {
        s.mean.push(mean as f32);
        s.std.push(if std > 1e-12 { std as f32 } else { 1.0 });
        match impute {
            Some(Impute::Mean) => s.impute.push(mean as f32),
            Some(Impute::Median) => {
                let mut v: Vec<f32> = samples(d, rows, c).collect();
                v.sort_by(f32::total_cmp);
                s.impute
                    .push(if v.is_empty() { 0.0 } else { v[v.len() / 2] });
            }
            None => {}
        }
    }
    s
}

/// Standardized copy of the rows (missing cells imputed): what the float
/// network trains on, `rows × (channels · length)`.
pub fn standardized(d: &Dataset, rows: &[usize], s: &Stats) -> Vec<f32> {
    let length = d.length;
    let mut out = Vec::with_capacity(rows.len() * d.width());
    for &r in rows {
        for (i, &v) in d.row(r).iter().enumerate() {
            let c = i / length;
            let v = if v.is_nan() {
                s.impute.get(c).copied().unwrap_or(s.mean[c])
            } else {
                v
            };
            out.push((v - s.mean[c]) / s.std[c]);
        }
    }
    out
}
