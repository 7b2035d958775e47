//! SVG charts and a self-contained HTML report for one run directory.
//!
//! [`render_run`] reads the CSV/JSON files a run leaves in its directory (`rounds.csv`,
//! `expulsions.csv`, `workers.csv`, `window_distances.csv`, `trajectory.csv`, `summary.json`),
//! redraws every chart as SVG and writes `report.html`, which inlines them. Everything is
//! deterministic (same inputs, byte-identical outputs) and every file is written atomically
//! (`<name>.tmp` in the same directory, then renamed).
//!
//! The CSV files are parsed with plain string splitting: fields never contain commas and an
//! empty field means "no value". Columns are located by header name.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Errors from reading run files or drawing.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A CSV file is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// The 1-based line number (the header is line 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// `summary.json` is not valid JSON or not a JSON object.
    #[error("{}: {message}", path.display())]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// What is wrong (with line and column when known).
        message: String,
    },
    /// The plotting library failed to draw a chart.
    #[error("drawing {}: {message}", file.display())]
    Draw {
        /// The chart being drawn.
        file: PathBuf,
        /// The plotting library's message.
        message: String,
    },
}

/// The loss surface of a 2-parameter problem, for contour plots.
pub type Surface<'a> = &'a dyn Fn(f64, f64) -> f64;

/// Redraw every SVG of the run directory `dir` from its CSV/JSON files and write `report.html`.
///
/// Returns the paths written, in a fixed order: `loss.svg`, `grad_norm.svg`,
/// `good_machines.svg`, then `expulsions.svg` (when `workers.csv` or `expulsions.csv` exists),
/// `window_distances.svg` (when `window_distances.csv` exists), `trajectory.svg` (when
/// `trajectory.csv` exists) and finally `report.html`.
///
/// `surface` is `Some` for 2-parameter problems: `trajectory.svg` then shows level sets of `f`
/// under the path. When `trajectory.csv` exists but `surface` is `None`, the path is drawn
/// without contours.
///
/// `rounds.csv` is required; the other files are optional. A malformed file gives a
/// [`PlotError`] naming the file (and the line, for CSV files).
pub fn render_run(dir: &Path, surface: Option<Surface<'_>>) -> Result<Vec<PathBuf>, PlotError> {
    let rounds_path = dir.join("rounds.csv");
    let rounds = load_rounds(&rounds_path)?
        .ok_or_else(|| io_err(&rounds_path, io::Error::from(io::ErrorKind::NotFound)))?;
    let workers = load_workers(&dir.join("workers.csv"))?;
    let expulsions = load_expulsions(&dir.join("expulsions.csv"))?;
    let windows = load_window_distances(&dir.join("window_distances.csv"))?;
    let trajectory = load_trajectory(&dir.join("trajectory.csv"))?;
    let summary = load_summary(&dir.join("summary.json"))?;

    let mut charts: Vec<(&'static str, String)> = vec![
        ("loss.svg", loss_svg(&rounds)?),
        ("grad_norm.svg", grad_norm_svg(&rounds)?),
        (
            "good_machines.svg",
            good_machines_svg(&rounds, workers.as_ref())?,
        ),
    ];
    if workers.is_some() || expulsions.is_some() {
        let ex = expulsions.as_deref().unwrap_or(&[]);
        charts.push((
            "expulsions.svg",
            expulsions_svg(&rounds, workers.as_ref(), ex)?,
        ));
    }
    if let Some(w) = &windows {
        charts.push(("window_distances.svg", window_distances_svg(w, &rounds)?));
    }
    if let Some(t) = &trajectory {
        charts.push(("trajectory.svg", trajectory_svg(t, surface)?));
    }

    let mut written = Vec::with_capacity(charts.len() + 1);
    for (name, text) in &charts {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    let html = report_html(dir, summary.as_ref(), &charts, expulsions.as_deref());
    let report = dir.join("report.html");
    write_atomic(&report, html.as_bytes())?;
    written.push(report);
    Ok(written)
}

// ---------------------------------------------------------------------------------------------
// Errors and file helpers
// ---------------------------------------------------------------------------------------------

fn io_err(path: &Path, source: io::Error) -> PlotError {
    PlotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn csv_err(path: &Path, line: usize, message: impl Into<String>) -> PlotError {
    PlotError::Csv {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Write `bytes` to `path` atomically: `<name>.tmp` in the same directory, then rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let result = (|| -> io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(path, e)
    })
}

// ---------------------------------------------------------------------------------------------
// CSV reading
// ---------------------------------------------------------------------------------------------

/// A streaming reader for the simulator's simple CSV files.
struct CsvReader {
    path: PathBuf,
    reader: BufReader<File>,
    line_no: usize,
    n_fields: usize,
    /// Names of the columns the caller asked for.
    names: Vec<String>,
    /// Position of each asked-for column in a row.
    cols: Vec<usize>,
    buf: String,
}

/// One data row; `k` in the accessors indexes the caller's list of required columns.
struct Row<'a> {
    path: &'a Path,
    line: usize,
    fields: Vec<&'a str>,
    names: &'a [String],
    cols: &'a [usize],
}

impl CsvReader {
    /// Open `path`; `Ok(None)` when it does not exist. Checks that the header has every column
    /// of `required`.
    fn open(path: &Path, required: &[&str]) -> Result<Option<Self>, PlotError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(path, e)),
        };
        let mut r = CsvReader {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            line_no: 0,
            n_fields: 0,
            names: required.iter().map(|s| (*s).to_string()).collect(),
            cols: Vec::with_capacity(required.len()),
            buf: String::new(),
        };
        if !r.read_line()? {
            return Err(csv_err(
                path,
                1,
                format!("empty file, expected the header `{}`", required.join(",")),
            ));
        }
        let header: Vec<String> = r
            .buf
            .trim_start_matches('\u{feff}')
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        for name in required {
            match header.iter().position(|h| h == name) {
                Some(i) => r.cols.push(i),
                None => {
                    return Err(csv_err(
                        path,
                        1,
                        format!(
                            "header has no column `{name}` (header: `{}`)",
                            header.join(",")
                        ),
                    ));
                }
            }
        }
        r.n_fields = header.len();
        Ok(Some(r))
    }

    /// Read the next physical line into `buf` (without its line ending).
    fn read_line(&mut self) -> Result<bool, PlotError> {
        self.buf.clear();
        match self.reader.read_line(&mut self.buf) {
            Ok(0) => Ok(false),
            Ok(_) => {
                self.line_no += 1;
                let len = self.buf.trim_end_matches(['\n', '\r']).len();
                self.buf.truncate(len);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(csv_err(
                &self.path,
                self.line_no + 1,
                "line is not valid UTF-8",
            )),
            Err(e) => Err(io_err(&self.path, e)),
        }
    }

    /// The next non-blank data row, or `None` at the end of the file.
    fn next_row(&mut self) -> Result<Option<Row<'_>>, PlotError> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            if !self.buf.trim().is_empty() {
                break;
            }
        }
        let fields: Vec<&str> = self.buf.split(',').map(str::trim).collect();
        if fields.len() != self.n_fields {
            return Err(csv_err(
                &self.path,
                self.line_no,
                format!(
                    "expected {} fields (as in the header), found {}",
                    self.n_fields,
                    fields.len()
                ),
            ));
        }
        Ok(Some(Row {
            path: &self.path,
            line: self.line_no,
            fields,
            names: &self.names,
            cols: &self.cols,
        }))
    }
}

impl Row<'_> {
    fn name(&self, k: usize) -> &str {
        self.names.get(k).map_or("?", String::as_str)
    }

    fn raw(&self, k: usize) -> &str {
        self.cols
            .get(k)
            .and_then(|&c| self.fields.get(c))
            .copied()
            .unwrap_or("")
    }

    fn err(&self, message: impl Into<String>) -> PlotError {
        csv_err(self.path, self.line, message)
    }

    fn opt_f64(&self, k: usize) -> Result<Option<f64>, PlotError> {
        let s = self.raw(k);
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<f64>().map(Some).map_err(|_| {
            self.err(format!(
                "column `{}`: cannot parse `{s}` as a number",
                self.name(k)
            ))
        })
    }

    fn opt_u64(&self, k: usize) -> Result<Option<u64>, PlotError> {
        let s = self.raw(k);
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<u64>().map(Some).map_err(|_| {
            self.err(format!(
                "column `{}`: cannot parse `{s}` as a non-negative integer",
                self.name(k)
            ))
        })
    }

    fn req_u64(&self, k: usize) -> Result<u64, PlotError> {
        self.opt_u64(k)?
            .ok_or_else(|| self.err(format!("column `{}` is empty", self.name(k))))
    }

    /// A round number (a non-negative integer that fits an `i64`).
    fn req_round(&self, k: usize) -> Result<i64, PlotError> {
        let v = self.req_u64(k)?;
        i64::try_from(v)
            .map_err(|_| self.err(format!("column `{}`: {v} is too large", self.name(k))))
    }

    fn req_worker(&self, k: usize) -> Result<usize, PlotError> {
        let v = self.req_u64(k)?;
        usize::try_from(v)
            .map_err(|_| self.err(format!("column `{}`: {v} is too large", self.name(k))))
    }

    fn req_role(&self, k: usize) -> Result<Role, PlotError> {
        match self.raw(k) {
            "honest" => Ok(Role::Honest),
            "byzantine" => Ok(Role::Byzantine),
            other => Err(self.err(format!(
                "column `{}`: expected `honest` or `byzantine`, found `{other}`",
                self.name(k)
            ))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Run data
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Honest,
    Byzantine,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Honest => "honest",
            Role::Byzantine => "byzantine",
        }
    }
}

#[derive(Debug, Clone)]
struct RoundRow {
    round: i64,
    loss: Option<f64>,
    grad_norm: Option<f64>,
    good: Option<u64>,
    byzantine_in_good: Option<u64>,
}

#[derive(Debug, Clone)]
struct Expulsion {
    round: i64,
    worker: usize,
    role: Role,
    reason: String,
}

