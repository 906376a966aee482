//! A compact fingerprint of the rows a model was trained on (training and
//! validation rows): a Bloom filter of row hashes, stored in a host-only
//! section of the model (`vigie strip` drops it). `eval`, `explain` and
//! `report` use it to say how many of the rows they are given were
//! training rows, and measure the others apart.
//!
//! It tells whoever holds the file whether a given record was trained on:
//! train with `--no-fingerprint` when the rows are sensitive.

use serde::{Deserialize, Serialize};

use crate::data::Dataset;

/// Bits per fingerprinted row: about 1% false positives.
pub const BITS_PER_ROW: usize = 10;
/// Smallest filter, in bits (1 KiB).
pub const MIN_BITS: usize = 8 * 1024;
/// Largest filter, in bits (64 KiB): past about 52,000 rows the false
/// positive rate grows (it is stored with the filter).
pub const MAX_BITS: usize = 8 * 64 * 1024;

/// The filter and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Rows added.
    pub rows: u64,
    /// Hash functions per row.
    pub hashes: u32,
    /// The bits, 64 per word.
    pub bits: Vec<u64>,
}

/// Two independent 64-bit hashes of a row's value bits.
fn row_hashes(row: &[f32]) -> (u64, u64) {
    use std::hash::{Hash, Hasher};
    let mut a = std::collections::hash_map::DefaultHasher::new();
    let mut b = std::collections::hash_map::DefaultHasher::new();
    0x5EED_u64.hash(&mut b);
    for v in row {
        // -0.0 and 0.0, and every NaN, are the same value in a file.
        let bits = if *v == 0.0 {
            0
        } else if v.is_nan() {
            u32::MAX
        } else {
            v.to_bits()
        };
        bits.hash(&mut a);
        bits.hash(&mut b);
    }
    (a.finish(), b.finish() | 1)
}

impl Fingerprint {
    /// The fingerprint of rows `rows` of `d`.
    pub fn of(d: &Dataset, rows: &[usize]) -> Fingerprint {
        Self::of_sets(&[(d, rows)])
    }

    /// The fingerprint of rows of several data sets with the same columns
    /// (a fine-tuning's new rows and the old rows it rehearsed).
    pub fn of_sets(sets: &[(&Dataset, &[usize])]) -> Fingerprint {
        let n: usize = sets.iter().map(|(_, rows)| rows.len()).sum();
        let m = (n * BITS_PER_ROW).clamp(MIN_BITS, MAX_BITS);
        let k = ((m as f64 / n.max(1) as f64) * std::f64::consts::LN_2)
            .round()
            .clamp(1.0, 16.0) as u32;
        let mut f = Fingerprint {
            rows: n as u64,
            hashes: k,
            bits: vec![0; m / 64],
        };
        for (d, rows) in sets {
            for &r in rows.iter() {
                let m = f.bits.len() as u64 * 64;
                let (h1, h2) = row_hashes(d.row(r));
                for i in 0..u64::from(f.hashes) {
                    let bit = h1.wrapping_add(i.wrapping_mul(h2)) % m;
                    f.bits[(bit / 64) as usize] |= 1 << (bit % 64);
                }
            }
        }
        f
    }

    /// Whether `row` was (probably) one of the fingerprinted rows: never
    /// false for one that was; true for another with the rate
    /// [`Fingerprint::false_positive_rate`].
    pub fn contains(&self, row: &[f32]) -> bool {
        let m = self.bits.len() as u64 * 64;
        if m == 0 {
            return false;
        }
        let (h1, h2) = row_hashes(row);
        (0..u64::from(self.hashes)).all(|i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % m;
            self.bits[(bit / 64) as usize] & (1 << (bit % 64)) != 0
        })
    }

    /// The expected false-positive rate for rows that were not added.
    pub fn false_positive_rate(&self) -> f64 {
        let m = (self.bits.len() * 64) as f64;
        let k = f64::from(self.hashes);
        (1.0 - (-k * self.rows as f64 / m).exp()).powf(k)
    }

    /// The section's bytes (postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Reads a section.
    pub fn from_bytes(bytes: &[u8]) -> Option<Fingerprint> {
        postcard::from_bytes(bytes).ok()
    }
}

/// How rows given to a model split by its fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The rows it was not trained or validated on.
    pub fresh: Vec<usize>,
    /// How many it was (`None` without a fingerprint: every row is fresh).
    pub training_rows: Option<usize>,
    /// The fingerprint's expected false-positive rate.
    pub false_positive_rate: Option<f64>,
}

/// The rows of `d` a model was not trained or validated on, by the
/// fingerprint it stores.
pub fn fresh_rows(model: &vigie_core::Model<'_>, d: &Dataset) -> Seen {
    let print = model
        .def()
        .section(vigie_core::format::section_kind::TRAINING_ROWS)
        .and_then(|s| Fingerprint::from_bytes(s.data));
    let all = 0..d.len();
    match print {
        Some(p) => {
            let fresh: Vec<usize> = all.filter(|&r| !p.contains(d.row(r))).collect();
            Seen {
                training_rows: Some(d.len() - fresh.len()),
                false_positive_rate: Some(p.false_positive_rate()),
                fresh,
            }
        }
        None => Seen {
            fresh: all.collect(),
            training_rows: None,
            false_positive_rate: None,
        },
    }
}

/// How the rows given split, for a person.
pub fn describe_split(given: usize, seen: Option<usize>) -> String {
    match seen {
        Some(seen) => format!(
            "{seen} of {given} rows ({:.1}%) were training or validation rows (by the model's fingerprint); measured on the other {}",
            100.0 * seen as f64 / given.max(1) as f64,
            given - seen
        ),
        None => format!(
            "{given} rows (the model stores no fingerprint of its training rows: some may be training rows)"
        ),
    }
}
