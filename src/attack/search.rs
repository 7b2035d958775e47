//! The what-if search behind `alie_search` and `ipm_search` (ByzFL's "optimal" ALIE and IPM):
//! each round, a scalar `x` (ALIE's `z`, IPM's `eps`) is chosen to maximise the distance between
//! the aggregate the defense would output and the honest mean.
//!
//! **Search.** A grid of `steps` evenly spaced values over `range = [lo, hi]` (both ends
//! included), then `refine` times a new grid of `steps` values between the neighbours of the
//! best value so far. Each value is scored by one what-if evaluation; the best score wins, the
//! smallest `x` on ties (the least visible of equally good attacks). A grid, not a golden-section
//! search: against the median, Krum and their kin the distance is flat or jumps as `x` grows, and
//! a grid does not assume it is unimodal. Cost per round: `steps * (1 + refine)` evaluations,
//! computed once for all colluders (a [`super::Collusion`]).
//!
//! **What-if evaluation.** A fresh copy of the scenario's rule
//! ([`crate::registry::BuildContext::aggregator`]) aggregates the round as the defense would see
//! it: the honest gradients of the round and every good colluder sending the candidate vector,
//! by ids; the score is `||aggregate - mu||`. Against a stateless rule this is exactly the
//! round's aggregate. A stateful rule starts from its initial state: the safeguard's windows are
//! empty and every machine is good, so its answer is the mean over the machines offered (which
//! is also the step the real safeguard takes this round: the step does not depend on the
//! windows), and the search does not see that a large `x` gets the colluders expelled later. A
//! candidate whose evaluation fails or whose aggregate is not finite scores nothing; if none
//! scores, the colluders send `mu`.

use super::alie::{AlieSign, alie_vector};
use super::ipm::ipm_vector;
use super::{Adversary, AttackContext, Collusion, RoundView};
use crate::aggregate::{Aggregator, RoundInput};
use crate::linalg::{Vector, distance, is_finite};
use crate::registry::{AggregatorFactory, BuildContext, ParamError};

/// A checked search grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Lowest value tried.
    pub lo: f64,
    /// Highest value tried.
    pub hi: f64,
    /// Values per grid (>= 2).
    pub steps: usize,
    /// Refinement levels (each a new grid around the best value).
    pub refine: usize,
}

impl Grid {
    /// Check `range`, `steps` and `refine` (field names as in the scenario).
    pub fn checked(range: [f64; 2], steps: usize, refine: usize) -> Result<Grid, ParamError> {
        let [lo, hi] = range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(ParamError::new(
                "range",
                format!("expected two finite numbers [lo, hi] with lo < hi, got [{lo}, {hi}]"),
            ));
        }
        if !(2..=1000).contains(&steps) {
            return Err(ParamError::new(
                "steps",
                format!("expected 2 to 1000 values per grid, got {steps}"),
            ));
        }
        if refine > 20 {
            return Err(ParamError::new(
                "refine",
                format!("expected at most 20 refinement levels, got {refine}"),
            ));
        }
        Ok(Grid {
            lo,
            hi,
            steps,
            refine,
        })
    }

    /// The `x` maximising `score` (see the module docs), with its score; `None` when no value
    /// scores.
    pub fn maximise(&self, mut score: impl FnMut(f64) -> Option<f64>) -> Option<(f64, f64)> {
        let (mut lo, mut hi) = (self.lo, self.hi);
        let mut best: Option<(f64, f64)> = None;
        for _ in 0..=self.refine {
            let n = self.steps - 1;
            let xs: Vec<f64> = (0..=n)
                .map(|k| lo + (hi - lo) * k as f64 / n as f64)
                .collect();
            let mut level_best: Option<usize> = None;
            let mut level_score = f64::NEG_INFINITY;
            for (k, &x) in xs.iter().enumerate() {
                if let Some(s) = score(x).filter(|s| s.is_finite())
                    && s > level_score
                {
                    level_score = s;
                    level_best = Some(k);
                }
            }
            let Some(k) = level_best else { break };
            let better = match best {
                None => true,
                Some((bx, bs)) => level_score > bs || (level_score == bs && xs[k] < bx),
            };
            if better {
                best = Some((xs[k], level_score));
            }
            lo = xs[k.saturating_sub(1)];
            hi = xs[(k + 1).min(n)];
        }
        best
    }
}

/// `||aggregate - mu||` when every good colluder sends `candidate` this round, for a fresh rule.
pub fn what_if(rule: &mut dyn Aggregator, view: &RoundView, candidate: &Vector) -> Option<f64> {
    let mut entries: Vec<(usize, &Vector)> = view.honest.iter().map(|(i, g)| (*i, g)).collect();
    entries.extend(view.byzantine.iter().map(|&i| (i, candidate)));
    entries.sort_by_key(|(i, _)| *i);
    let workers: Vec<usize> = entries.iter().map(|(i, _)| *i).collect();
    let gradients: Vec<Option<Vector>> = entries.iter().map(|(_, g)| Some((*g).clone())).collect();
    let mu = view.honest_mean();
    let out = rule.aggregate(&RoundInput {
        round: view.round,
        params: &view.params,
        machines: view.machines,
        workers: &workers,
        gradients: &gradients,
        honest_mean: mu,
    });
    (out.direction.len() == mu.len() && is_finite(&out.direction))
        .then(|| distance(&out.direction, mu))
}

