//! SafeguardSGD: Algorithm 1 (double safeguard) and Algorithm 2 (single safeguard) of
//! Z. Allen-Zhu, F. Ebrahimian, J. Li, D. Alistarh, *Byzantine-Resilient Non-Convex Stochastic
//! Gradient Descent*, ICLR 2021 (arXiv:2012.14368).
//!
//! The master keeps, for every machine `i` still in the good set, two windowed sums of its
//! gradients, each gradient divided by the size of the good set when it arrived:
//! `A_i = sum_{k=last1..t} grad_{k,i} / |good_k|` over a window of `T1` rounds and `B_i` likewise
//! over `T0` rounds. A machine whose `A_i` (or `B_i`) lies farther than `2 * Th1` (`2 * Th0`) from
//! a reference machine's sum is expelled for good. The step averages the gradients of the good set
//! *before* this round's filtering.
//!
//! Semantics reproduced exactly (see `shared/reference/safeguard-sgd.md`), each pinned by a test
//! below:
//! 1. windows tumble: they reset every `T0` / `T1` rounds (`last1 = T1 * floor(t / T1)`);
//! 2. each gradient is divided by `|good_k|` at its arrival;
//! 3. the reference is one machine's own windowed sum, chosen because *more than `m/2`* machines
//!    (`m` = all machines at the start, the count includes the machine itself) lie within the
//!    threshold; not a median. Any qualifying machine will do: we try last round's reference
//!    first, then ascending ids, so the expected cost per round is `O(m d)`;
//! 4. expulsion at twice the selection radius, permanent;
//! 5. the step averages over `good_t`, the set before this round's filtering;
//! 6. (the perturbation `eta * xi_t` is applied by the coordinator, for every rule);
//! 7. no momentum, weight decay or clipping;
//! 8. a round where no machine qualifies as reference is reported ([`Aggregate::no_reference`]);
//!    what happens then is the knob [`NoReference`].
//!
//! Memory is `O(m d)`: running sums only, never gradient histories.
//!
//! A good-set machine that sends nothing valid in a round (silence, crash, NaN, wrong length)
//! cannot take part in the windows, which the algorithm requires of every good machine: it is
//! expelled with reason `no_valid_gradient`.

pub mod calibrate;
pub mod params;

use super::{
    Aggregate, Aggregator, Expulsion, PublicState, RoundInput, WindowDistance, WindowState,
};
use crate::linalg::{Vector, distance, mean};

pub use calibrate::{Calibration, calibrate};
pub use params::{SafeguardParams, ThresholdSpec};

/// Which algorithm of the paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Algorithm 1: two windows, `T1 >= T0`.
    Double,
    /// Algorithm 2: the short window only.
    Single,
}

/// The selection thresholds `Th1` (long window) and `Th0` (short window).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Thresholds {
    /// Fixed values, whatever the size of the good set.
    Fixed {
        /// `Th1`.
        long: f64,
        /// `Th0`.
        short: f64,
    },
    /// `Th = value / |good_t|`: honest windowed sums are divided by `|good_k|`, so their spread
    /// scales as `1 / |good|` (the `theory` and `calibrate` modes resolve to this).
    PerGood {
        /// `Th1 * |good|`.
        long: f64,
        /// `Th0 * |good|`.
        short: f64,
    },
}

impl Thresholds {
    /// `(Th1, Th0)` for a good set of `good` machines.
    pub fn at(&self, good: usize) -> (f64, f64) {
        match *self {
            Thresholds::Fixed { long, short } => (long, short),
            Thresholds::PerGood { long, short } => {
                let g = good.max(1) as f64;
                (long / g, short / g)
            }
        }
    }
}

/// What to do in a window where no machine has more than `m/2` machines within the threshold
/// (the algorithm is undefined there; the round is always reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReference {
    /// Take the machine with the most neighbours within the threshold as reference (lowest id on
    /// ties) and filter as usual: the known workaround.
    MostNeighbours,
    /// Expel nobody through that window this round.
    KeepAll,
}

/// Parameters of the safeguard, already checked (see [`crate::scenario`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SafeguardConfig {
    /// Double (Algorithm 1) or single (Algorithm 2).
    pub variant: Variant,
    /// `T1`, in rounds (ignored by the single variant).
    pub window_long: u64,
    /// `T0`, in rounds.
    pub window_short: u64,
    /// `Th1`, `Th0`.
    pub thresholds: Thresholds,
    /// Behaviour when no reference qualifies.
    pub on_no_reference: NoReference,
}

