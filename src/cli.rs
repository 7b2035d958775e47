//! The command line: `run` (a scenario, or a sweep), `validate`, `plot`, `compare`, `merge`,
//! `list`, `schema`, `attack`, `aggregate`. [`main_with`] gives a user's
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
use crate::placement::PlacementPolicy;
use crate::record::Status;
use crate::registry::Registry;
use crate::run::{RunConfig, replot, run};
use crate::sweep::{Sweep, SweepConfig, merge, run_sweep};
use clap::{Parser, Subcommand, ValueEnum};
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
        /// Threads in all: the coordinator's and N - 1 more for the machine actors, used only when they pay under `--placement auto` (results never depend on it).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: u16,
        /// How the threads are used: `auto` only when they pay (the gradients outweigh the cross-thread messages, measured before the first round), `spread` always (results never depend on it).
        #[arg(long, value_enum, default_value_t = PlacementArg::Auto)]
        placement: PlacementArg,
        /// No progress bar and no summary line.
        #[arg(long)]
        quiet: bool,
        /// Sweeps: cells run at once, each on its own thread (results never depend on it).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
        jobs: u16,
        /// Sweeps: continue an interrupted run of the same sweep (complete cells are kept).
        #[arg(long)]
        resume: bool,
        /// Sweeps: run only shard K of N (cells whose grid index is K-1 modulo N), e.g. 2/8; join the shards with `merge`.
        #[arg(long, value_name = "K/N", value_parser = parse_shard)]
        shard: Option<(usize, usize)>,
    },
    /// Check a scenario file without running it.
    Validate {
        /// The scenario file (JSON).
        scenario: PathBuf,
    },
    /// Redraw the SVGs and report.html of a run directory from its files.
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
    /// Merge the directories of a sweep run in shards into one, with the comparison an unsharded run writes.
    Merge {
        /// The sweep directories written by `run --shard K/N`.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The merged sweep directory.
        #[arg(long)]
        out: PathBuf,
        /// Replace an earlier sweep in --out.
        #[arg(long)]
        force: bool,
    },
    /// List every scenario field and every problem, aggregator and attack with its parameters and defaults.
    List,
    /// Print the JSON Schema of the scenario format.
    Schema,
    /// Print the vector an attack sends for given honest gradients, as {"vector": [...]} (attacks whose vector depends only on the honest gradients).
    Attack {
        /// The attack object, as in a scenario's `attack` (e.g. '{"kind": "alie", "z": 1.5}'): inline JSON or a file.
        attack: String,
        /// The round's honest gradients, a JSON array of arrays (one per honest machine, ids 0, 1, ...): inline JSON or a file.
        honest: String,
        /// Colluding Byzantine machines (ids after the honest ones; ALIE's default f, with n = honest + byzantine).
        #[arg(long, default_value_t = 1)]
        byzantine: usize,
    },
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
            placement,
            quiet,
            jobs,
            resume,
            shard,
        } => {
            let options = Options {
                out,
                force,
                threads,
                placement: placement.into(),
                quiet,
                jobs,
                resume,
                shard,
            };
            run_command(&registry, scenario, options)
        }
        Command::Validate { scenario } => validate(&registry, &scenario),
        Command::Merge { dirs, out, force } => merge(&dirs, &out, force).map(|c| {
            println!(
                "{}: {} cells merged -> {}",
                c.layout.name,
                c.layout.cells.len(),
                out.display()
            );
            ExitCode::SUCCESS
        }),
        Command::Plot { run_dir } => replot(&run_dir).map(|files| {
            for f in files {
                println!("{}", f.display());
            }
            ExitCode::SUCCESS
        }),
        Command::Compare {
            run_dirs,
            out,
            force,
        } => crate::plot::compare_runs(&run_dirs, &out, force)
            .map_err(Error::from)
            .map(|files| {
                for f in files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }),
        Command::List => {
            print!("{}", registry.catalog());
            Ok(ExitCode::SUCCESS)
        }
        Command::Attack {
            attack,
            honest,
            byzantine,
        } => attack_command(&registry, &attack, &honest, byzantine),
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

