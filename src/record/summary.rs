//! The run's summary (summary.json): counts accumulated from the round events, and the plain
//! sentences that warn about what a reader should not miss (no-reference rounds, withheld
//! expulsions, honest machines expelled, a filter that dropped what it should not).

use super::RunInfo;
use crate::actors::{Role, RoundEvent};
use crate::aggregate::FilterInfo;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every round ran.
    Completed,
    /// The parameters became non-finite or left the divergence bound.
    Diverged,
    /// Stopped by the user (Ctrl-C) after a round.
    Interrupted,
}

/// Loss, gradient norm and the problem's metrics at the end (the last evaluated round, which is
/// the last round run).
#[derive(Debug, Clone, Serialize)]
pub struct Final {
    /// Final loss (null if not finite).
    pub loss: Option<f64>,
    /// Final true-gradient norm (null if not finite).
    pub grad_norm: Option<f64>,
    /// The problem's metrics at the end, by name (`accuracy`, `test_loss`, `min_eig`, ...; null
    /// if not finite): one key each, next to `loss`.
    #[serde(flatten)]
    pub metrics: BTreeMap<&'static str, Option<f64>>,
}

impl Final {
    fn of(loss: f64, grad_norm: f64, metrics: &[(&'static str, f64)]) -> Self {
        Final {
            loss: finite(loss),
            grad_norm: finite(grad_norm),
            metrics: metrics.iter().map(|(n, v)| (*n, finite(*v))).collect(),
        }
    }
}

/// The final iterate's second-order test: is it an `(eps, sqrt(eps))`-approximate local minimum
/// (`||grad f|| <= eps` and `min_eig >= -sqrt(eps)`; Allen-Zhu et al. 2021, Theorem 2.3)?
#[derive(Debug, Clone, Serialize)]
pub struct SecondOrder {
    /// The round of the final iterate.
    pub round: u64,
    /// `eps`.
    pub eps: f64,
    /// `||grad f||` there (null if not finite).
    pub grad_norm: Option<f64>,
    /// The bound on it, `eps`.
    pub grad_norm_bound: f64,
    /// The Lanczos estimate of the smallest Hessian eigenvalue there (null if not finite or not
    /// computed).
    pub min_eig: Option<f64>,
    /// The bound on it, `-sqrt(eps)`.
    pub min_eig_bound: f64,
    /// Both bounds hold.
    pub approximate_local_minimum: bool,
}

/// Expelled machines by role.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Expelled {
    /// Byzantine machines expelled.
    pub byzantine: usize,
    /// Honest machines expelled (false positives).
    pub honest: usize,
}

/// Counts by role.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ByRole {
    /// Of honest machines.
    pub honest: u64,
    /// Of Byzantine machines.
    pub byzantine: u64,
}

impl ByRole {
    fn add(&mut self, role: Role) {
        match role {
            Role::Honest => self.honest += 1,
            Role::Byzantine => self.byzantine += 1,
        }
    }
}

/// The per-round filter of the safeguard: where its radius comes from and what it dropped.
#[derive(Debug, Clone, Serialize)]
pub struct FilterSummary {
    /// Where the radius comes from, `V` and the radius (`2V`) when fixed.
    #[serde(flatten)]
    pub info: FilterInfo,
    /// Vectors left out of a step, by the role of their sender.
    pub dropped: ByRole,
    /// Rounds in which the filter dropped at least one vector.
    pub rounds_with_drops: u64,
    /// Rounds in which it dropped every vector (the step had no gradient part).
    pub rounds_all_dropped: u64,
}

/// The safeguard's guard: expulsions it withheld so that the good set stays above `m/2`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GuardSummary {
    /// Expulsions withheld (a machine withheld in several rounds counts in each).
    pub withheld_expulsions: u64,
    /// Rounds with a withheld expulsion.
    pub rounds: u64,
    /// The first such round.
    pub first_round: Option<u64>,
    /// The machines whose expulsion was withheld at least once, by id.
    pub machines: BTreeSet<usize>,
    /// `floor(m/2) + 1`: the guard keeps at least this many machines good (machines that stop
    /// answering are expelled whatever the guard).
    pub min_allowed: usize,
    /// The smallest good set of the run.
    pub min_good: usize,
}

