//! Figures (SVG) and reports (HTML) of runs, redrawn from the files of run directories.
//!
//! - [`render_run`] draws every figure of one run directory and its `report.html`;
//! - [`compare_runs`] overlays several runs (`safeguard-sim compare`);
//! - [`TrajectoryRecorder`] is the observer that, during a run, records the trajectory's plane
//!   and the loss surface on it (the only figure input that needs the problem).
//!
//! Drawing reads only the files of the directory (rounds.csv, expulsions.csv, faults.csv,
//! workers.csv, window_distances.csv, trajectory.csv, surface.csv, trajectory.json,
//! summary.json, and scenario.json as plain JSON), never the problem or the scenario's kinds:
//! runs made with user-defined kinds redraw the same. Everything is deterministic (same files,
//! byte-identical figures), every file is written whole or not at all, and a damaged input is
//! a [`PlotError`] naming the file and line before anything is written.
//!
//! The rooms: chart primitives ([`svg`], [`palette`], [`scale`], [`format`](mod@format), [`downsample`],
//! `chart`, `legend`), one file per figure family (`curves`, `metrics`, `timeline`, `windows`,
//! `trajectory` with [`plane`], `surface`, `contour` and `eigen`; for sweeps [`heatmap`],
//! [`overlay`] and [`rate`]), the reports (`report`, `compare`, sharing `html`; the sweep's
//! report is in `crate::sweep::report`).

use std::io;
use std::path::{Path, PathBuf};

mod chart;
mod compare;
mod contour;
mod csv;
mod curves;
mod data;
pub mod downsample;
mod eigen;
pub mod format;
pub mod heatmap;
pub(crate) mod html;
mod legend;
mod metrics;
pub mod overlay;
pub mod palette;
pub mod plane;
pub mod rate;
mod report;
pub mod scale;
mod surface;
pub mod svg;
mod timeline;
mod trajectory;
mod windows;

pub use compare::compare_runs;
pub use plane::TrajectoryRecorder;
pub use report::render_run;

/// Errors from reading run files or writing figures.
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
    /// A JSON file of the run is not valid JSON or not a JSON object.
    #[error("{}: {message}", path.display())]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// What is wrong (with line and column when known).
        message: String,
    },
    /// The path is not a run directory.
    #[error("{}: {reason}", path.display())]
    NotARun {
        /// The path given.
        path: PathBuf,
        /// Why it is not a run directory.
        reason: String,
    },
    /// The output directory of a comparison cannot be written as asked.
    #[error("{}: {reason}", path.display())]
    Output {
        /// The output directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl PlotError {
    /// True when the error is the user's input (a damaged or missing run file, a path that is
    /// not a run, an output that exists): the CLI exits with code 2. False for I/O failures.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, PlotError::Io { .. })
    }
}

/// Write `bytes` to `path` atomically: `<name>.tmp` in the same directory, then rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    use std::io::Write as _;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let result = (|| -> io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(csv::io_err(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        csv::io_err(path, e)
    })
}

#[cfg(test)]
mod tests;
