//! `safeguard-sim`: run Byzantine-resilient SGD scenarios and plot them.
//!
//! Exit codes: 0 done (including a run that diverged: that is a result), 1 failure, 2 bad input
//! (malformed scenario, existing output without `--force`, bad arguments), 130 interrupted.

use clap::{Parser, Subcommand};
use safeguard_sim::error::Error;
use safeguard_sim::plot::PlotError;
use safeguard_sim::record::{RunRecorder, Staging, Status};
use safeguard_sim::scenario::{AggregatorSpec, Scenario};
use safeguard_sim::sim::{RunOptions, run_blocking};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Parser)]
#[command(name = "safeguard-sim", version, about = "Simulate Byzantine-resilient distributed SGD (SafeguardSGD and baselines) on actors", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario; outputs go to output/<name>/ (or --out).
    Run {
        /// The scenario file (JSON).
        scenario: PathBuf,
        /// Output directory (default: output/<name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing output directory.
        #[arg(long)]
        force: bool,
        /// Threads for the machine actors: 1 = on the coordinator's thread, N > 1 = N threads of their own (results never depend on it).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: u16,
        /// No progress bar and no summary line.
        #[arg(long)]
        quiet: bool,
    },
    /// Check a scenario file without running it.
    Validate {
        /// The scenario file (JSON).
        scenario: PathBuf,
    },
    /// Redraw the SVGs and report.html of a run directory from its CSV files.
    Plot {
        /// A run directory written by `run`.
        run_dir: PathBuf,
    },
    /// Overlay several runs (loss, gradient norm, good set, trajectory) in SVGs and a report.html.
    Compare {
        /// Run directories written by `run` (two or more).
        #[arg(required = true, num_args = 2..)]
        run_dirs: Vec<PathBuf>,
        /// Output directory for the figures and report.
        #[arg(long)]
        out: PathBuf,
        /// Replace an earlier comparison in --out.
        #[arg(long)]
        force: bool,
    },
    /// List every problem, aggregator and attack with its parameters and defaults.
    List,
    /// Print the JSON Schema of the scenario format.
    Schema,
}

enum Failure {
    BadInput(String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

fn load(path: &Path) -> Result<Scenario, Failure> {
    Scenario::from_file(path).map_err(|e| Failure::BadInput(e.to_string()))
}

fn run(
    scenario_path: &Path,
    out: Option<PathBuf>,
    force: bool,
    threads: u16,
    quiet: bool,
) -> Result<ExitCode, Failure> {
    let scenario = load(scenario_path)?;
    let target = out.unwrap_or_else(|| Path::new("output").join(scenario.name()));
    let staging = match Staging::new(&target, force) {
        Ok(s) => s,
        Err(e @ (Error::OutputExists(_) | Error::UnsafeOutput(..))) => {
            return Err(Failure::BadInput(e.to_string()));
        }
        Err(e) => return Err(Failure::Other(e.into())),
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                // Second Ctrl-C: leave at once (the staging directory is not a finished run).
                std::process::exit(130);
            }
        });
    }
    let dir = staging.create().map_err(anyhow::Error::from)?.to_path_buf();
    let safeguard = matches!(scenario.spec().aggregator.0, AggregatorSpec::Safeguard(_));
    let mut recorder = RunRecorder::new(&dir, scenario.to_json(), safeguard);
    let mut progress =
        safeguard_sim::progress::Progress::new(!quiet && std::io::stderr().is_terminal());
    let mut trajectory = safeguard_sim::plot::TrajectoryRecorder::new(&dir, scenario.problem());
    let options = RunOptions {
        threads: threads as usize,
        stop: Some(stop),
    };
    let result = run_blocking(
        &scenario,
        &options,
        &mut [&mut recorder, &mut trajectory, &mut progress],
    );
    let summary = match result {
        Ok(r) => r.summary,
        Err(e) => {
            staging.abandon();
            return Err(Failure::Other(e.into()));
        }
    };
    if let Err(e) = safeguard_sim::plot::render_run(&dir) {
        staging.abandon();
        return Err(Failure::Other(
            anyhow::Error::from(e).context("drawing the plots"),
        ));
    }
    let written = staging.commit().map_err(anyhow::Error::from)?;
    if !quiet {
        let f = |x: Option<f64>| x.map(|v| format!("{v:.6}")).unwrap_or_else(|| "n/a".into());
        eprintln!(
            "{}: {} after {} rounds; final loss {} (minimum {}), grad norm {}; expelled {} byzantine, {} honest; {:.0} rounds/s -> {}",
            summary.name,
            match summary.status {
                Status::Completed => "completed",
                Status::Diverged => "DIVERGED",
                Status::Interrupted => "interrupted",
            },
            summary.rounds,
            f(summary.final_.loss),
            f(summary.known_min_loss),
            f(summary.final_.grad_norm),
            summary.expelled.byzantine,
            summary.expelled.honest,
            summary.rounds_per_second,
            written.display()
        );
    }
    Ok(if summary.status == Status::Interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// A plotting error: bad input (a damaged or missing run file) exits 2, I/O failures 1.
fn plot_failure(e: PlotError, what: &str) -> Failure {
    if e.is_bad_input() {
        Failure::BadInput(e.to_string())
    } else {
        Failure::Other(anyhow::Error::from(e).context(what.to_string()))
    }
}

/// Redraw a run directory from its files only (never the scenario's kinds).
fn plot(run_dir: &Path) -> Result<ExitCode, Failure> {
    let what = format!("drawing the plots of {}", run_dir.display());
    let files = safeguard_sim::plot::render_run(run_dir).map_err(|e| plot_failure(e, &what))?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Overlay run directories into `out`.
fn compare(run_dirs: &[PathBuf], out: &Path, force: bool) -> Result<ExitCode, Failure> {
    let what = format!("comparing runs into {}", out.display());
    let files = safeguard_sim::plot::compare_runs(run_dirs, out, force)
        .map_err(|e| plot_failure(e, &what))?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            scenario,
            out,
            force,
            threads,
            quiet,
        } => run(&scenario, out, force, threads, quiet),
        Command::Validate { scenario } => load(&scenario).map(|s| {
            println!(
                "{}: ok ({} machines, {} rounds)",
                s.name(),
                s.machines(),
                s.spec().rounds
            );
            ExitCode::SUCCESS
        }),
        Command::Plot { run_dir } => plot(&run_dir),
        Command::Compare {
            run_dirs,
            out,
            force,
        } => compare(&run_dirs, &out, force),
        Command::List => {
            print!("{}", safeguard_sim::scenario::catalog());
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            let schema = safeguard_sim::scenario::json_schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(Failure::BadInput(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
