//! Running a sweep: its cells on `jobs` threads, `--resume` after an interruption, `--shard K/N`
//! for a scheduler's job array, and `merge` of sharded runs into one comparison.
//!
//! Layout of a sweep's directory (`output/<name>/` by default):
//! - `sweep.json`: the sweep file, normalised (what `--resume` and `merge` check against);
//! - `cells/<cell>/`: one ordinary run directory per cell, written like `run` writes one
//!   (staged, renamed into place when complete);
//! - `comparison.csv`, `comparison.md`, `heatmap.svg`, `overlay-<attack>.svg`, `rate.svg` (with a
//!   target and a swept `workers`) and `report.html`: written once every cell is complete.
//!
//! Each cell runs on one thread with its own actix System; a cell's results do not depend on
//! `jobs`, and the comparison reads the cells back in grid order, so it does not either.

use super::table::Comparison;
use super::{Layout, Sweep};
use crate::error::Error;
use crate::record::{Status, write_atomic};
use crate::run::{RunConfig, run};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How to run a sweep (none of it changes the results).
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// The sweep directory (default `output/<name>`).
    pub out: Option<PathBuf>,
    /// Replace an earlier sweep in that directory.
    pub force: bool,
    /// Continue an earlier, interrupted run of the same sweep: cells that completed are kept.
    pub resume: bool,
    /// Cells run at once (each on its own thread).
    pub jobs: usize,
    /// Run only shard `k` of `n` (1-based `k`): the cells whose grid index is `k - 1` modulo `n`.
    pub shard: Option<(usize, usize)>,
    /// No line per finished cell.
    pub quiet: bool,
    /// Set to true (e.g. by a Ctrl-C handler) to stop: cells in progress end as interrupted
    /// (and are run again by `--resume`), no new cell starts.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            out: None,
            force: false,
            resume: false,
            jobs: 1,
            shard: None,
            quiet: false,
            stop: None,
        }
    }
}

/// What a sweep run did.
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    /// The sweep directory.
    pub dir: PathBuf,
    /// Cells run now.
    pub ran: usize,
    /// Cells skipped because they were complete already (`--resume`).
    pub skipped: usize,
    /// Cells of this shard (all cells without `--shard`).
    pub planned: usize,
    /// The run was interrupted: some cells are not complete.
    pub interrupted: bool,
    /// The comparison files were written (every cell of the sweep is complete).
    pub compared: bool,
}

/// True when `dir` holds a finished run (completed or diverged) of exactly `scenario_json`.
fn complete(dir: &Path, scenario_json: &str) -> bool {
    let same = std::fs::read_to_string(dir.join("scenario.json")).is_ok_and(|s| s == scenario_json);
    let status = std::fs::read_to_string(dir.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["status"].as_str().map(str::to_string));
    same && matches!(status.as_deref(), Some("completed") | Some("diverged"))
}

/// Make `dir` ready for the sweep whose normalised JSON is `json`: a new directory, the same
/// sweep again with `resume`, or (with `force`) an earlier sweep or an empty directory replaced.
fn prepare(dir: &Path, json: &str, force: bool, resume: bool) -> Result<(), Error> {
    let manifest = dir.join("sweep.json");
    if dir.exists() {
        let refuse = |why: &str| Err(Error::UnsafeOutput(dir.to_path_buf(), why.to_string()));
        if !dir.is_dir() {
            return refuse("it is not a directory");
        }
        let earlier = std::fs::read_to_string(&manifest).ok();
        if resume {
            match earlier {
                Some(t) if t == json => {}
                Some(_) => {
                    return refuse(
                        "it holds a different sweep; --resume continues the same sweep only",
                    );
                }
                None => return refuse("it is not a sweep directory (no sweep.json)"),
            }
        } else if force {
            let empty = std::fs::read_dir(dir)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if earlier.is_none() && !empty {
                return refuse(
                    "it is not an earlier sweep (no sweep.json), and --force only replaces sweeps",
                );
            }
            std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        } else {
            return Err(Error::OutputExists(dir.to_path_buf()));
        }
    }
    let cells = dir.join("cells");
    std::fs::create_dir_all(&cells).map_err(|e| Error::io(&cells, e))?;
    write_atomic(&manifest, json.as_bytes())
}

