//! Sharding a training set across the `m` machines, Byzantine machines included (label flipping
//! and delayed gradients need data of their own).
//!
//! - [`Sharding::Iid`]: a uniform random permutation cut into `m` contiguous pieces whose sizes
//!   differ by at most one.
//! - [`Sharding::Dirichlet`]: label skew of Hsu, Qi & Brown, "Measuring the Effects of
//!   Non-Identical Data Distribution for Federated Visual Classification" (2019). For each class
//!   `c` in turn: shuffle its samples, draw proportions `p ~ Dirichlet(alpha 1_m)` (as
//!   normalised `Gamma(alpha, 1)` draws), and give machine `j` the samples between cut points
//!   `round(n_c (p_1 + ... + p_{j-1}))` and `round(n_c (p_1 + ... + p_j))`. Large `alpha` tends to
//!   i.i.d.; small `alpha` gives each machine few classes.
//! - [`Sharding::Shards`]: the "pathological non-IID" split of McMahan et al., "Communication-
//!   Efficient Learning of Deep Networks from Decentralized Data" (AISTATS 2017): sort the
//!   samples by label (random order within a class), cut them into `m k` contiguous shards of
//!   nearly equal size, and give each machine `k` shards chosen at random. A machine then holds
//!   about `k` classes: fewer when two of its shards share a class, more (at most `2k` when every
//!   class has at least one shard's worth of samples) when a shard straddles a class boundary.
//!
//! **Every machine gets a non-empty shard.** `iid` and `shards` guarantee it by construction
//! when `n >= m` (resp. `n >= m k`). A Dirichlet split can leave machines empty (small `alpha`
//! puts nearly all of a class on one machine); it is then *topped up*: while some machine is
//! empty (lowest id first), one sample, chosen at random, moves to it from the largest shard
//! (lowest id among ties). Each move takes one sample from a shard of at least two, so this
//! ends after at most `m - 1` moves and changes the skew as little as possible.
//!
//! Shards are returned as lists of training-set indices, sorted increasingly; together they
//! partition `0..n`. Everything is drawn from the one `rng` passed in.

use crate::problem::data::{permutation, shuffle};
use crate::problem::error::{ProblemError, require};
use crate::rng::SimRng;
use rand::RngExt;
use rand_distr::{Distribution, Gamma};

/// Largest Dirichlet concentration accepted (beyond it the split is i.i.d. for all purposes).
pub const MAX_ALPHA: f64 = 1e6;

/// How the training set is split across machines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sharding {
    /// Uniformly at random, equal sizes (the default).
    Iid,
    /// Label skew: per class a `Dirichlet(alpha)` split over machines.
    Dirichlet {
        /// Concentration `0 < alpha <= 1e6`; 1.0, 0.3 and 0.1 are common choices.
        alpha: f64,
    },
    /// `k` label-sorted shards per machine (McMahan et al. 2017).
    Shards {
        /// Shards (about classes) per machine, `1 <= k <= classes`; McMahan et al. use 2.
        classes_per_machine: usize,
    },
}

/// Split the samples with the given `labels` (in `0..classes`) across `machines` machines.
///
/// Preconditions (errors otherwise): `machines >= 1`, `labels.len() >= machines`, every label
/// `< classes`; for Dirichlet `0 < alpha <= 1e6`; for shards
/// `1 <= classes_per_machine <= classes` and `labels.len() >= machines * classes_per_machine`.
pub fn shard(
    labels: &[usize],
    classes: usize,
    machines: usize,
    sharding: Sharding,
    rng: &mut SimRng,
) -> Result<Vec<Vec<usize>>, ProblemError> {
    let n = labels.len();
    require(machines >= 1, "machines", || "must be at least 1".into())?;
    require(n >= machines, "machines", || {
        format!("{machines} machines but only {n} training samples: every machine needs one")
    })?;
    if let Some(l) = labels.iter().find(|&&l| l >= classes) {
        return Err(ProblemError::invalid(
            "labels",
            format!("label {l} is not in 0..{classes}"),
        ));
    }
    let mut shards = match sharding {
        Sharding::Iid => {
            let order = permutation(n, rng);
            (0..machines)
                .map(|j| order[j * n / machines..(j + 1) * n / machines].to_vec())
                .collect()
        }
        Sharding::Dirichlet { alpha } => dirichlet(labels, classes, machines, alpha, rng)?,
        Sharding::Shards {
            classes_per_machine: k,
        } => label_shards(labels, classes, machines, k, rng)?,
    };
    for s in &mut shards {
        s.sort_unstable();
    }
    Ok(shards)
}

