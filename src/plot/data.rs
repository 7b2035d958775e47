//! A run directory as the figures see it: every file read and checked before anything is drawn.
//!
//! Only the files of the directory are read, never the problem or the scenario's kinds, so a run
//! made with user-defined kinds the binary does not know redraws all the same. `scenario.json`
//! is read as plain JSON, for the report's settings table.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use super::PlotError;
use super::csv::{CsvReader, io_err};
use super::trajectory::TrajectoryData;
use super::windows::WindowData;

/// A JSON object.
pub(crate) type JsonMap = serde_json::Map<String, serde_json::Value>;

/// The role of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    /// Honest.
    Honest,
    /// Byzantine.
    Byzantine,
}

impl Role {
    /// `honest` or `byzantine`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Honest => "honest",
            Role::Byzantine => "byzantine",
        }
    }
}

/// One row of rounds.csv.
#[derive(Debug, Clone)]
pub(crate) struct RoundRow {
    pub round: i64,
    pub loss: Option<f64>,
    pub grad_norm: Option<f64>,
    pub good: Option<u64>,
    pub byzantine_in_good: Option<u64>,
    /// Test accuracy in [0, 1] (learning tasks; `None` where the row has none).
    pub accuracy: Option<f64>,
    /// Mean test cross-entropy (learning tasks).
    pub test_loss: Option<f64>,
    /// The smallest Hessian eigenvalue (scenarios with an `evaluation` object; empty on the
    /// rows where it is not computed).
    pub min_eig: Option<f64>,
}

/// Which optional metric columns rounds.csv has (the problem's metrics and `min_eig`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MetricColumns {
    /// `accuracy`.
    pub accuracy: bool,
    /// `test_loss`.
    pub test_loss: bool,
    /// `min_eig`.
    pub min_eig: bool,
}

/// One row of expulsions.csv.
#[derive(Debug, Clone)]
pub(crate) struct Expulsion {
    pub round: i64,
    pub worker: usize,
    pub role: Role,
    pub reason: String,
}

/// One row of faults.csv (`kind` indexes [`Faults::kinds`]).
#[derive(Debug, Clone)]
pub(crate) struct FaultRow {
    pub round: i64,
    pub worker: usize,
    pub role: Role,
    pub kind: usize,
    /// What a crashed adversary said (its panic message and location), when known.
    pub detail: Option<Box<str>>,
}

/// faults.csv.
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    /// Every fault, sorted by round then worker.
    pub rows: Vec<FaultRow>,
    /// The fault kinds, in order of first appearance.
    pub kinds: Vec<String>,
}

/// Everything the figures of one run need.
#[derive(Debug)]
pub(crate) struct RunData {
    /// The run directory.
    pub dir: PathBuf,
    /// rounds.csv, sorted by round.
    pub rounds: Vec<RoundRow>,
    /// The optional metric columns rounds.csv has.
    pub columns: MetricColumns,
    /// workers.csv, when present.
    pub workers: Option<BTreeMap<usize, Role>>,
    /// expulsions.csv (empty when absent), sorted by round.
    pub expulsions: Vec<Expulsion>,
    /// faults.csv (empty when absent).
    pub faults: Faults,
    /// summary.json, when present.
    pub summary: Option<JsonMap>,
    /// scenario.json as plain JSON, when present.
    pub scenario: Option<JsonMap>,
    /// window_distances.csv, downsampled, when present.
    pub windows: Option<WindowData>,
    /// trajectory.csv with surface.csv and trajectory.json, when present.
    pub trajectory: Option<TrajectoryData>,
}

impl RunData {
    /// Read and check every file of the run directory `dir`. `rounds.csv` is required.
    pub fn load(dir: &Path) -> Result<RunData, PlotError> {
        if !dir.is_dir() {
            return Err(PlotError::NotARun {
                path: dir.to_path_buf(),
                reason: "not a directory".to_string(),
            });
        }
        let rounds_path = dir.join("rounds.csv");
        let Some((rounds, columns)) = load_rounds(&rounds_path)? else {
            return Err(PlotError::NotARun {
                path: dir.to_path_buf(),
                reason: "no rounds.csv: not a run directory written by `safeguard-sim run`"
                    .to_string(),
            });
        };
        let workers = load_workers(&dir.join("workers.csv"))?;
        let mut expulsions = load_expulsions(&dir.join("expulsions.csv"))?.unwrap_or_default();
        expulsions.sort_by_key(|e| (e.round, e.worker));
        let faults = load_faults(&dir.join("faults.csv"))?.unwrap_or_default();
        let summary = load_json(&dir.join("summary.json"))?;
        let scenario = load_json(&dir.join("scenario.json"))?;
        let mut run = RunData {
            dir: dir.to_path_buf(),
            rounds,
            columns,
            workers,
            expulsions,
            faults,
            summary,
            scenario,
            windows: None,
            trajectory: None,
        };
        let (x_lo, x_hi) = run.x_range();
        run.windows =
            super::windows::load(&dir.join("window_distances.csv"), (x_lo, x_hi), run.zoom())?;
        run.trajectory = super::trajectory::load(dir)?;
        Ok(run)
    }

