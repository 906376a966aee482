//! Data checks: what is wrong with a data set before a model learns it.
//! `vigie check-data` prints them ranked; `vigie train` runs them, refuses
//! leakage unless told `--allow-leakage`, and stores them in the model
//! (section `DATA_CHECKS`, JSON).

use std::collections::HashMap;

use serde::Serialize;

use crate::data::{Dataset, Target};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Makes test figures meaningless (leakage): `--strict` fails on it and
    /// `vigie train` refuses it.
    Blocking,
    /// Worth fixing or at least knowing.
    Warning,
    /// For the record.
    Info,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// Which check: `missing`, `constant`, `near_constant`, `duplicates`,
    /// `train_test_overlap`, `target_leakage`, `imbalance`, `shift`,
    /// `outliers`; with `--group`, `group_share`, `group_too_small`,
    /// `group_label_mix`, `group_missing`.
    pub check: &'static str,
    /// The column, when one is to blame.
    pub column: Option<String>,
    /// The check's statistic (share, count, accuracy, KS distance…).
    pub value: f64,
    /// What was found and what to do, for a person.
    pub message: String,
}

/// Share of one value above which a column is near-constant.
const NEAR_CONSTANT_SHARE: f64 = 0.99;
/// Accuracy of a one-column rule (or |correlation| for regression) from
/// which a column is reported as strong (a warning): real features of the
/// bundled data sets stay below 0.75.
const STRONG_SCORE: f64 = 0.98;
/// Share of rows a one-column rule may get wrong and still be a copy of
/// the target (blocking). A real sensor that is right on 99.6% of rows
/// errs on 0.4% of them: four times this.
const COPY_ERROR: f64 = 0.001;
/// A strong column whose rule, learned on the training file, gains less
/// than this share of its training gain over the majority class on the
/// test file holds information that only the training file has.
const TRAIN_ONLY_GAIN: f64 = 0.25;
/// Majority/minority class ratio from which imbalance is a warning.
const IMBALANCE_RATIO: f64 = 10.0;
/// Two-sample Kolmogorov-Smirnov coefficient c(α) for α = 0.001: a shift
/// is reported when D > c·sqrt((n+m)/(n·m)).
const KS_C_ALPHA: f64 = 1.95;
/// Robust z-score (median, 1.4826·MAD) beyond which a value is an outlier.
const OUTLIER_Z: f64 = 8.0;
/// Share of outliers in a column from which they are reported.
const OUTLIER_SHARE: f64 = 0.001;
/// Bins of the one-column rule for columns with many distinct values.
const RULE_BINS: usize = 20;
/// Rows below which the leakage check stays silent: with a few dozen rows
/// an honest feature often separates the classes perfectly by chance.
const MIN_ROWS_FOR_LEAKAGE: usize = 100;

fn column_values(d: &Dataset, col: usize) -> Vec<f32> {
    let width = d.features.len();
    (0..d.len()).map(|r| d.x[r * width + col]).collect()
}

/// Every sample of one input channel (all its time steps, all rows).
fn channel_values(d: &Dataset, ch: usize) -> Vec<f32> {
    let len = d.length;
    (0..d.len())
        .flat_map(|r| d.row(r)[ch * len..(ch + 1) * len].to_vec())
        .collect()
}

/// Rows of each class.
fn class_counts(classes: usize, y: &[usize]) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for &c in y {
        counts[c] += 1;
    }
    counts
}

/// The largest class's share of `y`.
fn majority_share(classes: usize, y: &[usize]) -> f64 {
    class_counts(classes, y).into_iter().max().unwrap_or(0) as f64 / y.len().max(1) as f64
}

/// A hash of a row's feature bits: rows are compared through it (8 bytes
/// a row, not a copy of the row), then bit for bit.
fn row_hash(d: &Dataset, r: usize) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in d.row(r) {
        v.to_bits().hash(&mut h);
    }
    h.finish()
}

/// Whether two rows hold the same feature bits.
fn same_row(a: &Dataset, ra: usize, b: &Dataset, rb: usize) -> bool {
    a.row(ra)
        .iter()
        .zip(b.row(rb))
        .all(|(x, y)| x.to_bits() == y.to_bits())
}