/// `K/N` with 1 <= K <= N.
fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}`: expected K/N, e.g. 2/8"))?;
    let (k, n): (usize, usize) = (
        k.trim()
            .parse()
            .map_err(|_| format!("`{k}` is not a whole number"))?,
        n.trim()
            .parse()
            .map_err(|_| format!("`{n}` is not a whole number"))?,
    );
    if k == 0 || n == 0 || k > n {
        return Err(format!("shard {k}/{n}: expected 1 <= K <= N"));
    }
    Ok((k, n))
}

/// `--placement` (see [`crate::placement`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlacementArg {
    /// Use the threads only when they pay.
    Auto,
    /// Use the threads whatever they cost.
    Spread,
}

impl From<PlacementArg> for PlacementPolicy {
    fn from(p: PlacementArg) -> Self {
        match p {
            PlacementArg::Auto => PlacementPolicy::Auto,
            PlacementArg::Spread => PlacementPolicy::Spread,
        }
    }
}

/// The options of `run`.
struct Options {
    out: Option<PathBuf>,
    force: bool,
    threads: u16,
    placement: PlacementPolicy,
    quiet: bool,
    jobs: u16,
    resume: bool,
    shard: Option<(usize, usize)>,
}

/// True when the file is a scenario with a `sweep` block (unreadable files are not: loading
/// them as a scenario reports why).
fn is_sweep_file(path: &std::path::Path) -> bool {
    crate::scenario::read_scenario_file(path).is_ok_and(|t| Sweep::is_sweep(&t))
}

fn validate(registry: &Registry, path: &std::path::Path) -> Result<ExitCode, Error> {
    if is_sweep_file(path) {
        let sweep = Sweep::load(path, registry)?;
        println!(
            "{}: ok (a sweep of {} cells)",
            sweep.layout.name,
            sweep.layout.cells.len()
        );
    } else {
        let s = registry.load(path)?;
        println!(
            "{}: ok ({} machines, {} rounds)",
            s.name(),
            s.machines(),
            s.spec().rounds
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A Ctrl-C handler: the first sets the flag (stop after the current round), the second leaves
/// at once.
fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            // Second Ctrl-C: leave at once (staging directories are not finished runs).
            std::process::exit(130);
        }
    });
    stop
}

fn run_sweep_command(
    registry: &Registry,
    path: &std::path::Path,
    o: Options,
) -> Result<ExitCode, Error> {
    let sweep = Sweep::load(path, registry)?;
    let config = SweepConfig {
        out: o.out,
        force: o.force,
        resume: o.resume,
        jobs: o.jobs as usize,
        shard: o.shard,
        quiet: o.quiet,
        stop: Some(stop_flag()),
    };
    let outcome = run_sweep(&sweep, &config)?;
    if !o.quiet {
        let what = if outcome.compared {
            "comparison.csv, comparison.md, the figures and report.html written".to_string()
        } else if outcome.interrupted {
            "interrupted: continue with --resume".to_string()
        } else {
            "this shard is complete: join the shards with `safeguard-sim merge DIR... --out DIR`"
                .to_string()
        };
        eprintln!(
            "{}: {} of {} cells run now, {} complete already; {what} -> {}",
            sweep.layout.name,
            outcome.ran,
            outcome.planned,
            outcome.skipped,
            outcome.dir.display()
        );
    }
    Ok(if outcome.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_command(registry: &Registry, scenario_path: PathBuf, o: Options) -> Result<ExitCode, Error> {
    if is_sweep_file(&scenario_path) {
        return run_sweep_command(registry, &scenario_path, o);
    }
    if o.resume || o.shard.is_some() || o.jobs > 1 {
        return Err(Error::Usage(
            "--jobs, --resume and --shard apply to sweeps (scenario files with a `sweep` block)"
                .into(),
        ));
    }
    let scenario = registry.load(&scenario_path)?;
    let config = RunConfig {
        out: o.out,
        force: o.force,
        threads: o.threads as usize,
        placement: o.placement,
        quiet: o.quiet,
        stop: Some(stop_flag()),
    };
    let quiet = o.quiet;
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

/// An argument that is inline JSON (it starts with `{` or `[`) or the path of a file holding it;
/// returns the text and the name errors should use.
fn json_argument(arg: &str, name: &str) -> Result<(String, String), Error> {
    let t = arg.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        return Ok((arg.to_string(), name.to_string()));
    }
    std::fs::read_to_string(arg)
        .map(|text| (text, arg.to_string()))
        .map_err(|e| {
            Error::Input(format!(
                "{name}: `{arg}` is neither inline JSON (starting with `{{` or `[`) nor a readable file: {e}"
            ))
        })
}

/// `safeguard-sim attack ATTACK HONEST [--byzantine F]`: see
/// [`crate::attack::standalone::attack_vector`].
fn attack_command(
    registry: &Registry,
    attack: &str,
    honest: &str,
    byzantine: usize,
) -> Result<ExitCode, Error> {
    use crate::attack::standalone::{attack_vector, parse_honest};
    let (attack_text, attack_name) = json_argument(attack, "ATTACK")?;
    let (honest_text, _) = json_argument(honest, "HONEST")?;
    let honest = parse_honest(&honest_text)?;
    let vector = attack_vector(registry, &attack_text, &attack_name, &honest, byzantine)?;
    let out = serde_json::json!({ "vector": vector.map(|v| v.to_vec()) });
    println!("{out}");
    Ok(ExitCode::SUCCESS)
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
