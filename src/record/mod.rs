//! Observers and the run's output files.
//!
//! An [`Observer`] gets `init` once, `round` once per round and `finish` once (argmin's observer
//! idea). [`RunRecorder`] writes the run directory: `rounds.csv`, `expulsions.csv`, `faults.csv`,
//! `workers.csv`, `window_distances.csv` (safeguard), `dropped.csv` (the safeguard's filter:
//! `round,worker,role,neighbours,radius`, one row per vector left out of a step),
//! `summary.json` and `scenario.json` (the trajectory files come from
//! [`crate::plot::TrajectoryRecorder`], which needs the problem). Files are written into a
//! staging directory that is renamed into place only when complete ([`Staging`]), so a killed process never leaves a truncated file
//! that looks complete.

mod summary;

use crate::actors::{Fault, Role, RoundEvent};
use crate::aggregate::{RuleInfo, WindowDistance};
use crate::error::Error;
use crate::linalg::Vector;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub use summary::{
    ByRole, Expelled, FaultEntry, Faults, FilterSummary, Final, GuardSummary, SecondOrder, Status,
    Summary,
};

/// What observers learn before the first round.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Run name.
    pub name: String,
    /// Role of every machine, by id.
    pub roles: Vec<Role>,
    /// Parameter dimension.
    pub dim: usize,
    /// Rounds planned.
    pub rounds: u64,
    /// rounds.csv gets a row every this many rounds.
    pub eval_every: u64,
    /// `f(x_0)`.
    pub initial_loss: f64,
    /// `||grad f(x_0)||`.
    pub initial_grad_norm: f64,
    /// The problem's extra metrics at `x_0` (their names become extra rounds.csv columns), with
    /// `min_eig` last when the scenario asks for it.
    pub initial_metrics: Vec<(&'static str, f64)>,
    /// The `eps` of the final `(eps, sqrt(eps))`-approximate local minimum test, when the
    /// scenario asks for it (its `evaluation` object).
    pub local_min_eps: Option<f64>,
    /// `x_0`.
    pub initial_params: Vector,
    /// Known minimum of the problem.
    pub min_loss: Option<f64>,
    /// Master seed.
    pub seed: u64,
    /// The aggregator's facts at the start (e.g. the safeguard's thresholds with all machines
    /// good, and what its calibration measured): the `thresholds` object of summary.json.
    pub thresholds: Vec<(String, f64)>,
    /// The aggregator has windows (window_distances.csv is written).
    pub has_windows: bool,
    /// The aggregator's filter and guard (dropped.csv is written when it has a filter).
    pub rule: RuleInfo,
}

/// Receives the run's events.
pub trait Observer {
    /// Before the first round.
    fn init(&mut self, _info: &RunInfo) -> Result<(), Error> {
        Ok(())
    }
    /// After every round.
    fn round(&mut self, event: &RoundEvent) -> Result<(), Error>;
    /// After the last round (also after divergence or interruption).
    fn finish(&mut self, _summary: &Summary) -> Result<(), Error> {
        Ok(())
    }
}

/// Outputs larger than this get a warning before the run.
pub const LARGE_OUTPUT_BYTES: u64 = 100 << 20;

/// An estimate of the bytes a run writes: rounds.csv and window_distances.csv follow
/// `eval_every`, and so does trajectory.csv (problems with 2 parameters or more, with surface.csv
/// of about 1 MB). Faults are not counted.
pub fn estimate_output_bytes(info: &RunInfo) -> u64 {
    let rows = info.rounds / info.eval_every.max(1) + 2;
    let rounds_csv = rows * (90 + 22 * info.initial_metrics.len() as u64);
    let windows = if info.has_windows {
        rows * info.roles.len() as u64 * 2 * 60
    } else {
        0
    };
    let trajectory = if info.dim >= 2 {
        rows * 45 + 1_000_000
    } else {
        0
    };
    rounds_csv + windows + trajectory
}

/// Warnings about a run's settings, known before the first round: an `eval_every` larger than
/// the run, and outputs over [`LARGE_OUTPUT_BYTES`].
pub fn warnings(info: &RunInfo) -> Vec<String> {
    let mut out = Vec::new();
    if info.eval_every > info.rounds {
        out.push(format!(
            "eval_every ({}) is larger than rounds ({}): rounds.csv holds only the initial point and the last round",
            info.eval_every, info.rounds
        ));
    }
    let bytes = estimate_output_bytes(info);
    if bytes > LARGE_OUTPUT_BYTES {
        out.push(format!(
            "this run will write about {:.0} MB of CSV; raise eval_every to write less",
            bytes as f64 / 1e6
        ));
    }
    out
}

