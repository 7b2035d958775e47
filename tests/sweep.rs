//! Sweeps: a grid of runs from one scenario file, run on several threads, resumed after an
//! interruption, or run in shards and merged; the comparison never depends on how.

mod common;
use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// 2 defenses x 2 attacks x 2 seeds on the quickstart's saddle, small enough for a debug build.
fn small_sweep(name: &str, rounds: u64) -> serde_json::Value {
    json!({
        "name": name, "seed": 7, "rounds": rounds,
        "workers": {"honest": 6, "byzantine": 4},
        "problem": {"kind": "saddle", "dim": 10, "negative_dims": 2},
        "optimizer": {"lr": 0.02, "perturbation": 0.1},
        "aggregator": {"kind": "mean"},
        "eval_every": 5,
        "sweep": {
            "aggregator": [
                {"kind": "mean"},
                {"kind": "safeguard", "window_long": 120, "window_short": 20,
                 "threshold": {"mode": "calibrate", "factor": 1.5}}
            ],
            "attack": [{"kind": "sign_flip", "scale": 4.0}, {"kind": "zero"}],
            "seed": [1, 2]
        }
    })
}

fn write(dir: &Path, v: &serde_json::Value) -> PathBuf {
    let file = dir.join(format!("{}.json", v["name"].as_str().unwrap()));
    std::fs::write(&file, serde_json::to_string_pretty(v).unwrap()).unwrap();
    file
}

