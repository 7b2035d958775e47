//! `safeguard-sim`: run Byzantine-resilient SGD scenarios and plot them.
//!
//! Exit codes: 0 done (including a run that diverged: that is a result), 1 failure, 2 bad input
//! (malformed scenario, existing output without `--force`, bad arguments), 130 interrupted.

use clap::{Parser, Subcommand};
use safeguard_sim::actors::RoundEvent;
use safeguard_sim::error::Error;
use safeguard_sim::plot::PlotError;
use safeguard_sim::record::{Observer, RunInfo, RunRecorder, Staging, Status, Summary};
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
    /// List every problem, aggregator and attack with its parameters and defaults.
    List,
    /// Print the JSON Schema of the scenario format.
    Schema,
}

/// A progress bar on a terminal.
struct Progress(Option<indicatif::ProgressBar>);

impl Observer for Progress {
    fn init(&mut self, info: &RunInfo) -> Result<(), Error> {
        if let Some(pb) = &self.0 {
            pb.set_length(info.rounds);
        }
        Ok(())
    }
    fn round(&mut self, e: &RoundEvent) -> Result<(), Error> {
        if let Some(pb) = &self.0 {
            pb.set_position(e.round);
            if e.round.is_multiple_of(64) {
                pb.set_message(format!("loss {:.4} good {}", e.loss, e.good));
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
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::new(scenario.spec().rounds);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rounds {per_sec} {msg}")
        {
            pb.set_style(style);
        }
        pb
    });
    let mut progress = Progress(bar);
    let options = RunOptions {
        threads: threads as usize,
        stop: Some(stop),
    };
    let result = run_blocking(&scenario, &options, &mut [&mut recorder, &mut progress]);
    let summary = match result {
        Ok(r) => r.summary,
        Err(e) => {
            staging.abandon();
            return Err(Failure::Other(e.into()));
        }
    };
    if let Err(e) = render(&dir, &scenario) {
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
            f(summary.min_loss),
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

/// Draw the plots of a run directory, with the loss surface for 2-parameter problems.
fn render(dir: &Path, scenario: &Scenario) -> Result<Vec<PathBuf>, PlotError> {
    let problem = scenario.problem();
    let surface = |a: f64, b: f64| problem.loss(&ndarray::Array1::from_vec(vec![a, b]));
    let surface_ref: Option<safeguard_sim::plot::Surface<'_>> =
        (problem.dim() == 2).then_some(&surface as _);
    safeguard_sim::plot::render_run(dir, surface_ref)
}

fn plot(run_dir: &Path) -> Result<ExitCode, Failure> {
    if !run_dir.is_dir() {
        return Err(Failure::BadInput(format!(
            "{}: not a run directory",
            run_dir.display()
        )));
    }
    let scenario = load(&run_dir.join("scenario.json"))?;
    let files = render(run_dir, &scenario).map_err(|e| match e {
        // A damaged CSV or JSON file of the run is bad input; I/O or drawing errors are not.
        PlotError::Csv { .. } | PlotError::Json { .. } => Failure::BadInput(e.to_string()),
        e => Failure::Other(
            anyhow::Error::from(e).context(format!("drawing the plots of {}", run_dir.display())),
        ),
    })?;
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
