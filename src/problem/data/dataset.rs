//! Labelled samples in compact row-major storage, and the seeded train/test split with
//! standardisation by the training set's statistics.

use crate::linalg::Vector;
use crate::problem::error::{ProblemError, require};
use crate::rng::SimRng;
use ndarray::{Array2, ArrayView1, Axis};
use rand::RngExt;

/// Labelled samples: one row of `features` per sample (row-major `f64`, so a minibatch is a
/// gather of contiguous rows), `labels[i]` in `0..classes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    features: Array2<f64>,
    labels: Vec<usize>,
    classes: usize,
}

impl Samples {
    /// Labelled samples; errors when the counts disagree, a label is `>= classes`, a feature is
    /// not finite, or `classes < 2`.
    pub fn new(
        features: Array2<f64>,
        labels: Vec<usize>,
        classes: usize,
    ) -> Result<Self, ProblemError> {
        require(classes >= 2, "classes", || {
            format!("must be at least 2, got {classes}")
        })?;
        require(features.nrows() == labels.len(), "labels", || {
            format!("{} labels for {} samples", labels.len(), features.nrows())
        })?;
        if let Some(l) = labels.iter().find(|&&l| l >= classes) {
            return Err(ProblemError::invalid(
                "labels",
                format!("label {l} is not in 0..{classes}"),
            ));
        }
        require(features.iter().all(|v| v.is_finite()), "features", || {
            "every feature must be finite".into()
        })?;
        // Standard (row-major, contiguous) layout, whatever the caller built.
        let features = features.as_standard_layout().into_owned();
        Ok(Samples {
            features,
            labels,
            classes,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of features per sample.
    pub fn num_features(&self) -> usize {
        self.features.ncols()
    }

    /// Number of classes `C` (labels are in `0..C`).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The feature matrix, one row per sample (standard layout).
    pub fn features(&self) -> &Array2<f64> {
        &self.features
    }

    /// The labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Row `i` of the feature matrix.
    pub fn row(&self, i: usize) -> ArrayView1<'_, f64> {
        self.features.row(i)
    }

    /// Number of samples of each class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.labels {
            counts[l] += 1;
        }
        counts
    }

    /// The samples at `indices`, in that order.
    fn select(&self, indices: &[usize]) -> Samples {
        Samples {
            features: self.features.select(Axis(0), indices),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        }
    }
}

/// A data set split into a training and a test set, with features standardised by the training
/// set's per-feature mean and standard deviation (`(x - mean) / std`; a constant feature, whose
/// standard deviation is below `1e-12`, is only centred). Both sets are standardised with the
/// *training* statistics, so nothing of the test set leaks into training.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    name: String,
    train: Samples,
    test: Samples,
    mean: Vector,
    std: Vector,
}

impl Dataset {
    /// Split `samples` at random (a uniform permutation drawn from `rng`): the first
    /// `round(test_fraction * n)` samples of the permutation are the test set, the rest the
    /// training set, both in permutation order. Then standardise.
    ///
    /// Preconditions (errors otherwise): `0 < test_fraction < 1`, and both sets non-empty.
    pub fn split(
        name: impl Into<String>,
        samples: Samples,
        test_fraction: f64,
        rng: &mut SimRng,
    ) -> Result<Self, ProblemError> {
        require(
            test_fraction > 0.0 && test_fraction < 1.0,
            "test_fraction",
            || format!("must be in (0, 1), got {test_fraction}"),
        )?;
        let n = samples.len();
        let n_test = (test_fraction * n as f64).round() as usize;
        require(n_test >= 1 && n_test < n, "test_fraction", || {
            format!("{test_fraction} of {n} samples leaves an empty training or test set")
        })?;
        let order = permutation(n, rng);
        let test = samples.select(&order[..n_test]);
        let train = samples.select(&order[n_test..]);
        Ok(Self::standardised(name.into(), train, test))
    }

    fn standardised(name: String, mut train: Samples, mut test: Samples) -> Self {
        let n = train.len() as f64;
        let d = train.num_features();
        let mut mean = Vector::zeros(d);
        for row in train.features.rows() {
            mean += &row;
        }
        mean /= n;
        let mut var = Vector::zeros(d);
        for row in train.features.rows() {
            for ((v, &x), &m) in var.iter_mut().zip(row.iter()).zip(mean.iter()) {
                *v += (x - m) * (x - m);
            }
        }
        let std = var.mapv(|v| {
            let s = (v / n).sqrt();
            if s < 1e-12 { 1.0 } else { s }
        });
        for set in [&mut train, &mut test] {
            for mut row in set.features.rows_mut() {
                row -= &mean;
                row /= &std;
            }
        }
        Dataset {
            name,
            train,
            test,
            mean,
            std,
        }
    }