/// Format a float for CSV: shortest round-trip text, in exponent form outside [1e-4, 1e15).
pub fn fmt_f64(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 || !x.is_finite() || (1e-4..1e15).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// A run directory being written: files go to a hidden staging directory next to the target and
/// the whole directory is renamed into place by [`Staging::commit`].
#[derive(Debug)]
pub struct Staging {
    target: PathBuf,
    staging: PathBuf,
    force: bool,
}

impl Staging {
    /// Prepare to write `target`. Fails with [`Error::OutputExists`] if it exists and `force`
    /// is false, and with [`Error::UnsafeOutput`] if `force` would replace something that is
    /// not an earlier run (a file, a directory without scenario.json that is not empty, `.`).
    /// Creates nothing until [`Staging::create`].
    pub fn new(target: &Path, force: bool) -> Result<Self, Error> {
        Self::with_marker(target, force, "scenario.json")
    }

    /// Like [`Staging::new`], for outputs of another kind: `force` replaces a directory holding
    /// the file `marker` (e.g. `comparison.json` for `compare`), or an empty one.
    pub fn with_marker(target: &Path, force: bool, marker: &str) -> Result<Self, Error> {
        let refuse = |why: &str| Err(Error::UnsafeOutput(target.to_path_buf(), why.to_string()));
        // `.`, `..`, `/` and the like name no directory of their own to replace.
        let Some(file) = target.file_name().map(|f| f.to_string_lossy().into_owned()) else {
            return refuse("it names no directory of its own; give a new directory name");
        };
        if target.exists() || target.is_symlink() {
            if !force {
                return Err(Error::OutputExists(target.to_path_buf()));
            }
            // --force replaces an earlier run (or an empty directory), never anything else.
            if !target.is_dir() || target.is_symlink() {
                return refuse("it is not a directory, and --force only replaces earlier runs");
            }
            let is_run = target.join(marker).is_file();
            let is_empty = std::fs::read_dir(target)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if !is_run && !is_empty {
                return refuse(&if marker == "scenario.json" {
                    "it is not an earlier run (no scenario.json), and --force only replaces runs"
                        .to_string()
                } else {
                    format!(
                        "it is not an earlier output of this command (no {marker}), and --force \
                         only replaces those"
                    )
                });
            }
        }
        let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
        let staging = parent.join(format!(".{file}.partial-{}", std::process::id()));
        Ok(Staging {
            target: target.to_path_buf(),
            staging,
            force,
        })
    }

    /// Create the staging directory (and the parent of the target).
    pub fn create(&self) -> Result<&Path, Error> {
        if self.staging.exists() {
            std::fs::remove_dir_all(&self.staging).map_err(|e| Error::io(&self.staging, e))?;
        }
        std::fs::create_dir_all(&self.staging).map_err(|e| Error::io(&self.staging, e))?;
        Ok(&self.staging)
    }

    /// The staging directory.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Move the finished directory into place (replacing an old run only with `force`).
    pub fn commit(self) -> Result<PathBuf, Error> {
        let result = self.move_into_place();
        if result.is_err() {
            // Never leave a complete-looking staging directory behind.
            let _ = std::fs::remove_dir_all(&self.staging);
        }
        result.map(|()| self.target)
    }

    fn move_into_place(&self) -> Result<(), Error> {
        let rename =
            |from: &Path, to: &Path| std::fs::rename(from, to).map_err(|e| Error::io(to, e));
        if !self.target.exists() {
            return rename(&self.staging, &self.target);
        }
        if !self.force {
            return Err(Error::OutputExists(self.target.clone()));
        }
        let old = self.staging.with_extension("old");
        rename(&self.target, &old)?;
        if let Err(e) = rename(&self.staging, &self.target) {
            let _ = std::fs::rename(&old, &self.target);
            return Err(e);
        }
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))
    }

    /// Remove the staging directory (on failure).
    pub fn abandon(self) {
        let _ = std::fs::remove_dir_all(&self.staging);
    }
}

/// Write `contents` to `path` whole or not at all (temporary file, then rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

struct Csv {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Csv {
    fn create(dir: &Path, name: &str, header: &str) -> Result<Self, Error> {
        let path = dir.join(name);
        let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut c = Csv {
            path,
            out: BufWriter::new(f),
        };
        c.line(header)?;
        Ok(c)
    }
    fn line(&mut self, s: &str) -> Result<(), Error> {
        writeln!(self.out, "{s}").map_err(|e| Error::io(&self.path, e))
    }
    fn close(mut self) -> Result<(), Error> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Writes the run directory's CSV and JSON files (into a staging directory).
pub struct RunRecorder {
    dir: PathBuf,
    scenario_json: String,
    roles: Vec<Role>,
    eval_every: u64,
    rounds: Option<Csv>,
    expulsions: Option<Csv>,
    faults: Option<Csv>,
    distances: Option<Csv>,
    dropped: Option<Csv>,
    metric_names: Vec<&'static str>,
    pending: Option<String>,
    pending_distances: Option<(u64, Vec<WindowDistance>)>,
}

impl RunRecorder {
    /// A recorder writing into `dir` (which must exist). `scenario_json` is the resolved scenario.
    /// window_distances.csv is written when the aggregator has windows ([`RunInfo::has_windows`]).
    pub fn new(dir: &Path, scenario_json: String) -> Self {
        RunRecorder {
            dir: dir.to_path_buf(),
            scenario_json,
            roles: Vec::new(),
            eval_every: 1,
            rounds: None,
            expulsions: None,
            faults: None,
            distances: None,
            dropped: None,
            metric_names: Vec::new(),
            pending: None,
            pending_distances: None,
        }
    }