fn dirichlet(
    labels: &[usize],
    classes: usize,
    machines: usize,
    alpha: f64,
    rng: &mut SimRng,
) -> Result<Vec<Vec<usize>>, ProblemError> {
    require(alpha > 0.0 && alpha <= MAX_ALPHA, "alpha", || {
        format!("must be in (0, {MAX_ALPHA}], got {alpha}")
    })?;
    let gamma = Gamma::new(alpha, 1.0)
        .map_err(|e| ProblemError::invalid("alpha", format!("{alpha}: {e}")))?;
    let mut shards: Vec<Vec<usize>> = vec![Vec::new(); machines];
    let mut weights = vec![0.0; machines];
    for c in 0..classes {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        shuffle(&mut members, rng);
        for w in weights.iter_mut() {
            *w = gamma.sample(rng);
        }
        let total: f64 = weights.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            // Every draw underflowed (tiny alpha): all of the class goes to one machine.
            weights.iter_mut().for_each(|w| *w = 0.0);
            weights[rng.random_range(0..machines)] = 1.0;
        }
        let total: f64 = weights.iter().sum();
        let n_c = members.len();
        let (mut start, mut cumulative) = (0, 0.0);
        for (j, w) in weights.iter().enumerate() {
            cumulative += w;
            let end = if j + 1 == machines {
                n_c
            } else {
                ((cumulative / total * n_c as f64).round() as usize).clamp(start, n_c)
            };
            shards[j].extend_from_slice(&members[start..end]);
            start = end;
        }
    }
    // Top up empty machines from the largest shard (see the module docs).
    while let Some(empty) = shards.iter().position(|s| s.is_empty()) {
        let donor = (0..machines)
            .max_by(|&a, &b| shards[a].len().cmp(&shards[b].len()).then(b.cmp(&a)))
            .unwrap_or(0);
        let pick = rng.random_range(0..shards[donor].len());
        let moved = shards[donor].swap_remove(pick);
        shards[empty].push(moved);
    }
    Ok(shards)
}