/// One tumbling window: the running sums of every machine.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    name: &'static str,
    length: u64,
    pub(crate) sums: Vec<Vector>,
    /// Where the next reference search starts (last round's reference).
    last_reference: Option<usize>,
    /// Last round's reference and distances, for the public state.
    last_check: (Option<usize>, Vec<(usize, f64)>),
}

/// The result of the reference search in one window.
struct WindowCheck {
    reference: Option<usize>,
    qualified: bool,
    /// `(worker, distance to the reference)` for the valid good machines, in id order.
    distances: Vec<(usize, f64)>,
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

    /// Find a reference among `candidates` (valid good machines, ascending): a machine with more
    /// than `machines / 2` candidates (itself included) within `threshold` (semantic 3).
    fn check(
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
}

/// The SafeguardSGD aggregator (stateful: windows, good set, last references).
#[derive(Debug, Clone)]
pub struct Safeguard {
    config: SafeguardConfig,
    machines: usize,
    good: Vec<bool>,
    long: Option<Window>,
    short: Window,
    /// Rounds aggregated so far (the paper's `t` of the next round).
    t: u64,
    /// Extra facts for summary.json (e.g. what the calibration measured).
    report: Vec<(String, f64)>,
}

impl Safeguard {
    /// A safeguard over `machines` machines and parameters of dimension `dim`; all machines start
    /// in the good set.
    pub fn new(config: SafeguardConfig, machines: usize, dim: usize) -> Self {
        let long = match config.variant {
            Variant::Double => Some(Window::new(
                "long",
                config.window_long.max(1),
                machines,
                dim,
            )),
            Variant::Single => None,
        };
        Safeguard {
            config,
            machines,
            good: vec![true; machines],
            long,
            short: Window::new("short", config.window_short.max(1), machines, dim),
            t: 0,
            report: Vec::new(),
        }
    }

    /// Add facts to the `thresholds` object of summary.json (e.g. calibration measurements).
    pub fn with_report(mut self, report: Vec<(String, f64)>) -> Self {
        self.report = report;
        self
    }

    /// The current good set, ascending.
    pub fn good_set(&self) -> Vec<usize> {
        (0..self.machines).filter(|&i| self.good[i]).collect()
    }

    fn good_size(&self) -> usize {
        self.good.iter().filter(|g| **g).count()
    }
}

impl Aggregator for Safeguard {
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        let t = self.t;
        self.t += 1;
        let good_size = self.good_size();
        let (th_long, th_short) = self.config.thresholds.at(good_size);

        if let Some(w) = &mut self.long {
            w.accumulate(t, input, good_size, &self.good);
        }
        self.short.accumulate(t, input, good_size, &self.good);

        // Valid good machines take part in the reference search; the others are expelled.
        let mut expel: Vec<Expulsion> = Vec::new();
        let mut candidates = Vec::with_capacity(input.workers.len());
        for (&w, g) in input.workers.iter().zip(input.gradients) {
            if w >= self.machines || !self.good[w] {
                continue;
            }
            if g.is_some() {
                candidates.push(w);
            } else {
                expel.push(Expulsion {
                    worker: w,
                    reason: "no_valid_gradient".into(),
                });
            }
        }

        let policy = self.config.on_no_reference;
        let mut checks: Vec<(&'static str, f64, WindowCheck)> = Vec::with_capacity(2);
        if let Some(w) = &mut self.long {
            let c = w.check(&candidates, self.machines, th_long, policy);
            checks.push((w.name, th_long, c));
        }
        let c = self
            .short
            .check(&candidates, self.machines, th_short, policy);
        checks.push((self.short.name, th_short, c));

        let no_reference = checks.iter().any(|(_, _, c)| !c.qualified);
        let mut distances = Vec::new();
        let mut reasons: Vec<Vec<&'static str>> = vec![Vec::new(); candidates.len()];
        for (name, th, check) in &checks {
            if check.reference.is_none() {
                continue;
            }
            for (k, &(w, d)) in check.distances.iter().enumerate() {
                distances.push(WindowDistance {
                    worker: w,
                    window: name,
                    distance: d,
                    threshold: *th,
                });
                // Semantic 4: expel beyond twice the selection radius.
                if d > 2.0 * th {
                    reasons[k].push(if *name == "long" {
                        "window_long"
                    } else {
                        "window_short"
                    });
                }
            }
        }
        for (k, &w) in candidates.iter().enumerate() {
            if !reasons[k].is_empty() {
                expel.push(Expulsion {
                    worker: w,
                    reason: reasons[k].join("+"),
                });
            }
        }
        expel.sort_by_key(|e| e.worker);
        for e in &expel {
            self.good[e.worker] = false;
        }

        // Semantic 5: the step averages over good_t, before this round's filtering.
        // A good machine without a valid gradient this round cannot be averaged: the step is the
        // mean of the valid gradients of good_t (`candidates`, ascending).
        let direction = mean(
            input
                .valid()
                .filter(|(w, _)| candidates.binary_search(w).is_ok())
                .map(|(_, g)| g),
            input.dim(),
        );
        Aggregate {
            direction,
            expel,
            no_reference,
            distances,
        }
    }