/// For every row whose features repeat an earlier row's, that earlier
/// row (the first occurrence).
pub fn first_occurrences(d: &Dataset) -> Vec<Option<usize>> {
    let mut seen: HashMap<u64, usize> = HashMap::with_capacity(d.len());
    (0..d.len())
        .map(|r| match seen.entry(row_hash(d, r)) {
            std::collections::hash_map::Entry::Occupied(e) => {
                Some(*e.get()).filter(|&first| same_row(d, first, d, r))
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(r);
                None
            }
        })
        .collect()
}

/// Runs every check on a training file and, if given, a test file.
pub fn run(train: &Dataset, test: Option<&Dataset>) -> Vec<Finding> {
    let mut out = Vec::new();
    missing(train, &mut out);
    if let Some(t) = test {
        missing(t, &mut out);
    }
    constant(train, &mut out);
    categorical(train, test, &mut out);
    duplicates(train, &mut out);
    if let Some(t) = test {
        overlap(train, t, &mut out);
        shift(train, t, &mut out);
    }
    target_leakage(train, test, &mut out);
    imbalance(train, &mut out);
    outliers(train, &mut out);
    out.sort_by(|a, b| {
        a.severity.cmp(&b.severity).then(
            b.value
                .partial_cmp(&a.value)
                .unwrap_or(std::cmp::Ordering::Equal),
        )
    });
    out
}

fn missing(d: &Dataset, out: &mut Vec<Finding>) {
    let n = d.len().max(1) as f64;
    for (c, name) in d.features.iter().enumerate() {
        let values = column_values(d, c);
        let count = values.iter().filter(|v| v.is_nan()).count();
        if count > 0 {
            let first = values.iter().position(|v| v.is_nan()).unwrap_or(0) + 2;
            out.push(Finding {
                severity: Severity::Warning,
                check: "missing",
                column: Some(name.clone()),
                value: count as f64 / n,
                message: format!(
                    "{}: column `{name}` has {count} missing cells ({:.1}%), the first on line {first}; fill them or train with --impute mean|median",
                    d.file_name(),
                    100.0 * count as f64 / n
                ),
            });
        }
    }
}

/// Categorical columns and their levels (info), and levels a test file
/// has that the training file does not (warning: the model reads them as
/// "other").
fn categorical(d: &Dataset, test: Option<&Dataset>, out: &mut Vec<Finding>) {
    for c in &d.raw_columns {
        let Some(levels) = &c.levels else { continue };
        let shown: Vec<&str> = levels
            .iter()
            .map(|l| {
                if l.is_empty() {
                    "(missing)"
                } else {
                    l.as_str()
                }
            })
            .collect();
        out.push(Finding {
            severity: Severity::Info,
            check: "categorical",
            column: Some(c.name.clone()),
            value: levels.len() as f64,
            message: format!(
                "column `{}` holds text: {} levels ({}), encoded one-hot with one more input for levels the training file does not have",
                c.name,
                levels.len(),
                shown.join(", ")
            ),
        });
    }
    for (column, level, rows) in test.map_or(&[][..], |t| &t.unseen_levels[..]) {
        out.push(Finding {
            severity: Severity::Warning,
            check: "unseen_level",
            column: Some(column.clone()),
            value: *rows as f64,
            message: format!(
                "level `{level}` of `{column}` appears only in the test file ({rows} rows): the model reads it as `{column}=(other)`, which it never saw in training"
            ),
        });
    }
}

fn constant(d: &Dataset, out: &mut Vec<Finding>) {
    for (c, name) in d.features.iter().enumerate() {
        // A categorical column's "other" input is empty in training by
        // construction.
        if name.ends_with("=(other)") {
            continue;
        }
        let values: Vec<f32> = column_values(d, c)
            .into_iter()
            .filter(|v| !v.is_nan())
            .collect();
        if values.is_empty() {
            continue;
        }
        let mut counts: HashMap<u32, usize> = HashMap::new();
        for v in &values {
            *counts.entry(v.to_bits()).or_default() += 1;
        }
        let top = *counts.values().max().unwrap_or(&0) as f64 / values.len() as f64;
        if counts.len() == 1 {
            out.push(Finding {
                severity: Severity::Warning,
                check: "constant",
                column: Some(name.clone()),
                value: 1.0,
                message: format!(
                    "column `{name}` holds one value ({}) in every row: it tells the model nothing; leave it out (--drop {name})",
                    values[0]
                ),
            });
        } else if top >= NEAR_CONSTANT_SHARE {
            out.push(Finding {
                severity: Severity::Info,
                check: "near_constant",
                column: Some(name.clone()),
                value: top,
                message: format!(
                    "column `{name}` holds one value in {:.1}% of rows",
                    100.0 * top
                ),
            });
        }
    }
}