    /// The data set's name (`digits`, `breast_cancer`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The standardised training set.
    pub fn train(&self) -> &Samples {
        &self.train
    }

    /// The standardised test set.
    pub fn test(&self) -> &Samples {
        &self.test
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.train.classes
    }

    /// Number of features per sample.
    pub fn num_features(&self) -> usize {
        self.train.num_features()
    }

    /// The training set's per-feature mean (before standardisation).
    pub fn feature_mean(&self) -> &Vector {
        &self.mean
    }

    /// The training set's per-feature standard deviation used to scale (1 for constant
    /// features).
    pub fn feature_std(&self) -> &Vector {
        &self.std
    }
}

/// A uniform random permutation of `0..n` (Fisher–Yates / Durstenfeld shuffle, Knuth TAOCP
/// vol. 2, Algorithm 3.4.2P), drawn from `rng` with `random_range`, so it is reproducible for a
/// given stream.
pub(crate) fn permutation(n: usize, rng: &mut SimRng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    shuffle(&mut order, rng);
    order
}

/// Shuffle `items` in place (Fisher–Yates, as [`permutation`]).
pub(crate) fn shuffle<T>(items: &mut [T], rng: &mut SimRng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use ndarray::array;

    fn toy() -> Samples {
        let x = Array2::from_shape_fn((20, 3), |(i, j)| {
            (i * (j + 1)) as f64 + (j == 2) as u8 as f64
        });
        let y = (0..20).map(|i| i % 2).collect();
        Samples::new(x, y, 2).unwrap()
    }

    #[test]
    fn samples_reject_bad_input() {
        let x = Array2::<f64>::zeros((2, 2));
        assert!(Samples::new(x.clone(), vec![0], 2).is_err());
        assert!(Samples::new(x.clone(), vec![0, 2], 2).is_err());
        assert!(Samples::new(x.clone(), vec![0, 0], 1).is_err());
        let bad = array![[0.0, f64::NAN], [1.0, 1.0]];
        assert!(Samples::new(bad, vec![0, 1], 2).is_err());
        assert!(Samples::new(x, vec![0, 1], 2).is_ok());
    }

    #[test]
    fn split_is_a_seeded_partition_and_standardises_with_train_statistics() {
        let data = toy();
        let a = Dataset::split("toy", data.clone(), 0.25, &mut stream(1, 0)).unwrap();
        let b = Dataset::split("toy", data.clone(), 0.25, &mut stream(1, 0)).unwrap();
        let c = Dataset::split("toy", data.clone(), 0.25, &mut stream(2, 0)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.train().labels(), c.train().labels());
        assert_eq!(a.test().len(), 5);
        assert_eq!(a.train().len(), 15);
        // Training features have mean 0 and std 1 (population); the constant-free columns.
        for j in 0..3 {
            let col = a.train().features().column(j);
            let m = col.mean().unwrap();
            let s = (col.mapv(|v| (v - m) * (v - m)).sum() / 15.0).sqrt();
            assert!(
                m.abs() < 1e-12 && (s - 1.0).abs() < 1e-12,
                "col {j}: {m} {s}"
            );
        }
        // Undoing the standardisation gives back rows of the original data, each used once.
        let mut seen = [false; 20];
        for set in [a.train(), a.test()] {
            for (r, row) in set.features().rows().into_iter().enumerate() {
                let orig = &row * a.feature_std() + a.feature_mean();
                let i = (0..20)
                    .find(|&i| {
                        (&data.row(i) - &orig).iter().all(|v| v.abs() < 1e-9)
                            && data.labels()[i] == set.labels()[r]
                    })
                    .unwrap();
                assert!(!seen[i]);
                seen[i] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn constant_features_are_only_centred() {
        let x = Array2::from_shape_fn((10, 2), |(i, j)| if j == 0 { 3.0 } else { i as f64 });
        let s = Samples::new(x, vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1], 2).unwrap();
        let d = Dataset::split("c", s, 0.2, &mut stream(0, 0)).unwrap();
        assert_eq!(d.feature_std()[0], 1.0);
        assert!(d.train().features().column(0).iter().all(|&v| v == 0.0));
        assert!(d.test().features().column(0).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn split_rejects_bad_fractions() {
        for f in [0.0, 1.0, -0.1, f64::NAN, 0.001] {
            assert!(
                Dataset::split("toy", toy(), f, &mut stream(0, 0)).is_err(),
                "{f}"
            );
        }
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = permutation(100, &mut stream(3, 1));
        assert_ne!(p, (0..100).collect::<Vec<_>>());
        p.sort();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }
}
