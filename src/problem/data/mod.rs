//! Data sets for the learning problems: where samples come from ([`DataSource`], the list of
//! kinds) and the split into standardised training and test sets ([`Dataset`]).
//!
//! ```
//! use safeguard_sim::problem::data::{DataSource, load};
//! use safeguard_sim::rng::stream;
//! let data = load(&DataSource::Digits, 0.2, &mut stream(7, 0)).unwrap();
//! assert_eq!(data.train().len() + data.test().len(), 1797);
//! assert_eq!((data.num_features(), data.classes()), (64, 10));
//! ```

mod dataset;
pub mod synthetic;
pub mod uci;

pub use dataset::{Dataset, Samples};
pub(crate) use dataset::{permutation, shuffle};
pub use synthetic::{GaussianMixture, Spirals};

use crate::problem::error::ProblemError;
use crate::rng::SimRng;

/// Where a data set's samples come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DataSource {
    /// UCI digits, 1797 x 64, 10 classes ([`uci::digits`]).
    Digits,
    /// UCI breast cancer (Wisconsin diagnostic), 569 x 30, 2 classes ([`uci::breast_cancer`]).
    BreastCancer,
    /// A seeded Gaussian mixture ([`GaussianMixture`]).
    GaussianMixture(GaussianMixture),
    /// Seeded 2-D spirals ([`Spirals`]).
    Spirals(Spirals),
}

impl DataSource {
    /// The name a scenario uses for this source.
    pub fn name(&self) -> &'static str {
        match self {
            DataSource::Digits => "digits",
            DataSource::BreastCancer => "breast_cancer",
            DataSource::GaussianMixture(_) => "gaussian_mixture",
            DataSource::Spirals(_) => "spirals",
        }
    }

    /// `(features, classes)` of the samples, known without loading or generating them (for
    /// the scenario check's `ProblemInfo`: a model's dimension follows from it).
    pub fn shape(&self) -> (usize, usize) {
        match self {
            DataSource::Digits => (64, 10),
            DataSource::BreastCancer => (30, 2),
            DataSource::GaussianMixture(g) => (g.dim, g.classes),
            DataSource::Spirals(s) => (2, s.classes),
        }
    }

    /// All samples, before the split. Synthetic sources draw from `rng`; the embedded ones do
    /// not touch it.
    pub fn samples(&self, rng: &mut SimRng) -> Result<Samples, ProblemError> {
        match self {
            DataSource::Digits => uci::digits(),
            DataSource::BreastCancer => uci::breast_cancer(),
            DataSource::GaussianMixture(g) => g.generate(rng),
            DataSource::Spirals(s) => s.generate(rng),
        }
    }
}

/// Load `source` and split it ([`Dataset::split`]), all from one stream: synthetic samples are
/// drawn first, then the split's permutation. The wiring should pass a stream reserved for data
/// (e.g. [`crate::rng::streams::DATA`]), so that the data do not depend on other draws.
/// A suggested default for `test_fraction` is 0.2.
pub fn load(
    source: &DataSource,
    test_fraction: f64,
    rng: &mut SimRng,
) -> Result<Dataset, ProblemError> {
    let samples = source.samples(rng)?;
    Dataset::split(source.name(), samples, test_fraction, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn every_source_loads_with_its_name() {
        let sources = [
            DataSource::Digits,
            DataSource::BreastCancer,
            DataSource::GaussianMixture(GaussianMixture {
                classes: 3,
                dim: 4,
                samples: 90,
                separation: 2.0,
            }),
            DataSource::Spirals(Spirals {
                classes: 2,
                samples: 100,
                noise: 0.05,
                turns: 1.0,
            }),
        ];
        let shapes = [(1797, 64, 10), (569, 30, 2), (90, 4, 3), (100, 2, 2)];
        for (s, (n, d, c)) in sources.iter().zip(shapes) {
            let a = load(s, 0.2, &mut stream(5, 9)).unwrap();
            assert_eq!(a, load(s, 0.2, &mut stream(5, 9)).unwrap());
            assert_eq!(a.name(), s.name());
            assert_eq!(a.train().len() + a.test().len(), n);
            assert_eq!(a.test().len(), (0.2 * n as f64).round() as usize);
            assert_eq!((a.num_features(), a.classes()), (d, c));
            assert_eq!(s.shape(), (d, c));
        }
    }
}