/// One panel of `window_distances.svg`.
#[derive(Debug, Clone)]
struct WindowPanel {
    window: String,
    /// Every k-th round is kept (plus each series' last point).
    every: i64,
    /// worker -> (role, (round, distance) sorted by round).
    series: BTreeMap<usize, (Role, Vec<(i64, f64)>)>,
    /// (round, threshold) sorted by round.
    threshold: Vec<(i64, f64)>,
}

fn load_rounds(path: &Path) -> Result<Option<Vec<RoundRow>>, PlotError> {
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
    let mut rows = Vec::new();
    while let Some(row) = csv.next_row()? {
        let r = RoundRow {
            round: row.req_round(0)?,
            loss: row.opt_f64(1)?,
            grad_norm: row.opt_f64(2)?,
            good: row.opt_u64(3)?,
            byzantine_in_good: row.opt_u64(4)?,
        };
        // Validated but not drawn.
        row.opt_f64(5)?;
        row.opt_u64(6)?;
        row.opt_u64(7)?;
        rows.push(r);
    }
    rows.sort_by_key(|r| r.round);
    Ok(Some(rows))
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

/// One row of `trajectory.csv`: (round, x0, x1).
type TrajPoint = (i64, f64, f64);

fn load_trajectory(path: &Path) -> Result<Option<Vec<TrajPoint>>, PlotError> {
    let Some(mut csv) = CsvReader::open(path, &["round", "x0", "x1"])? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    while let Some(row) = csv.next_row()? {
        let round = row.req_round(0)?;
        let x0 = row.opt_f64(1)?.unwrap_or(f64::NAN);
        let x1 = row.opt_f64(2)?.unwrap_or(f64::NAN);
        out.push((round, x0, x1));
    }
    out.sort_by_key(|p| p.0);
    Ok(Some(out))
}

/// Sort key of a window name: `long` first, then `short`, then others by name.
fn window_rank(name: &str) -> (u8, String) {
    match name {
        "long" => (0, String::new()),
        "short" => (1, String::new()),
        other => (2, other.to_string()),
    }
}

/// Read `window_distances.csv` in two passes: the first validates every row and finds the
/// round range, the second keeps every k-th round (so each series has at most about
/// [`MAX_WINDOW_POINTS`] points) plus each series' last point.
fn load_window_distances(path: &Path) -> Result<Option<Vec<WindowPanel>>, PlotError> {
    const COLS: [&str; 6] = ["round", "worker", "role", "window", "distance", "threshold"];
    let Some(mut csv) = CsvReader::open(path, &COLS)? else {
        return Ok(None);
    };
    let mut min_round = i64::MAX;
    let mut max_round = i64::MIN;
    while let Some(row) = csv.next_row()? {
        let r = row.req_round(0)?;
        row.req_worker(1)?;
        if row.raw(3).is_empty() {
            return Err(row.err("column `window` is empty"));
        }
        row.opt_f64(4)?;
        row.opt_f64(5)?;
        min_round = min_round.min(r);
        max_round = max_round.max(r);
    }
    let span = if max_round >= min_round {
        max_round.saturating_sub(min_round).saturating_add(1)
    } else {
        1
    };
    let every = (span / MAX_WINDOW_POINTS + i64::from(span % MAX_WINDOW_POINTS != 0)).max(1);

    type SeriesAcc = (Role, BTreeMap<i64, f64>, Option<(i64, f64)>);
    struct PanelAcc {
        series: BTreeMap<usize, SeriesAcc>,
        threshold: BTreeMap<i64, f64>,
        last_threshold: Option<(i64, f64)>,
    }
    let mut panels: BTreeMap<(u8, String), (String, PanelAcc)> = BTreeMap::new();

    let Some(mut csv) = CsvReader::open(path, &COLS)? else {
        return Err(io_err(path, io::Error::from(io::ErrorKind::NotFound)));
    };
    while let Some(row) = csv.next_row()? {
        let round = row.req_round(0)?;
        let worker = row.req_worker(1)?;
        // Lenient: the recorder writes `unknown` for a worker it cannot place.
        let role = if row.raw(2) == "byzantine" {
            Role::Byzantine
        } else {
            Role::Honest
        };
        let window = row.raw(3);
        let distance = row.opt_f64(4)?.filter(|v| v.is_finite());
        let threshold = row.opt_f64(5)?.filter(|v| v.is_finite());
        let keep = (round - min_round) % every == 0;
        let (_, panel) = panels.entry(window_rank(window)).or_insert_with(|| {
            (
                window.to_string(),
                PanelAcc {
                    series: BTreeMap::new(),
                    threshold: BTreeMap::new(),
                    last_threshold: None,
                },
            )
        });
        let entry = panel
            .series
            .entry(worker)
            .or_insert_with(|| (role, BTreeMap::new(), None));
        if let Some(d) = distance {
            if keep {
                entry.1.entry(round).or_insert(d);
            }
            if entry.2.is_none_or(|(r, _)| round > r) {
                entry.2 = Some((round, d));
            }
        }
        if let Some(t) = threshold {
            if keep {
                panel.threshold.entry(round).or_insert(t);
            }
            if panel.last_threshold.is_none_or(|(r, _)| round > r) {
                panel.last_threshold = Some((round, t));
            }
        }
    }
    let out = panels
        .into_values()
        .map(|(window, acc)| {
            let series = acc
                .series
                .into_iter()
                .map(|(w, (role, mut pts, last))| {
                    if let Some((r, d)) = last {
                        pts.entry(r).or_insert(d);
                    }
                    (w, (role, pts.into_iter().collect()))
                })
                .collect();
            let mut threshold = acc.threshold;
            if let Some((r, t)) = acc.last_threshold {
                threshold.entry(r).or_insert(t);
            }
            WindowPanel {
                window,
                every,
                series,
                threshold: threshold.into_iter().collect(),
            }
        })
        .collect();
    Ok(Some(out))
}

type JsonMap = serde_json::Map<String, serde_json::Value>;

fn load_summary(path: &Path) -> Result<Option<JsonMap>, PlotError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
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

// ---------------------------------------------------------------------------------------------
// Numbers, ranges, decimation
// ---------------------------------------------------------------------------------------------

/// At most this many points per line of a line chart (min/max decimation above that).
const MAX_LINE_POINTS: usize = 2000;
/// At most about this many rounds per series of `window_distances.svg`.
const MAX_WINDOW_POINTS: i64 = 1000;
/// Finite values beyond this magnitude are clipped on linear axes, so ranges stay finite.
const CLIP: f64 = 1e100;

const FONT: &str = "sans-serif";
// Font sizes as given to plotters; its SVG backend writes them divided by 1.24.
const TITLE_SIZE: u32 = 26;
const PANEL_TITLE_SIZE: u32 = 21;
const LABEL_SIZE: u32 = 16;
const DESC_SIZE: u32 = 18;
const LEGEND_SIZE: u32 = 17;
const NOTE_SIZE: u32 = 20;
const GREY_TEXT: RGBColor = RGBColor(90, 90, 90);
const WIDTH: u32 = 900;
const HEIGHT: u32 = 500;

const HONEST: RGBColor = RGBColor(31, 119, 180);
const BYZANTINE: RGBColor = RGBColor(214, 39, 40);
const HONEST_SHADES: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(23, 160, 180),
    RGBColor(57, 59, 140),
    RGBColor(0, 110, 100),
    RGBColor(100, 160, 215),
    RGBColor(100, 180, 90),
    RGBColor(70, 90, 200),
];
const BYZANTINE_SHADES: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(150, 20, 20),
    RGBColor(230, 90, 50),
    RGBColor(200, 120, 0),
    RGBColor(180, 40, 90),
];

/// Compact tick/number formatting.
fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        match s.split_once('e') {
            Some((m, e)) => {
                let m = if m.contains('.') {
                    m.trim_end_matches('0').trim_end_matches('.')
                } else {
                    m
                };
                format!("{m}e{e}")
            }
            None => s,
        }
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_string()
        } else {
            s.to_string()
        }
    }
}

/// Tick label formatter for a linear axis spanning `span`: values tiny relative to the span are 0.
fn linear_fmt(span: f64) -> impl Fn(&f64) -> String {
    move |v: &f64| {
        if v.abs() <= span.abs() * 1e-9 {
            "0".to_string()
        } else {
            fmt_num(*v)
        }
    }
}

