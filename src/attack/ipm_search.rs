//! `ipm_search`: inner product manipulation with `eps` chosen each round to maximise the distance
//! between the defense's aggregate and the honest mean (ByzFL's "optimal" IPM; the vector family
//! of Xie, Koyejo & Gupta, UAI 2020). The search and what a what-if evaluation means against a
//! stateful rule are in [`super::search`].

use super::search::{Family, Grid, SearchAttack};
use super::{Adversaries, AttackKind, Dependency};
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `ipm_search`: every colluder sends `-eps * mu`, with `eps` chosen each round from `range` to
/// maximise `||aggregate - mu||` for a fresh copy of the scenario's defense (a grid of `steps`
/// values, then `refine` finer grids around the best; the smallest `eps` on ties). Against a
/// stateful rule the copy starts empty: the safeguard's answer is then the mean, and the search
/// does not foresee expulsion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IpmSearchParams {
    /// `[lo, hi]`, the values of `eps` searched.
    pub range: [f64; 2],
    /// Values per grid (2 to 1000).
    pub steps: usize,
    /// Finer grids around the best value (0 to 20).
    pub refine: usize,
}

impl Default for IpmSearchParams {
    fn default() -> Self {
        IpmSearchParams {
            range: [0.0, 10.0],
            steps: 21,
            refine: 2,
        }
    }
}

impl Params for IpmSearchParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        Grid::checked(self.range, self.steps, self.refine).map(|_| ())
    }
}

impl AttackKind for IpmSearchParams {
    fn build(&self, ctx: &BuildContext) -> Result<Adversaries, String> {
        let grid = Grid::checked(self.range, self.steps, self.refine).map_err(|e| e.message)?;
        let attack = SearchAttack::new(grid, Family::Ipm, ctx)?;
        Ok(Adversaries::each(move |_| attack.clone()))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        vec![Dependency::Defense]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::Mean;
    use crate::attack::search::tests::{TestMedian, factory};
    use crate::attack::tests::{attack_once, reference_view};
    use crate::registry::AggregatorFactory;
    use ndarray::array;

    fn attack(factory: AggregatorFactory) -> SearchAttack {
        SearchAttack::with_factory(
            Grid::checked([0.0, 4.0], 21, 2).unwrap(),
            Family::Ipm,
            factory,
        )
    }

    #[test]
    fn against_the_mean_it_takes_the_largest_eps() {
        let got = attack_once(
            &mut attack(factory::<Mean>()),
            &reference_view(),
            &array![0.0],
        );
        assert_eq!(got, Some(array![-16.0, -20.0, -24.0]));
    }

    #[test]
    fn against_the_median_any_eps_beyond_the_lowest_honest_value_is_as_good() {
        // v = -eps * [4,5,6]; median of {1, 4, 7, v} in the first coordinate is (v + 4) / 2
        // while v >= 1, i.e. eps <= -0.25: never; v <= 1 for every eps >= 0, so the median is
        // (1 + 4) / 2 whatever eps: all tie and the smallest, eps = 0, wins.
        let got = attack_once(
            &mut attack(factory::<TestMedian>()),
            &reference_view(),
            &array![0.0],
        )
        .unwrap();
        assert_eq!(got, array![-0.0, -0.0, -0.0]);
    }
}