    fn public_state(&self) -> PublicState {
        let good = self.good_size();
        let (th_long, th_short) = self.config.thresholds.at(good);
        let scales = matches!(self.config.thresholds, Thresholds::PerGood { .. });
        let window = |w: &Window, threshold: f64| WindowState {
            name: w.name,
            length: w.length,
            position: self.t % w.length,
            threshold,
            scales_with_good: scales,
            reference: w.last_check.0,
            distances: w.last_check.1.clone(),
        };
        let mut windows = Vec::with_capacity(2);
        if let Some(w) = &self.long {
            windows.push(window(w, th_long));
        }
        windows.push(window(&self.short, th_short));
        PublicState {
            good: Some(good),
            windows,
        }
    }

    fn thresholds(&self) -> Vec<(String, f64)> {
        let (long, short) = self.config.thresholds.at(self.machines);
        let mut out = Vec::new();
        if self.long.is_some() {
            out.push(("long".to_string(), long));
        }
        out.push(("short".to_string(), short));
        out.extend(self.report.iter().cloned());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn config(variant: Variant, t1: u64, t0: u64, long: f64, short: f64) -> SafeguardConfig {
        SafeguardConfig {
            variant,
            window_long: t1,
            window_short: t0,
            thresholds: Thresholds::Fixed { long, short },
            on_no_reference: NoReference::MostNeighbours,
        }
    }

    /// Run one round with the given gradients (None = no valid reply) for the good machines.
    fn round(sg: &mut Safeguard, grads: &[(usize, Option<Vector>)]) -> Aggregate {
        let workers: Vec<usize> = grads.iter().map(|(w, _)| *w).collect();
        let gradients: Vec<Option<Vector>> = grads.iter().map(|(_, g)| g.clone()).collect();
        let dim = grads
            .iter()
            .find_map(|(_, g)| g.as_ref().map(|g| g.len()))
            .unwrap_or(1);
        let params = Vector::zeros(dim);
        let hm = Vector::zeros(dim);
        let input = RoundInput {
            round: sg.t + 1,
            params: &params,
            machines: sg.machines,
            workers: &workers,
            gradients: &gradients,
            honest_mean: &hm,
        };
        sg.aggregate(&input)
    }

    fn step(sg: &mut Safeguard, f: impl Fn(usize) -> Vector) -> Aggregate {
        let g = all(sg, f);
        round(sg, &g)
    }

    fn all(sg: &Safeguard, f: impl Fn(usize) -> Vector) -> Vec<(usize, Option<Vector>)> {
        sg.good_set().into_iter().map(|w| (w, Some(f(w)))).collect()
    }

    #[test]
    fn windows_tumble_and_reset() {
        // Single window of length 3; machine 0 sends 1, the others 0. |good| = 4 throughout
        // (thresholds huge, nobody expelled).
        let mut sg = Safeguard::new(config(Variant::Single, 0, 3, 0.0, 1e9), 4, 1);
        let mut seen = Vec::new();
        for _ in 0..7 {
            step(&mut sg, |w| array![if w == 0 { 1.0 } else { 0.0 }]);
            seen.push(sg.short.sums[0][0]);
        }
        // 1/4, 2/4, 3/4, then reset at t = 3 and 6: not a sliding window (which would stay at 3/4).
        assert_eq!(seen, vec![0.25, 0.5, 0.75, 0.25, 0.5, 0.75, 0.25]);
    }

    #[test]
    fn normalisation_by_good_size_at_arrival() {
        // 5 machines; machine 4 is far away and expelled after round 1. Machine 0 sends 1 every
        // round: its sum is 1/5 (arrived while |good| = 5) + 1/4 (arrived while |good| = 4).
        let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.5), 5, 1);
        let r1 = step(&mut sg, |w| array![if w == 4 { 100.0 } else { 1.0 }]);
        assert_eq!(
            r1.expel.iter().map(|e| e.worker).collect::<Vec<_>>(),
            vec![4]
        );
        step(&mut sg, |_| array![1.0]);
        assert_eq!(sg.short.sums[0][0], 1.0 / 5.0 + 1.0 / 4.0);
    }