/// Tick label formatter for an axis holding `log10(value)`: 3 significant digits.
fn log_fmt(v: &f64) -> String {
    let x = 10f64.powf(*v);
    if !x.is_finite() || x <= 0.0 {
        return fmt_num(x);
    }
    if !(1e-3..1e5).contains(&x) {
        return fmt_num(x);
    }
    let decimals = (2 - x.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Tick labels only at integers (counts, worker ids).
fn int_fmt(v: &f64) -> String {
    let r = v.round();
    if (v - r).abs() < 1e-6 && r.abs() < 1e15 {
        format!("{}", r as i64)
    } else {
        String::new()
    }
}

/// Min and max of the finite values, or `None`.
fn finite_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// An axis range around `[lo, hi]`: `margin` (a fraction of the span) on both sides, widened
/// when the span is (nearly) zero, `(0, 1)` when non-finite.
fn padded(lo: f64, hi: f64, margin: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return (0.0, 1.0);
    }
    let scale = lo.abs().max(hi.abs());
    let min_span = (scale * 1e-9).max(1e-100);
    let span = hi - lo;
    if span < min_span {
        let c = 0.5 * (lo + hi);
        let half = if scale > 0.0 {
            (scale * 0.1).max(min_span)
        } else {
            1.0
        };
        return (c - half, c + half);
    }
    (lo - span * margin, hi + span * margin)
}

/// The range of the round axis from the rounds present (at least one round wide).
fn round_range(rounds: impl IntoIterator<Item = i64>) -> (i64, i64) {
    let (lo, hi) = rounds
        .into_iter()
        .fold(None, |acc: Option<(i64, i64)>, r| match acc {
            None => Some((r, r)),
            Some((lo, hi)) => Some((lo.min(r), hi.max(r))),
        })
        .unwrap_or((0, 1));
    if hi > lo {
        (lo, hi)
    } else {
        (lo, lo.saturating_add(1))
    }
}

fn clip(v: f64) -> f64 {
    v.clamp(-CLIP, CLIP)
}

/// Keep at most about `max` points: in each of `max / 4` buckets the first, min, max and last
/// points, in order. Deterministic and keeps spikes.
fn decimate(points: &[(i64, f64)], max: usize) -> Vec<(i64, f64)> {
    if points.len() <= max || max < 8 {
        return points.to_vec();
    }
    let buckets = max / 4;
    let size = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(max);
    for chunk in points.chunks(size) {
        let mut imin = 0;
        let mut imax = 0;
        for (i, p) in chunk.iter().enumerate() {
            if p.1 < chunk[imin].1 {
                imin = i;
            }
            if p.1 > chunk[imax].1 {
                imax = i;
            }
        }
        let mut idx = [0, imin, imax, chunk.len() - 1];
        idx.sort_unstable();
        let mut prev = None;
        for i in idx {
            if prev != Some(i) {
                out.push(chunk[i]);
                prev = Some(i);
            }
        }
    }
    out
}

/// Keep every k-th point (k chosen so at most `max` remain) plus the last one.
fn every_kth<T: Copy>(points: &[T], max: usize) -> Vec<T> {
    if points.len() <= max || max == 0 {
        return points.to_vec();
    }
    let k = points.len().div_ceil(max);
    let mut out: Vec<T> = points.iter().step_by(k).copied().collect();
    if !(points.len() - 1).is_multiple_of(k)
        && let Some(&last) = points.last()
    {
        out.push(last);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Drawing helpers
// ---------------------------------------------------------------------------------------------

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draw into an in-memory SVG document of `size` pixels.
fn render_svg(
    file: &str,
    size: (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> DrawResult,
) -> Result<String, PlotError> {
    let draw_err = |message: String| PlotError::Draw {
        file: PathBuf::from(file),
        message,
    };
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err(e.to_string()))?;
        draw(&root).map_err(|e| draw_err(e.to_string()))?;
        root.present().map_err(|e| draw_err(e.to_string()))?;
    }
    Ok(buf)
}

fn centered(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
}

/// Write `note` in the middle of `area` (used when there is nothing to draw).
fn draw_note(area: &Area<'_>, note: &str) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (
        i32::try_from(w / 2).unwrap_or(0),
        i32::try_from(h / 2).unwrap_or(0),
    );
    area.draw(&Text::new(
        note.to_string(),
        (w, h),
        centered(NOTE_SIZE).color(&GREY_TEXT),
    ))?;
    Ok(())
}

/// The sample drawn before a legend label.
#[derive(Clone, Copy)]
enum Mark {
    /// A line of this colour and width, dashed or not.
    Line(RGBColor, u32, bool),
    /// A filled box.
    Box(RGBColor),
    /// A filled dot.
    Dot(RGBColor),
    /// A cross.
    Cross(RGBColor),
    /// The contour colour ramp.
    Ramp,
    /// No sample: the label is a remark.
    Remark,
}

/// Height of a legend row in pixels.
const LEGEND_ROW: u32 = 26;

/// Draw a one-line legend, left to right and centred, in `area` (a strip of [`LEGEND_ROW`]
/// pixels). Text widths are estimated, which is enough for spacing.
fn draw_legend(area: &Area<'_>, items: &[(String, Mark)]) -> DrawResult {
    let px = f64::from(LEGEND_SIZE) / 1.24;
    let text_w = |s: &str| (s.chars().count() as f64 * px * 0.55).ceil() as i32;
    let item_w = |s: &str, m: &Mark| match m {
        Mark::Remark => text_w(s),
        _ => 34 + text_w(s),
    };
    let gap = 26;
    let total: i32 = items.iter().map(|(l, m)| item_w(l, m)).sum::<i32>()
        + gap * (items.len().saturating_sub(1) as i32);
    let (w, h) = area.dim_in_pixel();
    let mut x = ((i32::try_from(w).unwrap_or(0) - total) / 2).max(8);
    let y = i32::try_from(h / 2).unwrap_or(0);
    for (label, mark) in items {
        match *mark {
            Mark::Line(c, width, dashed) => {
                let style = c.stroke_width(width.max(2));
                if dashed {
                    area.draw(&PathElement::new(vec![(x, y), (x + 10, y)], style))?;
                    area.draw(&PathElement::new(vec![(x + 16, y), (x + 28, y)], style))?;
                } else {
                    area.draw(&PathElement::new(vec![(x, y), (x + 28, y)], style))?;
                }
            }
            Mark::Box(c) => {
                area.draw(&Rectangle::new(
                    [(x + 2, y - 7), (x + 26, y + 7)],
                    c.filled(),
                ))?;
            }
            Mark::Dot(c) => area.draw(&Circle::new((x + 14, y), 6, c.filled()))?,
            Mark::Cross(c) => area.draw(&Cross::new((x + 14, y), 6, c.stroke_width(3)))?,
            Mark::Remark => {}
            Mark::Ramp => {
                for k in 0..7 {
                    let c = ramp(f64::from(k) / 6.0);
                    area.draw(&PathElement::new(
                        vec![(x + 4 * k, y), (x + 4 * k + 4, y)],
                        c.stroke_width(3),
                    ))?;
                }
            }
        }
        let (text_x, color) = match mark {
            Mark::Remark => (x, GREY_TEXT),
            _ => (x + 34, BLACK),
        };
        area.draw(&Text::new(
            label.clone(),
            (text_x, y),
            TextStyle::from((FONT, LEGEND_SIZE).into_font())
                .pos(Pos::new(HPos::Left, VPos::Center))
                .color(&color),
        ))?;
        x += item_w(label, mark) + gap;
    }
    Ok(())
}

/// Split `area` into an optional title, an optional legend row and the rest.
fn title_and_legend<'a>(
    area: &Area<'a>,
    title: Option<(&str, u32)>,
    legend: &[(String, Mark)],
) -> Result<Area<'a>, Box<dyn std::error::Error>> {
    let area = match title {
        Some((t, size)) => area.titled(t, (FONT, size))?,
        None => area.clone(),
    };
    if legend.is_empty() {
        return Ok(area);
    }
    let (legend_area, rest) = area.split_vertically(LEGEND_ROW);
    draw_legend(&legend_area, legend)?;
    Ok(rest)
}

struct Line {
    color: RGBColor,
    width: u32,
    dashed: bool,
    markers: bool,
    points: Vec<(i64, f64)>,
}

impl Line {
    fn new(color: RGBColor, points: Vec<(i64, f64)>) -> Self {
        Line {
            color,
            width: 2,
            dashed: false,
            markers: false,
            points,
        }
    }
}

struct LineChart {
    caption: String,
    caption_size: u32,
    y_desc: String,
    x_range: (i64, i64),
    y_range: (f64, f64),
    y_fmt: Box<dyn Fn(&f64) -> String>,
    lines: Vec<Line>,
    legend: Vec<(String, Mark)>,
    note: Option<String>,
}

