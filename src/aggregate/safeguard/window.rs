//! One tumbling window of the safeguard: the running sums of every machine, and the search for a
//! reference machine (semantics 1 to 3 of Algorithm 1, Allen-Zhu et al. 2021).

use super::NoReference;
use crate::aggregate::RoundInput;
use crate::linalg::{Vector, distance};

/// One tumbling window: the running sums of every machine.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    pub(crate) name: &'static str,
    pub(crate) length: u64,
    pub(crate) sums: Vec<Vector>,
    /// Where the next reference search starts (last round's reference).
    pub(crate) last_reference: Option<usize>,
    /// Last round's reference and distances, for the public state.
    pub(crate) last_check: (Option<usize>, Vec<(usize, f64)>),
}

/// The result of the reference search in one window.
#[derive(Debug, Clone)]
pub(crate) struct WindowCheck {
    pub(crate) reference: Option<usize>,
    pub(crate) qualified: bool,
    /// `(worker, distance to the reference)` for the valid good machines, in id order.
    pub(crate) distances: Vec<(usize, f64)>,
}

impl Window {
    pub(crate) fn new(name: &'static str, length: u64, machines: usize, dim: usize) -> Self {
        Window {
            name,
            length,
            sums: vec![Vector::zeros(dim); machines],
            last_reference: None,
            last_check: (None, Vec::new()),
        }
    }

    /// True when round `t` (0-based) is the last round of a window.
    pub(crate) fn ends_at(&self, t: u64) -> bool {
        (t + 1).is_multiple_of(self.length)
    }

    /// Reset at a window boundary (semantic 1) and add this round's gradients divided by
    /// `|good_t|` (semantic 2).
    pub(crate) fn accumulate(
        &mut self,
        t: u64,
        input: &RoundInput<'_>,
        good_size: usize,
        good: &[bool],
    ) {
        if t.is_multiple_of(self.length) {
            for s in &mut self.sums {
                s.fill(0.0);
            }
        }
        let scale = 1.0 / good_size as f64;
        // Only machines of the safeguard's own good set count: an expelled machine never
        // re-enters, even if a caller offers its gradient again.
        for (w, g) in input.valid().filter(|(w, _)| good.get(*w) == Some(&true)) {
            if let Some(s) = self.sums.get_mut(w) {
                s.scaled_add(scale, g);
            }
        }
    }

    /// No check this round (the threshold is not known yet): nothing to show the adversary.
    pub(crate) fn skip_check(&mut self) {
        self.last_check = (None, Vec::new());
    }

    /// Find a reference among `candidates` (valid good machines, ascending): a machine with more
    /// than `machines / 2` candidates (itself included) within `threshold` (semantic 3).
    pub(crate) fn check(
        &mut self,
        candidates: &[usize],
        machines: usize,
        threshold: f64,
        policy: NoReference,
    ) -> WindowCheck {
        let c = self.search(candidates, machines, threshold, policy);
        self.last_check = (c.reference, c.distances.clone());
        c
    }

    fn search(
        &mut self,
        candidates: &[usize],
        machines: usize,
        threshold: f64,
        policy: NoReference,
    ) -> WindowCheck {
        let distances_from = |r: usize| -> Vec<(usize, f64)> {
            candidates
                .iter()
                .map(|&j| (j, distance(&self.sums[j], &self.sums[r])))
                .collect()
        };
        let qualifies =
            |d: &[(usize, f64)]| 2 * d.iter().filter(|(_, x)| *x <= threshold).count() > machines;
        // Last round's reference first: in steady state it qualifies again, so the expected cost
        // is one pass over the machines, O(m d).
        let order = self
            .last_reference
            .filter(|r| candidates.contains(r))
            .into_iter()
            .chain(
                candidates
                    .iter()
                    .copied()
                    .filter(|&c| Some(c) != self.last_reference),
            );
        // (neighbours within the threshold, candidate, its distances)
        type Best = (usize, usize, Vec<(usize, f64)>);
        let mut best: Option<Best> = None;
        for r in order {
            let d = distances_from(r);
            if qualifies(&d) {
                self.last_reference = Some(r);
                return WindowCheck {
                    reference: Some(r),
                    qualified: true,
                    distances: d,
                };
            }
            let n = d.iter().filter(|(_, x)| *x <= threshold).count();
            let better = match &best {
                None => true,
                Some((bn, br, _)) => n > *bn || (n == *bn && r < *br),
            };
            if better {
                best = Some((n, r, d));
            }
        }
        match (policy, best) {
            (NoReference::MostNeighbours, Some((_, r, d))) => {
                self.last_reference = Some(r);
                WindowCheck {
                    reference: Some(r),
                    qualified: false,
                    distances: d,
                }
            }
            _ => WindowCheck {
                reference: None,
                qualified: false,
                distances: Vec::new(),
            },
        }
    }

    /// The smallest threshold at which some candidate would qualify as reference: the minimum
    /// over candidates `r` of the `(floor(machines/2) + 1)`-th smallest distance from `A_r` to the
    /// candidates' sums (`A_r` itself included, at distance 0). `None` when fewer than
    /// `floor(machines/2) + 1` candidates are left. Costs `O(k^2 d)` for `k` candidates; the
    /// `adaptive` thresholds call it once per window, at its end.
    pub(crate) fn majority_radius(&self, candidates: &[usize], machines: usize) -> Option<f64> {
        let need = machines / 2 + 1;
        let k = candidates.len();
        if k < need || need == 0 {
            return None;
        }
        let sums: Vec<&Vector> = candidates.iter().map(|&c| &self.sums[c]).collect();
        super::filter::ball_radii(&super::filter::pairwise_distances(&sums), need)
            .into_iter()
            .min_by(f64::total_cmp)
    }
}