/// Search `x` on `grid` for the family `vector(x)`, each candidate evaluated on a fresh rule
/// from `factory`; returns the best vector, or `mu` when nothing scores.
pub fn best_vector(
    grid: &Grid,
    factory: &AggregatorFactory,
    view: &RoundView,
    vector: impl Fn(f64) -> Vector,
) -> Vector {
    let best = grid.maximise(|x| {
        let mut rule = factory().ok()?;
        what_if(rule.as_mut(), view, &vector(x))
    });
    match best {
        Some((x, _)) => vector(x),
        None => view.honest_mean().clone(),
    }
}

/// The one-parameter family of vectors a search attack chooses from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Family {
    /// ALIE: `mu - z s` (or `mu + z s`), `x = z`.
    Alie {
        /// The sign of the shift.
        sign: AlieSign,
        /// `ddof` of the standard deviation.
        ddof: usize,
    },
    /// IPM: `-eps mu`, `x = eps`.
    Ipm,
}

impl Family {
    /// The family's vector at `x` for this round.
    pub fn vector(&self, view: &RoundView, x: f64) -> Vector {
        match *self {
            Family::Alie { sign, ddof } => alie_vector(view, x, sign, ddof),
            Family::Ipm => ipm_vector(view.honest_mean(), x),
        }
    }
}

/// A search attack (`alie_search`, `ipm_search`): one per colluder, the round's search shared.
#[derive(Clone)]
pub struct SearchAttack {
    grid: Grid,
    family: Family,
    factory: AggregatorFactory,
    shared: Collusion<Vector>,
}

impl SearchAttack {
    /// A search over `grid` in `family`, against fresh copies of the scenario's defense (an
    /// error when the context has none, or it fails to build).
    pub fn new(grid: Grid, family: Family, ctx: &BuildContext) -> Result<Self, String> {
        ctx.fresh_aggregator()?;
        let factory = ctx
            .aggregator
            .clone()
            .ok_or_else(|| "no aggregation rule to search against".to_string())?;
        Ok(Self::with_factory(grid, family, factory))
    }

    /// A search against the rules `factory` builds.
    pub fn with_factory(grid: Grid, family: Family, factory: AggregatorFactory) -> Self {
        SearchAttack {
            grid,
            family,
            factory,
            shared: Collusion::new(Vector::zeros(0)),
        }
    }
}

impl Adversary for SearchAttack {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        let view = ctx.view;
        let family = self.family;
        Some(self.shared.round(
            view.round,
            |v| *v = best_vector(&self.grid, &self.factory, view, |x| family.vector(view, x)),
            |v| v.clone(),
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::aggregate::{Aggregate, Mean};
    use std::sync::Arc;

    /// Coordinate-wise median (mean of the two middle values for even n), for tests.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct TestMedian;

    impl Aggregator for TestMedian {
        fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
            let vs: Vec<&Vector> = input.valid().map(|(_, g)| g).collect();
            let dir = Vector::from_shape_fn(input.dim(), |c| {
                let mut col: Vec<f64> = vs.iter().map(|v| v[c]).collect();
                col.sort_by(f64::total_cmp);
                let n = col.len();
                if n == 0 {
                    0.0
                } else if n % 2 == 1 {
                    col[n / 2]
                } else {
                    (col[n / 2 - 1] + col[n / 2]) / 2.0
                }
            });
            Aggregate::direction(dir)
        }
    }

    pub(crate) fn factory<A: Aggregator + Default + 'static>() -> AggregatorFactory {
        Arc::new(|| Ok(Box::new(A::default()) as Box<dyn Aggregator>))
    }

    #[test]
    fn grid_takes_the_best_and_the_smallest_on_ties() {
        let g = Grid::checked([0.0, 4.0], 5, 0).unwrap();
        // Increasing: the top of the range.
        assert_eq!(g.maximise(Some), Some((4.0, 4.0)));
        // A plateau from x = 2: the smallest x on it.
        assert_eq!(g.maximise(|x| Some(x.min(2.0))), Some((2.0, 2.0)));
        // Refinement homes in on an interior peak at 1.3: each level halves the grid spacing
        // (5 values over two old spacings), 1 / 2^12 after 12 levels.
        let g = Grid::checked([0.0, 4.0], 5, 12).unwrap();
        let (x, _) = g.maximise(|x| Some(-(x - 1.3f64).abs())).unwrap();
        assert!((x - 1.3).abs() <= 0.5 / 4096.0, "{x}");
        let g = Grid::checked([0.0, 4.0], 5, 0).unwrap();
        let (x, _) = g.maximise(|x| Some(-(x - 1.3f64).abs())).unwrap();
        assert_eq!(x, 1.0);
        // Nothing scores.
        assert_eq!(g.maximise(|_| None), None);
        assert!(Grid::checked([1.0, 1.0], 5, 0).is_err());
        assert!(Grid::checked([0.0, 1.0], 1, 0).is_err());
    }

    #[test]
    fn what_if_mean_and_median() {
        // Honest [1,2,3], [4,5,6], [7,8,9] and one colluder (id 3) sending c: the mean moves by
        // (c - mu) / 4, the median stays between honest values.
        let v = crate::attack::tests::reference_view();
        let c = ndarray::array![8.0, 9.0, 10.0];
        let d = what_if(&mut Mean, &v, &c).unwrap();
        assert!((d - 3f64.sqrt()).abs() < 1e-12, "{d}");
        let d = what_if(&mut TestMedian, &v, &c).unwrap();
        // Median of {1, 4, 7, 8} = 5.5 per coordinate (shifted): 1.5 sqrt(3).
        assert!((d - 1.5 * 3f64.sqrt()).abs() < 1e-12, "{d}");
    }
}
