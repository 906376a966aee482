//! Multivariate drift: the residual of the standardized input after
//! projection on the training principal components. Two features that
//! stop moving together keep their own distributions, so no per-feature
//! test sees it, but the residual grows. An upward CUSUM on the
//! standardized log residual raises the alarm; an exponentially weighted
//! excess of each feature's squared residual over its training level names
//! the features that broke away.
//!
//! State: one `f32` per feature (residual excess) and one scalar (CUSUM).

use super::{
    cusum, Detector, Feature, Monitor, Observation, MAX_FEATURES, MAX_NAMED, SCALAR_RECONSTRUCTION,
};
use crate::format::read_f32;
use crate::math::ln;

/// EWMA weight of the per-feature residuals used to name features.
pub const NAMING_EWMA: f32 = 1.0 / 32.0;

pub(super) fn reset(m: &Monitor<'_>, state: &mut [f32]) {
    let f = m.def.features as usize;
    state[m.layout.residual..m.layout.residual + f].fill(0.0);
}

pub(super) fn observe(
    m: &Monitor<'_>,
    state: &mut [f32],
    sample: &[Feature],
    obs: &mut Observation,
) {
    let def = &m.def;
    let (f, c) = (sample.len(), def.components as usize);
    if c == 0 || def.residual_log_sd <= 0.0 {
        return;
    }
    let mut x = [0.0f32; MAX_FEATURES];
    for (j, (xj, feature)) in x[..f].iter_mut().zip(sample).enumerate() {
        let Some(v) = feature.value() else {
            return;
        };
        *xj = if takes_part(def.roles.get(j).copied(), m.features.is_spread(j)) {
            (v - read_f32(def.mean, j)) / read_f32(def.std, j).max(1e-12)
        } else {
            0.0
        };
    }
    let mut r = x;
    // The basis rows are read as little-endian words in order, with no
    // index arithmetic per element (the same sums, term by term, as
    // indexing would give: about a third of the instructions on Cortex-M4).
    let word = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for row in def.basis.chunks_exact(4 * f).take(c) {
        let p: f32 = row
            .chunks_exact(4)
            .zip(&x[..f])
            .map(|(w, &xj)| word(w) * xj)
            .sum();
        for (w, rj) in row.chunks_exact(4).zip(r[..f].iter_mut()) {
            *rj -= p * word(w);
        }
    }
    let total: f32 = r[..f].iter().map(|v| v * v).sum();
    // Naming reacts faster than the windowed detectors: the features
    // behind the last few samples' residual are the ones to name.
    let lambda = NAMING_EWMA;
    let shares = &mut state[m.layout.residual..m.layout.residual + f];
    for (j, s) in shares.iter_mut().enumerate() {
        // Excess over the training level, in standardized units: a feature
        // that broke away carries it, while features the projection merely
        // smears a large value onto carry little.
        let excess = r[j] * r[j] - read_f32(def.residual_share, j);
        *s = (1.0 - lambda) * *s + lambda * excess;
    }
    let u = (ln(total + 1e-3) - def.residual_log_mean) / def.residual_log_sd;
    let at = m.layout.scalars + SCALAR_RECONSTRUCTION;
    state[at] = cusum::step(state[at], u, def.params.aux_k);
    let named = culprits(&state[m.layout.residual..m.layout.residual + f]);
    if m.record(obs, Detector::Reconstruction, state[at], &named) {
        state[at] = 0.0;
        reset(m, state);
    }
}

/// Whether a feature takes part in the principal components: not when it
/// retired from the CUSUMs (constant or sparse: its rare values, many
/// deviations out, would carry the residual on their own), nor when it is
/// a window channel's spread, already a residual against the other
/// channels' spreads ([`super::spread`]; a basis of a few dozen windows
/// then fits a direction of almost no variance that new windows leave).
pub fn takes_part(role: Option<u8>, is_spread: bool) -> bool {
    role.is_some_and(|r| r != 0) && !is_spread
}

/// How much a named feature's residual excess must exceed the next one's:
/// a feature that broke away stands out; when the excess is spread over
/// many features, the projection smeared it and the detector cannot say
/// which input moved.
pub const NAMING_DOMINANCE: f32 = 2.0;