fn sweep(dir: &Path, file: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

fn text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const CELLS: [&str; 8] = [
    "mean__sign_flip__seed-1",
    "mean__sign_flip__seed-2",
    "mean__zero__seed-1",
    "mean__zero__seed-2",
    "safeguard__sign_flip__seed-1",
    "safeguard__sign_flip__seed-2",
    "safeguard__zero__seed-1",
    "safeguard__zero__seed-2",
];

#[test]
fn a_small_sweep_writes_every_output_whatever_the_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), &small_sweep("grid", 300));
    let out = run_in(tmp.path(), &["validate", file.to_str().unwrap()]);
    assert_code(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("grid: ok (a sweep of 8 cells)"));

    let two = tmp.path().join("two");
    let out = sweep(tmp.path(), &file, &two, &["--jobs", "2"]);
    assert_code(&out, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("8 of 8 cells run now"), "{err}");

    // Every cell is an ordinary run directory with its scenario named after the cell.
    let mut cells: Vec<String> = std::fs::read_dir(two.join("cells"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    cells.sort();
    assert_eq!(cells, CELLS);
    for c in CELLS {
        let run = two.join("cells").join(c);
        for f in [
            "scenario.json",
            "rounds.csv",
            "summary.json",
            "loss.svg",
            "report.html",
        ] {
            assert!(run.join(f).exists(), "{c}/{f}");
        }
        let s: serde_json::Value = serde_json::from_str(&text(&run.join("scenario.json"))).unwrap();
        assert_eq!(s["name"], c);
        assert!(s.get("sweep").is_none());
    }
    let s: serde_json::Value = serde_json::from_str(&text(
        &two.join("cells/safeguard__zero__seed-2/scenario.json"),
    ))
    .unwrap();
    assert_eq!(
        (s["seed"].clone(), s["attack"]["kind"].clone()),
        (json!(2), json!("zero"))
    );

    // comparison.csv: 8 cell rows, then a mean and a std row per group of seeds.
    let csv = text(&two.join("comparison.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "row,cell,aggregator,attack,seed,status,rounds,final_loss,best_loss,expelled_byzantine,expelled_honest"
    );
    assert_eq!(lines.len(), 1 + 8 + 4 * 2);
    assert!(lines[1].starts_with("cell,mean__sign_flip__seed-1,mean,sign_flip,seed-1,"));
    assert!(lines[9].starts_with("mean,mean__sign_flip,mean,sign_flip,,"));
    assert!(lines[10].starts_with("std,mean__sign_flip,mean,sign_flip,,"));
    // The groups' means are the means of their cells.
    let field = |line: &str, k: usize| -> f64 { line.split(',').nth(k).unwrap().parse().unwrap() };
    let (a, b) = (field(lines[7], 7), field(lines[8], 7));
    let mean_line = lines
        .iter()
        .find(|l| l.starts_with("mean,safeguard__zero,"))
        .unwrap();
    assert!((field(mean_line, 7) - (a + b) / 2.0).abs() < 1e-12);
    // The safeguard expels the four sign flippers (the zero attack takes longer to catch).
    for l in &lines[5..7] {
        assert_eq!(l.split(',').nth(9), Some("4"), "{l}");
    }

    // comparison.md: defenses as rows, attacks as columns.
    let md = text(&two.join("comparison.md"));
    assert!(
        md.contains("## final loss\n\n| aggregator | sign_flip | zero |"),
        "{md}"
    );
    assert!(md.contains("| safeguard | "), "{md}");
    let html = text(&two.join("report.html"));
    for c in CELLS {
        assert!(
            html.contains(&format!("href=\"cells/{c}/report.html\"")),
            "{c}"
        );
    }
    assert!(html.contains("href=\"comparison.csv\""));

    // The same sweep on one thread: the same comparison, byte for byte.
    let one = tmp.path().join("one");
    assert_code(&sweep(tmp.path(), &file, &one, &["--quiet"]), 0);
    for f in [
        "comparison.csv",
        "comparison.md",
        "report.html",
        "sweep.json",
    ] {
        assert_eq!(text(&one.join(f)), text(&two.join(f)), "{f}");
    }
    // Refused without --force; --force replaces the earlier sweep.
    assert_code(&sweep(tmp.path(), &file, &one, &["--quiet"]), 2);
    assert_code(&sweep(tmp.path(), &file, &one, &["--quiet", "--force"]), 0);
}

#[test]
fn shards_merged_give_the_unsharded_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), &small_sweep("sharded", 200));
    let whole = tmp.path().join("whole");
    assert_code(
        &sweep(tmp.path(), &file, &whole, &["--quiet", "--jobs", "2"]),
        0,
    );
    let mut parts = Vec::new();
    for k in 1..=3 {
        let part = tmp.path().join(format!("part{k}"));
        let out = sweep(tmp.path(), &file, &part, &["--shard", &format!("{k}/3")]);
        assert_code(&out, 0);
        assert!(String::from_utf8_lossy(&out.stderr).contains("this shard is complete"));
        // A shard runs the cells whose grid index is k-1 modulo 3, and compares nothing.
        let n = std::fs::read_dir(part.join("cells")).unwrap().count();
        assert_eq!(n, [3, 3, 2][k - 1]);
        assert!(!part.join("comparison.csv").exists());
        parts.push(part);
    }
    let merged = tmp.path().join("merged");
    let mut args = vec!["merge"];
    args.extend(parts.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", merged.to_str().unwrap()]);
    let out = run_in(tmp.path(), &args);
    assert_code(&out, 0);
    for f in [
        "comparison.csv",
        "comparison.md",
        "report.html",
        "sweep.json",
    ] {
        assert_eq!(text(&merged.join(f)), text(&whole.join(f)), "{f}");
    }
    for c in CELLS {
        assert_eq!(
            text(&merged.join("cells").join(c).join("rounds.csv")),
            text(&whole.join("cells").join(c).join("rounds.csv"))
        );
    }
    // Two shards of three are not the whole sweep: exit 2, naming a missing cell.
    let out = run_in(
        tmp.path(),
        &[
            "merge",
            parts[0].to_str().unwrap(),
            parts[1].to_str().unwrap(),
            "--out",
            tmp.path().join("half").to_str().unwrap(),
        ],
    );
    assert_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("complete in none of the directories"));
    assert!(!tmp.path().join("half").exists());
    // Not a sweep directory: exit 2.
    let out = run_in(
        tmp.path(),
        &[
            "merge",
            tmp.path().to_str().unwrap(),
            "--out",
            tmp.path().join("x").to_str().unwrap(),
        ],
    );
    assert_code(&out, 2);
}

