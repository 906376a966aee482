//! A small seeded random generator (SplitMix64): the same numbers on every
//! machine, for splits, shuffles, noise and resampling.

/// SplitMix64 state.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The generator `n` draws of [`Rng::next_u64`] ahead (SplitMix64's
    /// state moves by the same constant at each draw): where a sequential
    /// consumer would leave it, so that work cut in pieces can start each
    /// piece where it would have started.
    pub fn skipped(&self, n: u64) -> Rng {
        Rng(self.0.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `[0, n)` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn skipping_n_draws_lands_where_drawing_them_does() {
        for n in [0u64, 1, 2, 7, 1000] {
            let mut drawn = Rng(0x00DE_C0DE);
            (0..n).for_each(|_| {
                drawn.next_u64();
            });
            let mut skipped = Rng(0x00DE_C0DE).skipped(n);
            assert_eq!(skipped.next_u64(), drawn.next_u64(), "n = {n}");
        }
    }
}
