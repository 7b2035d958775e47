//! Figures and reports as a reader sees them: every SVG parsed as XML and every report.html as
//! HTML (with parser crates), numbers read back from the drawn axes, not from string matching.
//!
//! Every shipped scenario is run once and shared by the tests below: the built-in ones by the
//! built binary, the ones naming the examples' kinds through the examples' own registries
//! (compiled in with `#[path]`), and the sweep with its cells.

mod common;
use common::*;

#[allow(dead_code)]
#[path = "../examples/custom_adversary.rs"]
mod custom_adversary;
#[allow(dead_code)]
#[path = "../examples/custom_defense.rs"]
mod custom_defense;

use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// Reading figures back
// ---------------------------------------------------------------------------------------------

/// A tick label as a number: `200 000`, `−0.5`, `10⁻³`, `2×10⁵`.
fn label_value(s: &str) -> f64 {
    let s: String = s
        .chars()
        .filter(|c| *c != '\u{2009}')
        .map(|c| if c == '−' { '-' } else { c })
        .collect();
    let sup = |t: &str| -> i32 {
        let digits: String = t
            .chars()
            .map(|c| match c {
                '⁻' => '-',
                '⁰' => '0',
                '¹' => '1',
                '²' => '2',
                '³' => '3',
                '⁴' => '4',
                '⁵' => '5',
                '⁶' => '6',
                '⁷' => '7',
                '⁸' => '8',
                '⁹' => '9',
                c => c,
            })
            .collect();
        digits.parse().unwrap_or_else(|_| panic!("exponent {t}"))
    };
    if let Some((m, e)) = s.split_once("×10") {
        return m.parse::<f64>().unwrap() * 10f64.powi(sup(e));
    }
    if let Some(rest) = s
        .strip_prefix("-10")
        .filter(|r| !r.is_empty() && !r.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
    {
        return -10f64.powi(sup(rest));
    }
    if let Some(rest) = s
        .strip_prefix("10")
        .filter(|r| !r.is_empty() && !r.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
    {
        return 10f64.powi(sup(rest));
    }
    s.parse().unwrap_or_else(|_| panic!("tick label {s}"))
}

fn has_class(n: &roxmltree::Node, class: &str) -> bool {
    n.attribute("class") == Some(class)
}

/// The first group whose class is exactly `class`, under `root`.
fn group<'a, 'i>(root: roxmltree::Node<'a, 'i>, class: &str) -> roxmltree::Node<'a, 'i> {
    root.descendants()
        .find(|n| n.has_tag_name("g") && has_class(n, class))
        .unwrap_or_else(|| panic!("no group `{class}`"))
}

fn num(n: &roxmltree::Node, attr: &str) -> f64 {
    n.attribute(attr).unwrap().parse().unwrap()
}

/// (pixel, value) of the tick labels of class `class` under `panel`, by x or y.
fn ticks(panel: roxmltree::Node, class: &str, by_x: bool) -> Vec<(f64, f64)> {
    panel
        .descendants()
        .filter(|n| n.has_tag_name("text") && has_class(n, class))
        .map(|n| {
            let px = num(&n, if by_x { "x" } else { "y" });
            (px, label_value(n.text().unwrap_or("")))
        })
        .collect()
}

/// A linear map pixel -> value through the first and last ticks (`log`: in log10 of the value).
fn axis_map(t: &[(f64, f64)], log: bool) -> impl Fn(f64) -> f64 + use<> {
    assert!(t.len() >= 2, "need two ticks: {t:?}");
    let f = |v: f64| if log { v.log10() } else { v };
    let (p0, v0) = (t[0].0, f(t[0].1));
    let (p1, v1) = (t[t.len() - 1].0, f(t[t.len() - 1].1));
    move |p: f64| {
        let v = v0 + (p - p0) * (v1 - v0) / (p1 - p0);
        if log { 10f64.powf(v) } else { v }
    }
}

/// The points of every polyline (and `M`/`L` path) under a group of class `class` in `panel`.
fn series_points(panel: roxmltree::Node, class: &str) -> Vec<(f64, f64)> {
    let number = |t: &str| t.parse::<f64>().unwrap();
    group(panel, class)
        .descendants()
        .flat_map(|n| {
            if n.has_tag_name("polyline") {
                n.attribute("points")
                    .unwrap()
                    .split(' ')
                    .map(|p| {
                        let (x, y) = p.split_once(',').unwrap();
                        (number(x), number(y))
                    })
                    .collect::<Vec<_>>()
            } else if n.has_tag_name("path") {
                let d = n.attribute("d").unwrap().replace(['M', 'L'], "");
                let v: Vec<f64> = d.split_whitespace().map(number).collect();
                v.chunks(2).map(|c| (c[0], c[1])).collect()
            } else {
                Vec::new()
            }
        })
        .collect()
}

fn parse_svg(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not XML: {e}", path.display()));
    assert!(doc.root_element().has_tag_name("svg"), "{}", path.display());
    assert!(!text.contains("NaN"), "{}", path.display());
    text
}

/// report.html parses as HTML, and every figure it names is a file of `dir` drawn inline with a
/// caption; every SVG of `dir` is one of them. Returns the figure files.
fn check_report(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let html = scraper::Html::parse_document(&text);
    assert!(
        html.errors.is_empty(),
        "{}: {:?}",
        dir.display(),
        html.errors
    );
    let figure = scraper::Selector::parse("figure[data-file]").unwrap();
    let svg = scraper::Selector::parse("svg").unwrap();
    let caption = scraper::Selector::parse("figcaption").unwrap();
    let mut named = Vec::new();
    for f in html.select(&figure) {
        let file = f.value().attr("data-file").unwrap().to_string();
        assert!(
            dir.join(&file).is_file(),
            "{}: {file} named but missing",
            dir.display()
        );
        assert_eq!(
            f.select(&svg).count(),
            1,
            "{file} is not drawn in the report"
        );
        let cap: String = f.select(&caption).flat_map(|c| c.text()).collect();
        assert!(
            cap.len() > 40 && cap.contains(&file),
            "{file}: caption `{cap}`"
        );
        named.push(file);
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg"))
        .collect();
    on_disk.sort();
    let mut sorted = named.clone();
    sorted.sort();
    assert_eq!(sorted, on_disk, "{}: figures in the report", dir.display());
    named
}

// ---------------------------------------------------------------------------------------------
// The shipped scenarios, run once
// ---------------------------------------------------------------------------------------------

/// Every shipped scenario file's name, without `.json`.
fn scenario_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The shipped scenarios the built-in binary runs: all but the sweeps and those naming the
/// examples' kinds. Of the sweeps, `SWEEP` is run whole; the others (hundreds of cells, such as
/// rate_scaling) are too long for a debug build, and tests/sweep.rs runs their features at a
/// small scale.
fn builtin_scenarios() -> Vec<String> {
    let examples: Vec<&str> = with_examples().iter().map(|(n, _)| *n).collect();
    let is_sweep = |n: &str| {
        let text = std::fs::read_to_string(root().join("scenarios").join(format!("{n}.json")))
            .unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v.get("sweep").is_some())
    };
    scenario_names()
        .into_iter()
        .filter(|n| !is_sweep(n) && !examples.contains(&n.as_str()))
        .collect()
}

/// The shipped scenarios that name the examples' kinds, with the example that registers them.
fn with_examples() -> Vec<(&'static str, safeguard_sim::registry::Registry)> {
    vec![
        ("custom_adversary", custom_adversary::registry()),
        ("custom_adversary_mean", custom_adversary::registry()),
        ("custom_defense", custom_defense::registry()),
    ]
}

/// Shipped scenarios made to be timed (a thousand machines, hundreds of rounds): run here on
/// fewer rounds, which still exercise every feature (the windows fill, the Byzantine machines
/// are expelled, every figure is drawn); `cargo bench --bench system` runs them whole.
const SHORTENED: [(&str, u64); 2] = [("scale_1000", 10), ("scale_1000_mean", 10)];

/// The file to run for shipped scenario `name`: the shipped file, or for the [`SHORTENED`] ones
/// a copy in `dir` with fewer rounds.
fn shortened(dir: &Path, name: &str) -> PathBuf {
    let path = root().join("scenarios").join(format!("{name}.json"));
    let Some((_, rounds)) = SHORTENED.iter().find(|(n, _)| *n == name) else {
        return path;
    };
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("$schema");
    v["rounds"] = serde_json::json!(rounds);
    let copy = dir.join(format!("{name}.short.json"));
    std::fs::write(&copy, v.to_string()).unwrap();
    copy
}

/// The shipped sweep (its cells are run directories too).
const SWEEP: &str = "sweep_small";

/// The other shipped sweeps, too long for a debug build: tests/sweep.rs runs their features
/// (rate_scaling: a target, zipped keys, swept workers, the rate figure) on small grids and a
/// few cells of the paper's Table 1 on a small budget, and `validate` checks them below.
const OTHER_SWEEPS: [&str; 4] = [
    "paper_table1",
    "paper_table1_krum3",
    "paper_table1_thresholds",
    "rate_scaling",
];

/// Every run directory made from the shipped scenarios: one per scenario, one per cell of the
/// sweep, and the comparison of the quickstart with its mean and oracle twins.
fn shipped_runs() -> Vec<PathBuf> {
    let dir = shipped();
    let mut runs: Vec<PathBuf> = builtin_scenarios()
        .iter()
        .map(String::as_str)
        .chain(with_examples().iter().map(|(n, _)| *n))
        .map(|n| dir.join(n))
        .collect();
    let mut cells: Vec<PathBuf> = std::fs::read_dir(dir.join(SWEEP).join("cells"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cells.sort();
    assert_eq!(cells.len(), 8, "the sweep's cells");
    runs.extend(cells);
    runs
}

/// The directory holding a run of every shipped scenario, and a comparison of the quickstart
/// with its mean and oracle twins (`compare`).
fn shipped() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        // Directories left by earlier test processes that are gone (where /proc tells).
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("plots-")
                    && Path::new("/proc/self").exists()
                    && !Path::new("/proc").join(pid).exists()
                {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = tmp.join(format!("plots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // The built-in scenarios, three at a time.
        let queue = std::sync::Arc::new(std::sync::Mutex::new(builtin_scenarios()));
        let mut handles: Vec<_> = (0..3)
            .map(|_| {
                let (dir, queue) = (dir.clone(), queue.clone());
                std::thread::spawn(move || {
                    while let Some(name) = queue.lock().unwrap().pop() {
                        let scenario = shortened(&dir, &name);
                        let out = run_in(
                            &dir,
                            &["run", scenario.to_str().unwrap(), "--out", &name, "--quiet"],
                        );
                        assert_code(&out, 0);
                    }
                })
            })
            .collect();
        handles.push({
            let dir = dir.clone();
            std::thread::spawn(move || {
                let scenario = root().join("scenarios").join(format!("{SWEEP}.json"));
                let out = run_in(
                    &dir,
                    &[
                        "run",
                        scenario.to_str().unwrap(),
                        "--out",
                        SWEEP,
                        "--quiet",
                        "--jobs",
                        "2",
                    ],
                );
                assert_code(&out, 0);
            })
        });
        for h in handles {
            h.join().unwrap();
        }
        for (name, registry) in with_examples() {
            let config = safeguard_sim::run::RunConfig {
                out: Some(dir.join(name)),
                quiet: true,
                ..Default::default()
            };
            let path = root().join("scenarios").join(format!("{name}.json"));
            safeguard_sim::run::run_file(&registry, &path, &config).unwrap();
        }
        let out = run_in(
            &dir,
            &[
                "compare",
                "quickstart",
                "mean_sign_flip",
                "oracle_sign_flip",
                "--out",
                "compare",
            ],
        );
        assert_code(&out, 0);
        dir
    })
}

#[test]
fn the_tests_below_cover_every_shipped_scenario() {
    let mut covered: Vec<String> = builtin_scenarios()
        .into_iter()
        .chain(with_examples().iter().map(|(n, _)| n.to_string()))
        .chain([SWEEP.to_string()])
        .chain(OTHER_SWEEPS.iter().map(|n| n.to_string()))
        .collect();
    covered.sort();
    assert_eq!(covered, scenario_names());
    for name in OTHER_SWEEPS {
        let path = root().join("scenarios").join(format!("{name}.json"));
        assert_code(&run_in(&root(), &["validate", path.to_str().unwrap()]), 0);
    }
    // The built-in ones, the shipped examples excepted, are the ones the binary validates.
    for name in builtin_scenarios() {
        let path = root().join("scenarios").join(format!("{name}.json"));
        assert_code(&run_in(&root(), &["validate", path.to_str().unwrap()]), 0);
    }
}

#[test]
fn every_svg_of_every_shipped_scenario_parses_and_each_report_shows_its_figures() {
    let dir = shipped();
    for run in shipped_runs().iter().chain([&dir.join("compare")]) {
        let figures = check_report(run);
        assert!(figures.len() >= 4, "{}: {figures:?}", run.display());
        for f in &figures {
            parse_svg(&run.join(f));
        }
        // Every problem has a trajectory now, the 10-dimensional saddle included.
        assert!(
            figures.contains(&"trajectory.svg".to_string()),
            "{}: {figures:?}",
            run.display()
        );
        // The metric figures exist exactly when rounds.csv has their column.
        let rounds = std::fs::read_to_string(run.join("rounds.csv")).unwrap_or_default();
        let header: Vec<&str> = rounds.lines().next().unwrap_or("").split(',').collect();
        for (column, file) in [("accuracy", "accuracy.svg"), ("min_eig", "min_eig.svg")] {
            assert_eq!(
                figures.contains(&file.to_string()),
                header.contains(&column),
                "{}: {file} with header {header:?}",
                run.display()
            );
        }
    }
    // The shipped learning tasks and second-order scenarios do draw them.
    for (name, file) in [
        ("digits_mlp", "accuracy.svg"),
        ("digits_label_flip", "accuracy.svg"),
        ("breast_cancer_logistic", "accuracy.svg"),
        ("matrix_sensing", "min_eig.svg"),
    ] {
        parse_svg(&dir.join(name).join(file));
    }
    // A learning task's loss surface is capped at 16 x 16 points (each is a pass over data).
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("digits_mlp").join("trajectory.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(info["surface_points_per_side"], 16, "{info}");
    let surface = std::fs::read_to_string(dir.join("digits_mlp").join("surface.csv")).unwrap();
    assert_eq!(surface.lines().count(), 1 + 16 * 16);
    // The sweep's own report parses as HTML too.
    let text = std::fs::read_to_string(dir.join(SWEEP).join("report.html")).unwrap();
    let html = scraper::Html::parse_document(&text);
    assert!(html.errors.is_empty(), "{:?}", html.errors);
}

#[test]
fn quickstart_trajectory_shows_the_escape_from_the_saddle() {
    let run = shipped().join("quickstart");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("trajectory.json")).unwrap())
            .unwrap();
    // The plane of the saddle's negative curvature: the coordinates x0 and x1.
    assert_eq!(info["plane"], "negative_curvature", "{info}");
    assert_eq!(info["axes"][0]["label"], "x0");
    assert_eq!(info["axes"][1]["label"], "x1");
    assert!(info["explained_variance"].as_f64().unwrap() > 0.5, "{info}");
    // The path starts at the saddle (0, 0) and ends near a minimum (±1, ±1).
    let rows = csv_rows(&run.join("trajectory.csv"));
    assert_eq!(rows.len(), 3001);
    let p = |r: &Vec<String>| (r[1].parse::<f64>().unwrap(), r[2].parse::<f64>().unwrap());
    assert_eq!(p(&rows[0]), (0.0, 0.0));
    let (a, b) = p(rows.last().unwrap());
    assert!(
        (a.abs() - 1.0).abs() < 0.1 && (b.abs() - 1.0).abs() < 0.1,
        "end ({a}, {b})"
    );
    // The minimum of the loss on the plane is found where the path ends, at f* = -0.5.
    let minima = info["minima"].as_array().unwrap();
    assert!(
        minima.iter().any(|m| {
            (m["p1"].as_f64().unwrap() - a).abs() < 0.1
                && (m["p2"].as_f64().unwrap() - b).abs() < 0.1
                && (m["loss"].as_f64().unwrap() + 0.5).abs() < 1e-9
        }),
        "{minima:?}"
    );
    // Drawn: level sets, the path, start, end and minimum.
    let text = parse_svg(&run.join("trajectory.svg"));
    let doc = roxmltree::Document::parse(&text).unwrap();
    let levels = group(doc.root_element(), "level-sets");
    assert!(
        levels
            .children()
            .filter(|n| n.has_tag_name("polyline"))
            .count()
            > 10
    );
    let path = series_points(doc.root_element(), "path");
    assert!(path.len() > 50);
    for class in ["start", "end", "minimum"] {
        assert!(
            doc.descendants().any(|n| has_class(&n, class)),
            "no {class} marked"
        );
    }
    // The path leaves the start by more than half the plot: an escape, not a wiggle.
    let (x0, y0) = path[0];
    let far = path
        .iter()
        .map(|(x, y)| ((x - x0).powi(2) + (y - y0).powi(2)).sqrt())
        .fold(0.0, f64::max);
    assert!(far > 200.0, "the path moves {far} px");
}

#[test]
fn compare_overlays_the_quickstart_and_its_mean_and_oracle_twins() {
    let dir = shipped();
    let cmp = dir.join("compare");
    let figures = check_report(&cmp);
    assert_eq!(
        figures,
        [
            "loss.svg",
            "grad_norm.svg",
            "good_machines.svg",
            "trajectory.svg"
        ]
    );
    let text = std::fs::read_to_string(cmp.join("report.html")).unwrap();
    let html = scraper::Html::parse_document(&text);
    let rows = scraper::Selector::parse("table.runs tr").unwrap();
    assert_eq!(
        html.select(&rows).count(),
        4,
        "a header and one row per run"
    );
    for name in ["quickstart", "mean_sign_flip", "oracle_sign_flip"] {
        assert!(text.contains(name));
    }
    // The settings that differ: the aggregator.
    assert!(text.contains("<th>aggregator.kind</th>"), "settings diff");
    // One loss curve and one path per run.
    let loss = parse_svg(&cmp.join("loss.svg"));
    let doc = roxmltree::Document::parse(&loss).unwrap();
    let main = group(doc.root_element(), "panel main");
    for i in 0..3 {
        assert!(
            !series_points(main, &format!("series loss run-{i}")).is_empty(),
            "run {i}"
        );
    }
    let traj = parse_svg(&cmp.join("trajectory.svg"));
    assert_eq!(traj.matches("class=\"path\"").count(), 3);
    let listed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cmp.join("comparison.json")).unwrap())
            .unwrap();
    assert_eq!(listed["runs"].as_array().unwrap().len(), 3);
}

#[test]
fn compare_refuses_bad_input_with_exit_2_and_writes_nothing() {
    let dir = shipped();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cmp");
    let o = out.to_str().unwrap();
    let q = dir.join("quickstart");
    let qs = q.to_str().unwrap();
    // Not a run directory.
    let r = run_in(
        tmp.path(),
        &["compare", qs, tmp.path().to_str().unwrap(), "--out", o],
    );
    assert_code(&r, 2);
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("no rounds.csv"),
        "{r:?}"
    );
    assert!(!out.exists());
    // A damaged CSV: the file and line are named.
    let damaged = tmp.path().join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    for f in ["rounds.csv", "summary.json", "scenario.json", "workers.csv"] {
        std::fs::copy(q.join(f), damaged.join(f)).unwrap();
    }
    let mut rounds = std::fs::read_to_string(q.join("rounds.csv")).unwrap();
    rounds.push_str("3001,oops,1,6,0,0,0,0\n");
    std::fs::write(damaged.join("rounds.csv"), rounds).unwrap();
    let r = run_in(
        tmp.path(),
        &["compare", qs, damaged.to_str().unwrap(), "--out", o],
    );
    assert_code(&r, 2);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("rounds.csv:3003") && err.contains("oops"),
        "{err}"
    );
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // An existing output needs --force, which replaces an earlier comparison only.
    let mean = dir.join("mean_sign_flip");
    let ms = mean.to_str().unwrap();
    assert_code(&run_in(tmp.path(), &["compare", qs, ms, "--out", o]), 0);
    assert_code(&run_in(tmp.path(), &["compare", qs, ms, "--out", o]), 2);
    assert_code(
        &run_in(tmp.path(), &["compare", qs, ms, "--out", o, "--force"]),
        0,
    );
    let r = run_in(tmp.path(), &["compare", qs, ms, "--out", qs, "--force"]);
    assert_code(&r, 2);
    // One run is not a comparison.
    assert_code(&run_in(tmp.path(), &["compare", qs, "--out", o]), 2);
}