#[test]
fn resume_runs_only_what_is_missing_and_ends_with_the_same_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), &small_sweep("resumed", 200));
    let whole = tmp.path().join("whole");
    assert_code(
        &sweep(tmp.path(), &file, &whole, &["--quiet", "--jobs", "2"]),
        0,
    );
    let reference = text(&whole.join("comparison.csv"));

    // An interruption leaves some cells missing, one interrupted, and no comparison.
    let cut = tmp.path().join("cut");
    assert_code(&sweep(tmp.path(), &file, &cut, &["--quiet"]), 0);
    for c in [CELLS[1], CELLS[6]] {
        std::fs::remove_dir_all(cut.join("cells").join(c)).unwrap();
    }
    let summary = cut.join("cells").join(CELLS[4]).join("summary.json");
    std::fs::write(
        &summary,
        text(&summary).replace("\"status\": \"completed\"", "\"status\": \"interrupted\""),
    )
    .unwrap();
    for f in ["comparison.csv", "comparison.md", "report.html"] {
        std::fs::remove_file(cut.join(f)).unwrap();
    }
    // Without --resume the directory is refused; with it, three cells run again.
    assert_code(&sweep(tmp.path(), &file, &cut, &[]), 2);
    let out = sweep(tmp.path(), &file, &cut, &["--resume"]);
    assert_code(&out, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("3 of 8 cells run now, 5 complete already"),
        "{err}"
    );
    assert_eq!(text(&cut.join("comparison.csv")), reference);

    // --resume of a different sweep into that directory is refused.
    let mut other = small_sweep("resumed", 200);
    other["rounds"] = json!(150);
    let other_file = write(tmp.path(), &other);
    let out = sweep(tmp.path(), &other_file, &cut, &["--resume"]);
    assert_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("different sweep"));
}

#[test]
fn ctrl_c_stops_a_sweep_and_resume_finishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write(tmp.path(), &small_sweep("stopped", 1500));
    let out_dir = tmp.path().join("stopped");
    let mut child = bin()
        .current_dir(tmp.path())
        .args([
            "run",
            file.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first cell is under way (its staging directory exists), then Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(120);
    let cells = out_dir.join("cells");
    while std::fs::read_dir(&cells).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "the sweep did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = child.wait().unwrap().code();
    // Interrupted (130), unless the whole sweep beat the signal (0).
    assert!(matches!(code, Some(130) | Some(0)), "{code:?}");
    if code == Some(130) {
        assert!(!out_dir.join("comparison.csv").exists());
    }
    let out = sweep(tmp.path(), &file, &out_dir, &["--resume", "--quiet"]);
    assert_code(&out, 0);
    let fresh = tmp.path().join("fresh");
    assert_code(
        &sweep(tmp.path(), &file, &fresh, &["--quiet", "--jobs", "2"]),
        0,
    );
    assert_eq!(
        text(&out_dir.join("comparison.csv")),
        text(&fresh.join("comparison.csv"))
    );
}

#[test]
fn sweep_options_and_bad_sweep_blocks_are_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    // --jobs, --resume and --shard need a sweep.
    let out = run_in(&root(), &["run", "scenarios/quickstart.json", "--resume"]);
    assert_code(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("apply to sweeps"));
    let out = run_in(
        &root(),
        &["run", "scenarios/quickstart.json", "--shard", "3/2"],
    );
    assert_code(&out, 2);
    // A bad value in the sweep block: its position in the file, the cell named, nothing written.
    let mut bad = small_sweep("bad", 100);
    bad["sweep"]["seed"] = json!([1, "two"]);
    let file = write(tmp.path(), &bad);
    let out = sweep(tmp.path(), &file, &tmp.path().join("bad-out"), &[]);
    assert_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.json:")
            && err.contains("sweep.seed[1]: in cell mean__sign_flip__seed-two"),
        "{err}"
    );
    assert!(!tmp.path().join("bad-out").exists());
}
