//! Pre-aggregator `bucketing`: S. P. Karimireddy, L. He, M. Jaggi, "Byzantine-Robust Learning on
//! Heterogeneous Datasets via Bucketing", ICLR 2022.
//!
//! Each round, a random permutation of the `n` vectors is cut into `ceil(n / size)` buckets of
//! `size` consecutive vectors (the last one may be smaller), and each bucket is replaced by its
//! mean (summed in permuted order), as in the paper and ByzFL. The rule after it aggregates the
//! bucket means with its own `f`: at most `f` buckets hold a Byzantine vector, so `f` stays
//! while `n` becomes `ceil(n / size)`, and the scenario checks the rule against that count.
//!
//! The permutation is Fisher-Yates on the master seed's stream
//! [`crate::rng::streams::BUCKETING`] (one draw per position per round), so runs reproduce
//! bit for bit; two `bucketing` steps in one `pre` list draw the same permutations. The
//! `aggregate` command takes the stream from its `--seed`. `size = 1` only permutes; a round with
//! no vector gives no bucket. Cost: `O(n d)`.

use super::{PreAggregator, PreAggregatorKind};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use crate::rng::{SimRng, streams};
use rand::RngExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `bucketing`: a pre-aggregator (Karimireddy et al. 2022): a random permutation of the vectors,
/// then the means of buckets of `size` consecutive ones (the last may be smaller): ceil(n/size)
/// vectors for the rule, which keeps its f. Cost: O(n d).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BucketingParams {
    /// Vectors per bucket s (the paper's experiments use 2).
    pub size: usize,
}

impl Default for BucketingParams {
    fn default() -> Self {
        BucketingParams { size: 2 }
    }
}

impl Params for BucketingParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        if self.size == 0 || self.size > ctx.inputs.max(1) {
            return Err(ParamError::new(
                "size",
                format!(
                    "expected a bucket size from 1 to n = {} (the vectors that reach it), got {}",
                    ctx.inputs, self.size
                ),
            ));
        }
        Ok(())
    }
}

impl PreAggregatorKind for BucketingParams {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn PreAggregator>, String> {
        Ok(Box::new(Bucketing {
            size: self.size.max(1),
            rng: ctx.stream(streams::BUCKETING),
        }))
    }
    fn output_count(&self, inputs: usize) -> usize {
        inputs.div_ceil(self.size.max(1))
    }
}

/// Bucketing, with its random stream.
#[derive(Debug)]
pub struct Bucketing {
    /// Vectors per bucket.
    pub size: usize,
    rng: SimRng,
}

impl Bucketing {
    /// Buckets of `size` (at least 1), permutations drawn from `rng`.
    pub fn new(size: usize, rng: SimRng) -> Self {
        Bucketing {
            size: size.max(1),
            rng,
        }
    }
}

/// A uniformly random permutation of `0..n` (Fisher-Yates, one draw per position from the last).
pub fn permutation(n: usize, rng: &mut SimRng) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

impl PreAggregator for Bucketing {
    fn apply(&mut self, vectors: Vec<Vector>) -> Vec<Vector> {
        let order = permutation(vectors.len(), &mut self.rng);
        order
            .chunks(self.size)
            .map(|bucket| {
                let mut sum = vectors[bucket[0]].clone();
                for &j in &bucket[1..] {
                    sum += &vectors[j];
                }
                sum / bucket.len() as f64
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use proptest::prelude::*;

    #[test]
    fn buckets_are_means_of_a_permutation() {
        let v: Vec<Vector> = [1.0, 2.0, 3.0, 4.0, 5.0]
            .iter()
            .map(|&x| Vector::from(vec![x]))
            .collect();
        let mut b = Bucketing::new(2, stream(3, streams::BUCKETING));
        let out = b.apply(v.clone());
        assert_eq!(out.len(), 3);
        let p = permutation(5, &mut stream(3, streams::BUCKETING));
        let want = [
            (v[p[0]][0] + v[p[1]][0]) / 2.0,
            (v[p[2]][0] + v[p[3]][0]) / 2.0,
            v[p[4]][0],
        ];
        assert_eq!(out.iter().map(|x| x[0]).collect::<Vec<_>>(), want);
        // The next round draws another permutation from the same stream.
        let again = b.apply(v.clone());
        assert_eq!(again.len(), 3);
        assert!(b.apply(Vec::new()).is_empty());
        assert_eq!(BucketingParams { size: 2 }.output_count(5), 3);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn size_one_permutes_and_full_buckets_keep_the_mean(
            xs in prop::collection::vec(-100f64..100.0, 1..20),
            s in 1usize..5,
            seed in any::<u64>(),
        ) {
            let v: Vec<Vector> = xs.iter().map(|&x| Vector::from(vec![x])).collect();
            let mut one = Bucketing::new(1, stream(seed, 0));
            let mut got: Vec<f64> = one.apply(v.clone()).iter().map(|x| x[0]).collect();
            let mut want = xs.clone();
            got.sort_by(f64::total_cmp);
            want.sort_by(f64::total_cmp);
            prop_assert_eq!(got, want);
            let n = xs.len() - xs.len() % s;
            prop_assume!(n > 0);
            let mut b = Bucketing::new(s, stream(seed, 1));
            let out = b.apply(v[..n].to_vec());
            prop_assert_eq!(out.len(), n / s);
            let mean_in: f64 = xs[..n].iter().sum::<f64>() / n as f64;
            let mean_out: f64 = out.iter().map(|x| x[0]).sum::<f64>() / out.len() as f64;
            prop_assert!((mean_in - mean_out).abs() <= 1e-9 * (1.0 + mean_in.abs()));
        }
    }
}