/// Faults seen during the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Faults {
    /// All faults.
    pub total: u64,
    /// Count per kind (`non_finite`, `wrong_length`, `silent`, `duplicate_reply`, `crashed`,
    /// `timeout`).
    pub by_kind: BTreeMap<String, u64>,
    /// The first 100 faults (all of them are in faults.csv).
    pub first: Vec<FaultEntry>,
}

/// One fault, for summary.json.
#[derive(Debug, Clone, Serialize)]
pub struct FaultEntry {
    /// Round.
    pub round: u64,
    /// Machine.
    pub worker: usize,
    /// `honest` or `byzantine`.
    pub role: &'static str,
    /// What happened.
    pub kind: &'static str,
    /// For a crash: the panic's message and location, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The run's summary (summary.json).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Run name.
    pub name: String,
    /// `completed`, `diverged` or `interrupted`.
    pub status: Status,
    /// Rounds run.
    pub rounds: u64,
    /// Loss, gradient norm and metrics after the last round run.
    #[serde(rename = "final")]
    pub final_: Final,
    /// Whether the final iterate is an approximate local minimum (when the scenario has an
    /// `evaluation` object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub second_order: Option<SecondOrder>,
    /// The problem's known minimum value of `f`, when it has one (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_min_loss: Option<f64>,
    /// The lowest finite loss reached over the evaluated rounds (those of rounds.csv: every
    /// `eval_every` rounds and the last; only they have a loss), including the initial point
    /// (round 0).
    pub best_loss: Option<f64>,
    /// The round of `best_loss` (the first, on ties).
    pub best_loss_round: Option<u64>,
    /// Machines of each role.
    pub machines: BTreeMap<&'static str, usize>,
    /// Expelled machines by role.
    pub expelled: Expelled,
    /// First round with an expulsion.
    pub first_expulsion_round: Option<u64>,
    /// Rounds in which no machine qualified as safeguard reference.
    pub no_reference_rounds: u64,
    /// The first such round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_no_reference_round: Option<u64>,
    /// Rounds whose aggregate overflowed to a non-finite value, so no step was taken.
    pub skipped_steps: u64,
    /// The aggregator's thresholds at the start (all machines good) and what its calibration
    /// measured; absent for rules without thresholds. Entries that do not apply (the long window
    /// of the single variant) are absent, never 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<BTreeMap<String, f64>>,
    /// The thresholds of the last round with a window check, by window (they change with the
    /// good set, and `adaptive` thresholds are measured during the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_thresholds: Option<BTreeMap<String, f64>>,
    /// The per-round filter (safeguard).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterSummary>,
    /// The guard (safeguard).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<GuardSummary>,
    /// What a reader must not miss, in plain sentences (empty when all is well).
    pub warnings: Vec<String>,
    /// Faults seen.
    pub faults: Faults,
    /// Master seed.
    pub seed: u64,
    /// Wall-clock seconds of the rounds (with `rounds_per_second` and the timings in
    /// `placement`, the only fields that differ between identical runs).
    pub wall_seconds: f64,
    /// Rounds per wall-clock second.
    pub rounds_per_second: f64,
    /// The threads the machines ran on, and why ([`crate::placement`]); absent for summaries not
    /// made by [`crate::sim::run_blocking`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<crate::placement::Placement>,
    /// Warnings about the settings, known before the first round.
    #[serde(skip)]
    settings_warnings: Vec<String>,
    #[serde(skip)]
    machines_total: usize,
    /// Honest machines expelled by a window check (not for a crash or silence).
    #[serde(skip)]
    honest_window_expulsions: usize,
    #[serde(skip)]
    good: usize,
    #[serde(skip)]
    last_loss: f64,
    #[serde(skip)]
    last_grad_norm: f64,
    #[serde(skip)]
    last_metrics: Vec<(&'static str, f64)>,
    #[serde(skip)]
    last_evaluated_round: u64,
    #[serde(skip)]
    local_min_eps: Option<f64>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl Summary {
    /// An empty summary for a run about to start.
    pub fn new(info: &RunInfo) -> Self {
        let mut machines = BTreeMap::new();
        machines.insert(
            "honest",
            info.roles.iter().filter(|r| **r == Role::Honest).count(),
        );
        machines.insert(
            "byzantine",
            info.roles.iter().filter(|r| **r == Role::Byzantine).count(),
        );
        let thresholds: BTreeMap<String, f64> = info.thresholds.iter().cloned().collect();
        Summary {
            name: info.name.clone(),
            status: Status::Completed,
            rounds: 0,
            final_: Final::of(
                info.initial_loss,
                info.initial_grad_norm,
                &info.initial_metrics,
            ),
            second_order: None,
            known_min_loss: info.min_loss,
            best_loss: finite(info.initial_loss),
            best_loss_round: finite(info.initial_loss).map(|_| 0),
            machines,
            expelled: Expelled::default(),
            first_expulsion_round: None,
            no_reference_rounds: 0,
            first_no_reference_round: None,
            skipped_steps: 0,
            thresholds: (!thresholds.is_empty()).then_some(thresholds),
            final_thresholds: None,
            filter: info.rule.filter.clone().map(|info| FilterSummary {
                info,
                dropped: ByRole::default(),
                rounds_with_drops: 0,
                rounds_all_dropped: 0,
            }),
            guard: info.rule.guard.then(|| GuardSummary {
                min_allowed: info.roles.len() / 2 + 1,
                min_good: info.roles.len(),
                ..GuardSummary::default()
            }),
            warnings: super::warnings(info),
            settings_warnings: super::warnings(info),
            faults: Faults::default(),
            seed: info.seed,
            wall_seconds: 0.0,
            rounds_per_second: 0.0,
            placement: None,
            machines_total: info.roles.len(),
            honest_window_expulsions: 0,
            good: info.roles.len(),
            last_loss: info.initial_loss,
            last_grad_norm: info.initial_grad_norm,
            last_metrics: info.initial_metrics.clone(),
            last_evaluated_round: 0,
            local_min_eps: info.local_min_eps,
        }
    }

    /// Account for one round.
    pub fn observe(&mut self, e: &RoundEvent) {
        self.rounds = e.round;
        // Only evaluated rounds have a loss (see `eval_every`).
        if e.evaluated {
            if e.loss.is_finite() && self.best_loss.is_none_or(|b| e.loss < b) {
                self.best_loss = Some(e.loss);
                self.best_loss_round = Some(e.round);
            }
            self.last_loss = e.loss;
            self.last_grad_norm = e.grad_norm;
            self.last_metrics.clone_from(&e.metrics);
            self.last_evaluated_round = e.round;
        }
        for x in &e.expulsions {
            match x.role {
                Role::Honest => {
                    self.expelled.honest += 1;
                    if x.reason.starts_with("window_") {
                        self.honest_window_expulsions += 1;
                    }
                }
                Role::Byzantine => self.expelled.byzantine += 1,
            }
            self.first_expulsion_round.get_or_insert(e.round);
        }
        if e.no_reference {
            self.no_reference_rounds += 1;
            self.first_no_reference_round.get_or_insert(e.round);
        }
        self.good = e.good;
        if let Some(f) = &mut self.filter {
            for d in &e.dropped {
                f.dropped.add(d.role);
            }
            f.rounds_with_drops += u64::from(!e.dropped.is_empty());
            f.rounds_all_dropped += u64::from(e.all_dropped);
        }
        if let Some(g) = &mut self.guard {
            g.min_good = g.min_good.min(e.good);
            if !e.withheld.is_empty() {
                g.withheld_expulsions += e.withheld.len() as u64;
                g.rounds += 1;
                g.first_round.get_or_insert(e.round);
                g.machines.extend(e.withheld.iter().map(|w| w.worker));
            }
        }
        if !e.distances.is_empty() {
            let t = self.final_thresholds.get_or_insert_with(BTreeMap::new);
            for d in &e.distances {
                t.insert(d.window.to_string(), d.threshold);
            }
        }
        if e.step_skipped {
            self.skipped_steps += 1;
        }
        for f in &e.faults {
            self.faults.total += 1;
            *self.faults.by_kind.entry(f.kind.to_string()).or_default() += 1;
            if self.faults.first.len() < 100 {
                self.faults.first.push(FaultEntry {
                    round: f.round,
                    worker: f.worker,
                    role: f.role.as_str(),
                    kind: f.kind,
                    detail: f.detail.clone(),
                });
            }
        }
    }

    /// Close the summary.
    pub fn finish(&mut self, status: Status, elapsed: Duration) {
        self.status = status;
        self.final_ = Final::of(self.last_loss, self.last_grad_norm, &self.last_metrics);
        self.second_order = self.local_min_eps.map(|eps| {
            let min_eig = self
                .last_metrics
                .iter()
                .find(|(n, _)| *n == "min_eig")
                .map_or(f64::NAN, |(_, v)| *v);
            SecondOrder {
                round: self.last_evaluated_round,
                eps,
                grad_norm: finite(self.last_grad_norm),
                grad_norm_bound: eps,
                min_eig: finite(min_eig),
                min_eig_bound: -eps.sqrt(),
                approximate_local_minimum: crate::problem::hessian::is_approximate_local_minimum(
                    self.last_grad_norm,
                    min_eig,
                    eps,
                ),
            }
        });
        self.wall_seconds = elapsed.as_secs_f64();
        self.rounds_per_second = if self.wall_seconds > 0.0 {
            self.rounds as f64 / self.wall_seconds
        } else {
            0.0
        };
        self.warnings = self.settings_warnings.clone();
        self.warnings.extend(self.warn());
    }

    /// The warnings of a finished run, in plain sentences.
    fn warn(&self) -> Vec<String> {
        let mut out = Vec::new();
        let m = self.machines_total;
        if self.no_reference_rounds > 0 {
            out.push(format!(
                "No machine qualified as reference in {} of {} rounds (first: round {}): the thresholds are tighter than the spread of the honest windowed sums. The algorithm is undefined there; those rounds used the `on_no_reference` workaround.",
                self.no_reference_rounds,
                self.rounds,
                self.first_no_reference_round.unwrap_or(0)
            ));
        }
        if let Some(g) = self.guard.as_ref().filter(|g| g.withheld_expulsions > 0) {
            let ids: Vec<String> = g.machines.iter().map(usize::to_string).collect();
            out.push(format!(
                "The guard withheld {} expulsions in {} rounds (first: round {}; machines {}): they would have left {} machines or fewer of {m} in the good set, against the honest majority the algorithm assumes. The thresholds are too tight for this run; the smallest good set was {}.",
                g.withheld_expulsions,
                g.rounds,
                g.first_round.unwrap_or(0),
                ids.join(", "),
                m / 2,
                g.min_good
            ));
        }
        if self.honest_window_expulsions > 0 {
            out.push(format!(
                "{} honest machine(s) were expelled by the window checks (false positives): the thresholds are too tight for the honest spread.",
                self.honest_window_expulsions
            ));
        }
        if let Some(f) = &self.filter {
            if f.rounds_all_dropped > 0 {
                out.push(format!(
                    "In {} rounds the filter dropped every vector, so the step had no gradient part: its radius ({}) is smaller than the spread of the honest gradients.",
                    f.rounds_all_dropped,
                    f.info
                        .radius
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "estimated".into())
                ));
            }
            let stated = matches!(f.info.radius_source.as_str(), "noise_bound" | "given");
            if stated && f.dropped.honest > 0 {
                out.push(format!(
                    "The filter dropped {} honest vectors, although V = {} is stated as a bound on the honest noise: the bound does not hold for this problem.",
                    f.dropped.honest,
                    f.info.noise_bound.unwrap_or(0.0)
                ));
            }
        }
        out
    }
}
