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
//! Semantics reproduced exactly (see `shared/reference/safeguard-sgd.md`), each pinned by a unit
//! test (`tests.rs`):
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

//! Three additions, each a knob (see the README's "SafeguardSGD, exactly"):
//! - the per-round **filter** ([`filter`]): the paper's "without loss of generality" on Byzantine
//!   vectors (Assumption 2.1): before the step, a vector that is not within `2V` of more than
//!   half of the round's vectors is dropped from the step (it still enters the windows). On by
//!   default; [`Filter::Off`] is Algorithm 1 as printed;
//! - the **guard**: the good set never falls to `m/2` machines or fewer through window
//!   expulsions. Such an expulsion contradicts the paper's premise that the honest machines are a
//!   majority and all stay good (which its analysis shows holds with high probability), so it
//!   can only come from thresholds that are too tight; without the guard one such expulsion
//!   leaves no machine able to qualify as reference, and every later round expels through the
//!   `on_no_reference` workaround, down to one machine. When a round's window expulsions would
//!   break the bound, the most deviant machines (largest `distance / (2 Th)`, lowest id on ties)
//!   are expelled and the others are withheld ([`Aggregate::withheld`]). Machines that send nothing
//!   valid are expelled whatever the guard: they cannot take part;
//! - **adaptive** thresholds ([`Thresholds::Adaptive`]), set from the run itself.

pub mod calibrate;
pub mod filter;
pub mod modes;
pub mod params;
#[cfg(test)]
mod tests;
mod window;

use super::{
    Aggregate, Aggregator, Dropped, Expulsion, FilterInfo, PublicState, RoundInput, RuleInfo,
    WindowDistance, WindowState,
};
use crate::linalg::{Vector, mean};
pub(crate) use window::Window;
use window::WindowCheck;

pub use calibrate::{Calibration, calibrate};
pub use filter::{Filter, FilterOutcome};
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
    /// Fixed values, whatever the size of the good set (the `fixed` and `paper` modes).
    Fixed {
        /// `Th1`.
        long: f64,
        /// `Th0`.
        short: f64,
    },
    /// `Th = value / |good_t|`: honest windowed sums are divided by `|good_k|`, so their spread
    /// scales as `1 / |good|` (the `theory` and `oracle_pre_run` modes resolve to this).
    PerGood {
        /// `Th1 * |good|`.
        long: f64,
        /// `Th0 * |good|`.
        short: f64,
    },
    /// Set from the run itself (the `adaptive` mode, after the `tuningThreshold` option of the
    /// epfml/byzantine-robust-noniid-optimizer re-implementation): at the end of each window,
    /// `Th = factor x` the smallest threshold at which some machine would qualify as reference
    /// (the minimum over good machines `r` of the `(floor(m/2) + 1)`-th smallest distance from
    /// `r`'s windowed sum to the good machines' sums, Byzantine machines included), used for the
    /// next window and scaled as `1 / |good_t|` like `PerGood`. Until a window has ended once,
    /// that window expels nobody (its threshold is infinite).
    Adaptive {
        /// The factor.
        factor: f64,
    },
}

