//! Interrupted runs: Ctrl-C (SIGINT) stops after the current round and writes consistent
//! outputs with `status: "interrupted"` (exit code 130); a process killed outright leaves only
//! its hidden staging directory, never something at the output path that looks complete.
//!
//! Signals are sent with the `kill` command (the crate has no libc dependency).

mod common;
use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Far more rounds than any test lets run (about an hour in a debug build).
const PLANNED: u64 = 5_000_000;

fn long_scenario(name: &str, eval_every: u64, safeguard: bool) -> serde_json::Value {
    let aggregator = if safeguard {
        json!({"kind": "safeguard", "variant": "double", "window_long": 40, "window_short": 10,
               "threshold": {"mode": "theory"}})
    } else {
        json!({"kind": "mean"})
    };
    json!({
        "name": name, "seed": 2, "rounds": PLANNED,
        "workers": {"honest": 5, "byzantine": 2},
        "problem": {"kind": "quadratic", "dim": 5},
        "optimizer": {"lr": 0.05, "perturbation": 0.1},
        "aggregator": aggregator,
        // Under mean, scale 1 keeps the run converging (5 - 2 honest gradients' worth).
        "attack": {"kind": "sign_flip", "scale": if safeguard { 4.0 } else { 1.0 }},
        "eval_every": eval_every
    })
}

/// A running `safeguard-sim run` process writing to `out`.
struct Running {
    child: Child,
    out: PathBuf,
}

impl Running {
    fn start(dir: &Path, scenario: &serde_json::Value) -> Running {
        let name = scenario["name"].as_str().unwrap();
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, serde_json::to_string_pretty(scenario).unwrap()).unwrap();
        let out = dir.join(format!("out-{name}"));
        let child = bin()
            .current_dir(dir)
            .args([
                "run",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--quiet",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        Running { child, out }
    }

    /// The hidden staging directory next to the output path.
    fn staging(&self) -> PathBuf {
        let name = self.out.file_name().unwrap().to_string_lossy();
        self.out
            .with_file_name(format!(".{name}.partial-{}", self.child.id()))
    }

    /// Wait until the run is well under way: the staging directory exists (the Ctrl-C handler is
    /// installed before it is created) and rounds.csv has been flushed at least once.
    fn wait_until_running(&mut self) {
        let rounds = self.staging().join("rounds.csv");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::fs::metadata(&rounds)
                .map(|m| m.len() > 0)
                .unwrap_or(false)
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the run ended early: {status}");
            }
            assert!(Instant::now() < deadline, "the run did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {signal} failed");
    }

    /// Wait for the process to end (killing it after a minute, so a broken handler fails the test
    /// instead of hanging it); returns its status and stderr.
    fn wait(mut self) -> (ExitStatus, String, PathBuf) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the run did not stop within a minute of the signal");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        use std::io::Read;
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status, stderr, self.out)
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Hidden staging directories left in `dir`.
fn partial_dirs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial-"))
        .collect()
}

