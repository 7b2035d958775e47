//! Helpers shared by the end-to-end tests: run the built binary, read its outputs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_safeguard-sim"))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run `safeguard-sim args...` in `cwd`.
pub fn run_in(cwd: &Path, args: &[&str]) -> Output {
    bin()
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Run a scenario given as JSON text into `dir/out`; returns (output, run directory).
pub fn run_json(dir: &Path, json: &serde_json::Value, extra: &[&str]) -> (Output, PathBuf) {
    let file = dir.join(format!("{}.json", json["name"].as_str().unwrap_or("s")));
    std::fs::write(&file, serde_json::to_string_pretty(json).unwrap()).unwrap();
    let out = dir.join(format!("out-{}", json["name"].as_str().unwrap_or("s")));
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    (run_in(dir, &args), out)
}

/// Parse summary.json of a run directory.
pub fn summary(run: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary.json parses")
}

/// The quickstart scenario as JSON.
pub fn quickstart() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("scenarios/quickstart.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("$schema");
    v
}

/// Data rows of a CSV file (header dropped), split on commas.
pub fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// Assert a process exited with `code`, showing its stderr otherwise.
pub fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An observer that keeps every round's event (for tests through the library).
#[derive(Default)]
pub struct Capture(pub Vec<safeguard_sim::actors::RoundEvent>);

impl safeguard_sim::record::Observer for Capture {
    fn round(
        &mut self,
        e: &safeguard_sim::actors::RoundEvent,
    ) -> Result<(), safeguard_sim::error::Error> {
        self.0.push(e.clone());
        Ok(())
    }
}