/// Run a checked sweep.
pub fn run_sweep(sweep: &Sweep, config: &SweepConfig) -> Result<SweepOutcome, Error> {
    let layout = &sweep.layout;
    let dir = config
        .out
        .clone()
        .unwrap_or_else(|| Path::new("output").join(&layout.name));
    prepare(&dir, &layout.json, config.force, config.resume)?;
    let in_shard = |i: usize| match config.shard {
        Some((k, n)) => i % n.max(1) == k.saturating_sub(1),
        None => true,
    };
    let planned: Vec<usize> = (0..layout.cells.len()).filter(|&i| in_shard(i)).collect();
    let cell_dir = |i: usize| dir.join("cells").join(&layout.cells[i].name);
    let todo: Vec<usize> = planned
        .iter()
        .copied()
        .filter(|&i| !complete(&cell_dir(i), &sweep.scenarios[i].to_json()))
        .collect();
    let skipped = planned.len() - todo.len();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let interrupted = AtomicBool::new(false);
    let stopped = || {
        config
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::SeqCst))
    };
    std::thread::scope(|scope| {
        for _ in 0..config.jobs.clamp(1, todo.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let failed = failure.lock().map(|f| f.is_some()).unwrap_or(true);
                    if failed || stopped() {
                        return;
                    }
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&i) = todo.get(k) else {
                        return;
                    };
                    let cell = RunConfig {
                        out: Some(cell_dir(i)),
                        force: true,
                        quiet: true,
                        stop: config.stop.clone(),
                        ..RunConfig::default()
                    };
                    match run(&sweep.scenarios[i], &cell) {
                        Ok(f) => {
                            if f.summary.status == Status::Interrupted {
                                interrupted.store(true, Ordering::SeqCst);
                            }
                            let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                            if !config.quiet {
                                eprintln!("[{n}/{}] {}", todo.len(), f.summary_line());
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let interrupted = interrupted.into_inner() || stopped();
    let all_done = !interrupted
        && (0..layout.cells.len()).all(|i| complete(&cell_dir(i), &sweep.scenarios[i].to_json()));
    if all_done {
        write_comparison(&dir, layout)?;
    }
    Ok(SweepOutcome {
        dir,
        ran: done.into_inner(),
        skipped,
        planned: planned.len(),
        interrupted,
        compared: all_done,
    })
}

/// Write the comparison files of a sweep directory whose cells are all complete.
pub fn write_comparison(dir: &Path, layout: &Layout) -> Result<Comparison, Error> {
    let comparison = Comparison::read(dir, layout)?;
    let figures = super::figures::figures(dir, &comparison)?;
    write_atomic(&dir.join("comparison.csv"), comparison.csv().as_bytes())?;
    write_atomic(&dir.join("comparison.md"), comparison.markdown().as_bytes())?;
    for f in &figures {
        write_atomic(&dir.join(&f.file), f.svg.as_bytes())?;
    }
    write_atomic(
        &dir.join("report.html"),
        super::report::html(&comparison, &figures).as_bytes(),
    )?;
    Ok(comparison)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| Error::io(&dst, e))?;
        }
    }
    Ok(())
}

/// Merge the directories of a sweep run in shards (`run --shard K/N`) into `out`: every cell is
/// taken from the directory that completed it, and the comparison is built as an unsharded run
/// builds it (byte for byte). The directories must hold the same sweep; every cell must be
/// complete in one of them. Needs no registry: the cells are read back from their files.
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<Comparison, Error> {
    let not_a_sweep = |d: &Path, why: String| Error::UnsafeOutput(d.to_path_buf(), why);
    let first = dirs
        .first()
        .ok_or_else(|| Error::Build("merge needs at least one sweep directory".into()))?;
    let read_manifest = |d: &Path| -> Result<String, Error> {
        std::fs::read_to_string(d.join("sweep.json"))
            .map_err(|_| not_a_sweep(d, "not a sweep directory (no sweep.json)".into()))
    };
    let json = read_manifest(first)?;
    for d in &dirs[1..] {
        if read_manifest(d)? != json {
            return Err(not_a_sweep(
                d,
                format!("it holds a different sweep than {}", first.display()),
            ));
        }
    }
    let layout = Layout::parse(&json, &first.join("sweep.json").display().to_string())?;
    // Every cell, from the first directory where it is complete.
    let mut sources = Vec::with_capacity(layout.cells.len());
    for cell in &layout.cells {
        let found = dirs.iter().find_map(|d| {
            let c = d.join("cells").join(&cell.name);
            let status = std::fs::read_to_string(c.join("summary.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| v["status"].as_str().map(str::to_string));
            matches!(status.as_deref(), Some("completed") | Some("diverged")).then_some(c)
        });
        match found {
            Some(c) => sources.push(c),
            None => {
                return Err(not_a_sweep(
                    first,
                    format!(
                        "cell {} is complete in none of the directories: run its shard (or --resume it) first",
                        cell.name
                    ),
                ));
            }
        }
    }
    prepare(out, &json, force, false)?;
    for (cell, src) in layout.cells.iter().zip(&sources) {
        copy_dir(src, &out.join("cells").join(&cell.name))?;
    }
    write_comparison(out, &layout)
}