    fn write_distances(&mut self, round: u64, distances: &[WindowDistance]) -> Result<(), Error> {
        let Some(d) = self.distances.as_mut() else {
            return Ok(());
        };
        for w in distances {
            let role = self
                .roles
                .get(w.worker)
                .map(|r| r.as_str())
                .unwrap_or("unknown");
            d.line(&format!(
                "{round},{},{role},{},{},{}",
                w.worker,
                w.window,
                fmt_f64(w.distance),
                fmt_f64(w.threshold)
            ))?;
        }
        Ok(())
    }

    fn row(&self, e: &RoundEvent) -> String {
        let mut s = format!(
            "{},{},{},{},{},{},{},{}",
            e.round,
            fmt_f64(e.loss),
            fmt_f64(e.grad_norm),
            e.good,
            e.byzantine_in_good,
            fmt_f64(e.agg_error),
            u8::from(e.no_reference),
            e.faults.len()
        );
        // One value per header column, by name: a row always matches the header.
        for name in &self.metric_names {
            s.push(',');
            if let Some((_, v)) = e.metrics.iter().find(|(n, _)| n == name) {
                s.push_str(&fmt_f64(*v));
            }
        }
        s
    }
}

fn open(c: &mut Option<Csv>) -> Result<&mut Csv, Error> {
    c.as_mut()
        .ok_or_else(|| Error::Runtime("recorder used before init".into()))
}

impl Observer for RunRecorder {
    fn init(&mut self, info: &RunInfo) -> Result<(), Error> {
        self.roles = info.roles.clone();
        self.eval_every = info.eval_every.max(1);
        write_atomic(
            &self.dir.join("scenario.json"),
            self.scenario_json.as_bytes(),
        )?;
        let mut workers = String::from("worker,role\n");
        for (i, r) in info.roles.iter().enumerate() {
            workers.push_str(&format!("{i},{}\n", r.as_str()));
        }
        write_atomic(&self.dir.join("workers.csv"), workers.as_bytes())?;
        // Extra metric columns are known from the initial point.
        let mut header = String::from(
            "round,loss,grad_norm,good,byzantine_in_good,agg_error,no_reference,faults",
        );
        self.metric_names = info.initial_metrics.iter().map(|(n, _)| *n).collect();
        let mut row0 = format!(
            "0,{},{},{},{},,0,0",
            fmt_f64(info.initial_loss),
            fmt_f64(info.initial_grad_norm),
            info.roles.len(),
            info.roles.iter().filter(|r| **r == Role::Byzantine).count()
        );
        for (name, v) in &info.initial_metrics {
            header.push(',');
            header.push_str(name);
            row0.push(',');
            row0.push_str(&fmt_f64(*v));
        }
        let mut rounds = Csv::create(&self.dir, "rounds.csv", &header)?;
        rounds.line(&row0)?;
        self.rounds = Some(rounds);
        self.expulsions = Some(Csv::create(
            &self.dir,
            "expulsions.csv",
            "round,worker,role,reason",
        )?);
        self.faults = Some(Csv::create(
            &self.dir,
            "faults.csv",
            "round,worker,role,kind,detail",
        )?);
        if info.has_windows {
            self.distances = Some(Csv::create(
                &self.dir,
                "window_distances.csv",
                "round,worker,role,window,distance,threshold",
            )?);
        }
        if info.rule.filter.is_some() {
            self.dropped = Some(Csv::create(
                &self.dir,
                "dropped.csv",
                "round,worker,role,neighbours,radius",
            )?);
        }
        Ok(())
    }

