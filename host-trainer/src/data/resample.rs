//! Resampling held-out rows into a stable stream, in the class mix of the
//! rows a reference was fitted on: what the drift benchmark replays, and
//! what the monitor's cross-fitted calibration replays.

use crate::data::{Dataset, Target};
use crate::rng::Rng;

/// How a stable stream draws from held-out rows. For a classifier, by
/// label in the training rows' class mix (a class drawn from the training
/// prior, then one of its held-out rows), so that a test file whose class
/// mix differs from training (JapaneseVowels' test speakers) is not itself
/// a drift of the stream; a class without held-out rows is left out.
/// Otherwise, uniformly.
#[derive(Debug, Clone)]
pub struct Resample {
    /// Rows to draw from.
    n: usize,
    /// Cumulative class weight and the positions of the class's rows.
    strata: Vec<(f64, Vec<usize>)>,
}

impl Resample {
    /// Draws from `rows` of `held`, in the class mix of rows `train` of
    /// `trained` (uniformly for regression).
    pub fn new(held: &Dataset, rows: &[usize], trained: &Dataset, train: &[usize]) -> Self {
        let (Target::Classes { y: yh, .. }, Target::Classes { y: yt, .. }) =
            (&held.target, &trained.target)
        else {
            return Resample {
                n: rows.len(),
                strata: vec![],
            };
        };
        let k = yt
            .iter()
            .chain(yh.iter())
            .copied()
            .max()
            .map_or(0, |m| m + 1);
        let mut prior = vec![0.0f64; k];
        train.iter().for_each(|&r| prior[yt[r]] += 1.0);
        let mut by_class = vec![Vec::new(); k];
        rows.iter()
            .enumerate()
            .for_each(|(i, &r)| by_class[yh[r]].push(i));
        let mut cum = 0.0;
        let strata = by_class
            .into_iter()
            .zip(prior)
            .filter(|(at, w)| !at.is_empty() && *w > 0.0)
            .map(|(at, w)| {
                cum += w;
                (cum, at)
            })
            .collect();
        Resample {
            n: rows.len(),
            strata,
        }
    }

    /// Draws of [`Rng::next_u64`] each [`Resample::pick`] takes: one for
    /// a row, and one more for its class when rows are drawn by class.
    pub fn draws_per_pick(&self) -> u64 {
        if self.strata.is_empty() {
            1
        } else {
            2
        }
    }

    /// The position (in the rows given to [`Resample::new`]) of the next
    /// row of the stream.
    pub fn pick(&self, rng: &mut Rng) -> usize {
        let Some(total) = self.strata.last().map(|s| s.0) else {
            return rng.below(self.n);
        };
        let u = rng.uniform() * total;
        let s = self
            .strata
            .iter()
            .find(|s| u < s.0)
            .unwrap_or(&self.strata[self.strata.len() - 1]);
        s.1[rng.below(s.1.len())]
    }
}
