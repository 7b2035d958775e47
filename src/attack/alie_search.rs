//! `alie_search`: ALIE with `z` chosen each round to maximise the distance between the
//! defense's aggregate and the honest mean (ByzFL's "optimal" ALIE; the vector family of Baruch
//! et al., NeurIPS 2019). The search and what a what-if evaluation means against a stateful rule
//! are in [`super::search`].

use super::alie::AlieSign;
use super::search::{Family, Grid, SearchAttack};
use super::{Adversaries, AttackKind, Dependency};
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `alie_search`: every colluder sends `mu - z * s` (`sign`, `ddof` as in `alie`), with `z`
/// chosen each round from `range` to maximise `||aggregate - mu||` for a fresh copy of the
/// scenario's defense (a grid of `steps` values, then `refine` finer grids around the best; the
/// smallest `z` on ties). Against a stateful rule the copy starts empty: the safeguard's answer is
/// then the mean, and the search does not foresee expulsion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AlieSearchParams {
    /// `[lo, hi]`, the values of `z` searched.
    pub range: [f64; 2],
    /// Values per grid (2 to 1000).
    pub steps: usize,
    /// Finer grids around the best value (0 to 20).
    pub refine: usize,
    /// `minus` (`mu - z s`, the paper's form) or `plus`.
    pub sign: AlieSign,
    /// `ddof` of the standard deviation: 1 (sample) or 0 (population).
    pub ddof: usize,
}

impl Default for AlieSearchParams {
    fn default() -> Self {
        AlieSearchParams {
            range: [0.0, 10.0],
            steps: 21,
            refine: 2,
            sign: AlieSign::Minus,
            ddof: 1,
        }
    }
}

impl Params for AlieSearchParams {
    fn check(&mut self, _: &CheckContext<'_>) -> Result<(), ParamError> {
        Grid::checked(self.range, self.steps, self.refine)?;
        if self.ddof > 1 {
            return Err(ParamError::new(
                "ddof",
                format!("expected 0 or 1, got {}", self.ddof),
            ));
        }
        Ok(())
    }
}

impl AttackKind for AlieSearchParams {
    fn build(&self, ctx: &BuildContext) -> Result<Adversaries, String> {
        let grid = Grid::checked(self.range, self.steps, self.refine).map_err(|e| e.message)?;
        let family = Family::Alie {
            sign: self.sign,
            ddof: self.ddof,
        };
        let attack = SearchAttack::new(grid, family, ctx)?;
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
        let family = Family::Alie {
            sign: AlieSign::Minus,
            ddof: 1,
        };
        SearchAttack::with_factory(Grid::checked([0.0, 4.0], 21, 2).unwrap(), family, factory)
    }

    #[test]
    fn against_the_mean_it_takes_the_largest_z() {
        // mu = [4,5,6], s = [3,3,3]: z = 4 gives [-8, -7, -6].
        let got = attack_once(
            &mut attack(factory::<Mean>()),
            &reference_view(),
            &array![0.0],
        );
        assert_eq!(got, Some(array![-8.0, -7.0, -6.0]));
    }

    #[test]
    fn against_the_median_it_takes_the_smallest_z_of_the_plateau() {
        // One colluder among [1,2,3], [4,5,6], [7,8,9] sends v = mu - 3z per coordinate. With
        // four values the median is the mean of the middle two: (v + 4) / 2 while v >= 1 (the
        // first coordinate), then (1 + 4) / 2 once v <= 1: a plateau from z = 1.
        let got = attack_once(
            &mut attack(factory::<TestMedian>()),
            &reference_view(),
            &array![0.0],
        )
        .unwrap();
        assert!(
            (&got - &array![1.0, 2.0, 3.0])
                .iter()
                .all(|x| x.abs() < 1e-9),
            "{got}"
        );
    }
}
