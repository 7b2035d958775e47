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

/// Every SVG of the sweep directory parses as XML; the report's links and figures name files
/// that exist, its in-page links name ids that exist, and its ids are unique. Returns the SVG
/// files, sorted.
fn check_figures_and_report(dir: &Path) -> Vec<String> {
    let mut svgs: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg"))
        .collect();
    svgs.sort();
    for f in &svgs {
        let t = text(&dir.join(f));
        if let Err(e) = roxmltree::Document::parse(&t) {
            panic!("{f}: {e}");
        }
    }
    let page = text(&dir.join("report.html"));
    let html = scraper::Html::parse_document(&page);
    let sel = |s: &str| scraper::Selector::parse(s).unwrap();
    let ids: Vec<&str> = html
        .select(&sel("[id]"))
        .filter_map(|e| e.value().attr("id"))
        .collect();
    let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate ids in report.html");
    let mut links = 0;
    for a in html.select(&sel("a[href]")) {
        let href = a.value().attr("href").unwrap();
        match href.strip_prefix('#') {
            Some(id) => assert!(ids.contains(&id), "no element #{id}"),
            None => assert!(dir.join(href).is_file(), "the report links {href}, absent"),
        }
        links += 1;
    }
    assert!(links > 0);
    let mut figures: Vec<String> = html
        .select(&sel("figure[data-file]"))
        .map(|f| {
            assert_eq!(f.select(&sel("svg")).count(), 1);
            assert!(f.select(&sel("figcaption")).next().is_some());
            f.value().attr("data-file").unwrap().to_string()
        })
        .collect();
    figures.sort();
    assert_eq!(
        figures, svgs,
        "the report shows every figure, and only those"
    );
    svgs
}

fn class_of<'a>(n: &roxmltree::Node<'a, '_>) -> &'a str {
    n.attribute("class").unwrap_or("")
}

/// heatmap.svg against comparison.csv (`lines`): one cell per group in row-major order, marked
/// as its seeds ended, its value the mean final loss above the known minimum.
fn check_heatmap(dir: &Path, lines: &[&str]) {
    let svg = text(&dir.join("heatmap.svg"));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let cells: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("g") && class_of(n).starts_with("cell"))
        .map(|n| class_of(&n))
        .collect();
    let groups: Vec<Vec<&str>> = lines
        .iter()
        .filter(|l| l.starts_with("mean,"))
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(cells.len(), groups.len());
    let fstar = summary(&dir.join("cells").join(CELLS[0]))["known_min_loss"]
        .as_f64()
        .unwrap();
    for (class, g) in cells.iter().zip(&groups) {
        let status = g[5];
        if status == "2 diverged" {
            assert!(class.contains("all-diverged"), "{class} {status}");
        } else if status.contains("diverged") {
            assert!(class.contains("some-diverged"), "{class} {status}");
        } else {
            assert!(!class.contains("diverged"), "{class} {status}");
            let shown: f64 = class.split("value-").nth(1).unwrap().parse().unwrap();
            let mean: f64 = g[7].parse().unwrap();
            assert!(
                ((mean - fstar) - shown).abs() <= 1e-12 * shown.abs().max(1e-300) + 1e-15,
                "{class}: {shown} against {}",
                mean - fstar
            );
        }
    }
}

/// An overlay with two curves, each a mean line and a band, drawn up to the last round.
fn check_overlay(dir: &Path, file: &str, last_round: f64) -> String {
    let svg = text(&dir.join(file));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    for i in 0..2 {
        let band = doc
            .descendants()
            .find(|n| class_of(n) == format!("band band-{i}"));
        assert!(
            band.is_some_and(|b| b.has_tag_name("polygon")),
            "{file}: band {i}"
        );
        let line = doc
            .descendants()
            .find(|n| class_of(n) == format!("series mean curve-{i}"))
            .unwrap_or_else(|| panic!("{file}: curve {i}"));
        assert!(line.descendants().any(|n| n.has_tag_name("polyline")));
    }
    // The x axis ends at the last round.
    let ticks: Vec<f64> = doc
        .descendants()
        .filter(|n| class_of(n) == "tick-x")
        .filter_map(|n| n.text()?.replace('\u{2009}', "").parse().ok())
        .collect();
    let top = ticks.iter().copied().fold(0.0, f64::max);
    assert!(top <= last_round && top >= 0.6 * last_round, "{ticks:?}");
    svg
}