impl Thresholds {
    /// `(Th1, Th0)` for a good set of `good` machines (infinite for `Adaptive`, whose values
    /// are measured during the run: see [`Safeguard::current_thresholds`]).
    pub fn at(&self, good: usize) -> (f64, f64) {
        match *self {
            Thresholds::Fixed { long, short } => (long, short),
            Thresholds::PerGood { long, short } => {
                let g = good.max(1) as f64;
                (long / g, short / g)
            }
            Thresholds::Adaptive { .. } => (f64::INFINITY, f64::INFINITY),
        }
    }
    /// True when the thresholds grow as machines are expelled (`value / |good_t|`).
    pub fn scales_with_good(&self) -> bool {
        !matches!(self, Thresholds::Fixed { .. })
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
    /// The per-round filter of the step's vectors.
    pub filter: Filter,
    /// Never let window expulsions leave `m/2` machines or fewer in the good set.
    pub guard: bool,
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
    /// `Adaptive` thresholds measured at the last end of each window, times `|good|` then:
    /// `[long, short]`.
    measured: [Option<f64>; 2],
    /// Last round's step direction: the filter's centre (it changes the cost, not the result).
    last_direction: Option<Vector>,
    /// Where the filter's radius comes from, for summary.json.
    filter_info: Option<FilterInfo>,
}

/// A window expulsion before the guard: candidate index, reasons, `distance / (2 Th)`.
struct Pending {
    k: usize,
    reasons: Vec<&'static str>,
    severity: f64,
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
        let filter_info = match config.filter {
            Filter::Off => None,
            Filter::Radius(r) => Some(FilterInfo {
                radius_source: "given".into(),
                noise_bound: Some(r / 2.0),
                radius: Some(r),
            }),
            Filter::Estimated => Some(FilterInfo {
                radius_source: "per_round_estimate".into(),
                noise_bound: None,
                radius: None,
            }),
        };
        Safeguard {
            config,
            machines,
            good: vec![true; machines],
            long,
            short: Window::new("short", config.window_short.max(1), machines, dim),
            t: 0,
            report: Vec::new(),
            measured: [None, None],
            last_direction: None,
            filter_info,
        }
    }

    /// Add facts to the `thresholds` object of summary.json (e.g. calibration measurements).
    pub fn with_report(mut self, report: Vec<(String, f64)>) -> Self {
        self.report = report;
        self
    }

    /// Say where the filter's radius came from (`noise_bound`, `oracle_pre_run`, ...), for
    /// summary.json.
    pub fn with_filter_source(mut self, source: &str) -> Self {
        if let Some(f) = &mut self.filter_info {
            f.radius_source = source.to_string();
        }
        self
    }

    /// The current good set, ascending.
    pub fn good_set(&self) -> Vec<usize> {
        (0..self.machines).filter(|&i| self.good[i]).collect()
    }

    fn good_size(&self) -> usize {
        self.good.iter().filter(|g| **g).count()
    }

    /// `(Th1, Th0)` this round for a good set of `good` machines; infinite for an `adaptive`
    /// window that has not ended once yet.
    pub fn current_thresholds(&self, good: usize) -> (f64, f64) {
        match self.config.thresholds {
            Thresholds::Adaptive { .. } => {
                let g = good.max(1) as f64;
                let at = |m: Option<f64>| m.map(|v| v / g).unwrap_or(f64::INFINITY);
                (at(self.measured[0]), at(self.measured[1]))
            }
            other => other.at(good),
        }
    }

    /// The window checks: the reference search in each window with a finite threshold.
    fn checks(
        &mut self,
        candidates: &[usize],
        th_long: f64,
        th_short: f64,
    ) -> Vec<(&'static str, f64, WindowCheck)> {
        let policy = self.config.on_no_reference;
        let machines = self.machines;
        let mut checks = Vec::with_capacity(2);
        for (w, th) in [
            (self.long.as_mut(), th_long),
            (Some(&mut self.short), th_short),
        ] {
            let Some(w) = w else { continue };
            if th.is_infinite() {
                // Adaptive thresholds not measured yet: nothing to compare against.
                w.skip_check();
                continue;
            }
            let c = w.check(candidates, machines, th, policy);
            checks.push((w.name, th, c));
        }
        checks
    }

    /// Measure the `adaptive` thresholds at the end of each window (after this round's check).
    fn measure(&mut self, t: u64, candidates: &[usize], good_size: usize) {
        let Thresholds::Adaptive { factor } = self.config.thresholds else {
            return;
        };
        let machines = self.machines;
        for (slot, w) in [(0, self.long.as_ref()), (1, Some(&self.short))] {
            let Some(w) = w else { continue };
            if w.ends_at(t)
                && let Some(q) = w.majority_radius(candidates, machines)
            {
                self.measured[slot] = Some(factor * q * good_size as f64);
            }
        }
    }

    /// The guard: split the window expulsions into those that go ahead and those withheld, so
    /// that at least `floor(m/2) + 1` machines stay good.
    fn guard(
        &self,
        mut pending: Vec<Pending>,
        good_after_forced: usize,
    ) -> (Vec<Pending>, Vec<Pending>) {
        if !self.config.guard {
            return (pending, Vec::new());
        }
        let budget = good_after_forced.saturating_sub(self.machines / 2 + 1);
        if pending.len() <= budget {
            return (pending, Vec::new());
        }
        pending.sort_by(|a, b| b.severity.total_cmp(&a.severity).then(a.k.cmp(&b.k)));
        let withheld = pending.split_off(budget);
        (pending, withheld)
    }
}