    /// The run's name (summary.json, scenario.json, else the directory's name).
    pub fn name(&self) -> String {
        let from = |m: &Option<JsonMap>| {
            m.as_ref()
                .and_then(|m| m.get("name"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        from(&self.summary)
            .or_else(|| from(&self.scenario))
            .or_else(|| {
                self.dir
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "run".to_string())
    }

    /// `completed`, `diverged`, `interrupted`, or `unknown` without summary.json.
    pub fn status(&self) -> String {
        self.summary_str("status")
            .unwrap_or_else(|| "unknown".to_string())
    }

    /// A string field of summary.json.
    pub fn summary_str(&self, key: &str) -> Option<String> {
        self.summary
            .as_ref()?
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    /// A number of summary.json, by path (`["final", "loss"]`).
    pub fn summary_f64(&self, path: &[&str]) -> Option<f64> {
        let mut v = self.summary.as_ref()?.get(*path.first()?)?;
        for k in &path[1..] {
            v = v.get(k)?;
        }
        v.as_f64()
    }

    /// The problem's known minimum (`known_min_loss`; `min_loss` in runs made before it was
    /// renamed).
    pub fn known_min(&self) -> Option<f64> {
        self.summary_f64(&["known_min_loss"])
            .or_else(|| self.summary_f64(&["min_loss"]))
            .filter(|v| v.is_finite())
    }

    /// The last round of the run.
    pub fn last_round(&self) -> i64 {
        self.rounds
            .iter()
            .map(|r| r.round)
            .chain(self.expulsions.iter().map(|e| e.round))
            .max()
            .unwrap_or(0)
    }

    /// The round axis: from the first row to the last round (at least one round wide).
    pub fn x_range(&self) -> (f64, f64) {
        let lo = self.rounds.first().map_or(0, |r| r.round).min(0) as f64;
        let hi = self.last_round() as f64;
        if hi > lo { (lo, hi) } else { (lo, lo + 1.0) }
    }

    /// The expulsion period, when it is short enough to deserve a zoom panel.
    pub fn zoom(&self) -> Option<(f64, f64)> {
        let (lo, hi) = self.x_range();
        zoom_span(self.expulsions.iter().map(|e| e.round as f64), lo, hi)
    }

    /// Every machine: workers.csv, plus any machine named only in expulsions.csv.
    pub fn machines(&self) -> BTreeMap<usize, Role> {
        let mut m = self.workers.clone().unwrap_or_default();
        for e in &self.expulsions {
            m.entry(e.worker).or_insert(e.role);
        }
        for f in &self.faults.rows {
            m.entry(f.worker).or_insert(f.role);
        }
        m
    }
}

/// The span to zoom on for events at `rounds` in a run over `[lo, hi]`: the events with a
/// margin, from the start when they are near it; `None` without events, or when the span is
/// over a third of the run (the whole run shows it well enough).
pub(crate) fn zoom_span(
    rounds: impl IntoIterator<Item = f64>,
    lo: f64,
    hi: f64,
) -> Option<(f64, f64)> {
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    for r in rounds {
        if r.is_finite() {
            first = first.min(r);
            last = last.max(r);
        }
    }
    if first > last || hi <= lo {
        return None;
    }
    let run = hi - lo;
    let pad = ((last - first) * 0.3).max(run * 0.002).max(20.0);
    let mut a = (first - pad).max(lo);
    let b = (last + pad).min(hi);
    if a - lo < 2.0 * (b - a) {
        a = lo;
    }
    // Round outwards to a step of the span's scale.
    let step = super::scale::nice_values(0.0, b - a, 5)
        .get(1)
        .copied()
        .unwrap_or(1.0)
        .max(1.0);
    let a = ((a / step).floor() * step).max(lo);
    let b = ((b / step).ceil() * step).min(hi);
    (b > a && (b - a) <= run / 3.0).then_some((a, b))
}

fn load_rounds(path: &Path) -> Result<Option<(Vec<RoundRow>, MetricColumns)>, PlotError> {
    const COLS: [&str; 8] = [
        "round",
        "loss",
        "grad_norm",
        "good",
        "byzantine_in_good",
        "agg_error",
        "no_reference",
        "faults",
    ];
    let Some(mut csv) = CsvReader::open(path, &COLS)? else {
        return Ok(None);
    };
    let (acc, test_loss, min_eig) = (
        csv.optional("accuracy"),
        csv.optional("test_loss"),
        csv.optional("min_eig"),
    );
    let columns = MetricColumns {
        accuracy: acc.is_some(),
        test_loss: test_loss.is_some(),
        min_eig: min_eig.is_some(),
    };
    let opt = |row: &super::csv::Row, k: Option<usize>| k.map_or(Ok(None), |k| row.opt_f64(k));
    let mut rows = Vec::new();
    while let Some(row) = csv.next_row()? {
        let r = RoundRow {
            round: row.req_round(0)?,
            loss: row.opt_f64(1)?,
            grad_norm: row.opt_f64(2)?,
            good: row.opt_u64(3)?,
            byzantine_in_good: row.opt_u64(4)?,
            accuracy: opt(&row, acc)?,
            test_loss: opt(&row, test_loss)?,
            min_eig: opt(&row, min_eig)?,
        };
        // Checked but not drawn.
        row.opt_f64(5)?;
        row.opt_u64(6)?;
        row.opt_u64(7)?;
        rows.push(r);
    }
    rows.sort_by_key(|r| r.round);
    Ok(Some((rows, columns)))
}

fn load_workers(path: &Path) -> Result<Option<BTreeMap<usize, Role>>, PlotError> {
    let Some(mut csv) = CsvReader::open(path, &["worker", "role"])? else {
        return Ok(None);
    };
    let mut workers = BTreeMap::new();
    while let Some(row) = csv.next_row()? {
        let w = row.req_worker(0)?;
        let role = row.req_role(1)?;
        workers.entry(w).or_insert(role);
    }
    Ok(Some(workers))
}

fn load_expulsions(path: &Path) -> Result<Option<Vec<Expulsion>>, PlotError> {
    let Some(mut csv) = CsvReader::open(path, &["round", "worker", "role", "reason"])? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    while let Some(row) = csv.next_row()? {
        out.push(Expulsion {
            round: row.req_round(0)?,
            worker: row.req_worker(1)?,
            role: row.req_role(2)?,
            reason: row.raw(3).to_string(),
        });
    }
    Ok(Some(out))
}

fn load_faults(path: &Path) -> Result<Option<Faults>, PlotError> {
    const COLS: [&str; 5] = ["round", "worker", "role", "kind", "detail"];
    let Some(csv) = CsvReader::open(path, &COLS[..4])? else {
        return Ok(None);
    };
    // `detail` (a crashed adversary's panic message) came later: read it when it is there.
    let has_detail = csv.header().iter().any(|h| h == "detail");
    drop(csv);
    let cols = if has_detail { &COLS[..] } else { &COLS[..4] };
    let Some(mut csv) = CsvReader::open(path, cols)? else {
        return Ok(None);
    };
    let mut faults = Faults::default();
    while let Some(row) = csv.next_row()? {
        let kind = row.raw(3);
        let k = match faults.kinds.iter().position(|x| x == kind) {
            Some(k) => k,
            None => {
                faults.kinds.push(kind.to_string());
                faults.kinds.len() - 1
            }
        };
        let detail = row.raw(4);
        faults.rows.push(FaultRow {
            round: row.req_round(0)?,
            worker: row.req_worker(1)?,
            role: row.req_role(2)?,
            kind: k,
            detail: (!detail.is_empty()).then(|| detail.into()),
        });
    }
    faults.rows.sort_by_key(|f| (f.round, f.worker));
    Ok(Some(faults))
}

/// A JSON object file; `Ok(None)` when absent.
pub(crate) fn load_json(path: &Path) -> Result<Option<JsonMap>, PlotError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            return Err(PlotError::Json {
                path: path.to_path_buf(),
                message: "not valid UTF-8".to_string(),
            });
        }
        Err(e) => return Err(io_err(path, e)),
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(PlotError::Json {
            path: path.to_path_buf(),
            message: "expected a JSON object at the top level".to_string(),
        }),
        Err(e) => Err(PlotError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_on_the_expulsion_period() {
        // The quickstart: expulsions at 59..92 of 3000 rounds.
        let z = zoom_span([59.0, 67.0, 79.0, 92.0], 0.0, 3000.0).unwrap();
        assert_eq!(z.0, 0.0);
        assert!(z.1 >= 110.0 && z.1 <= 200.0, "{z:?}");
        // Late, short period: no need to start at 0.
        let z = zoom_span([150_000.0, 150_400.0], 0.0, 200_000.0).unwrap();
        assert!(
            z.0 > 140_000.0 && z.0 < 150_000.0 && z.1 > 150_400.0,
            "{z:?}"
        );
        // Spread over the run, or none: no zoom.
        assert_eq!(zoom_span([10.0, 2900.0], 0.0, 3000.0), None);
        assert_eq!(zoom_span([], 0.0, 3000.0), None);
    }
}