    fn round(&mut self, e: &RoundEvent) -> Result<(), Error> {
        let row = self.row(e);
        if e.round.is_multiple_of(self.eval_every) {
            open(&mut self.rounds)?.line(&row)?;
            self.pending = None;
        } else {
            self.pending = Some(row);
        }
        for x in &e.expulsions {
            let line = format!("{},{},{},{}", e.round, x.worker, x.role.as_str(), x.reason);
            open(&mut self.expulsions)?.line(&line)?;
        }
        for Fault {
            round,
            worker,
            role,
            kind,
            detail,
        } in &e.faults
        {
            // One CSV field: commas, quotes and line breaks of a panic message become spaces.
            let detail: String = detail
                .as_deref()
                .unwrap_or("")
                .chars()
                .map(|c| {
                    if matches!(c, ',' | '"' | '\n' | '\r') {
                        ' '
                    } else {
                        c
                    }
                })
                .collect();
            open(&mut self.faults)?.line(&format!(
                "{round},{worker},{},{kind},{detail}",
                role.as_str()
            ))?;
        }
        if let Some(c) = self.dropped.as_mut() {
            for d in &e.dropped {
                c.line(&format!(
                    "{},{},{},{},{}",
                    e.round,
                    d.worker,
                    d.role.as_str(),
                    d.neighbours,
                    fmt_f64(d.radius)
                ))?;
            }
        }
        // Window distances follow eval_every too (m x 2 rows a round would dominate the disk),
        // and, like rounds.csv, always include the last round run.
        if self.distances.is_some() {
            if e.round.is_multiple_of(self.eval_every) {
                self.write_distances(e.round, &e.distances)?;
                self.pending_distances = None;
            } else {
                self.pending_distances = Some((e.round, e.distances.clone()));
            }
        }
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> Result<(), Error> {
        if let Some(row) = self.pending.take() {
            open(&mut self.rounds)?.line(&row)?;
        }
        if let Some((round, distances)) = self.pending_distances.take() {
            self.write_distances(round, &distances)?;
        }
        for c in [
            self.rounds.take(),
            self.expulsions.take(),
            self.faults.take(),
            self.distances.take(),
            self.dropped.take(),
        ]
        .into_iter()
        .flatten()
        {
            c.close()?;
        }
        let mut json =
            serde_json::to_string_pretty(summary).map_err(|e| Error::Runtime(e.to_string()))?;
        json.push('\n');
        write_atomic(&self.dir.join("summary.json"), json.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_format_round_trips() {
        for x in [
            0.0,
            1.5,
            -2.25e-9,
            1e300,
            123456.789,
            f64::NAN,
            f64::INFINITY,
        ] {
            let s = fmt_f64(x);
            let y: f64 = s.parse().unwrap();
            assert!(x.is_nan() && y.is_nan() || x == y, "{x} -> {s}");
        }
        assert_eq!(fmt_f64(1e-7), "1e-7");
        assert_eq!(fmt_f64(0.25), "0.25");
    }

    fn info(rounds: u64, eval_every: u64, dim: usize, has_windows: bool) -> RunInfo {
        RunInfo {
            name: "t".into(),
            roles: vec![Role::Honest; 10],
            dim,
            rounds,
            eval_every,
            initial_loss: 1.0,
            initial_grad_norm: 1.0,
            initial_metrics: Vec::new(),
            local_min_eps: None,
            initial_params: Vector::zeros(dim),
            min_loss: None,
            seed: 1,
            thresholds: Vec::new(),
            has_windows,
            rule: RuleInfo::default(),
        }
    }

    #[test]
    fn warnings_for_eval_every_beyond_the_run_and_for_large_outputs() {
        assert!(warnings(&info(1000, 10, 5, true)).is_empty());
        let w = warnings(&info(50, 100, 5, false));
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("eval_every (100) is larger than rounds (50)"));
        // 10 machines, two windows, a row a round: about 1.2 kB a round in window_distances.csv.
        let big = info(200_000, 1, 5, true);
        assert!(estimate_output_bytes(&big) > LARGE_OUTPUT_BYTES);
        assert!(
            warnings(&big)[0].contains("MB of CSV"),
            "{:?}",
            warnings(&big)
        );
        // The same run sampled every 100 rounds is small.
        assert!(warnings(&info(200_000, 100, 5, true)).is_empty());
    }

    #[test]
    fn summary_without_a_known_minimum_or_thresholds_omits_them() {
        let mut i = info(1, 1, 1, false);
        i.initial_loss = 2.0;
        let json = serde_json::to_value(Summary::new(&i)).unwrap();
        assert!(json.get("known_min_loss").is_none(), "{json}");
        assert!(json.get("thresholds").is_none(), "{json}");
        assert_eq!(json["best_loss"], 2.0);
        assert_eq!(json["best_loss_round"], 0);
    }

    #[test]
    fn staging_refuses_existing_target_without_force() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("run");
        std::fs::create_dir(&target).unwrap();
        assert!(matches!(
            Staging::new(&target, false),
            Err(Error::OutputExists(_))
        ));
        let s = Staging::new(&target, true).unwrap();
        s.create().unwrap();
        std::fs::write(s.path().join("a"), "new").unwrap();
        let out = s.commit().unwrap();
        assert_eq!(std::fs::read_to_string(out.join("a")).unwrap(), "new");
    }
}