impl Aggregator for Safeguard {
    /// Never: a real defense cannot tell honest machines apart.
    fn reads_honest_mean(&self) -> bool {
        false
    }
    fn aggregate(&mut self, input: &RoundInput<'_>) -> Aggregate {
        let t = self.t;
        self.t += 1;
        let good_size = self.good_size();
        let (th_long, th_short) = self.current_thresholds(good_size);

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

        let checks = self.checks(&candidates, th_long, th_short);
        let no_reference = checks.iter().any(|(_, _, c)| !c.qualified);
        let mut distances = Vec::new();
        let mut pending: Vec<Option<Pending>> = (0..candidates.len()).map(|_| None).collect();
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
                    let p = pending[k].get_or_insert(Pending {
                        k,
                        reasons: Vec::new(),
                        severity: 0.0,
                    });
                    p.reasons.push(if *name == "long" {
                        "window_long"
                    } else {
                        "window_short"
                    });
                    p.severity = p.severity.max(d / (2.0 * th));
                }
            }
        }
        let pending: Vec<Pending> = pending.into_iter().flatten().collect();
        let (go, held) = self.guard(pending, good_size - expel.len());
        let as_expulsion = |p: &Pending| Expulsion {
            worker: candidates[p.k],
            reason: p.reasons.join("+"),
        };
        expel.extend(go.iter().map(as_expulsion));
        let mut withheld: Vec<Expulsion> = held.iter().map(as_expulsion).collect();
        expel.sort_by_key(|e| e.worker);
        withheld.sort_by_key(|e| e.worker);

        self.measure(t, &candidates, good_size);
        for e in &expel {
            self.good[e.worker] = false;
        }

        // Semantic 5: the step averages over good_t, before this round's expulsions, less the
        // vectors the filter drops. A good machine without a valid gradient this round cannot be
        // averaged: the step uses the valid gradients of good_t (`candidates`, ascending).
        let vectors: Vec<&Vector> = input
            .valid()
            .filter(|(w, _)| candidates.binary_search(w).is_ok())
            .map(|(_, g)| g)
            .collect();
        let verdict = filter::apply(self.config.filter, &vectors, self.last_direction.as_ref());
        let direction = mean(
            vectors
                .iter()
                .zip(&verdict.kept)
                .filter(|(_, keep)| **keep)
                .map(|(g, _)| *g),
            input.dim(),
        );
        let dropped = verdict
            .neighbours
            .iter()
            .map(|&(k, neighbours)| Dropped {
                worker: candidates[k],
                neighbours,
                radius: verdict.radius,
            })
            .collect();
        if self.config.filter != Filter::Off {
            self.last_direction = Some(direction.clone());
        }
        Aggregate {
            direction,
            expel,
            no_reference,
            distances,
            dropped,
            withheld,
            selected: None,
            scores: None,
        }
    }

    fn public_state(&self) -> PublicState {
        let good = self.good_size();
        let (th_long, th_short) = self.current_thresholds(good);
        let scales = self.config.thresholds.scales_with_good();
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
            filter_radius: match self.config.filter {
                Filter::Radius(r) => Some(r),
                _ => None,
            },
        }
    }

    fn thresholds(&self) -> Vec<(String, f64)> {
        let (long, short) = self.current_thresholds(self.machines);
        let mut out = Vec::new();
        if long.is_finite() && self.long.is_some() {
            out.push(("long".to_string(), long));
        }
        if short.is_finite() {
            out.push(("short".to_string(), short));
        }
        out.extend(self.report.iter().cloned());
        out
    }

    fn boxed_clone(&self) -> Option<Box<dyn Aggregator>> {
        Some(Box::new(self.clone()))
    }

    fn info(&self) -> RuleInfo {
        RuleInfo {
            filter: self.filter_info.clone(),
            guard: self.config.guard,
        }
    }
}
