//! Seeded random streams. One master seed; every actor derives its own stream from
//! `(seed, stream id)`, so that results do not depend on scheduling or thread count.
//!
//! We use the named, portable generator [`rand::rngs::ChaCha8Rng`] (never `StdRng`, whose
//! algorithm may change between rand versions).

use rand::SeedableRng;
pub use rand::rngs::ChaCha8Rng as SimRng;

/// Stream ids reserved for non-worker consumers. Worker `i` uses stream `i`.
pub mod streams {
    /// The coordinator's perturbation noise `xi_t`.
    pub const PERTURBATION: u64 = 1 << 40;
    /// The problem's initial point.
    pub const INIT: u64 = (1 << 40) + 1;
    /// Data: synthetic samples, the train/test split and the sharding across machines.
    pub const DATA: u64 = (1 << 40) + 2;
    /// The start vector of the Lanczos iteration for the smallest Hessian eigenvalue.
    pub const HESSIAN: u64 = (1 << 40) + 3;
    /// The gradient-cost probe that decides the thread placement (its draws are thrown away;
    /// see [`crate::placement`]).
    pub const PROBE: u64 = (1 << 40) + 4;
    /// Honest workers of the threshold-calibration pre-run use `CALIBRATION + i`.
    pub const CALIBRATION: u64 = 1 << 41;
    /// The adversary's own randomness for Byzantine worker `i` uses `ADVERSARY + i`.
    pub const ADVERSARY: u64 = 1 << 42;
    /// Randomness the colluding Byzantine machines share (every colluder derives the same
    /// stream, or one shared state draws from it once per round; see
    /// [`crate::attack::Collusion`]).
    pub const COLLUSION: u64 = 1 << 43;
    /// The `bucketing` pre-aggregator's permutations.
    pub const BUCKETING: u64 = 1 << 44;
    /// Zeno's server-side batches.
    pub const ZENO: u64 = 1 << 45;
}

/// The generator for stream `stream` of master seed `seed`.
pub fn stream(seed: u64, stream: u64) -> SimRng {
    let mut rng = SimRng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// One draw of a standard normal variable.
pub fn normal(rng: &mut SimRng) -> f64 {
    rand_distr::Distribution::<f64>::sample(&rand_distr::StandardNormal, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: u64 = stream(7, 3).random();
        let b: u64 = stream(7, 3).random();
        let c: u64 = stream(7, 4).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