/// The output files compared byte for byte between two runs of a sweep.
const COMPARED: [&str; 7] = [
    "comparison.csv",
    "comparison.md",
    "report.html",
    "sweep.json",
    "heatmap.svg",
    "overlay-sign_flip.svg",
    "overlay-zero.svg",
];

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

    // The figures: a heatmap and one overlay per attack, every one in the report.
    assert_eq!(
        check_figures_and_report(&two),
        ["heatmap.svg", "overlay-sign_flip.svg", "overlay-zero.svg"]
    );
    check_heatmap(&two, &lines);
    check_overlay(&two, "overlay-zero.svg", 300.0);

    // The same sweep on one thread: the same outputs, byte for byte.
    let one = tmp.path().join("one");
    assert_code(&sweep(tmp.path(), &file, &one, &["--quiet"]), 0);
    for f in COMPARED {
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
    for f in COMPARED {
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
    for f in &COMPARED[..3] {
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
    for f in COMPARED {
        assert_eq!(text(&cut.join(f)), text(&whole.join(f)), "{f}");
    }

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
    for f in COMPARED {
        assert_eq!(text(&out_dir.join(f)), text(&fresh.join(f)), "{f}");
    }
    // 1500 rounds: the mean diverges under the sign flip with both seeds. The heatmap marks it,
    // the overlay says so and crosses each divergence.
    let csv = text(&fresh.join("comparison.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        csv.contains("mean,mean__sign_flip,mean,sign_flip,,2 diverged,"),
        "{csv}"
    );
    check_figures_and_report(&fresh);
    check_heatmap(&fresh, &lines);
    let svg = check_overlay(&fresh, "overlay-sign_flip.svg", 1500.0);
    assert!(svg.contains("mean (2/2 seeds diverged)"));
    assert_eq!(svg.matches("class=\"diverged\"").count(), 2 * 2);
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

/// The rounds to reach a target, recomputed from a cell's rounds.csv: the first round whose
/// centred `window`-round mean loss is within `gap` of the known minimum.
fn rounds_to_target(run: &Path, gap: f64, window: i64) -> Option<i64> {
    let fstar = summary(run)["known_min_loss"].as_f64().unwrap();
    let rows: Vec<(i64, f64)> = csv_rows(&run.join("rounds.csv"))
        .iter()
        .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
        .collect();
    let last = rows.last().unwrap().0;
    rows.iter().map(|r| r.0).find(|&t| {
        let (a, b) = (t - window / 2, t - window / 2 + window);
        if a < 0 || b - 1 > last {
            return false;
        }
        let w: Vec<f64> = rows
            .iter()
            .filter(|r| r.0 >= a && r.0 < b)
            .map(|r| r.1)
            .collect();
        w.iter().sum::<f64>() / w.len() as f64 <= fstar + gap
    })
}

#[test]
fn a_target_gives_rounds_to_target_and_swept_workers_the_rate_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let v = json!({
        "name": "rate", "seed": 1, "rounds": 300,
        "workers": {"honest": 6, "byzantine": 0},
        "problem": {"kind": "saddle", "dim": 4, "negative_dims": 1},
        "optimizer": {"lr": 0.05, "perturbation": 0.0},
        "aggregator": {"kind": "mean"},
        "attack": {"kind": "zero"},
        "eval_every": 1,
        "target": {"loss_gap": 0.05, "window": 5},
        "sweep": {
            "workers": [{"honest": 6, "byzantine": 0}, {"honest": 5, "byzantine": 1},
                        {"honest": 12, "byzantine": 0}],
            "optimizer.lr+rounds": [[0.05, 300], [0.1, 150]],
            "seed": [1, 2]
        }
    });
    let file = write(tmp.path(), &v);
    let out_dir = tmp.path().join("rate");
    assert_code(
        &sweep(tmp.path(), &file, &out_dir, &["--quiet", "--jobs", "2"]),
        0,
    );
    let csv = text(&out_dir.join("comparison.csv"));
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "row",
            "cell",
            "workers",
            "optimizer.lr+rounds",
            "seed",
            "status",
            "rounds",
            "final_loss",
            "best_loss",
            "expelled_byzantine",
            "expelled_honest",
            "rounds_to_target",
            "target_reached"
        ]
    );
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let mut reached = 0;
    for r in rows.iter().filter(|r| r[0] == "cell") {
        // The zipped key set both fields.
        let s: serde_json::Value = serde_json::from_str(&text(
            &out_dir.join("cells").join(r[1]).join("scenario.json"),
        ))
        .unwrap();
        let (lr, rounds) = (
            s["optimizer"]["lr"].as_f64().unwrap(),
            s["rounds"].as_u64().unwrap(),
        );
        assert_eq!(rounds, if lr == 0.05 { 300 } else { 150 }, "{}", r[1]);
        assert_eq!(r[3], if lr == 0.05 { "lr-0.05" } else { "lr-0.1" });
        let want = rounds_to_target(&out_dir.join("cells").join(r[1]), 0.05, 5);
        assert_eq!(
            r[11],
            want.map(|t| t.to_string()).unwrap_or_default(),
            "{}",
            r[1]
        );
        assert_eq!(r[12], if want.is_some() { "1" } else { "0" });
        reached += usize::from(want.is_some());
    }
    assert!(
        reached >= 6,
        "only {reached} of 12 cells reached the target"
    );
    // Group rows: the mean over the seeds that reached it, and the share that did.
    for r in rows.iter().filter(|r| r[0] == "mean") {
        let cells: Vec<&Vec<&str>> = rows
            .iter()
            .filter(|c| c[0] == "cell" && c[2] == r[2] && c[3] == r[3])
            .collect();
        let got: Vec<f64> = cells.iter().filter_map(|c| c[11].parse().ok()).collect();
        let share = got.len() as f64 / cells.len() as f64;
        assert_eq!(r[12].parse::<f64>().unwrap(), share);
        if !got.is_empty() {
            let mean = got.iter().sum::<f64>() / got.len() as f64;
            assert!((r[11].parse::<f64>().unwrap() - mean).abs() < 1e-9);
        }
    }
    let md = text(&out_dir.join("comparison.md"));
    assert!(md.contains("## rounds to reach the target"), "{md}");
    assert!(md.contains("centred mean has loss − f* ≤ 0.05"), "{md}");
    // The rate figure: one marker per machine setting where some step size reached the target
    // with both seeds.
    let figures = check_figures_and_report(&out_dir);
    assert!(figures.contains(&"rate.svg".to_string()), "{figures:?}");
    let settings = rows
        .iter()
        .filter(|r| r[0] == "mean" && r[12] == "1")
        .map(|r| r[2])
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let svg = text(&out_dir.join("rate.svg"));
    assert!(settings >= 1);
    assert_eq!(svg.matches("class=\"best\"").count(), settings, "{csv}");
    assert!(text(&out_dir.join("report.html")).contains("(α² + 1/m), fitted"));
    // On one thread: the same files, byte for byte.
    let one = tmp.path().join("rate-one");
    assert_code(&sweep(tmp.path(), &file, &one, &["--quiet"]), 0);
    for f in figures
        .iter()
        .map(String::as_str)
        .chain(["comparison.csv", "report.html"])
    {
        assert_eq!(text(&one.join(f)), text(&out_dir.join(f)), "{f}");
    }

    // A zipped value of the wrong length: exit 2, its position named, nothing written.
    let mut bad = v.clone();
    bad["name"] = json!("bad_zip");
    bad["sweep"]["optimizer.lr+rounds"][1] = json!([0.1]);
    let file = write(tmp.path(), &bad);
    let out = sweep(tmp.path(), &file, &tmp.path().join("bad-zip"), &[]);
    assert_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sweep.optimizer.lr+rounds[1]: expected an array of 2 values"),
        "{err}"
    );
    assert!(!tmp.path().join("bad-zip").exists());
}