/// An interrupted run directory is complete and consistent; returns the rounds run.
fn assert_interrupted_run(run: &Path, eval_every: u64, safeguard: bool) -> u64 {
    let s = summary(run);
    assert_eq!(s["status"], "interrupted", "{s}");
    let rounds = s["rounds"].as_u64().unwrap();
    assert!(rounds > 0 && rounds < PLANNED, "{s}");
    assert!(s["final"]["loss"].as_f64().unwrap().is_finite(), "{s}");

    let mut csv = vec!["rounds.csv", "expulsions.csv", "faults.csv", "workers.csv"];
    if safeguard {
        csv.push("window_distances.csv");
    }
    for f in csv {
        let text = read(&run.join(f));
        assert!(text.ends_with('\n'), "{f} does not end with a newline");
        let columns = text.lines().next().unwrap().split(',').count();
        for (i, line) in text.lines().enumerate() {
            assert_eq!(line.split(',').count(), columns, "{f}:{}: {line}", i + 1);
        }
    }
    // rounds.csv: row 0, one row every eval_every rounds, and a row for the last round run.
    let rows = csv_rows(&run.join("rounds.csv"));
    let expected = 1 + rounds / eval_every + u64::from(!rounds.is_multiple_of(eval_every));
    assert_eq!(
        rows.len() as u64,
        expected,
        "{rounds} rounds, eval_every {eval_every}"
    );
    assert_eq!(rows.last().unwrap()[0], rounds.to_string());
    for (r, next) in rows.iter().zip(rows.iter().skip(1)) {
        assert!(r[0].parse::<u64>().unwrap() < next[0].parse::<u64>().unwrap());
    }
    // The other files stop at the same round.
    for f in ["expulsions.csv", "window_distances.csv"] {
        if let Ok(text) = std::fs::read_to_string(run.join(f)) {
            let last = text
                .lines()
                .skip(1)
                .filter_map(|l| l.split(',').next()?.parse::<u64>().ok())
                .max();
            assert!(last.unwrap_or(0) <= rounds, "{f} goes past round {rounds}");
            if f == "window_distances.csv" {
                assert_eq!(last, Some(rounds), "{f} does not reach round {rounds}");
            }
        }
    }
    // The Byzantine machines were expelled by the safeguard, the honest ones never.
    assert_eq!(s["expelled"]["honest"], 0, "{s}");
    // Plots and report are there and whole.
    let mut svgs = vec![
        "loss.svg",
        "grad_norm.svg",
        "good_machines.svg",
        "expulsions.svg",
    ];
    if safeguard {
        svgs.push("window_distances.svg");
    }
    for f in svgs {
        let text = read(&run.join(f));
        assert!(
            text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
            "{f} is not whole"
        );
    }
    assert!(
        read(&run.join("report.html"))
            .trim_end()
            .ends_with("</html>")
    );
    assert!(read(&run.join("scenario.json")).contains(&format!("\"rounds\": {PLANNED}")));
    rounds
}

#[test]
fn ctrl_c_stops_after_the_current_round_with_consistent_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut running = Running::start(tmp.path(), &long_scenario("sigint", 1, false));
    running.wait_until_running();
    running.signal("-INT");
    let (status, stderr, run) = running.wait();
    assert_eq!(status.code(), Some(130), "{status}; stderr: {stderr}");
    assert_interrupted_run(&run, 1, false);
    assert!(
        partial_dirs(tmp.path()).is_empty(),
        "staging left behind: {:?}",
        partial_dirs(tmp.path())
    );
}

#[test]
fn ctrl_c_with_eval_every_and_safeguard_keeps_the_last_round() {
    let tmp = tempfile::tempdir().unwrap();
    let mut running = Running::start(tmp.path(), &long_scenario("sigint-sg", 7, true));
    running.wait_until_running();
    running.signal("-INT");
    let (status, stderr, run) = running.wait();
    assert_eq!(status.code(), Some(130), "{status}; stderr: {stderr}");
    let rounds = assert_interrupted_run(&run, 7, true);
    let s = summary(&run);
    // 2 sign-flip machines at scale 4 against a window of 10 rounds: expelled early.
    if rounds > 100 {
        assert_eq!(s["expelled"]["byzantine"], 2, "{s}");
    }
    assert!(partial_dirs(tmp.path()).is_empty());
}

#[test]
fn a_killed_run_leaves_nothing_that_looks_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let mut running = Running::start(tmp.path(), &long_scenario("sigkill", 1, false));
    let staging = running.staging();
    running.wait_until_running();
    running.signal("-KILL");
    let (status, _, out) = running.wait();
    assert_eq!(status.code(), None, "killed by a signal: {status}");
    assert!(!out.exists(), "{} exists after SIGKILL", out.display());
    // Only the hidden staging directory, without a summary.
    assert_eq!(
        partial_dirs(tmp.path()),
        vec![staging.file_name().unwrap().to_string_lossy().into_owned()]
    );
    assert!(staging.join("rounds.csv").exists());
    assert!(!staging.join("summary.json").exists());
    assert!(!staging.join("report.html").exists());
}

#[test]
fn a_second_ctrl_c_leaves_at_once_without_a_half_written_run() {
    let tmp = tempfile::tempdir().unwrap();
    let mut running = Running::start(tmp.path(), &long_scenario("sigint-twice", 1, false));
    running.wait_until_running();
    running.signal("-INT");
    running.signal("-INT");
    let (status, stderr, run) = running.wait();
    assert_eq!(status.code(), Some(130), "{status}; stderr: {stderr}");
    if run.exists() {
        // The first Ctrl-C won the race: the run was finished and moved into place whole.
        assert_interrupted_run(&run, 1, false);
    } else {
        // Left at once: only the hidden staging directory.
        assert_eq!(partial_dirs(tmp.path()).len(), 1);
    }
}