/// A chart of lines against the round, with its title and legend row above the plot.
fn draw_line_chart(area: &Area<'_>, spec: &LineChart) -> DrawResult {
    let plot_area = title_and_legend(
        area,
        Some((spec.caption.as_str(), spec.caption_size)),
        &spec.legend,
    )?;
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(8)
        .margin_right(28)
        .x_label_area_size(48)
        .y_label_area_size(84)
        .build_cartesian_2d(
            spec.x_range.0..spec.x_range.1,
            spec.y_range.0..spec.y_range.1,
        )?;
    chart
        .configure_mesh()
        .x_desc("round")
        .y_desc(spec.y_desc.as_str())
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, DESC_SIZE))
        .y_label_formatter(&*spec.y_fmt)
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;
    for line in &spec.lines {
        if line.points.is_empty() {
            continue;
        }
        let style = line.color.stroke_width(line.width);
        if line.dashed {
            chart.draw_series(DashedLineSeries::new(line.points.clone(), 9, 6, style))?;
        } else {
            chart.draw_series(LineSeries::new(line.points.iter().copied(), style))?;
        }
        if line.markers || line.points.len() == 1 {
            let color = line.color;
            chart.draw_series(
                line.points
                    .iter()
                    .map(move |&p| Circle::new(p, 3, color.filled())),
            )?;
        }
    }
    if let Some(note) = &spec.note {
        draw_note(&plot_area, note)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Charts from rounds.csv
// ---------------------------------------------------------------------------------------------

fn loss_svg(rows: &[RoundRow]) -> Result<String, PlotError> {
    let mut pts = Vec::new();
    let mut non_finite = 0usize;
    let mut clipped = false;
    for r in rows {
        match r.loss {
            Some(v) if v.is_finite() => {
                clipped |= v.abs() > CLIP;
                pts.push((r.round, clip(v)));
            }
            Some(_) => non_finite += 1,
            None => {}
        }
    }
    let mut caption = "loss per round".to_string();
    if non_finite > 0 {
        let _ = write!(caption, " ({non_finite} non-finite values not drawn)");
    }
    if clipped {
        caption.push_str(" (clipped at ±1e100)");
    }
    let (lo, hi) =
        finite_range(pts.iter().map(|p| p.1)).map_or((0.0, 1.0), |(lo, hi)| padded(lo, hi, 0.05));
    let note = pts.is_empty().then(|| "no finite loss values".to_string());
    let spec = LineChart {
        caption,
        caption_size: TITLE_SIZE,
        y_desc: "loss".to_string(),
        x_range: round_range(rows.iter().map(|r| r.round)),
        y_range: (lo, hi),
        y_fmt: Box::new(linear_fmt(hi - lo)),
        lines: vec![Line {
            markers: pts.len() <= 40,
            ..Line::new(HONEST, decimate(&pts, MAX_LINE_POINTS))
        }],
        legend: Vec::new(),
        note,
    };
    render_svg("loss.svg", (WIDTH, HEIGHT), |root| {
        draw_line_chart(root, &spec)
    })
}

fn grad_norm_svg(rows: &[RoundRow]) -> Result<String, PlotError> {
    let finite: Vec<(i64, f64)> = rows
        .iter()
        .filter_map(|r| r.grad_norm.filter(|v| v.is_finite()).map(|v| (r.round, v)))
        .collect();
    let non_finite = rows
        .iter()
        .filter(|r| r.grad_norm.is_some_and(|v| !v.is_finite()))
        .count();
    let min_pos = finite
        .iter()
        .map(|p| p.1)
        .filter(|&v| v > 0.0)
        .fold(None, |acc: Option<f64>, v| {
            Some(acc.map_or(v, |a| a.min(v)))
        });
    let mut caption = "true gradient norm per round".to_string();
    let (pts, y_desc, log) = match min_pos {
        Some(floor) => {
            let pts: Vec<(i64, f64)> = finite
                .iter()
                .map(|&(r, v)| (r, v.max(floor).log10()))
                .collect();
            let clamped = finite.iter().filter(|p| p.1 <= 0.0).count();
            if clamped > 0 {
                let _ = write!(caption, " ({clamped} values <= 0 drawn at the minimum)");
            }
            (pts, "gradient norm (log scale)", true)
        }
        None => (
            finite.iter().map(|&(r, v)| (r, clip(v))).collect(),
            "gradient norm",
            false,
        ),
    };
    if non_finite > 0 {
        let _ = write!(caption, " ({non_finite} non-finite values not drawn)");
    }
    let (lo, hi) = match finite_range(pts.iter().map(|p| p.1)) {
        None => (0.0, 1.0),
        Some((lo, hi)) if log && hi - lo < 1e-6 => (lo - 0.5, hi + 0.5),
        Some((lo, hi)) => padded(lo, hi, 0.05),
    };
    let fmt: Box<dyn Fn(&f64) -> String> = if log {
        Box::new(log_fmt)
    } else {
        Box::new(linear_fmt(hi - lo))
    };
    let note = pts
        .is_empty()
        .then(|| "no finite gradient norms".to_string());
    let spec = LineChart {
        caption,
        caption_size: TITLE_SIZE,
        y_desc: y_desc.to_string(),
        x_range: round_range(rows.iter().map(|r| r.round)),
        y_range: (lo, hi),
        y_fmt: fmt,
        lines: vec![Line {
            markers: pts.len() <= 40,
            ..Line::new(RGBColor(44, 140, 44), decimate(&pts, MAX_LINE_POINTS))
        }],
        legend: Vec::new(),
        note,
    };
    render_svg("grad_norm.svg", (WIDTH, HEIGHT), |root| {
        draw_line_chart(root, &spec)
    })
}

/// Step-line points: the value holds until the next round.
fn steps(points: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, &(r, v)) in points.iter().enumerate() {
        if i > 0
            && let Some(&(_, prev)) = out.last()
            && prev != v
        {
            out.push((r, prev));
        }
        out.push((r, v));
    }
    // Drop interior points of constant runs so long flat stretches cost nothing.
    let mut compact: Vec<(i64, f64)> = Vec::with_capacity(out.len());
    for (i, &p) in out.iter().enumerate() {
        let n = compact.len();
        let is_last = i + 1 == out.len();
        if n >= 2 && !is_last && compact[n - 1].1 == p.1 && compact[n - 2].1 == p.1 {
            compact[n - 1] = p;
        } else {
            compact.push(p);
        }
    }
    compact
}

fn good_machines_svg(
    rows: &[RoundRow],
    workers: Option<&BTreeMap<usize, Role>>,
) -> Result<String, PlotError> {
    let good: Vec<(i64, f64)> = rows
        .iter()
        .filter_map(|r| r.good.map(|v| (r.round, v as f64)))
        .collect();
    let byz: Vec<(i64, f64)> = rows
        .iter()
        .filter_map(|r| r.byzantine_in_good.map(|v| (r.round, v as f64)))
        .collect();
    let data_max = good.iter().chain(&byz).map(|p| p.1).fold(0.0, f64::max);
    let m = workers
        .map_or(0.0, |w| w.len() as f64)
        .max(data_max)
        .max(1.0);
    let note = (good.is_empty() && byz.is_empty()).then(|| "no data".to_string());
    let lines = vec![
        Line::new(HONEST, steps(&good)),
        Line::new(BYZANTINE, steps(&byz)),
    ];
    let legend = vec![
        (
            "good: size of the good set".to_string(),
            Mark::Line(HONEST, 2, false),
        ),
        (
            "byzantine_in_good: Byzantine machines in it".to_string(),
            Mark::Line(BYZANTINE, 2, false),
        ),
    ];
    let spec = LineChart {
        caption: "machines in the good set".to_string(),
        caption_size: TITLE_SIZE,
        y_desc: "machines".to_string(),
        x_range: round_range(rows.iter().map(|r| r.round)),
        y_range: (-0.04 * m, m * 1.06),
        y_fmt: Box::new(int_fmt),
        lines,
        legend,
        note,
    };
    render_svg("good_machines.svg", (WIDTH, HEIGHT), |root| {
        draw_line_chart(root, &spec)
    })
}

// ---------------------------------------------------------------------------------------------
// expulsions.svg
// ---------------------------------------------------------------------------------------------

fn expulsions_svg(
    rows: &[RoundRow],
    workers: Option<&BTreeMap<usize, Role>>,
    expulsions: &[Expulsion],
) -> Result<String, PlotError> {
    let mut machines: BTreeMap<usize, Role> = workers.cloned().unwrap_or_default();
    // First expulsion of each machine.
    let mut expelled: BTreeMap<usize, i64> = BTreeMap::new();
    for e in expulsions {
        machines.entry(e.worker).or_insert(e.role);
        let r = expelled.entry(e.worker).or_insert(e.round);
        *r = (*r).min(e.round);
    }
    let (x_lo, x_hi) = round_range(
        rows.iter()
            .map(|r| r.round)
            .chain(expulsions.iter().map(|e| e.round)),
    );
    let last_round = rows.iter().map(|r| r.round).max().unwrap_or(x_hi);
    let ids: Vec<usize> = machines.keys().copied().collect();
    let n = ids.len();
    let height = u32::try_from(n)
        .unwrap_or(u32::MAX / 64)
        .saturating_mul(18)
        .saturating_add(150)
        .max(250);
    // Machine at rank i (by id) is drawn at y = n - 1 - i, so the first machine is on top.
    let y_of = |rank: usize| (n - 1 - rank) as f64;
    let label_ids = ids.clone();
    let y_fmt = move |v: &f64| {
        let r = v.round();
        if (v - r).abs() > 1e-6 || r < 0.0 || r >= n as f64 {
            return String::new();
        }
        let rank = n - 1 - r as usize;
        label_ids
            .get(rank)
            .map_or(String::new(), |id| id.to_string())
    };
    let expelled_count = expelled.len();
    render_svg("expulsions.svg", (WIDTH, height), |root| {
        let title = format!("machine timeline ({expelled_count} of {n} machines expelled)");
        let legend = [
            ("honest".to_string(), Mark::Box(HONEST)),
            ("byzantine".to_string(), Mark::Box(BYZANTINE)),
            ("expulsion".to_string(), Mark::Cross(BLACK)),
            (
                "(bar: from round 0 until expelled)".to_string(),
                Mark::Remark,
            ),
        ];
        let chart_area = title_and_legend(root, Some((&title, TITLE_SIZE)), &legend)?;
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(10)
            .margin_right(24)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x_lo..x_hi, -0.6..(n.max(1) as f64 - 0.4))?;
        chart
            .configure_mesh()
            .x_desc("round")
            .y_desc("worker")
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, DESC_SIZE))
            .y_labels(n + 1)
            .y_label_formatter(&y_fmt)
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.12))
            .draw()?;
        for (rank, (&id, &role)) in machines.iter().enumerate() {
            let y = y_of(rank);
            let color = match role {
                Role::Honest => HONEST,
                Role::Byzantine => BYZANTINE,
            };
            let end = expelled.get(&id).copied().unwrap_or(last_round);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x_lo.min(end), y - 0.32), (end, y + 0.32)],
                color.mix(0.85).filled(),
            )))?;
            if let Some(&r) = expelled.get(&id) {
                chart.draw_series(std::iter::once(Cross::new(
                    (r, y),
                    7,
                    BLACK.stroke_width(2),
                )))?;
            }
        }
        if n == 0 {
            draw_note(&chart_area, "no machines")?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// window_distances.svg
// ---------------------------------------------------------------------------------------------

/// One panel; `rounds` (from rounds.csv) widens the round axis so it matches the other charts.
fn window_panel_chart(panel: &WindowPanel, rounds: &[RoundRow]) -> LineChart {
    let all = panel
        .series
        .values()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
        .chain(panel.threshold.iter().map(|p| 2.0 * p.1));
    let min_pos = all
        .filter(|&v| v > 0.0 && v.is_finite())
        .fold(None, |acc: Option<f64>, v| {
            Some(acc.map_or(v, |a| a.min(v)))
        });
    let log = min_pos.is_some();
    // Zero distances (the reference itself) go half a decade below the smallest positive value.
    let tf = |v: f64| match min_pos {
        Some(m) => v.max(m / 10f64.sqrt()).log10(),
        None => clip(v),
    };
    let mut lines = Vec::new();
    let mut zeros = false;
    let (mut n_honest, mut n_byz) = (0usize, 0usize);
    for (role, pts) in panel.series.values() {
        zeros |= pts.iter().any(|p| p.1 <= 0.0);
        let points: Vec<(i64, f64)> = pts.iter().map(|&(r, v)| (r, tf(v))).collect();
        let color = match role {
            Role::Honest => {
                n_honest += 1;
                HONEST_SHADES[(n_honest - 1) % HONEST_SHADES.len()]
            }
            Role::Byzantine => {
                n_byz += 1;
                BYZANTINE_SHADES[(n_byz - 1) % BYZANTINE_SHADES.len()]
            }
        };
        lines.push(Line {
            width: 1,
            markers: points.len() <= 40,
            ..Line::new(color, points)
        });
    }
    let threshold: Vec<(i64, f64)> = panel
        .threshold
        .iter()
        .map(|&(r, t)| (r, tf(2.0 * t)))
        .collect();
    lines.push(Line {
        color: BLACK,
        width: 2,
        dashed: true,
        markers: false,
        points: threshold,
    });
    let (lo, hi) = match finite_range(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1))) {
        None => (0.0, 1.0),
        Some((lo, hi)) if log && hi - lo < 1e-6 => (lo - 0.5, hi + 0.5),
        Some((lo, hi)) => padded(lo, hi, 0.05),
    };
    let mut notes = Vec::new();
    if panel.every > 1 {
        notes.push(format!("1 round in {} shown", panel.every));
    }
    if zeros && log {
        notes.push("distance 0 drawn at the bottom".to_string());
    }
    let mut caption = format!("{} window", panel.window);
    if !notes.is_empty() {
        let _ = write!(caption, " ({})", notes.join("; "));
    }
    let x_range = round_range(
        lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0))
            .chain(rounds.first().map(|r| r.round))
            .chain(rounds.last().map(|r| r.round)),
    );
    let note = lines
        .iter()
        .all(|l| l.points.is_empty())
        .then(|| "no finite distances".to_string());
    LineChart {
        caption,
        caption_size: PANEL_TITLE_SIZE,
        y_desc: if log {
            "distance (log scale)".to_string()
        } else {
            "distance".to_string()
        },
        x_range,
        y_range: (lo, hi),
        y_fmt: if log {
            Box::new(log_fmt)
        } else {
            Box::new(linear_fmt(hi - lo))
        },
        lines,
        legend: Vec::new(),
        note,
    }
}

