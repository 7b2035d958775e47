//! The library's error types (one `thiserror` enum; `anyhow` lives only in the binary).

use std::path::PathBuf;

/// A bad scenario: one message naming the field path and line:column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{source_name}:{line}:{column}: {}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct ScenarioError {
    /// The file (or label) the scenario came from.
    pub source_name: String,
    /// Dotted field path, e.g. `aggregator.threshold.long`; empty for the whole document.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, and what would be right.
    pub message: String,
}

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario is malformed or invalid (exit code 2).
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A file could not be read or written.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (part of the message, not a separate `source`, so it is printed once).
        cause: std::io::Error,
    },
    /// The output directory exists already (use `--force`).
    #[error("{0} exists already: choose another --out or pass --force to replace it")]
    OutputExists(PathBuf),
    /// The output path is not one `--force` may replace.
    #[error("refusing to write {}: {}", .0.display(), .1)]
    UnsafeOutput(PathBuf, String),
    /// The path given as a run directory is not one.
    #[error("{}: not a run directory", .0.display())]
    NotARun(PathBuf),
    /// Drawing the plots failed.
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
    /// The command line's options do not fit together.
    #[error("{0}")]
    Usage(String),
    /// A kind could not be built from valid parameters (e.g. a data set failed to load).
    #[error("cannot build {0}")]
    Build(String),
    /// The actor system failed (a coordinator mailbox closed, or a runtime error).
    #[error("simulation failed: {0}")]
    Runtime(String),
    /// A command's input other than a scenario is bad (exit code 2): the message names it.
    #[error("{0}")]
    Input(String),
    /// Bad input to `safeguard-sim aggregate` (exit code 2): a bad rule object, unusable vectors,
    /// or an aggregate that overflows.
    #[error(transparent)]
    Aggregate(#[from] crate::aggregate::AggregateInputError),
}

impl Error {
    /// The process exit code for this error: 2 for bad input (a bad scenario, an output path
    /// that may not be written, a damaged run directory), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Scenario(_)
            | Error::Aggregate(_)
            | Error::OutputExists(_)
            | Error::UnsafeOutput(..)
            | Error::NotARun(_)
            | Error::Usage(_)
            | Error::Input(_) => 2,
            Error::Plot(e) if e.is_bad_input() => 2,
            _ => 1,
        }
    }

    /// Wrap an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }
}