/// The features to name from their residual excesses: the largest alone
/// when it is [`NAMING_DOMINANCE`] times the next; the largest two when
/// they are within that factor of each other (a pair that stopped moving
/// together) and together stand out from the third; none otherwise.
fn culprits(excess: &[f32]) -> heapless::Vec<u16, MAX_NAMED> {
    let mut top = [(f32::NEG_INFINITY, 0usize); 3];
    for (j, &e) in excess.iter().enumerate() {
        if e > top[2].0 {
            top[2] = (e, j);
            top.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        }
    }
    let mut named = heapless::Vec::new();
    let (e1, e2, e3) = (top[0].0, top[1].0.max(0.0), top[2].0.max(0.0));
    if e1 <= 0.0 || !e1.is_finite() {
        return named;
    }
    if e1 >= NAMING_DOMINANCE * e2 {
        let _ = named.push(top[0].1 as u16);
    } else if e2 >= NAMING_DOMINANCE * e3 {
        let _ = named.push(top[0].1 as u16);
        let _ = named.push(top[1].1 as u16);
    }
    named
}

/// Most principal components stored (about 90% of the variance is kept,
/// capped so the file stays small).
pub const MAX_COMPONENTS: usize = 32;
/// Share of the standardized variance the components should explain.
pub const PCA_VARIANCE: f64 = 0.9;

/// The reconstruction detector's reference, fitted on a host.
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Features of a row.
    pub features: usize,
    /// Components kept.
    pub components: usize,
    /// Their share of the standardized variance.
    pub explained: f64,
    /// `components × features` orthonormal rows.
    pub basis: Vec<f32>,
    /// Mean squared residual of each feature.
    pub residual_share: Vec<f32>,
    /// Mean of `ln(residual + 1e-3)`.
    pub log_mean: f32,
    /// Its standard deviation.
    pub log_sd: f32,
}

/// Principal components of `rows` standardized training rows of
/// `features` values, streamed: `row(i, x)` writes row `i` into `x` (twice
/// per row, so nothing is stored).
#[cfg(feature = "std")]
#[allow(clippy::needless_range_loop)] // matrix code reads best with indices
pub fn fit(features: usize, rows: usize, mut row: impl FnMut(usize, &mut [f64])) -> Pca {
    let f = features;
    let mut x = vec![0.0f64; f];
    let mut cov = vec![vec![0.0; f]; f];
    for i in 0..rows {
        row(i, &mut x);
        for a in 0..f {
            for b in a..f {
                cov[a][b] += x[a] * x[b];
            }
        }
    }
    let n = rows.max(1) as f64;
    for a in 0..f {
        for b in a..f {
            cov[a][b] /= n;
            cov[b][a] = cov[a][b];
        }
    }
    let (eig, vecs) = crate::math::symmetric_eigen(cov);
    let total: f64 = eig.iter().map(|v| v.max(0.0)).sum::<f64>().max(1e-12);
    let mut kept = 0;
    let mut explained = 0.0;
    while kept < eig.len().saturating_sub(1).min(MAX_COMPONENTS) && explained < PCA_VARIANCE {
        explained += eig[kept].max(0.0) / total;
        kept += 1;
    }
    let basis: Vec<f32> = vecs[..kept].iter().flatten().map(|&v| v as f32).collect();
    let mut pca = Pca {
        features: f,
        components: kept,
        explained,
        basis,
        residual_share: vec![],
        log_mean: 0.0,
        log_sd: 0.0,
    };
    pca.residuals(rows, row);
    pca
}

#[cfg(feature = "std")]
impl Pca {
    /// Sets the residual statistics (each feature's mean squared
    /// residual, the mean and deviation of the log residual) from `rows`
    /// rows, streamed like [`fit`]. Rows the basis was not fitted on give
    /// the residual a new row has; the fitted rows' own is smaller.
    pub fn residuals(&mut self, rows: usize, mut row: impl FnMut(usize, &mut [f64])) {
        let f = self.features;
        let n = rows.max(1) as f64;
        let mut x = vec![0.0f64; f];
        let mut share = vec![0.0f64; f];
        let mut logs = Vec::with_capacity(rows);
        for i in 0..rows {
            row(i, &mut x);
            let mut r = x.clone();
            for v in self.basis.chunks(f.max(1)).take(self.components) {
                let p: f64 = v.iter().zip(&x).map(|(&a, b)| a as f64 * b).sum();
                r.iter_mut()
                    .zip(v)
                    .for_each(|(ri, &vi)| *ri -= p * vi as f64);
            }
            r.iter()
                .enumerate()
                .for_each(|(j, ri)| share[j] += ri * ri / n);
            logs.push((r.iter().map(|v| v * v).sum::<f64>() + 1e-3).ln());
        }
        let (lm, ls) = crate::math::mean_sd(&logs);
        self.residual_share = share.iter().map(|&v| v as f32).collect();
        self.log_mean = lm as f32;
        self.log_sd = ls as f32;
    }
}
