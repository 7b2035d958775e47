//! What robust rules share: `f`, the number of Byzantine inputs a rule assumes, and the
//! preconditions that tie it to `n`, the number of vectors the rule receives.
//!
//! - `f` defaults to the scenario's Byzantine count, and the resolved value is written back to
//!   `scenario.json` ([`resolve_f`]).
//! - `n` is what the rule receives: the machine count, or what the pre-aggregators in front of it
//!   output ([`crate::registry::CheckContext::inputs`]).
//! - A failed precondition is refused when the scenario is checked, with the numbers and the paper
//!   ([`require`]), unless the rule's object says `"unchecked": true`: the SafeguardSGD paper
//!   itself runs Krum with `f = 4` of 10 machines, past Krum's `n >= 2f + 3`. Past a
//!   precondition, and in a round where fewer vectors arrive than planned, every rule clamps its
//!   counts as its docs say; none panics.

use crate::registry::{CheckContext, ParamError};

/// `f` as given, or the scenario's Byzantine count; the value is written back into `f`.
pub fn resolve_f(f: &mut Option<usize>, ctx: &CheckContext<'_>) -> usize {
    let value = f.unwrap_or(ctx.setting.byzantine);
    *f = Some(value);
    value
}

/// `f = 2`, or `f = 4 (by default, the scenario's Byzantine count)` when `f` was not given: for
/// messages.
pub fn describe_f(f: usize, defaulted: bool) -> String {
    if defaulted {
        format!("f = {f} (by default, the scenario's Byzantine count)")
    } else {
        format!("f = {f}")
    }
}

/// `n = 10`, or `n = 3 (vectors after pre-aggregation of 10)`: what `n` is for the rule being
/// checked, for messages.
pub fn describe_n(ctx: &CheckContext<'_>) -> String {
    let m = ctx.setting.machines();
    if ctx.inputs == m {
        format!("n = {m}")
    } else {
        format!("n = {} (vectors after pre-aggregation of {m})", ctx.inputs)
    }
}

/// `Ok` when `holds` or `unchecked`; otherwise an error at field `f` saying `what` (the
/// precondition and its paper, then the numbers) and how to run past it.
pub fn require(
    holds: bool,
    unchecked: bool,
    what: impl FnOnce() -> String,
) -> Result<(), ParamError> {
    if holds || unchecked {
        Ok(())
    } else {
        Err(ParamError::new(
            "f",
            format!(
                "{}: lower `f`, add machines, or set `\"unchecked\": true` to run past the precondition (the rule then clamps its counts, see `safeguard-sim list`)",
                what()
            ),
        ))
    }
}

/// A rule's precondition `n >= formula`, e.g. Krum's `n >= 2f + 3` (`need` = its value).
#[derive(Debug, Clone, Copy)]
pub struct AtLeast<'a> {
    /// The kind, as named in the message (`krum`).
    pub rule: &'a str,
    /// Where the precondition comes from (`Blanchard et al. 2017`).
    pub paper: &'a str,
    /// The bound in terms of `f` (`2f + 3`).
    pub formula: &'a str,
    /// Its value for the `f` being checked.
    pub need: usize,
}

impl AtLeast<'_> {
    /// `Ok` when `n = ctx.inputs >= need` or `unchecked`; otherwise the error of [`require`],
    /// citing the numbers (`f` as [`describe_f`] says it, `defaulted` when it was not given).
    pub fn check(
        &self,
        f: usize,
        defaulted: bool,
        unchecked: bool,
        ctx: &CheckContext<'_>,
    ) -> Result<(), ParamError> {
        require(ctx.inputs >= self.need, unchecked, || {
            format!(
                "{} needs n >= {} ({}), but {} and {} give {} = {}",
                self.rule,
                self.formula,
                self.paper,
                describe_n(ctx),
                describe_f(f, defaulted),
                self.formula,
                self.need
            )
        })
    }
}

/// Bytes a rule may spend on its `n x n` distance tables: the scenario's memory limit.
const PAIRWISE_LIMIT_BYTES: u64 = crate::scenario::MEMORY_LIMIT_BYTES;

/// `Ok` unless the `n x n` tables of a distance-based rule (`bytes_per_pair` per entry) would
/// exceed the memory limit for `n = ctx.inputs`; the error is about the rule's object.
pub fn check_pairwise_memory(
    rule: &str,
    bytes_per_pair: u64,
    ctx: &CheckContext<'_>,
) -> Result<(), ParamError> {
    let n = ctx.inputs as u64;
    let bytes = n.saturating_mul(n).saturating_mul(bytes_per_pair);
    if bytes > PAIRWISE_LIMIT_BYTES {
        return Err(ParamError::new(
            "",
            format!(
                "{rule} keeps all n^2 pairwise distances: {} need about {:.1} GiB (limit {} GiB); use fewer machines",
                describe_n(ctx),
                bytes as f64 / (1u64 << 30) as f64,
                PAIRWISE_LIMIT_BYTES >> 30
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Setting;

    fn ctx(honest: usize, byzantine: usize, inputs: usize) -> CheckContext<'static> {
        CheckContext {
            setting: Setting {
                seed: 1,
                rounds: 1,
                honest,
                byzantine,
                lr: 0.1,
                perturbation: 0.0,
                optimizer: Default::default(),
            },
            inputs,
            problem: None,
            aggregator: None,
            aggregator_windows: false,
        }
    }

    #[test]
    fn f_defaults_to_the_byzantine_count_and_is_written_back() {
        let mut f = None;
        assert_eq!(resolve_f(&mut f, &ctx(6, 4, 10)), 4);
        assert_eq!(f, Some(4));
        let mut f = Some(2);
        assert_eq!(resolve_f(&mut f, &ctx(6, 4, 10)), 2);
    }

    #[test]
    fn messages_name_n_and_the_knob() {
        assert_eq!(describe_n(&ctx(6, 4, 10)), "n = 10");
        assert_eq!(
            describe_n(&ctx(6, 4, 3)),
            "n = 3 (vectors after pre-aggregation of 10)"
        );
        assert_eq!(describe_f(2, false), "f = 2");
        assert!(describe_f(4, true).contains("Byzantine count"));
        let e = require(false, false, || "x needs y".into()).unwrap_err();
        assert_eq!(e.path, "f");
        assert!(e.message.starts_with("x needs y: "), "{}", e.message);
        assert!(e.message.contains("\"unchecked\": true"), "{}", e.message);
        assert!(require(false, true, || unreachable!()).is_ok());
        assert!(require(true, false, || unreachable!()).is_ok());
        assert!(check_pairwise_memory("krum", 24, &ctx(100, 0, 100)).is_ok());
        let e = check_pairwise_memory("krum", 24, &ctx(100_000, 0, 100_000)).unwrap_err();
        assert!(e.message.contains("223.5 GiB"), "{}", e.message);
    }
}