/// The paper's Table 1 (scenarios/paper_table1.json) and its two companions: their grids, the
/// cells' names and settings, as the README describes them.
#[test]
fn the_paper_table1_files_have_the_grids_the_readme_describes() {
    use safeguard_sim::sweep::Sweep;
    let registry = safeguard_sim::registry::Registry::builtin();
    let load = |name: &str| {
        let path = root().join("scenarios").join(format!("{name}.json"));
        Sweep::load(&path, &registry).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let labels = |s: &Sweep, key: &str| -> Vec<String> {
        let k = s.layout.keys.iter().find(|k| k.path == key).unwrap();
        k.labels.clone()
    };
    let attacks = [
        "none",
        "delayed",
        "label_flip",
        "sign_flip",
        "zero",
        "safeguard_attack",
        "alie-z0.3",
        "alie-z1.5",
        "ipm",
    ];
    let cell = |s: &Sweep, name: &str| -> serde_json::Value {
        let c = s.layout.cells.iter().find(|c| c.name == name);
        let c = c.unwrap_or_else(|| panic!("no cell {name}"));
        serde_json::from_str(&s.layout.cell_json(c)).unwrap()
    };

    let t1 = load("paper_table1");
    assert_eq!(t1.layout.cells.len(), 9 * 9 * 3);
    assert_eq!(t1.scenarios.len(), t1.layout.cells.len());
    assert_eq!(
        labels(&t1, "aggregator"),
        [
            "oracle",
            "mean",
            "geometric_median",
            "median",
            "trimmed_mean",
            "krum",
            "zeno",
            "safeguard-variantsingle",
            "safeguard-window_long300",
        ]
    );
    assert_eq!(labels(&t1, "attack"), attacks);
    assert_eq!(labels(&t1, "seed"), ["seed-1", "seed-2", "seed-3"]);
    assert_eq!(t1.layout.cells[0].name, "oracle__none__seed-1");
    // As the paper: 10 machines of which 4 Byzantine, Krum told f = 4 past its precondition.
    let krum = cell(&t1, "krum__alie-z0.3__seed-2");
    assert_eq!(krum["workers"], json!({"honest": 6, "byzantine": 4}));
    assert_eq!(
        krum["aggregator"],
        json!({"kind": "krum", "f": 4, "unchecked": true})
    );
    assert_eq!(krum["attack"], json!({"kind": "alie", "z": 0.3}));
    assert_eq!(krum["seed"], 2);
    // The delay scaled to the run: a tenth of its rounds (the README says why).
    let delayed = cell(&t1, "mean__delayed__seed-1");
    assert_eq!(delayed["attack"]["delay"].as_u64().unwrap() * 10, 1000);
    assert_eq!(delayed["rounds"], 1000);
    assert_eq!(delayed["problem"]["kind"], "mlp");
    assert_eq!(delayed["problem"]["data"]["kind"], "digits");

    // The second grid: Krum with 3 Byzantine machines, within its precondition.
    let k3 = load("paper_table1_krum3");
    assert_eq!(k3.layout.cells.len(), 3 * 9 * 3);
    assert_eq!(labels(&k3, "aggregator"), ["oracle", "krum", "safeguard"]);
    assert_eq!(labels(&k3, "attack"), attacks);
    let krum = cell(&k3, "krum__ipm__seed-3");
    assert_eq!(krum["workers"], json!({"honest": 7, "byzantine": 3}));
    assert_eq!(krum["aggregator"], json!({"kind": "krum", "f": 3}));

    // The thresholds: 7 calibrations x 9 attacks x 2 variants x 3 seeds.
    let th = load("paper_table1_thresholds");
    assert_eq!(th.layout.cells.len(), 7 * 9 * 2 * 3);
    let calibrations = labels(&th, "aggregator.threshold+aggregator.noise_bound");
    assert_eq!(calibrations.len(), 7);
    assert_eq!(calibrations[0], "threshold-modeoracle_pre_run-factor0.75");
    assert_eq!(calibrations[6], "threshold-modepaper");
    assert_eq!(
        labels(&th, "aggregator.variant+aggregator.window_long"),
        ["variant-single", "variant-double"]
    );
    let paper = cell(&th, "threshold-modepaper__zero__variant-double__seed-1");
    assert_eq!(paper["aggregator"]["threshold"], json!({"mode": "paper"}));
    assert_eq!(paper["aggregator"]["window_long"], 300);
    let single = cell(
        &th,
        "threshold-modeadaptive-factor1.0__zero__variant-single__seed-1",
    );
    assert_eq!(single["aggregator"]["window_long"], serde_json::Value::Null);
    assert_eq!(single["aggregator"]["threshold"]["factor"], 1.0);
}

/// Three cells of the paper's Table 1 on a small budget (one shard of the grid): the oracle,
/// the trimmed mean and the double safeguard under label flipping.
#[test]
fn three_cells_of_the_paper_table1_run_on_a_small_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let text = text(&root().join("scenarios/paper_table1.json"));
    let small = text
        .replace("\"rounds\": 1000", "\"rounds\": 60")
        .replace("\"eval_every\": 50", "\"eval_every\": 20");
    assert_ne!(small, text);
    let file = tmp.path().join("paper_table1.json");
    std::fs::write(&file, small).unwrap();
    // Shard 7 of 108: cells 6, 114 and 222 of the 243.
    let out = sweep(
        tmp.path(),
        &file,
        &tmp.path().join("t1"),
        &["--shard", "7/108"],
    );
    assert_code(&out, 0);
    let cells = tmp.path().join("t1").join("cells");
    let mut names: Vec<String> = std::fs::read_dir(&cells)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "oracle__label_flip__seed-1",
            "safeguard-window_long300__label_flip__seed-1",
            "trimmed_mean__label_flip__seed-1",
        ]
    );
    for n in &names {
        let s = summary(&cells.join(n));
        assert_eq!(s["status"], "completed", "{n}");
        assert_eq!(s["rounds"], 60, "{n}");
        let acc = s["final"]["accuracy"].as_f64().unwrap();
        // Above chance (10 classes) after 60 rounds.
        assert!(acc > 0.3, "{n}: accuracy {acc}");
    }
    let sg = summary(&cells.join(&names[1]));
    assert_eq!(sg["expelled"]["honest"], 0);
    assert!(sg["expelled"]["byzantine"].as_u64().unwrap() >= 1, "{sg}");
}
