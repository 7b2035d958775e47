//! The one entry point that runs a scenario with the usual outputs: the run directory (CSV and
//! JSON files, written under a hidden staging name and renamed into place when complete), the
//! trajectory's plane and loss surface ([`crate::plot::TrajectoryRecorder`]), the SVG figures and
//! report.html, and a progress bar on a terminal ([`crate::progress::Progress`]). The CLI's `run`
//! is a thin user of it.
//!
//! ```no_run
//! use safeguard_sim::prelude::*;
//! use safeguard_sim::run::{RunConfig, run_file};
//!
//! let registry = Registry::builtin();
//! let config = RunConfig { out: Some("output/mine".into()), force: true, ..RunConfig::default() };
//! let finished = run_file(&registry, "scenarios/quickstart.json".as_ref(), &config).unwrap();
//! println!("{}", finished.summary_line());
//! ```

use crate::actors::RoundEvent;
use crate::error::Error;
use crate::placement::PlacementPolicy;
use crate::plot::TrajectoryRecorder;
use crate::progress::Progress;
use crate::record::{Observer, RunInfo, RunRecorder, Staging, Status, Summary};
use crate::registry::Registry;
use crate::scenario::Scenario;
use crate::sim::{RunOptions, run_blocking};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// How to run a scenario with outputs (none of it changes the results).
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The run directory (default `output/<name>`).
    pub out: Option<PathBuf>,
    /// Replace an earlier run in the run directory.
    pub force: bool,
    /// Threads for the machine actors (see [`RunOptions::threads`]).
    pub threads: usize,
    /// Whether the threads are used only when they pay (see [`crate::placement`]).
    pub placement: PlacementPolicy,
    /// No progress bar.
    pub quiet: bool,
    /// Set to true (e.g. by a Ctrl-C handler) to stop after the current round, or after the next
    /// one when the current round is not evaluated (`eval_every`): the run ends on an evaluated
    /// state.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            out: None,
            force: false,
            threads: 1,
            placement: PlacementPolicy::Auto,
            quiet: false,
            stop: None,
        }
    }
}

/// A finished run: its summary and where its outputs are.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The summary (as in summary.json).
    pub summary: Summary,
    /// The run directory.
    pub dir: PathBuf,
}

impl Finished {
    /// One line for a terminal: status, final loss, expulsions, speed and the directory; then
    /// one `warning:` line per warning of the summary.
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        let f = |x: Option<f64>| x.map(|v| format!("{v:.6}")).unwrap_or_else(|| "n/a".into());
        // Classifiers report their test accuracy.
        let accuracy = match s.final_.metrics.get("accuracy") {
            Some(Some(a)) => format!("; test accuracy {a:.4}"),
            _ => String::new(),
        };
        // Where the machines ran, when more than one thread was asked for.
        let threads = match &s.placement {
            Some(p) if p.requested > 1 => format!(" on {}", p.describe()),
            _ => String::new(),
        };
        format!(
            "{}: {} after {} rounds; final loss {} (minimum {}), grad norm {}{accuracy}; expelled {} byzantine, {} honest; {:.0} rounds/s{threads} -> {}",
            s.name,
            match s.status {
                Status::Completed => "completed",
                Status::Diverged => "DIVERGED",
                Status::Interrupted => "interrupted",
            },
            s.rounds,
            f(s.final_.loss),
            f(s.known_min_loss),
            f(s.final_.grad_norm),
            s.expelled.byzantine,
            s.expelled.honest,
            s.rounds_per_second,
            self.dir.display()
        ) + &s
            .warnings
            .iter()
            .map(|w| format!("\nwarning: {w}"))
            .collect::<String>()
    }
}

/// The run's warnings on stderr, before the first round (unless quiet).
struct Warnings(bool);

impl Observer for Warnings {
    fn init(&mut self, info: &RunInfo) -> Result<(), Error> {
        if !self.0 {
            for w in crate::record::warnings(info) {
                eprintln!("warning: {w}");
            }
        }
        Ok(())
    }
    fn round(&mut self, _: &RoundEvent) -> Result<(), Error> {
        Ok(())
    }
}

/// Read a scenario file with `registry`'s kinds and run it with the usual outputs.
pub fn run_file(registry: &Registry, path: &Path, config: &RunConfig) -> Result<Finished, Error> {
    let scenario = registry.load(path)?;
    run(&scenario, config)
}

/// Run a checked scenario with the usual outputs: the run directory is written under a hidden
/// staging name and renamed into place only when complete (plots included); on failure nothing
/// is left behind. A diverged or interrupted run is a result ([`Summary::status`]), not an error.
pub fn run(scenario: &Scenario, config: &RunConfig) -> Result<Finished, Error> {
    let target = config
        .out
        .clone()
        .unwrap_or_else(|| Path::new("output").join(scenario.name()));
    let staging = Staging::new(&target, config.force)?;
    let dir = staging.create()?.to_path_buf();
    let mut recorder = RunRecorder::new(&dir, scenario.to_json());
    let mut warnings = Warnings(config.quiet);
    let mut progress = Progress::new(!config.quiet && std::io::stderr().is_terminal());
    let problem = match scenario.build_problem() {
        Ok(p) => p,
        Err(e) => {
            staging.abandon();
            return Err(e);
        }
    };
    let mut trajectory = TrajectoryRecorder::new(&dir, problem);
    let options = RunOptions {
        threads: config.threads.max(1),
        placement: config.placement,
        stop: config.stop.clone(),
    };
    let observers: &mut [&mut dyn Observer] =
        &mut [&mut recorder, &mut trajectory, &mut warnings, &mut progress];
    let summary = match run_blocking(scenario, &options, observers) {
        Ok(r) => r.summary,
        Err(e) => {
            staging.abandon();
            return Err(e);
        }
    };
    if let Err(e) = crate::plot::render_run(&dir) {
        staging.abandon();
        return Err(e.into());
    }
    let dir = staging.commit()?;
    Ok(Finished { summary, dir })
}

/// Redraw the figures and report of a run directory from its files alone: the problem and the
/// scenario's kinds are never needed, so a run made with a user's kinds redraws with any binary
/// (the trajectory's loss surface was written by the run, in surface.csv).
pub fn replot(run_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    Ok(crate::plot::render_run(run_dir)?)
}
