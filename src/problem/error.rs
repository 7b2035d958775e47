//! The error type of problem construction: data sets, sharding and models.
//!
//! Every parameter that a scenario file can set is checked when a problem is built, and a bad
//! value gives one of these errors instead of a panic. The scenario check maps them to a
//! [`crate::ScenarioError`] with the field path (`problem.batch_size`, ...).

/// A problem could not be built from its parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProblemError {
    /// A parameter is out of its range, or inconsistent with another one.
    #[error("{parameter}: {message}")]
    InvalidParameter {
        /// The parameter's name, as in the scenario (`batch_size`, `alpha`, ...).
        parameter: &'static str,
        /// What is wrong, and what would be right.
        message: String,
    },
    /// An embedded data set could not be decoded.
    #[error("data set {name}: {message}")]
    Data {
        /// The data set's name.
        name: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl ProblemError {
    /// Shorthand for [`ProblemError::InvalidParameter`].
    pub fn invalid(parameter: &'static str, message: impl Into<String>) -> Self {
        ProblemError::InvalidParameter {
            parameter,
            message: message.into(),
        }
    }
}

/// `Ok(())` when `condition` holds, else an [`ProblemError::InvalidParameter`].
pub(crate) fn require(
    condition: bool,
    parameter: &'static str,
    message: impl FnOnce() -> String,
) -> Result<(), ProblemError> {
    if condition {
        Ok(())
    } else {
        Err(ProblemError::invalid(parameter, message()))
    }
}

/// `Ok(())` when `value` is finite and `>= 0` (`> 0` when `strict`).
pub(crate) fn require_finite(
    parameter: &'static str,
    value: f64,
    strict: bool,
) -> Result<(), ProblemError> {
    let ok = value.is_finite() && if strict { value > 0.0 } else { value >= 0.0 };
    require(ok, parameter, || {
        let bound = if strict { "> 0" } else { ">= 0" };
        format!("must be finite and {bound}, got {value}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_parameter() {
        let e = ProblemError::invalid("alpha", "must be > 0, got -1");
        assert_eq!(e.to_string(), "alpha: must be > 0, got -1");
        assert!(require(true, "x", || unreachable!()).is_ok());
        assert_eq!(
            require(false, "x", || "bad".into()),
            Err(ProblemError::invalid("x", "bad"))
        );
        assert!(require_finite("x", 0.0, false).is_ok());
        assert!(require_finite("x", 0.0, true).is_err());
        assert!(require_finite("x", f64::INFINITY, false).is_err());
        let e = require_finite("x", -1.0, false).unwrap_err();
        assert_eq!(e.to_string(), "x: must be finite and >= 0, got -1");
    }
}