fn duplicates(d: &Dataset, out: &mut Vec<Finding>) {
    let firsts = first_occurrences(d);
    let dups: Vec<usize> = (0..d.len()).filter(|&r| firsts[r].is_some()).collect();
    if dups.is_empty() {
        return;
    }
    let conflicting = dups
        .iter()
        .filter(|&&r| {
            let f = firsts[r].unwrap_or(r);
            match &d.target {
                Target::Classes { y, .. } => y[r] != y[f],
                Target::Values { y, .. } => y[r].to_bits() != y[f].to_bits(),
            }
        })
        .count();
    out.push(Finding {
        severity: Severity::Warning,
        check: "duplicates",
        column: None,
        value: dups.len() as f64,
        message: format!(
            "{}: {} rows repeat an earlier row's features (the first on line {}, same as line {}){}; vigie train keeps repeated rows on one side of its split so they cannot leak into the test split",
            d.file_name(),
            dups.len(),
            dups[0] + 2,
            firsts[dups[0]].unwrap_or(0) + 2,
            if conflicting > 0 {
                format!(", {conflicting} of them with a different target (label noise)")
            } else {
                String::new()
            }
        ),
    });
}

fn overlap(train: &Dataset, test: &Dataset, out: &mut Vec<Finding>) {
    let keys: HashMap<u64, usize> = (0..train.len()).map(|r| (row_hash(train, r), r)).collect();
    let shared: Vec<(usize, usize)> = (0..test.len())
        .filter_map(|r| {
            keys.get(&row_hash(test, r))
                .filter(|&&t| same_row(train, t, test, r))
                .map(|&t| (r, t))
        })
        .collect();
    if let Some(&(first_test, first_train)) = shared.first() {
        out.push(Finding {
            severity: Severity::Blocking,
            check: "train_test_overlap",
            column: None,
            value: shared.len() as f64,
            message: format!(
                "{} of {} test rows also appear in the training file (the first: {} line {} = {} line {}): test figures would be inflated; remove them from one file",
                shared.len(),
                test.len(),
                test.file_name(),
                first_test + 2,
                train.file_name(),
                first_train + 2
            ),
        });
    }
}

/// The best one-column rule: value bin → majority class, learned on
/// `values` and `y`.
struct Rule {
    edges: Vec<f32>,
    class_of_bin: Vec<usize>,
}

impl Rule {
    fn learn(values: &[f32], y: &[usize], classes: usize) -> Rule {
        let mut distinct: Vec<f32> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        distinct.sort_by(f32::total_cmp);
        distinct.dedup();
        let edges: Vec<f32> = if distinct.len() <= 50 {
            distinct.clone()
        } else {
            (1..RULE_BINS)
                .map(|i| distinct[i * distinct.len() / RULE_BINS])
                .collect()
        };
        let mut rule = Rule {
            class_of_bin: vec![0; edges.len() + 2],
            edges,
        };
        let mut table = vec![vec![0usize; classes]; rule.class_of_bin.len()];
        for (&v, &c) in values.iter().zip(y) {
            table[rule.bin(v)][c] += 1;
        }
        for (b, row) in table.iter().enumerate() {
            rule.class_of_bin[b] = (0..classes)
                .max_by_key(|&c| (row[c], usize::MAX - c))
                .unwrap_or(0);
        }
        rule
    }

    fn bin(&self, v: f32) -> usize {
        if v.is_nan() {
            self.edges.len() + 1
        } else {
            self.edges.partition_point(|&e| e < v)
        }
    }

    /// Share of rows the rule classifies right.
    fn accuracy(&self, values: &[f32], y: &[usize]) -> f64 {
        let right = values
            .iter()
            .zip(y)
            .filter(|(&v, &c)| self.class_of_bin[self.bin(v)] == c)
            .count();
        right as f64 / values.len().max(1) as f64
    }
}