fn window_distances_svg(panels: &[WindowPanel], rounds: &[RoundRow]) -> Result<String, PlotError> {
    let n = panels.len().max(1);
    let height = if n == 1 {
        HEIGHT
    } else {
        u32::try_from(n)
            .unwrap_or(8)
            .saturating_mul(330)
            .saturating_add(40)
    };
    render_svg("window_distances.svg", (WIDTH, height), |root| {
        let roles: Vec<Role> = panels
            .iter()
            .flat_map(|p| p.series.values().map(|(r, _)| *r))
            .collect();
        let mut legend = Vec::new();
        if roles.contains(&Role::Honest) {
            legend.push((
                "honest machines".to_string(),
                Mark::Line(HONEST_SHADES[0], 2, false),
            ));
        }
        if roles.contains(&Role::Byzantine) {
            legend.push((
                "byzantine machines".to_string(),
                Mark::Line(BYZANTINE_SHADES[0], 2, false),
            ));
        }
        legend.push((
            "2 × threshold (expelled above it)".to_string(),
            Mark::Line(BLACK, 2, true),
        ));
        let area = title_and_legend(
            root,
            Some((
                "distance of each good machine to the reference, per window",
                TITLE_SIZE,
            )),
            &legend,
        )?;
        if panels.is_empty() {
            return draw_note(&area, "no rows in window_distances.csv");
        }
        let subareas = area.split_evenly((n, 1));
        for (panel, sub) in panels.iter().zip(subareas.iter()) {
            draw_line_chart(sub, &window_panel_chart(panel, rounds))?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// trajectory.svg
// ---------------------------------------------------------------------------------------------

/// Grid cells per side for the contour grid.
const CONTOUR_GRID: usize = 100;
/// Number of contour levels.
const CONTOUR_LEVELS: usize = 20;

/// An edge of the contour grid: (i, j, 0) joins nodes (i, j)-(i+1, j); (i, j, 1) joins
/// (i, j)-(i, j+1).
type EdgeId = (usize, usize, u8);

/// A polyline in data coordinates.
type Polyline = Vec<(f64, f64)>;

/// Level sets of `values` (a `(n+1) x (n+1)` grid, `values[j][i]` at `(xs[i], ys[j])`) at
/// `level`, by marching squares, joined into polylines.
fn contour_lines(xs: &[f64], ys: &[f64], values: &[Vec<f64>], level: f64) -> Vec<Polyline> {
    let val = |i: usize, j: usize| {
        values
            .get(j)
            .and_then(|row| row.get(i))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let nx = xs.len().saturating_sub(1);
    let ny = ys.len().saturating_sub(1);
    let mut segs: Vec<(EdgeId, EdgeId)> = Vec::new();
    for j in 0..ny {
        for i in 0..nx {
            let a = val(i, j);
            let b = val(i + 1, j);
            let c = val(i + 1, j + 1);
            let d = val(i, j + 1);
            if !(a.is_finite() && b.is_finite() && c.is_finite() && d.is_finite()) {
                continue;
            }
            let (sa, sb, sc, sd) = (a >= level, b >= level, c >= level, d >= level);
            let bottom: EdgeId = (i, j, 0);
            let right: EdgeId = (i + 1, j, 1);
            let top: EdgeId = (i, j + 1, 0);
            let left: EdgeId = (i, j, 1);
            let mut crossed = Vec::with_capacity(4);
            if sa != sb {
                crossed.push(bottom);
            }
            if sb != sc {
                crossed.push(right);
            }
            if sc != sd {
                crossed.push(top);
            }
            if sd != sa {
                crossed.push(left);
            }
            match crossed.len() {
                2 => segs.push((crossed[0], crossed[1])),
                4 => {
                    // Saddle: cut off the corners whose side differs from the centre's.
                    let centre = (a + b + c + d) / 4.0 >= level;
                    if sa != centre {
                        segs.push((left, bottom));
                    }
                    if sb != centre {
                        segs.push((bottom, right));
                    }
                    if sc != centre {
                        segs.push((right, top));
                    }
                    if sd != centre {
                        segs.push((top, left));
                    }
                }
                _ => {}
            }
        }
    }
    let point = |(i, j, dir): EdgeId| -> (f64, f64) {
        let (i2, j2) = if dir == 0 { (i + 1, j) } else { (i, j + 1) };
        let v1 = val(i, j);
        let v2 = val(i2, j2);
        let t = if v2 != v1 {
            ((level - v1) / (v2 - v1)).clamp(0.0, 1.0)
        } else {
            0.5
        };
        let x1 = xs.get(i).copied().unwrap_or(0.0);
        let x2 = xs.get(i2).copied().unwrap_or(x1);
        let y1 = ys.get(j).copied().unwrap_or(0.0);
        let y2 = ys.get(j2).copied().unwrap_or(y1);
        (x1 + t * (x2 - x1), y1 + t * (y2 - y1))
    };
    // Join segments sharing an edge into polylines.
    let mut adj: BTreeMap<EdgeId, Vec<usize>> = BTreeMap::new();
    for (k, &(e0, e1)) in segs.iter().enumerate() {
        adj.entry(e0).or_default().push(k);
        adj.entry(e1).or_default().push(k);
    }
    let degree = |e: &EdgeId| adj.get(e).map_or(0, Vec::len);
    let mut used = vec![false; segs.len()];
    let mut lines = Vec::new();
    for pass in 0..2 {
        for s in 0..segs.len() {
            if used[s] {
                continue;
            }
            let (e0, e1) = segs[s];
            // First pass: start open chains at their ends; second pass: closed loops.
            let start = if pass == 0 {
                if degree(&e0) == 1 {
                    e0
                } else if degree(&e1) == 1 {
                    e1
                } else {
                    continue;
                }
            } else {
                e0
            };
            let mut chain = vec![point(start)];
            let mut cur_seg = s;
            let mut cur_edge = start;
            loop {
                used[cur_seg] = true;
                let (a, b) = segs[cur_seg];
                let next = if a == cur_edge { b } else { a };
                chain.push(point(next));
                let nxt = adj
                    .get(&next)
                    .and_then(|v| v.iter().copied().find(|&t| !used[t]));
                match nxt {
                    Some(t) => {
                        cur_seg = t;
                        cur_edge = next;
                    }
                    None => break,
                }
            }
            lines.push(chain);
        }
    }
    lines
}

/// A perceptual-ish colour ramp (dark purple, blue, teal, green, orange) for `t` in [0, 1].
fn ramp(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 170.0, 60.0),
        (225.0, 150.0, 20.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let k = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let mix = |p: f64, q: f64| (p + f * (q - p)).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn trajectory_svg(points: &[TrajPoint], surface: Option<Surface<'_>>) -> Result<String, PlotError> {
    let finite: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.1.is_finite() && p.2.is_finite())
        .map(|p| (clip(p.1), clip(p.2)))
        .collect();
    let skipped = points.len() - finite.len();
    let (x_lo, x_hi) = finite_range(finite.iter().map(|p| p.0))
        .map_or((-1.0, 1.0), |(lo, hi)| padded(lo, hi, 0.1));
    let (y_lo, y_hi) = finite_range(finite.iter().map(|p| p.1))
        .map_or((-1.0, 1.0), |(lo, hi)| padded(lo, hi, 0.1));

    // Contours of the surface on a grid over the box.
    let mut contours: Vec<(usize, Vec<Polyline>)> = Vec::new();
    let mut n_levels = 0;
    if let Some(f) = surface {
        let n = CONTOUR_GRID;
        let xs: Vec<f64> = (0..=n)
            .map(|i| x_lo + (x_hi - x_lo) * i as f64 / n as f64)
            .collect();
        let ys: Vec<f64> = (0..=n)
            .map(|j| y_lo + (y_hi - y_lo) * j as f64 / n as f64)
            .collect();
        let values: Vec<Vec<f64>> = ys
            .iter()
            .map(|&y| xs.iter().map(|&x| f(x, y)).collect())
            .collect();
        let mut sorted: Vec<f64> = values
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        sorted.sort_by(f64::total_cmp);
        // Levels at evenly spaced quantiles of f over the grid, so they spread over the box
        // whatever the scale of f.
        let mut levels: Vec<f64> = Vec::new();
        if sorted.len() >= 2 {
            let last = sorted.len() - 1;
            for q in 1..=CONTOUR_LEVELS {
                let idx = q * last / (CONTOUR_LEVELS + 1);
                let v = sorted[idx.min(last)];
                if v > sorted[0] && v < sorted[last] && levels.last().is_none_or(|&l| v > l) {
                    levels.push(v);
                }
            }
        }
        n_levels = levels.len();
        for (k, &level) in levels.iter().enumerate() {
            let lines = contour_lines(&xs, &ys, &values, level);
            if !lines.is_empty() {
                contours.push((k, lines));
            }
        }
    }

    let path = every_kth(&finite, MAX_LINE_POINTS);
    let mut caption = if surface.is_some() {
        "parameter trajectory over level sets of f".to_string()
    } else {
        "parameter trajectory".to_string()
    };
    if skipped > 0 {
        let _ = write!(caption, " ({skipped} non-finite points not drawn)");
    }
    let fmt_x = linear_fmt(x_hi - x_lo);
    let fmt_y = linear_fmt(y_hi - y_lo);
    let start_c = RGBColor(0, 150, 60);
    let end_c = BYZANTINE;
    let mut legend = Vec::new();
    if !contours.is_empty() {
        legend.push((
            "level sets of f (purple low, orange high)".to_string(),
            Mark::Ramp,
        ));
    }
    if !path.is_empty() {
        legend.push(("path".to_string(), Mark::Line(BLACK, 2, false)));
        legend.push(("start".to_string(), Mark::Dot(start_c)));
        legend.push(("end".to_string(), Mark::Cross(end_c)));
    }
    render_svg("trajectory.svg", (WIDTH, HEIGHT), |root| {
        let plot_area = title_and_legend(root, Some((caption.as_str(), TITLE_SIZE)), &legend)?;
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(8)
            .margin_right(28)
            .x_label_area_size(48)
            .y_label_area_size(84)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
        chart
            .configure_mesh()
            .x_desc("x0")
            .y_desc("x1")
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, DESC_SIZE))
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&fmt_y)
            .light_line_style(TRANSPARENT)
            .bold_line_style(BLACK.mix(0.08))
            .draw()?;
        let denom = n_levels.saturating_sub(1).max(1) as f64;
        for (k, lines) in &contours {
            let style = ramp(*k as f64 / denom).stroke_width(1);
            chart.draw_series(lines.iter().map(|pl| PathElement::new(pl.clone(), style)))?;
        }
        if !path.is_empty() {
            chart.draw_series(LineSeries::new(path.iter().copied(), BLACK.stroke_width(2)))?;
            if path.len() <= 60 {
                chart.draw_series(path.iter().map(|&p| Circle::new(p, 2, BLACK.filled())))?;
            }
            chart.draw_series(path.first().map(|&p| Circle::new(p, 6, start_c.filled())))?;
            chart.draw_series(
                path.last()
                    .map(|&p| Cross::new(p, 7, end_c.stroke_width(3))),
            )?;
        } else {
            draw_note(&plot_area, "no finite trajectory points")?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// report.html
// ---------------------------------------------------------------------------------------------

/// Escape text for HTML element content and attribute values.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The SVG text without an XML declaration or doctype, for inlining in HTML.
fn strip_xml_prolog(svg: &str) -> &str {
    let mut s = svg.trim_start();
    loop {
        if s.starts_with("<?xml") || s.starts_with("<!DOCTYPE") {
            match s.find('>') {
                Some(i) => s = s[i + 1..].trim_start(),
                None => return s,
            }
        } else {
            return s;
        }
    }
}

/// A JSON value as table text: strings bare, null as a dash, short compact JSON otherwise.
fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "—".to_string(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => {
            let s = v.to_string();
            if s.chars().count() > 300 {
                format!("[array of {} items]", items.len())
            } else {
                s
            }
        }
        serde_json::Value::Object(map) => {
            let s = v.to_string();
            if s.chars().count() > 300 {
                format!("{{object with {} keys}}", map.len())
            } else {
                s
            }
        }
        other => other.to_string(),
    }
}

fn report_html(
    dir: &Path,
    summary: Option<&JsonMap>,
    charts: &[(&str, String)],
    expulsions: Option<&[Expulsion]>,
) -> String {
    let dir_name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".to_string());
    let str_key = |k: &str| {
        summary.and_then(|m| m.get(k)).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let name = str_key("name").unwrap_or(dir_name);
    let status = str_key("status").unwrap_or_else(|| "unknown".to_string());
    let status_class = match status.as_str() {
        "completed" => "ok",
        "diverged" => "bad",
        "interrupted" => "warn",
        _ => "other",
    };
    let (name_h, status_h) = (html_escape(&name), html_escape(&status));

    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        h,
        "<title>{name_h} ({status_h}) - safeguard-sim run</title>"
    );
    h.push_str(
        "<style>\n\
         body{font-family:sans-serif;margin:24px auto;max-width:960px;color:#222;padding:0 12px}\n\
         h1{font-size:26px;margin-bottom:4px}\n\
         .status{display:inline-block;padding:2px 10px;border-radius:10px;font-size:16px;\
         vertical-align:middle;color:#fff;background:#777}\n\
         .status.ok{background:#2a8a3a}.status.bad{background:#c0392b}.status.warn{background:#d68910}\n\
         table{border-collapse:collapse;margin:8px 0 20px}\n\
         th,td{border:1px solid #ccc;padding:3px 10px;text-align:left;vertical-align:top;font-size:14px}\n\
         th{background:#f3f3f3;font-weight:600}\n\
         table.nested{margin:0}table.nested th,table.nested td{border:none;padding:1px 8px 1px 0;background:none}\n\
         figure{margin:16px 0 28px}figcaption{font-size:13px;color:#666;margin-top:2px}\n\
         svg{max-width:100%;height:auto;display:block;border:1px solid #e3e3e3}\n\
         </style>\n</head>\n<body>\n",
    );
    let _ = writeln!(
        h,
        "<h1>Run {name_h} <span class=\"status {status_class}\">{status_h}</span></h1>"
    );

    h.push_str("<h2>Summary</h2>\n");
    match summary {
        None => h.push_str("<p>No summary.json in this run directory.</p>\n"),
        Some(map) => {
            h.push_str("<table class=\"summary\">\n");
            // The headline keys first, then the rest in the file's order.
            const FIRST: [&str; 6] = [
                "name",
                "status",
                "rounds",
                "final",
                "expelled",
                "first_expulsion_round",
            ];
            let first = FIRST.iter().filter_map(|k| map.get_key_value(*k));
            let rest = map.iter().filter(|(k, _)| !FIRST.contains(&k.as_str()));
            for (k, v) in first.chain(rest) {
                let _ = write!(h, "<tr><th>{}</th><td>", html_escape(k));
                match v {
                    serde_json::Value::Object(inner) if !inner.is_empty() => {
                        h.push_str("<table class=\"nested\">");
                        for (ik, iv) in inner {
                            let _ = write!(
                                h,
                                "<tr><th>{}</th><td>{}</td></tr>",
                                html_escape(ik),
                                html_escape(&json_text(iv))
                            );
                        }
                        h.push_str("</table>");
                    }
                    other => h.push_str(&html_escape(&json_text(other))),
                }
                h.push_str("</td></tr>\n");
            }
            h.push_str("</table>\n");
        }
    }

    h.push_str("<h2>Charts</h2>\n");
    for (file, svg) in charts {
        h.push_str("<figure>\n");
        h.push_str(strip_xml_prolog(svg));
        if !h.ends_with('\n') {
            h.push('\n');
        }
        let _ = writeln!(
            h,
            "<figcaption>{}</figcaption>\n</figure>",
            html_escape(file)
        );
    }

    if let Some(ex) = expulsions {
        const MAX_ROWS: usize = 500;
        let _ = writeln!(h, "<h2>Expulsions ({})</h2>", ex.len());
        if ex.is_empty() {
            h.push_str("<p>No machine was expelled.</p>\n");
        } else {
            h.push_str(
                "<table class=\"expulsions\">\n<tr><th>round</th><th>worker</th><th>role</th><th>reason</th></tr>\n",
            );
            for e in ex.iter().take(MAX_ROWS) {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    e.round,
                    e.worker,
                    e.role.as_str(),
                    html_escape(&e.reason)
                );
            }
            h.push_str("</table>\n");
            if ex.len() > MAX_ROWS {
                let _ = writeln!(
                    h,
                    "<p>… and {} more rows in expulsions.csv.</p>",
                    ex.len() - MAX_ROWS
                );
            }
        }
    }
    h.push_str("</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const ROUNDS_HEADER: &str =
        "round,loss,grad_norm,good,byzantine_in_good,agg_error,no_reference,faults";

    /// Deterministic noise in [-1, 1].
    fn noise(k: u64) -> f64 {
        let mut x = k
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51afd7ed558ccd);
        x ^= x >> 33;
        (x % 2_000_001) as f64 / 1_000_000.0 - 1.0
    }

    fn write(dir: &Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).unwrap();
    }

    /// A synthetic run: `m` workers, the last `byz` Byzantine, Byzantine workers expelled one by
    /// one; optional window distances (both windows) and trajectory.
    fn synthetic_run(dir: &Path, rounds: u64, m: usize, byz: usize, windows: bool, traj: bool) {
        let honest = m - byz;
        let expel_round = |k: usize| (rounds / 4) * (k as u64 + 1) / byz.max(1) as u64;
        let mut s = format!("{ROUNDS_HEADER},test_accuracy\n");
        for r in 0..rounds {
            let loss = 5.0 * (-(r as f64) / 300.0).exp() - 1.0 + 0.05 * noise(r);
            let gn = 3.0 * (-(r as f64) / 400.0).exp() + 0.01 * (1.0 + noise(r + 7));
            let expelled = (0..byz).filter(|&k| expel_round(k) <= r).count();
            let agg = if r == 0 {
                String::new()
            } else {
                format!("{}", 0.1 * (1.0 + noise(r)))
            };
            let _ = writeln!(
                s,
                "{r},{loss},{gn},{},{},{agg},{},0,{}",
                m - expelled,
                byz - expelled,
                u8::from(r % 97 == 0),
                0.5 + 0.4 * (r as f64 / rounds as f64)
            );
        }
        write(dir, "rounds.csv", &s);
        let mut w = "worker,role\n".to_string();
        let mut e = "round,worker,role,reason\n".to_string();
        for i in 0..m {
            let role = if i < honest { "honest" } else { "byzantine" };
            let _ = writeln!(w, "{i},{role}");
        }
        for k in 0..byz {
            let _ = writeln!(
                e,
                "{},{},byzantine,long window <distance> above 2x threshold",
                expel_round(k),
                honest + k
            );
        }
        write(dir, "workers.csv", &w);
        write(dir, "expulsions.csv", &e);
        if windows {
            let mut d = "round,worker,role,window,distance,threshold\n".to_string();
            for r in 0..rounds {
                for i in 0..m {
                    let is_byz = i >= honest;
                    if is_byz && expel_round(i - honest) < r {
                        continue;
                    }
                    for (wi, window) in ["long", "short"].iter().enumerate() {
                        let t = if wi == 0 { 4.0 } else { 1.0 };
                        let base = if i == 0 {
                            0.0
                        } else if is_byz {
                            t * 2.5 * (r as f64 + 1.0) / (expel_round(i - honest) as f64 + 1.0)
                        } else {
                            t * 0.4 * (1.0 + 0.5 * noise(r * 100 + i as u64 * 3 + wi as u64))
                        };
                        let role = if is_byz { "byzantine" } else { "honest" };
                        let _ = writeln!(d, "{r},{i},{role},{window},{base},{t}");
                    }
                }
            }
            write(dir, "window_distances.csv", &d);
        }
        if traj {
            let mut t = "round,x0,x1\n".to_string();
            for r in 0..rounds {
                let a = r as f64 / 60.0;
                let rad = 2.0 * (-(r as f64) / 500.0).exp();
                let _ = writeln!(t, "{r},{},{}", rad * a.cos(), 0.5 * rad * a.sin());
            }
            write(dir, "trajectory.csv", &t);
        }
        let summary = format!(
            r#"{{"name":"synthetic <run> & co","status":"completed","rounds":{rounds},
            "final":{{"loss":-0.98,"grad_norm":0.011}},"expelled":{{"byzantine":{byz},"honest":0}},
            "first_expulsion_round":{},"wall_seconds":1.25,"rounds_per_second":2400.0,
            "aggregator":{{"kind":"safeguard","params":{{"t0":10,"t1":50}}}},"tags":["a","b"]}}"#,
            expel_round(0)
        );
        write(dir, "summary.json", &summary);
    }

    fn quadratic(x: f64, y: f64) -> f64 {
        x * x + 4.0 * y * y
    }

    fn read(dir: &Path, name: &str) -> String {
        fs::read_to_string(dir.join(name)).unwrap()
    }

    fn assert_svg(dir: &Path, name: &str, title: &str) -> String {
        let text = read(dir, name);
        assert!(
            text.starts_with("<svg") || text.starts_with("<?xml"),
            "{name} does not start like an SVG"
        );
        assert!(text.trim_end().ends_with("</svg>"), "{name} is not closed");
        assert!(text.contains(title), "{name} lacks title `{title}`");
        assert!(text.contains("font-family=\"sans-serif\""), "{name} font");
        text
    }

    const ALL: [(&str, &str); 6] = [
        ("loss.svg", "loss per round"),
        ("grad_norm.svg", "true gradient norm per round"),
        ("good_machines.svg", "machines in the good set"),
        ("expulsions.svg", "machine timeline"),
        (
            "window_distances.svg",
            "distance of each good machine to the reference",
        ),
        (
            "trajectory.svg",
            "parameter trajectory over level sets of f",
        ),
    ];

    #[test]
    fn full_run_writes_every_chart_and_report() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        synthetic_run(dir, 300, 6, 2, true, true);
        let written = render_run(dir, Some(&quadratic)).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let mut expected: Vec<&str> = ALL.iter().map(|(n, _)| *n).collect();
        expected.push("report.html");
        assert_eq!(names, expected);
        let report = read(dir, "report.html");
        assert!(report.starts_with("<!DOCTYPE html>"));
        for (name, title) in ALL {
            let svg = assert_svg(dir, name, title);
            assert!(
                report.contains(strip_xml_prolog(&svg)),
                "{name} not inlined"
            );
            assert!(svg.len() < 2_000_000, "{name} too large");
        }
        // Escaped run name, no raw markup from the input.
        assert!(report.contains("synthetic &lt;run&gt; &amp; co"));
        assert!(!report.contains("<run>"));
        assert!(report.contains("completed"));
        assert!(report.contains("first_expulsion_round"));
        assert!(report.contains("rounds_per_second"));
        // One level of nesting is a nested table; deeper levels are compact JSON.
        assert!(report.contains("<th>grad_norm</th><td>0.011</td>"));
        assert!(report.contains("{&quot;t0&quot;:10,&quot;t1&quot;:50}"));
        assert!(!report.contains("<script"));
        // No external resources: the only URLs are the SVG namespaces.
        assert_eq!(
            report.matches("http").count(),
            report
                .matches("xmlns=\"http://www.w3.org/2000/svg\"")
                .count()
        );
        // Wall-clock values stay out of the SVGs.
        for (name, _) in ALL {
            assert!(!read(dir, name).contains("wall"), "{name}");
        }
        // No temporary files left behind.
        for entry in fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!name.ends_with(".tmp"), "{name} left behind");
        }
    }

    #[test]
    fn rerun_is_byte_identical() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        synthetic_run(dir, 120, 5, 1, true, true);
        let first = render_run(dir, Some(&quadratic)).unwrap();
        let before: Vec<Vec<u8>> = first.iter().map(|p| fs::read(p).unwrap()).collect();
        let second = render_run(dir, Some(&quadratic)).unwrap();
        assert_eq!(first, second);
        let after: Vec<Vec<u8>> = second.iter().map(|p| fs::read(p).unwrap()).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn optional_charts_absent_without_their_csv() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        synthetic_run(dir, 50, 4, 1, false, false);
        let written = render_run(dir, None).unwrap();
        assert_eq!(written.len(), 5);
        assert!(!dir.join("window_distances.svg").exists());
        assert!(!dir.join("trajectory.svg").exists());
        assert!(dir.join("expulsions.svg").exists());
        let report = read(dir, "report.html");
        assert!(!report.contains("window_distances.svg"));
        assert!(!report.contains("trajectory.svg"));
    }

    #[test]
    fn trajectory_without_surface_draws_the_path_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        synthetic_run(dir, 80, 3, 0, false, true);
        render_run(dir, None).unwrap();
        let svg = assert_svg(dir, "trajectory.svg", "parameter trajectory");
        assert!(!svg.contains("level sets"));
        assert!(svg.contains("\nstart\n") && svg.contains("\nend\n"));
    }

    #[test]
    fn header_only_files_do_not_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "rounds.csv", &format!("{ROUNDS_HEADER}\n"));
        write(dir, "workers.csv", "worker,role\n");
        write(dir, "expulsions.csv", "round,worker,role,reason\n");
        write(
            dir,
            "window_distances.csv",
            "round,worker,role,window,distance,threshold\n",
        );
        write(dir, "trajectory.csv", "round,x0,x1\n");
        let written = render_run(dir, Some(&quadratic)).unwrap();
        assert_eq!(written.len(), 7);
        assert_svg(dir, "loss.svg", "no finite loss values");
        assert_svg(
            dir,
            "window_distances.svg",
            "no rows in window_distances.csv",
        );
        assert_svg(dir, "trajectory.svg", "no finite trajectory points");
        assert_svg(dir, "expulsions.svg", "no machines");
        let report = read(dir, "report.html");
        assert!(report.contains("No summary.json"));
        // Without summary.json the directory name stands in for the run name.
        let dir_name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(report.contains(&html_escape(&dir_name)));
    }

    #[test]
    fn single_row_nan_inf_and_constant_values_do_not_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(
            dir,
            "rounds.csv",
            &format!("{ROUNDS_HEADER}\n0,1.5,0,3,1,,0,0\n"),
        );
        write(dir, "trajectory.csv", "round,x0,x1\n0,1,2\n");
        write(
            dir,
            "window_distances.csv",
            "round,worker,role,window,distance,threshold\n0,0,honest,short,0,0\n",
        );
        render_run(dir, Some(&quadratic)).unwrap();
        assert_svg(dir, "loss.svg", "loss per round");

        write(
            dir,
            "rounds.csv",
            &format!(
                "{ROUNDS_HEADER}\n0,NaN,inf,3,1,,0,0\n1,inf,-inf,3,1,NaN,0,0\n2,-inf,NaN,,,inf,,\n\
                 3,2,2,3,1,1,0,0\n4,2,2,3,1,1,0,0\n5,1e300,0,3,1,1,0,0\n"
            ),
        );
        write(
            dir,
            "trajectory.csv",
            "round,x0,x1\n0,NaN,1\n1,inf,2\n2,1e200,-1e200\n3,,\n",
        );
        write(
            dir,
            "window_distances.csv",
            "round,worker,role,window,distance,threshold\n0,0,honest,short,NaN,\n1,1,byzantine,short,inf,1\n1,0,honest,short,0,1\n",
        );
        write(
            dir,
            "summary.json",
            r#"{"name":"deg","status":"diverged","final":{"loss":null,"grad_norm":null}}"#,
        );
        render_run(
            dir,
            Some(&|x: f64, y: f64| if x > 0.0 { f64::NAN } else { x * y }),
        )
        .unwrap();
        let loss = assert_svg(dir, "loss.svg", "3 non-finite values not drawn");
        assert!(loss.contains("clipped"));
        assert_svg(dir, "grad_norm.svg", "values &lt;= 0 drawn at the minimum");
        let report = read(dir, "report.html");
        assert!(report.contains("status bad"));
    }

    #[test]
    fn malformed_loss_names_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(
            dir,
            "rounds.csv",
            &format!("{ROUNDS_HEADER}\n0,1,1,3,1,,0,0\n1,abc,1,3,1,0.5,0,0\n"),
        );
        let err = render_run(dir, None).unwrap_err();
        match &err {
            PlotError::Csv {
                path,
                line,
                message,
            } => {
                assert!(path.ends_with("rounds.csv"));
                assert_eq!(*line, 3);
                assert!(
                    message.contains("loss") && message.contains("abc"),
                    "{message}"
                );
            }
            other => panic!("unexpected error {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("rounds.csv:3:"), "{text}");
        // Nothing was written.
        assert!(!dir.join("loss.svg").exists());
    }

    #[test]
    fn other_malformed_inputs_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let good_rounds = format!("{ROUNDS_HEADER}\n0,1,1,3,1,,0,0\n");
        let cases: [(&str, &str, usize); 6] = [
            ("rounds.csv", "round,loss\n0,1\n", 1),
            ("rounds.csv", "", 1),
            ("rounds.csv", &format!("{ROUNDS_HEADER}\n0,1,1,3\n"), 2),
            (
                "rounds.csv",
                &format!("{ROUNDS_HEADER}\n-1,1,1,3,1,,0,0\n"),
                2,
            ),
            ("workers.csv", "worker,role\n0,honest\n1,evil\n", 3),
            (
                "window_distances.csv",
                "round,worker,role,window,distance,threshold\n0,0,honest,long,x,1\n",
                2,
            ),
        ];
        for (file, text, line) in cases {
            write(dir, "rounds.csv", &good_rounds);
            let _ = fs::remove_file(dir.join("workers.csv"));
            let _ = fs::remove_file(dir.join("window_distances.csv"));
            write(dir, file, text);
            match render_run(dir, None) {
                Err(PlotError::Csv { path, line: l, .. }) => {
                    assert!(path.ends_with(file), "{file}");
                    assert_eq!(l, line, "{file}: {text}");
                }
                other => panic!("{file}: {text}: unexpected {other:?}"),
            }
        }
        let _ = fs::remove_file(dir.join("window_distances.csv"));
        write(dir, "rounds.csv", &good_rounds);
        write(dir, "workers.csv", "worker,role\n0,honest\n");
        write(dir, "summary.json", "{\"name\": ");
        assert!(matches!(render_run(dir, None), Err(PlotError::Json { .. })));
        write(dir, "summary.json", "[1]");
        assert!(matches!(render_run(dir, None), Err(PlotError::Json { .. })));
        fs::remove_file(dir.join("summary.json")).unwrap();
        fs::remove_file(dir.join("rounds.csv")).unwrap();
        assert!(matches!(render_run(dir, None), Err(PlotError::Io { .. })));
    }

    #[test]
    fn columns_are_found_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(
            dir,
            "rounds.csv",
            "faults,test_accuracy,loss,round,grad_norm,good,byzantine_in_good,agg_error,no_reference\r\n\
             0,0.1,2.5,0,1,3,1,,0\r\n0,0.2,2.0,1,0.5,2,0,0.3,0\r\n\r\n",
        );
        render_run(dir, None).unwrap();
        assert_svg(dir, "loss.svg", "loss per round");
    }

    #[test]
    fn large_run_stays_small() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        synthetic_run(dir, 3000, 10, 3, true, true);
        render_run(dir, Some(&quadratic)).unwrap();
        for (name, _) in ALL {
            let len = fs::metadata(dir.join(name)).unwrap().len();
            assert!(len < 2_000_000, "{name}: {len} bytes");
        }
        let report = fs::metadata(dir.join("report.html")).unwrap().len();
        assert!(report < 6_000_000, "report.html: {report} bytes");
        let svg = read(dir, "window_distances.svg");
        assert!(svg.contains("long window (1 round in 3 shown"));
        assert!(svg.contains("short window"));
        let long = svg.find("long window").unwrap();
        let short = svg.find("short window").unwrap();
        assert!(long < short, "long panel first");
    }

    #[test]
    fn window_subsampling_keeps_last_points() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("w.csv");
        let mut s = "round,worker,role,window,distance,threshold\n".to_string();
        for r in 0..2500 {
            let _ = writeln!(s, "{r},0,honest,short,1,2");
            if r <= 1234 {
                let _ = writeln!(s, "{r},1,byzantine,short,{},2", r + 1);
            }
        }
        fs::write(&path, s).unwrap();
        let panels = load_window_distances(&path).unwrap().unwrap();
        assert_eq!(panels.len(), 1);
        let p = &panels[0];
        assert_eq!(p.every, 3);
        let (_, byz) = &p.series[&1];
        assert_eq!(byz.last(), Some(&(1234, 1235.0)));
        let (_, honest) = &p.series[&0];
        assert_eq!(honest.last().map(|x| x.0), Some(2499));
        assert!(honest.len() <= 1001);
        assert!(honest.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let max = i64::MAX;
        write(
            dir,
            "rounds.csv",
            &format!(
                "{ROUNDS_HEADER}\n0,1e-320,1e-320,0,0,,0,0\n1,-1.7e308,1.7e308,1,1,1,0,0\n\
                 {max},1.7e308,5e-324,2,0,1,0,0\n"
            ),
        );
        write(
            dir,
            "workers.csv",
            "worker,role\n0,honest\n18446744073709551615,byzantine\n",
        );
        write(
            dir,
            "expulsions.csv",
            &format!("round,worker,role,reason\n{max},5,honest,\n0,0,honest,x\n"),
        );
        write(
            dir,
            "window_distances.csv",
            &format!(
                "round,worker,role,window,distance,threshold\n0,0,honest,a<b&c,1e-320,1e308\n\
                 {max},1,byzantine,a<b&c,1.7e308,-1\n5,1,byzantine,long,-3,0\n"
            ),
        );
        write(
            dir,
            "trajectory.csv",
            "round,x0,x1\n0,1.7e308,-1.7e308\n1,5e-324,0\n",
        );
        render_run(dir, Some(&|x: f64, y: f64| x * y * 1e300)).unwrap();
        let svg = read(dir, "window_distances.svg");
        assert!(svg.contains("a&lt;b&amp;c window"));
        render_run(dir, Some(&|_: f64, _: f64| f64::INFINITY)).unwrap();
        render_run(dir, Some(&|x: f64, _: f64| x)).unwrap();
    }

    #[test]
    fn contour_of_a_circle_is_one_closed_loop() {
        let n = 40;
        let xs: Vec<f64> = (0..=n).map(|i| -2.0 + 4.0 * i as f64 / n as f64).collect();
        let ys = xs.clone();
        let values: Vec<Vec<f64>> = ys
            .iter()
            .map(|&y| xs.iter().map(|&x| x * x + y * y).collect())
            .collect();
        let lines = contour_lines(&xs, &ys, &values, 1.0);
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        assert!(l.len() > 20);
        assert_eq!(l.first(), l.last(), "closed");
        for &(x, y) in l {
            assert!(((x * x + y * y).sqrt() - 1.0).abs() < 0.02);
        }
        // A level outside the values gives nothing.
        assert!(contour_lines(&xs, &ys, &values, 100.0).is_empty());
    }

    #[test]
    fn helpers() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(0.30000000000000004), "0.3");
        assert_eq!(fmt_num(-2.5), "-2.5");
        assert_eq!(fmt_num(1e-5), "1e-5");
        assert_eq!(fmt_num(123456.0), "1.23e5");
        assert_eq!(fmt_num(100.0), "100");
        assert_eq!(int_fmt(&3.0), "3");
        assert_eq!(log_fmt(&0.5), "3.16");
        assert_eq!(log_fmt(&1.5), "31.6");
        assert_eq!(log_fmt(&-1.5), "0.0316");
        assert_eq!(log_fmt(&2.0), "100");
        assert_eq!(log_fmt(&-4.0), "1e-4");
        assert_eq!(int_fmt(&2.5), "");
        assert_eq!(padded(1.0, 1.0, 0.05), (0.9, 1.1));
        assert_eq!(padded(0.0, 0.0, 0.05), (-1.0, 1.0));
        assert_eq!(padded(f64::NAN, 1.0, 0.05), (0.0, 1.0));
        assert_eq!(round_range([0]), (0, 1));
        assert_eq!(round_range([]), (0, 1));
        let pts: Vec<(i64, f64)> = (0..10_000)
            .map(|i| (i, if i == 5003 { 99.0 } else { 0.0 }))
            .collect();
        let d = decimate(&pts, 2000);
        assert!(d.len() <= 2000);
        assert!(d.contains(&(5003, 99.0)));
        assert_eq!(d.first(), Some(&(0, 0.0)));
        assert_eq!(d.last(), Some(&(9999, 0.0)));
        let e = every_kth(&(0..10).collect::<Vec<_>>(), 4);
        assert_eq!(e, vec![0, 3, 6, 9]);
        assert_eq!(
            strip_xml_prolog("<?xml version=\"1.0\"?>\n<svg/>"),
            "<svg/>"
        );
        assert_eq!(
            html_escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(
            steps(&[(0, 5.0), (1, 5.0), (2, 5.0), (3, 4.0), (4, 4.0)]),
            vec![(0, 5.0), (3, 5.0), (3, 4.0), (4, 4.0)]
        );
    }
}
