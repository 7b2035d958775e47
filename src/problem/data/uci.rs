//! The two real data sets, embedded in the binary by smartcore's `datasets` feature (so they work
//! offline on a fresh machine):
//!
//! - **digits**: UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak 1998), the
//!   1797-sample 8x8 version that scikit-learn ships: 64 features, integer grey levels `0..=16`,
//!   10 classes (the digits 0-9).
//! - **breast_cancer**: UCI Breast Cancer Wisconsin (Diagnostic) (Street, Wolberg & Mangasarian
//!   1993): 569 samples, 30 real features, 2 classes (0 = malignant, 212 samples;
//!   1 = benign, 357 samples), as in scikit-learn.
//!
//! smartcore stores both as `f32` (the values are right; its digits *feature names* are wrong,
//! copied from iris, and are not used here). Labels are checked to be integers in range.

use crate::problem::data::Samples;
use crate::problem::error::ProblemError;
use ndarray::Array2;

/// UCI digits: 1797 x 64, 10 classes.
pub fn digits() -> Result<Samples, ProblemError> {
    let d = smartcore::dataset::digits::load_dataset();
    let labels: Vec<f64> = d.target.iter().map(|&v| f64::from(v)).collect();
    convert(
        "digits",
        &d.data,
        &labels,
        d.num_samples,
        d.num_features,
        10,
    )
}

/// UCI breast cancer (Wisconsin diagnostic): 569 x 30, 2 classes.
pub fn breast_cancer() -> Result<Samples, ProblemError> {
    let d = smartcore::dataset::breast_cancer::load_dataset();
    let labels: Vec<f64> = d.target.iter().map(|&v| f64::from(v)).collect();
    convert(
        "breast_cancer",
        &d.data,
        &labels,
        d.num_samples,
        d.num_features,
        2,
    )
}

/// Row-major `f32` data and numeric labels to [`Samples`], checking every shape and label.
fn convert(
    name: &'static str,
    data: &[f32],
    labels: &[f64],
    rows: usize,
    cols: usize,
    classes: usize,
) -> Result<Samples, ProblemError> {
    let bad = |message: String| ProblemError::Data { name, message };
    let features =
        Array2::from_shape_vec((rows, cols), data.iter().map(|&v| f64::from(v)).collect())
            .map_err(|e| bad(format!("{} values for {rows} x {cols}: {e}", data.len())))?;
    let labels = labels
        .iter()
        .map(|&l| {
            if l >= 0.0 && l.fract() == 0.0 && l < classes as f64 {
                Ok(l as usize)
            } else {
                Err(bad(format!("label {l} is not an integer in 0..{classes}")))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Samples::new(features, labels, classes).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_shape_labels_and_values() {
        let d = digits().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.num_features(), 64);
        assert_eq!(d.classes(), 10);
        // Class counts of the scikit-learn copy of UCI digits.
        assert_eq!(
            d.class_counts(),
            vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        // Grey levels are integers 0..=16.
        assert!(
            d.features()
                .iter()
                .all(|&v| (0.0..=16.0).contains(&v) && v.fract() == 0.0)
        );
        // The first sample is a 0 (its 8x8 image starts 0, 0, 5, 13, 9, 1, 0, 0).
        assert_eq!(d.labels()[0], 0);
        let first: Vec<f64> = d.row(0).iter().take(8).copied().collect();
        assert_eq!(first, vec![0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn breast_cancer_shape_and_labels() {
        let d = breast_cancer().unwrap();
        assert_eq!(d.len(), 569);
        assert_eq!(d.num_features(), 30);
        assert_eq!(d.class_counts(), vec![212, 357]);
        // First sample: mean radius 17.99, malignant.
        assert!((d.row(0)[0] - 17.99).abs() < 1e-4);
        assert_eq!(d.labels()[0], 0);
    }

    #[test]
    fn bad_labels_and_shapes_are_errors_not_panics() {
        assert!(convert("t", &[0.0; 4], &[0.0, 1.0], 2, 2, 2).is_ok());
        assert!(convert("t", &[0.0; 3], &[0.0, 1.0], 2, 2, 2).is_err());
        assert!(convert("t", &[0.0; 4], &[0.5, 1.0], 2, 2, 2).is_err());
        assert!(convert("t", &[0.0; 4], &[0.0, 2.0], 2, 2, 2).is_err());
        assert!(convert("t", &[0.0; 4], &[-1.0, 1.0], 2, 2, 2).is_err());
    }
}