/// Whether the column is (all but `COPY_ERROR` of its rows) one value per
/// class: a deterministic function of the label, such as a grouping of it.
/// A (near-)constant column is one value per class too, and says nothing:
/// it is left to the constant check.
fn function_of_label(values: &[f32], y: &[usize], classes: usize) -> bool {
    let mut all: HashMap<u32, usize> = HashMap::new();
    for v in values {
        *all.entry(v.to_bits()).or_default() += 1;
    }
    let top = all.values().max().copied().unwrap_or(0);
    if top as f64 >= NEAR_CONSTANT_SHARE * values.len() as f64 {
        return false;
    }
    let mut per_class: Vec<HashMap<u32, usize>> = vec![HashMap::new(); classes];
    for (&v, &c) in values.iter().zip(y) {
        *per_class[c].entry(v.to_bits()).or_default() += 1;
    }
    let off: usize = per_class
        .iter()
        .map(|m| m.values().sum::<usize>() - m.values().max().copied().unwrap_or(0))
        .sum();
    (off as f64) <= COPY_ERROR * values.len() as f64
}

/// Target leakage: a column that looks like a copy of the target blocks
/// (a near-perfect one-column rule, a deterministic function of the label,
/// or a strong rule whose information appears only in the training file);
/// a column that is only strong is a warning that says how strong.
fn target_leakage(d: &Dataset, test: Option<&Dataset>, out: &mut Vec<Finding>) {
    if d.length > 1 || d.len() < MIN_ROWS_FOR_LEAKAGE {
        return; // window samples are not columns a target could be copied into
    }
    let majority = match &d.target {
        Target::Classes { names, y } => majority_share(names.len(), y),
        Target::Values { .. } => 0.0,
    };
    if majority >= 1.0 - COPY_ERROR {
        return; // a single-class target: accuracy says nothing
    }
    // When one class is already `STRONG_SCORE` of the rows, every column's
    // rule is that strong: only copies of the target are worth a word.
    let skewed = majority >= STRONG_SCORE;
    for (c, name) in d.features.iter().enumerate() {
        let values = column_values(d, c);
        let (score, copy, what) = match &d.target {
            Target::Classes { names, y } => {
                let rule = Rule::learn(&values, y, names.len());
                let acc = rule.accuracy(&values, y);
                let train_only = test.filter(|_| !skewed).and_then(|t| match &t.target {
                    Target::Classes { names: tn, y: ty } if t.len() >= MIN_ROWS_FOR_LEAKAGE => {
                        let test_acc = rule.accuracy(&column_values(t, c), ty);
                        // Each file's gain over its own majority class.
                        let test_majority = majority_share(tn.len(), ty);
                        let gain = acc - majority;
                        (acc >= STRONG_SCORE && test_acc - test_majority < TRAIN_ONLY_GAIN * gain)
                            .then_some(test_acc)
                    }
                    _ => None,
                });
                let base = format!(
                    "alone classifies {:.1}% of rows right (the majority class: {:.1}%)",
                    100.0 * acc,
                    100.0 * majority
                );
                if acc >= 1.0 - COPY_ERROR {
                    (acc, true, base)
                } else if function_of_label(&values, y, names.len()) {
                    (
                        acc,
                        true,
                        format!(
                            "takes one value per class: it is a function of the label ({base})"
                        ),
                    )
                } else if let Some(t) = train_only {
                    (
                        acc,
                        true,
                        format!("{base} in the training file but {:.1}% in the test file: its information is only in the training file", 100.0 * t),
                    )
                } else {
                    (acc, false, base)
                }
            }
            Target::Values { y, .. } => {
                let r = correlation(&values, y).abs();
                (
                    r,
                    r >= 1.0 - COPY_ERROR,
                    format!("alone has a correlation of {r:.4} with the target"),
                )
            }
        };
        if copy {
            out.push(Finding {
                severity: Severity::Blocking,
                check: "target_leakage",
                column: Some(name.clone()),
                value: score,
                message: format!(
                    "column `{name}` {what}: it looks like a copy of the target, which the device will not have; leave it out (--drop {name}) or pass --allow-leakage if it is real"
                ),
            });
        } else if score >= STRONG_SCORE && !skewed {
            out.push(Finding {
                severity: Severity::Warning,
                check: "strong_feature",
                column: Some(name.clone()),
                value: score,
                message: format!(
                    "column `{name}` {what}: a strong feature, not a copy of the target; make sure the device measures it before the label is known"
                ),
            });
        }
    }
}

