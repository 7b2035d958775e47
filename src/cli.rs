//! The command line: `run`, `validate`, `plot`, `list`, `schema`, `aggregate`. [`main_with`] gives a user's
//! binary the same commands with its own kinds registered:
//!
//! ```no_run
//! use safeguard_sim::prelude::*;
//! fn main() -> std::process::ExitCode {
//!     let registry = Registry::builtin(); // ... plus registry.add_attack::<MyAttack>("mine")
//!     safeguard_sim::cli::main_with(registry)
//! }
//! ```
//!
//! Exit codes: 0 done (including a run that diverged: that is a result), 1 failure, 2 bad input
//! (malformed scenario, existing output without `--force`, bad arguments), 130 interrupted.

use crate::error::Error;
use crate::record::Status;
use crate::registry::Registry;
use crate::run::{RunConfig, replot, run};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Parser)]
#[command(version, about = "Simulate Byzantine-resilient distributed SGD (SafeguardSGD and baselines) on actors", long_about = None)]
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
    /// List every scenario field and every problem, aggregator and attack with its parameters and defaults.
    List,
    /// Print the JSON Schema of the scenario format.
    Schema,
    /// Apply an aggregation rule once to given vectors and print the result as JSON.
    Aggregate {
        /// The rule: an aggregator object as in a scenario (`{"kind": "krum", "f": 1}`), inline or a file.
        rule: String,
        /// The vectors: a JSON array of n arrays of d numbers, in a file, or `-` for stdin.
        input: String,
        /// Seed for rules that draw random numbers (bucketing).
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// Parse the process's arguments and run the command with the kinds of `registry`; returns the
/// process exit code.
pub fn main_with(registry: Registry) -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            scenario,
            out,
            force,
            threads,
            quiet,
        } => run_command(&registry, scenario, out, force, threads, quiet),
        Command::Validate { scenario } => registry.load(&scenario).map_err(Error::from).map(|s| {
            println!(
                "{}: ok ({} machines, {} rounds)",
                s.name(),
                s.machines(),
                s.spec().rounds
            );
            ExitCode::SUCCESS
        }),
        Command::Plot { run_dir } => replot(&registry, &run_dir).map(|files| {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }),
        Command::List => {
            print!("{}", registry.catalog());
            Ok(ExitCode::SUCCESS)
        }
        Command::Aggregate { rule, input, seed } => {
            aggregate_command(&registry, &rule, &input, seed)
        }
        Command::Schema => {
            let schema = registry.json_schema();
            println!(
                "{}",
                serde_json::to_string_pretty(&schema).unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run_command(
    registry: &Registry,
    scenario_path: PathBuf,
    out: Option<PathBuf>,
    force: bool,
    threads: u16,
    quiet: bool,
) -> Result<ExitCode, Error> {
    let scenario = registry.load(&scenario_path)?;
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
    let config = RunConfig {
        out,
        force,
        threads: threads as usize,
        quiet,
        stop: Some(stop),
    };
    let finished = run(&scenario, &config)?;
    if !quiet {
        eprintln!("{}", finished.summary_line());
    }
    Ok(if finished.summary.status == Status::Interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// `safeguard-sim aggregate RULE INPUT`: read the rule (inline JSON when it starts with `{`, a
/// file otherwise) and the vectors (a file, or `-` for stdin), apply the rule once
/// ([`crate::aggregate::aggregate_vectors`]) and print the result. Bad input: exit 2, nothing on
/// stdout.
fn aggregate_command(
    registry: &Registry,
    rule: &str,
    input: &str,
    seed: u64,
) -> Result<ExitCode, Error> {
    use crate::aggregate::apply::{read_input, read_rule};
    let (rule_text, rule_source) = read_rule(rule)?;
    let vectors = read_input(input)?;
    let out =
        crate::aggregate::aggregate_vectors(registry, &rule_text, &rule_source, &vectors, seed)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&out.to_json()).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