fn label_shards(
    labels: &[usize],
    classes: usize,
    machines: usize,
    k: usize,
    rng: &mut SimRng,
) -> Result<Vec<Vec<usize>>, ProblemError> {
    let n = labels.len();
    require(k >= 1 && k <= classes, "classes_per_machine", || {
        format!("must be in 1..={classes}, got {k}")
    })?;
    let pieces = machines.checked_mul(k).filter(|&p| p <= n);
    let Some(pieces) = pieces else {
        return Err(ProblemError::invalid(
            "classes_per_machine",
            format!("{machines} machines x {k} shards need at least as many samples, got {n}"),
        ));
    };
    let mut order = permutation(n, rng);
    order.sort_by_key(|&i| labels[i]); // stable: random order within a class
    let owners = permutation(pieces, rng);
    let mut shards: Vec<Vec<usize>> = vec![Vec::new(); machines];
    for (piece, &owner) in owners.iter().enumerate() {
        shards[owner / k].extend_from_slice(&order[piece * n / pieces..(piece + 1) * n / pieces]);
    }
    Ok(shards)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn balanced(n: usize, classes: usize) -> Vec<usize> {
        (0..n).map(|i| i % classes).collect()
    }

    fn assert_partition(shards: &[Vec<usize>], n: usize) {
        let mut all: Vec<usize> = shards.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
        assert!(shards.iter().all(|s| !s.is_empty()));
        assert!(shards.iter().all(|s| s.windows(2).all(|w| w[0] < w[1])));
    }

    /// Per machine: the label distribution's entropy (nats) and its largest class share.
    fn skew(labels: &[usize], classes: usize, shards: &[Vec<usize>]) -> (f64, f64) {
        let (mut entropy, mut share) = (0.0, 0.0);
        for s in shards {
            let mut counts = vec![0usize; classes];
            s.iter().for_each(|&i| counts[labels[i]] += 1);
            let n = s.len() as f64;
            entropy -= counts
                .iter()
                .filter(|&&c| c > 0)
                .map(|&c| (c as f64 / n) * (c as f64 / n).ln())
                .sum::<f64>();
            share += *counts.iter().max().unwrap() as f64 / n;
        }
        (entropy / shards.len() as f64, share / shards.len() as f64)
    }

    #[test]
    fn every_mode_partitions_and_is_seeded() {
        let labels = balanced(1000, 10);
        for mode in [
            Sharding::Iid,
            Sharding::Dirichlet { alpha: 0.5 },
            Sharding::Shards {
                classes_per_machine: 2,
            },
        ] {
            for seed in 0..5 {
                let a = shard(&labels, 10, 10, mode, &mut stream(seed, 0)).unwrap();
                assert_eq!(a.len(), 10);
                assert_partition(&a, 1000);
                assert_eq!(
                    a,
                    shard(&labels, 10, 10, mode, &mut stream(seed, 0)).unwrap()
                );
            }
        }
    }

    #[test]
    fn iid_sizes_differ_by_at_most_one() {
        let s = shard(&balanced(103, 3), 3, 10, Sharding::Iid, &mut stream(1, 0)).unwrap();
        let sizes: Vec<usize> = s.iter().map(Vec::len).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }

    #[test]
    fn dirichlet_skew_grows_as_alpha_falls() {
        let labels = balanced(2000, 10);
        let mean_skew = |mode| {
            let (mut e, mut s) = (0.0, 0.0);
            for seed in 0..8 {
                let sh = shard(&labels, 10, 10, mode, &mut stream(seed, 0)).unwrap();
                let (a, b) = skew(&labels, 10, &sh);
                e += a / 8.0;
                s += b / 8.0;
            }
            (e, s)
        };
        let iid = mean_skew(Sharding::Iid);
        let a1 = mean_skew(Sharding::Dirichlet { alpha: 1.0 });
        let a03 = mean_skew(Sharding::Dirichlet { alpha: 0.3 });
        let a01 = mean_skew(Sharding::Dirichlet { alpha: 0.1 });
        // Entropy falls from ~ln 10 = 2.30 (i.i.d.) as alpha falls; the top class share rises.
        assert!(iid.0 > 2.25, "{iid:?}");
        assert!(
            iid.0 > a1.0 && a1.0 > a03.0 && a03.0 > a01.0,
            "{iid:?} {a1:?} {a03:?} {a01:?}"
        );
        assert!(iid.1 < a1.1 && a1.1 < a03.1 && a03.1 < a01.1);
        assert!(a01.0 < 1.2 && a01.1 > 0.5, "{a01:?}");
    }

    #[test]
    fn tiny_alpha_tops_up_empty_machines() {
        let labels = balanced(30, 3);
        for seed in 0..20 {
            let s = shard(
                &labels,
                3,
                10,
                Sharding::Dirichlet { alpha: 0.01 },
                &mut stream(seed, 0),
            )
            .unwrap();
            assert_partition(&s, 30);
        }
        // Exactly one sample per machine when n = m.
        let s = shard(
            &labels[..10],
            3,
            10,
            Sharding::Dirichlet { alpha: 0.01 },
            &mut stream(0, 0),
        )
        .unwrap();
        assert!(s.iter().all(|s| s.len() == 1));
    }

    #[test]
    fn shards_give_about_k_classes_per_machine() {
        let labels = balanced(2000, 10);
        for seed in 0..5 {
            let s = shard(
                &labels,
                10,
                10,
                Sharding::Shards {
                    classes_per_machine: 2,
                },
                &mut stream(seed, 0),
            )
            .unwrap();
            for m in &s {
                let mut present = [false; 10];
                m.iter().for_each(|&i| present[labels[i]] = true);
                let k = present.iter().filter(|&&p| p).count();
                assert!((1..=2).contains(&k), "{k} classes");
                assert_eq!(m.len(), 200);
            }
        }
    }

    #[test]
    fn bad_parameters_are_errors() {
        let labels = balanced(20, 2);
        let mut rng = stream(0, 0);
        let mut bad = |m, mode| shard(&labels, 2, m, mode, &mut rng).is_err();
        assert!(bad(0, Sharding::Iid));
        assert!(bad(21, Sharding::Iid));
        assert!(bad(2, Sharding::Dirichlet { alpha: 0.0 }));
        assert!(bad(2, Sharding::Dirichlet { alpha: f64::NAN }));
        assert!(bad(
            2,
            Sharding::Dirichlet {
                alpha: f64::INFINITY
            }
        ));
        assert!(bad(
            2,
            Sharding::Shards {
                classes_per_machine: 0
            }
        ));
        assert!(bad(
            2,
            Sharding::Shards {
                classes_per_machine: 3
            }
        ));
        assert!(bad(
            11,
            Sharding::Shards {
                classes_per_machine: 2
            }
        ));
        assert!(shard(&[0, 5], 2, 1, Sharding::Iid, &mut stream(0, 0)).is_err());
    }
}