    #[test]
    fn reference_needs_more_than_half_of_m_counted_against_m() {
        // m = 6 machines, of which 2 were expelled earlier; the 4 left form two pairs: no machine
        // has more than half of anything within the threshold, so no reference qualifies. (That
        // the count is against m, not |good_t|, is pinned by
        // `majority_is_counted_against_m_not_good_t`.)
        let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.6), 6, 1);
        sg.good[4] = false;
        sg.good[5] = false;
        let out = step(&mut sg, |w| array![if w < 2 { 0.0 } else { 4.0 }]);
        assert!(out.no_reference);
        // With 4 of 6 together, a reference qualifies (4 > 3), and the count includes itself:
        // 3 others + itself.
        let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.5), 6, 1);
        let out = step(&mut sg, |w| {
            array![if w < 4 { 0.0 } else { 50.0 + w as f64 }]
        });
        assert!(!out.no_reference);
        let expelled: Vec<usize> = out.expel.iter().map(|e| e.worker).collect();
        assert_eq!(expelled, vec![4, 5]);
        // Exactly m/2 = 3 together is not enough.
        let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.5), 6, 1);
        let out = step(&mut sg, |w| {
            array![if w < 3 { 0.0 } else { 10.0 * w as f64 }]
        });
        assert!(out.no_reference);
    }

    #[test]
    fn expulsion_at_twice_the_threshold() {
        // Threshold 1 (per window sum, |good| = 5 so sums are values / 5). Machine 3 sits at
        // exactly 2 * Th from the others (kept), machine 4 just beyond (expelled).
        let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 1.0), 5, 1);
        let out = step(&mut sg, |w| match w {
            3 => array![10.0],        // 10 / 5 = 2.0 = 2 * Th: kept
            4 => array![10.0 + 1e-9], // just above 2 * Th: expelled
            _ => array![0.0],
        });
        assert_eq!(
            out.expel,
            vec![Expulsion {
                worker: 4,
                reason: "window_short".into()
            }]
        );
        // Machine 3 is within 2 * Th but not within Th of the reference: kept.
        assert!(sg.good[3]);
    }

    #[test]
    fn expulsion_is_permanent() {
        let mut sg = Safeguard::new(config(Variant::Single, 0, 2, 0.0, 1.0), 5, 1);
        step(&mut sg, |w| array![if w == 4 { 100.0 } else { 0.0 }]);
        assert_eq!(sg.good_set(), vec![0, 1, 2, 3]);
        // Even if machine 4 were offered again with a perfect vector after the window reset, it is
        // no longer in the good set: the aggregator ignores it and never re-admits it.
        for _ in 0..5 {
            let mut grads = all(&sg, |_| array![0.0]);
            grads.push((4, Some(array![100.0])));
            let out = round(&mut sg, &grads);
            assert!(out.expel.is_empty());
            assert_eq!(out.direction, array![0.0]);
        }
        assert_eq!(sg.good_set(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn step_averages_over_good_set_before_filtering() {
        let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.5), 5, 1);
        let out = step(&mut sg, |w| array![if w == 4 { 95.0 } else { 1.0 }]);
        assert_eq!(out.expel.len(), 1);
        // (4 * 1 + 95) / 5, the expelled machine still counts this round.
        assert_eq!(out.direction, array![(4.0 + 95.0) / 5.0]);
        let out = step(&mut sg, |_| array![1.0]);
        assert_eq!(out.direction, array![1.0]);
    }

    #[test]
    fn double_checks_both_windows() {
        // Long window 100 with a tight threshold; short window 1 with a loose one. A machine with a
        // small constant bias stays inside the short window but drifts out of the long one.
        let mut sg = Safeguard::new(config(Variant::Double, 100, 1, 0.5, 100.0), 5, 1);
        let mut expelled_at = None;
        for t in 0..100 {
            let out = step(&mut sg, |w| array![if w == 4 { 1.0 } else { 0.0 }]);
            if let Some(e) = out.expel.first() {
                assert_eq!(e.reason, "window_long");
                expelled_at = Some(t);
                break;
            }
        }
        // A_4 = k / 5 after k rounds: beyond 2 * 0.5 = 1.0 once k = 6 (t = 5).
        assert_eq!(expelled_at, Some(5));
    }

    #[test]
    fn silent_machine_is_expelled_and_not_averaged() {
        let mut sg = Safeguard::new(config(Variant::Single, 0, 10, 0.0, 1.0), 4, 1);
        let mut grads = all(&sg, |_| array![2.0]);
        grads[1].1 = None;
        let out = round(&mut sg, &grads);
        assert_eq!(
            out.expel,
            vec![Expulsion {
                worker: 1,
                reason: "no_valid_gradient".into()
            }]
        );
        assert_eq!(out.direction, array![2.0]);
    }

    #[test]
    fn last_reference_is_tried_first_and_any_qualifier_will_do() {
        let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 10.0), 5, 1);
        step(&mut sg, |w| array![w as f64]);
        let first = sg.short.last_reference;
        assert_eq!(first, Some(0));
        step(&mut sg, |w| array![w as f64]);
        assert_eq!(sg.short.last_reference, first);
    }

    #[test]
    fn keep_all_policy_expels_nobody_without_reference() {
        let mut cfg = config(Variant::Single, 0, 100, 0.0, 0.1);
        cfg.on_no_reference = NoReference::KeepAll;
        let mut sg = Safeguard::new(cfg, 4, 1);
        let out = step(&mut sg, |w| array![10.0 * w as f64]);
        assert!(out.no_reference);
        assert!(out.expel.is_empty());
        let mut cfg = config(Variant::Single, 0, 100, 0.0, 0.1);
        cfg.on_no_reference = NoReference::MostNeighbours;
        let mut sg = Safeguard::new(cfg, 4, 1);
        let out = step(&mut sg, |w| array![10.0 * w as f64]);
        assert!(out.no_reference);
        // Reference = machine 0 (ties -> lowest id); everyone else is beyond 2 * 0.1.
        assert_eq!(out.expel.len(), 3);
    }

    #[test]
    fn per_good_thresholds_scale_with_good_set() {
        let th = Thresholds::PerGood {
            long: 10.0,
            short: 4.0,
        };
        assert_eq!(th.at(5), (2.0, 0.8));
        assert_eq!(th.at(10), (1.0, 0.4));
    }

    #[test]
    fn calibration_keeps_honest_machines_in() {
        use crate::problem::{Noise, Saddle};
        let p = Saddle::new(5, 1, 0.1, Noise::Bounded { radius: 1.0 });
        let cal = calibrate(&p, 6, 0.05, 0.0, Variant::Double, 40, 10, 80, 1.0, 3);
        assert!(cal.max_long > cal.max_short && cal.max_short > 0.0);
        assert_eq!(
            cal.thresholds,
            Thresholds::PerGood {
                long: cal.max_long * 6.0,
                short: cal.max_short * 6.0
            }
        );
    }

    #[test]
    fn majority_is_counted_against_m_not_good_t() {
        let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 0.5), 6, 1);
        sg.good[4] = false;
        sg.good[5] = false;
        // 3 of the 4 good machines agree: 3 > 4/2 but not 3 > 6/2.
        let out = step(&mut sg, |w| array![if w < 3 { 0.0 } else { 10.0 }]);
        assert!(out.no_reference);
    }

    #[test]
    fn long_window_tumbles() {
        let mut sg = Safeguard::new(config(Variant::Double, 4, 2, 1e9, 1e9), 4, 1);
        let mut seen = Vec::new();
        for _ in 0..6 {
            step(&mut sg, |w| array![if w == 0 { 1.0 } else { 0.0 }]);
            seen.push(sg.long.as_ref().unwrap().sums[0][0]);
        }
        assert_eq!(seen, vec![0.25, 0.5, 0.75, 1.0, 0.25, 0.5]);
    }

    #[test]
    fn divisor_is_good_size_not_valid_count() {
        // 4 good machines, machine 3 silent this round: machine 0's sum gets 1/4, not 1/3.
        let mut sg = Safeguard::new(config(Variant::Single, 0, 100, 0.0, 10.0), 4, 1);
        let mut grads = all(&sg, |_| array![1.0]);
        grads[3].1 = None;
        round(&mut sg, &grads);
        assert_eq!(sg.short.sums[0][0], 0.25);
    }
}
