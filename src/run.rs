//! The one entry point that runs a scenario with the usual outputs: the run directory (CSV and
//! JSON files, written under a hidden staging name and renamed into place when complete), the SVG
//! plots and report.html, and a progress bar on a terminal. The CLI's `run` is a thin user of it.
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
        format!(
            "{}: {} after {} rounds; final loss {} (minimum {}), grad norm {}{accuracy}; expelled {} byzantine, {} honest; {:.0} rounds/s -> {}",
            s.name,
            match s.status {
                Status::Completed => "completed",
                Status::Diverged => "DIVERGED",
                Status::Interrupted => "interrupted",
            },
            s.rounds,
            f(s.final_.loss),
            f(s.min_loss),
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

/// A progress bar on a terminal, and the run's warnings on stderr (unless quiet); the third field
/// is the round of the message shown (the loss of an evaluated round, at most every 64 rounds).
struct Progress(Option<indicatif::ProgressBar>, bool, u64);

impl Observer for Progress {
    fn init(&mut self, info: &RunInfo) -> Result<(), Error> {
        if !self.1 {
            for w in crate::record::warnings(info) {
                eprintln!("warning: {w}");
            }
        }
        if let Some(pb) = &self.0 {
            pb.set_length(info.rounds);
        }
        Ok(())
    }
    fn round(&mut self, e: &RoundEvent) -> Result<(), Error> {
        if let Some(pb) = &self.0 {
            pb.set_position(e.round);
            // Only evaluated rounds have a loss (see `eval_every`).
            if e.evaluated && e.round >= self.2 + 64 {
                pb.set_message(format!("loss {:.4} good {}", e.loss, e.good));
                self.2 = e.round;
            }
        }
        Ok(())
    }
    fn finish(&mut self, _: &Summary) -> Result<(), Error> {
        if let Some(pb) = self.0.take() {
            pb.finish_and_clear();
        }
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
    let bar = (!config.quiet && std::io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::new(scenario.spec().rounds);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rounds {per_sec} {msg}")
        {
            pb.set_style(style);
        }
        pb
    });
    let mut progress = Progress(bar, config.quiet, 0);
    let options = RunOptions {
        threads: config.threads.max(1),
        stop: config.stop.clone(),
    };
    let summary = match run_blocking(scenario, &options, &mut [&mut recorder, &mut progress]) {
        Ok(r) => r.summary,
        Err(e) => {
            staging.abandon();
            return Err(e);
        }
    };
    if let Err(e) = render(&dir, scenario) {
        staging.abandon();
        return Err(e);
    }
    let dir = staging.commit()?;
    Ok(Finished { summary, dir })
}

/// Draw the plots of a fresh run directory, with the loss surface for 2-parameter problems.
fn render(dir: &Path, scenario: &Scenario) -> Result<Vec<PathBuf>, Error> {
    let problem = scenario.build_problem()?;
    let surface = |a: f64, b: f64| problem.loss(&ndarray::Array1::from_vec(vec![a, b]));
    let surface_ref: Option<crate::plot::Surface<'_>> =
        (problem.dim() == 2).then_some(&surface as _);
    Ok(crate::plot::render_run(dir, surface_ref)?)
}

/// Redraw the plots and report of a run directory from its files. The scenario's kinds need not
/// be registered: a run made with a user's kinds redraws with any binary (the loss contours of a
/// 2-parameter problem are drawn only when `registry` knows its problem).
pub fn replot(registry: &Registry, run_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    if !run_dir.is_dir() {
        return Err(Error::NotARun(run_dir.to_path_buf()));
    }
    let problem = registry
        .load(&run_dir.join("scenario.json"))
        .ok()
        .and_then(|s| s.build_problem().ok());
    let surface = |a: f64, b: f64| {
        problem
            .as_ref()
            .map(|p| p.loss(&ndarray::Array1::from_vec(vec![a, b])))
            .unwrap_or(f64::NAN)
    };
    let surface_ref: Option<crate::plot::Surface<'_>> = problem
        .as_ref()
        .filter(|p| p.dim() == 2)
        .map(|_| &surface as _);
    Ok(crate::plot::render_run(run_dir, surface_ref)?)
}