#[test]
fn plot_redraws_a_run_of_kinds_it_does_not_know_from_the_files_alone() {
    let src = shipped().join("quickstart");
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), run.join(e.file_name())).unwrap();
    }
    let before: Vec<(String, Vec<u8>)> = ["loss.svg", "window_distances.svg", "trajectory.svg"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(run.join(f)).unwrap()))
        .collect();
    // As if made with a user's problem, aggregator and attack.
    let mut scenario: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("scenario.json")).unwrap()).unwrap();
    scenario["problem"] = json!({"kind": "my_mlp", "layers": [64, 10]});
    scenario["attack"] = json!({"kind": "my_alie", "z": 1.5});
    std::fs::write(run.join("scenario.json"), scenario.to_string()).unwrap();
    for (f, _) in &before {
        std::fs::remove_file(run.join(f)).unwrap();
    }
    let out = run_in(tmp.path(), &["plot", run.to_str().unwrap()]);
    assert_code(&out, 0);
    for (f, bytes) in &before {
        assert_eq!(
            &std::fs::read(run.join(f)).unwrap(),
            bytes,
            "{f} redrawn differently"
        );
    }
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.contains("<b>my_mlp</b> (layers = [64, 10])"));
}

// ---------------------------------------------------------------------------------------------
// Results that failed on the old behaviour
// ---------------------------------------------------------------------------------------------

