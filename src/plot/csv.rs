//! Reading the simulator's CSV files: plain comma splitting (fields never contain commas; an
//! empty field means "no value"), columns found by header name, and every error naming the file
//! and the 1-based line.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::PlotError;
use super::data::Role;

/// A `PlotError::Io` for `path`.
pub(crate) fn io_err(path: &Path, source: io::Error) -> PlotError {
    PlotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A `PlotError::Csv` for `path` at `line`.
pub(crate) fn csv_err(path: &Path, line: usize, message: impl Into<String>) -> PlotError {
    PlotError::Csv {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// A streaming reader for the simulator's simple CSV files.
pub(crate) struct CsvReader {
    path: PathBuf,
    reader: BufReader<File>,
    line_no: usize,
    n_fields: usize,
    /// Every column name of the header.
    header: Vec<String>,
    /// Names of the columns the caller asked for.
    names: Vec<String>,
    /// Position of each asked-for column in a row.
    cols: Vec<usize>,
    buf: String,
}

/// One data row; `k` in the accessors indexes the caller's list of required columns.
pub(crate) struct Row<'a> {
    path: &'a Path,
    line: usize,
    fields: Vec<&'a str>,
    names: &'a [String],
    cols: &'a [usize],
}

impl CsvReader {
    /// Open `path`; `Ok(None)` when it does not exist. Checks that the header has every column
    /// of `required`.
    pub(crate) fn open(path: &Path, required: &[&str]) -> Result<Option<Self>, PlotError> {
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
            header: Vec::new(),
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
        r.header = header;
        Ok(Some(r))
    }

    /// Every column name of the header, in order.
    pub(crate) fn header(&self) -> &[String] {
        &self.header
    }

    /// Ask for column `name` too when the header has it: `Some(k)`, the index for the row
    /// accessors (after the required columns and those asked for before); `None` when absent.
    pub(crate) fn optional(&mut self, name: &str) -> Option<usize> {
        let i = self.header.iter().position(|h| h == name)?;
        self.names.push(name.to_string());
        self.cols.push(i);
        Some(self.cols.len() - 1)
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
    pub(crate) fn next_row(&mut self) -> Result<Option<Row<'_>>, PlotError> {
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
    pub(crate) fn name(&self, k: usize) -> &str {
        self.names.get(k).map_or("?", String::as_str)
    }

    pub(crate) fn raw(&self, k: usize) -> &str {
        self.cols
            .get(k)
            .and_then(|&c| self.fields.get(c))
            .copied()
            .unwrap_or("")
    }

    pub(crate) fn err(&self, message: impl Into<String>) -> PlotError {
        csv_err(self.path, self.line, message)
    }

    pub(crate) fn opt_f64(&self, k: usize) -> Result<Option<f64>, PlotError> {
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

    pub(crate) fn opt_u64(&self, k: usize) -> Result<Option<u64>, PlotError> {
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

    pub(crate) fn req_u64(&self, k: usize) -> Result<u64, PlotError> {
        self.opt_u64(k)?
            .ok_or_else(|| self.err(format!("column `{}` is empty", self.name(k))))
    }

    /// A round number (a non-negative integer that fits an `i64`).
    pub(crate) fn req_round(&self, k: usize) -> Result<i64, PlotError> {
        let v = self.req_u64(k)?;
        i64::try_from(v)
            .map_err(|_| self.err(format!("column `{}`: {v} is too large", self.name(k))))
    }

    pub(crate) fn req_worker(&self, k: usize) -> Result<usize, PlotError> {
        let v = self.req_u64(k)?;
        usize::try_from(v)
            .map_err(|_| self.err(format!("column `{}`: {v} is too large", self.name(k))))
    }

    pub(crate) fn req_role(&self, k: usize) -> Result<Role, PlotError> {
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