fn correlation(x: &[f32], y: &[f32]) -> f64 {
    let pairs: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(a, b)| !a.is_nan() && !b.is_nan())
        .map(|(&a, &b)| (a as f64, b as f64))
        .collect();
    let n = pairs.len().max(1) as f64;
    let (mx, my) = pairs
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (a, b)| (sx + a / n, sy + b / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in &pairs {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

fn imbalance(d: &Dataset, out: &mut Vec<Finding>) {
    let Target::Classes { names, y } = &d.target else {
        return;
    };
    let counts = class_counts(names.len(), y);
    let (max, min) = (
        *counts.iter().max().unwrap_or(&0),
        *counts.iter().min().unwrap_or(&0),
    );
    let ratio = max as f64 / min.max(1) as f64;
    if ratio >= IMBALANCE_RATIO {
        let list: Vec<String> = names
            .iter()
            .zip(&counts)
            .map(|(n, c)| format!("{n}: {c}"))
            .collect();
        out.push(Finding {
            severity: Severity::Warning,
            check: "imbalance",
            column: None,
            value: ratio,
            message: format!(
                "classes are imbalanced {ratio:.0} to 1 ({}); accuracy hides the rare classes: read macro-F1, and consider class weights or a cost matrix",
                list.join(", ")
            ),
        });
    }
}

/// Two-sample Kolmogorov-Smirnov distance.
fn ks(a: &[f32], b: &[f32]) -> f64 {
    let mut a: Vec<f32> = a.iter().copied().filter(|v| !v.is_nan()).collect();
    let mut b: Vec<f32> = b.iter().copied().filter(|v| !v.is_nan()).collect();
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    a.sort_by(f32::total_cmp);
    b.sort_by(f32::total_cmp);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let v = a[i].min(b[j]);
        while i < a.len() && a[i] <= v {
            i += 1;
        }
        while j < b.len() && b[j] <= v {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

fn shift(train: &Dataset, test: &Dataset, out: &mut Vec<Finding>) {
    if train.features != test.features {
        return;
    }
    let (n, m) = (train.len() as f64, test.len() as f64);
    let critical = KS_C_ALPHA * ((n + m) / (n * m)).sqrt();
    // Window data: one test per channel, over all its samples.
    for (ch, name) in train.channels.iter().enumerate() {
        let (a, b) = (channel_values(train, ch), channel_values(test, ch));
        let d = ks(&a, &b);
        if d > critical {
            let mean = |v: &[f32]| {
                v.iter()
                    .filter(|x| !x.is_nan())
                    .map(|&x| x as f64)
                    .sum::<f64>()
                    / v.len().max(1) as f64
            };
            out.push(Finding {
                severity: Severity::Warning,
                check: "shift",
                column: Some(name.clone()),
                value: d,
                message: format!(
                    "`{name}` is distributed differently in the test file (KS distance {d:.3} > {critical:.3}; mean {:.4} against {:.4} in training): the test set does not represent the training data, or the reverse",
                    mean(&b),
                    mean(&a)
                ),
            });
        }
    }
}

fn outliers(d: &Dataset, out: &mut Vec<Finding>) {
    for (ch, name) in d.channels.iter().enumerate() {
        let mut v = channel_values(d, ch);
        v.retain(|x| !x.is_nan());
        if v.is_empty() {
            continue;
        }
        v.sort_by(f32::total_cmp);
        let median = v[v.len() / 2] as f64;
        let mut dev: Vec<f64> = v.iter().map(|&x| (x as f64 - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let mad = 1.4826 * dev[dev.len() / 2];
        if mad == 0.0 {
            continue; // sparse or near-constant: no robust scale
        }
        let far: Vec<f32> = v
            .iter()
            .copied()
            .filter(|&x| (x as f64 - median).abs() / mad > OUTLIER_Z)
            .collect();
        let share = far.len() as f64 / v.len() as f64;
        if share >= OUTLIER_SHARE && !far.is_empty() {
            out.push(Finding {
                severity: Severity::Info,
                check: "outliers",
                column: Some(name.clone()),
                value: share,
                message: format!(
                    "`{name}`: {} values ({:.2}%) lie over {OUTLIER_Z} robust deviations from the median {median:.4} (extremes {} and {}); check they are real readings",
                    far.len(),
                    100.0 * share,
                    far[0],
                    far[far.len() - 1]
                ),
            });
        }
    }
}

/// Whether any finding blocks training.
pub fn blocking(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Blocking)
        .collect()
}