/// A 200,000-round run (every round sampled): the short window's distances are a 100-round
/// sawtooth from 0.1 to 3.0. Keeping one round in 200 hit the same phase every time and drew a
/// flat line at 0.1; the panel must span the true range.
#[test]
fn long_run_short_window_panel_spans_the_true_range() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    const ROUNDS: u64 = 200_000;
    let mut rounds =
        String::from("round,loss,grad_norm,good,byzantine_in_good,agg_error,no_reference,faults\n");
    let mut windows = String::from("round,worker,role,window,distance,threshold\n");
    for r in 0..=ROUNDS {
        let _ = writeln!(rounds, "{r},1,1,2,0,,0,0");
        if r > 0 {
            let phase = ((r - 1) % 100) as f64 / 99.0;
            let _ = writeln!(windows, "{r},0,honest,short,0,5");
            let _ = writeln!(windows, "{r},1,honest,short,{},5", 0.1 + 2.9 * phase);
        }
    }
    std::fs::write(dir.join("rounds.csv"), rounds).unwrap();
    std::fs::write(dir.join("window_distances.csv"), windows).unwrap();
    safeguard_sim::plot::render_run(dir).unwrap();
    let text = parse_svg(&dir.join("window_distances.svg"));
    let doc = roxmltree::Document::parse(&text).unwrap();
    let main = group(doc.root_element(), "panel main");
    let to_value = axis_map(&ticks(main, "tick-y", false), true);
    let pts = series_points(main, "series honest worker-1");
    let values: Vec<f64> = pts.iter().map(|p| to_value(p.1)).collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(0.0, f64::max);
    assert!((lo - 0.1).abs() < 0.01, "lowest drawn {lo}");
    assert!((hi - 3.0).abs() < 0.1, "highest drawn {hi}");
    // And across the whole run, not only somewhere: the right half too.
    let to_round = axis_map(&ticks(main, "tick-x", true), false);
    let late: Vec<f64> = pts
        .iter()
        .filter(|p| to_round(p.0) > 150_000.0)
        .map(|p| to_value(p.1))
        .collect();
    assert!(late.iter().copied().fold(0.0, f64::max) > 2.9);
    assert!(late.iter().copied().fold(f64::INFINITY, f64::min) < 0.11);
    // The reference machine (distance 0) is named, not drawn as a line.
    assert!(text.contains("reference: worker 0"));
    assert!(!text.contains("worker-0"));
}

/// With `eval_every: 50`, rounds.csv has rows at 0, 50, 100...; the good set must still step
/// at the rounds of expulsions.csv (four Byzantine machines, none at a multiple of 50), not at
/// the next sampled row.
#[test]
fn good_set_steps_at_the_rounds_of_expulsions_csv_whatever_eval_every() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = quickstart();
    s["eval_every"] = json!(50);
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let expelled: Vec<f64> = csv_rows(&run.join("expulsions.csv"))
        .iter()
        .map(|r| r[0].parse().unwrap())
        .collect();
    assert_eq!(expelled.len(), 4);
    assert!(expelled.iter().all(|r| r % 50.0 != 0.0), "{expelled:?}");
    let text = parse_svg(&run.join("good_machines.svg"));
    let doc = roxmltree::Document::parse(&text).unwrap();
    // The zoom panel shares the main panel's y axis (and its labels).
    let main = group(doc.root_element(), "panel main");
    let to_count = axis_map(&ticks(main, "tick-y", false), false);
    for (panel, tolerance) in [("panel zoom", 1.0), ("panel main", 8.0)] {
        let p = group(doc.root_element(), panel);
        let to_round = axis_map(&ticks(p, "tick-x", true), false);
        let pts = series_points(p, "series good");
        // The vertical segments of the step line: where the count drops.
        let steps: Vec<(f64, f64)> = pts
            .windows(2)
            .filter(|w| (w[0].0 - w[1].0).abs() < 0.05 && w[0].1 != w[1].1)
            .map(|w| (to_round(w[0].0), to_count(w[1].1)))
            .collect();
        assert_eq!(steps.len(), 4, "{panel}: {steps:?}");
        for ((r, count), (e, k)) in steps.iter().zip(expelled.iter().zip([9.0, 8.0, 7.0, 6.0])) {
            assert!(
                (r - e).abs() <= tolerance,
                "{panel}: step at {r}, expulsion at {e}"
            );
            assert!(
                (count - k).abs() < 0.1,
                "{panel}: {count} machines after {e}"
            );
        }
    }
}
