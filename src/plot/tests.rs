//! Figures and report of synthetic run directories: every file drawn, damaged input refused
//! with its file and line, degenerate values drawn without panics, outputs deterministic.

use super::*;
use std::fmt::Write as _;
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

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap()
}

/// A synthetic run: `m` workers, the last `byz` Byzantine and expelled one by one in the first
/// quarter; window distances (both windows, worker 0 the reference) and a trajectory in the old
/// `round,x0,x1` format without surface, when asked.
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
        let _ = writeln!(e, "{},{},byzantine,window_long", expel_round(k), honest + k);
    }
    write(dir, "workers.csv", &w);
    write(dir, "expulsions.csv", &e);
    write(
        dir,
        "faults.csv",
        &format!(
            "round,worker,role,kind,detail\n3,{},byzantine,non_finite,\n4,{},byzantine,crashed,panicked at my_attack.rs:12: boom\n",
            m - 1,
            m - 1
        ),
    );
    if windows {
        let mut d = "round,worker,role,window,distance,threshold\n".to_string();
        for r in 1..rounds {
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
        r#"{{"name":"synthetic <run> & co","status":"completed","rounds":{},
        "final":{{"loss":-0.98,"grad_norm":0.011}},"min_loss":-1.0,
        "expelled":{{"byzantine":{byz},"honest":0}},"first_expulsion_round":{},
        "wall_seconds":1.25,"rounds_per_second":2400.0}}"#,
        rounds - 1,
        expel_round(0)
    );
    write(dir, "summary.json", &summary);
    write(
        dir,
        "scenario.json",
        r#"{"name":"synthetic","rounds":1000,"problem":{"kind":"someone_elses_problem","dim":2},
        "aggregator":{"kind":"safeguard","window_long":600,"window_short":100},
        "optimizer":{"lr":0.1,"divergence_norm":1000000.0}}"#,
    );
}

fn svg_doc(dir: &Path, name: &str) -> String {
    let text = read(dir, name);
    assert!(
        text.starts_with("<svg"),
        "{name} does not start like an SVG"
    );
    assert!(text.trim_end().ends_with("</svg>"), "{name} is not closed");
    assert!(
        !text.contains("NaN") && !text.contains("inf"),
        "{name} has non-finite numbers"
    );
    assert_eq!(
        text.matches("<g").count(),
        text.matches("</g>").count(),
        "{name}"
    );
    text
}

#[test]
fn full_run_writes_every_figure_and_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synthetic_run(dir, 300, 6, 2, true, true);
    let written = render_run(dir).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "loss.svg",
            "grad_norm.svg",
            "good_machines.svg",
            "expulsions.svg",
            "window_distances.svg",
            "trajectory.svg",
            "report.html"
        ]
    );
    let report = read(dir, "report.html");
    for name in &names[..6] {
        let svg = svg_doc(dir, name);
        assert!(
            report.contains(&super::html::inline_svg(name, &svg)),
            "{name} not inlined"
        );
        assert!(report.contains(&format!("data-file=\"{name}\"")));
    }
    // Ids are unique in the page (two inline figures must not share a clip path).
    let ids: Vec<&str> = report
        .split(" id=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
    assert!(ids.len() > 6 && unique.len() == ids.len(), "{ids:?}");
    // Escaped run name, no raw markup from the input.
    assert!(report.contains("synthetic &lt;run&gt; &amp; co"));
    assert!(!report.contains("<run>"));
    assert!(!report.contains("<script"));
    // The old summary key min_loss is read as the known minimum.
    assert!(read(dir, "loss.svg").contains("loss above the known minimum"));
    // Settings of a kind this binary does not know, read as plain JSON.
    assert!(report.contains("<b>someone_elses_problem</b> (dim = 2)"));
    // Faults as a table.
    assert!(report.contains("<table class=\"fault-kinds\">"));
    assert!(report.contains("<td>non_finite</td><td>byzantine</td>"));
    assert!(report.contains("<td>panicked at my_attack.rs:12: boom</td>"));
    // No external resources: the only URLs are the SVG namespaces.
    assert_eq!(
        report.matches("http").count(),
        report
            .matches("xmlns=\"http://www.w3.org/2000/svg\"")
            .count()
    );
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
    let first = render_run(dir).unwrap();
    let before: Vec<Vec<u8>> = first.iter().map(|p| fs::read(p).unwrap()).collect();
    let second = render_run(dir).unwrap();
    assert_eq!(first, second);
    let after: Vec<Vec<u8>> = second.iter().map(|p| fs::read(p).unwrap()).collect();
    assert_eq!(before, after);
}

#[test]
fn optional_figures_absent_without_their_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synthetic_run(dir, 50, 4, 1, false, false);
    let written = render_run(dir).unwrap();
    assert_eq!(written.len(), 5);
    assert!(!dir.join("window_distances.svg").exists());
    assert!(!dir.join("trajectory.svg").exists());
    let report = read(dir, "report.html");
    assert!(!report.contains("window_distances.svg"));
    assert!(!report.contains("trajectory.svg"));
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
    write(dir, "trajectory.csv", "round,p1,p2\n");
    let written = render_run(dir).unwrap();
    assert_eq!(written.len(), 7);
    assert!(svg_doc(dir, "loss.svg").contains("no finite loss values"));
    assert!(svg_doc(dir, "window_distances.svg").contains("no rows in window_distances.csv"));
    assert!(svg_doc(dir, "trajectory.svg").contains("no finite trajectory points"));
    assert!(svg_doc(dir, "expulsions.svg").contains("no machines"));
    let report = read(dir, "report.html");
    assert!(report.contains("No summary.json"));
}

#[test]
fn nan_inf_huge_and_constant_values_are_drawn_without_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
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
        r#"{"name":"deg","status":"diverged","rounds":5,"final":{"loss":null,"grad_norm":null}}"#,
    );
    render_run(dir).unwrap();
    let loss = svg_doc(dir, "loss.svg");
    assert!(loss.contains("3 non-finite values not drawn"), "{loss}");
    assert!(loss.contains("diverged at round 5"));
    svg_doc(dir, "grad_norm.svg");
    svg_doc(dir, "trajectory.svg");
    svg_doc(dir, "window_distances.svg");
    let report = read(dir, "report.html");
    assert!(report.contains("status diverged"));
    assert!(
        report.contains("stopped being finite"),
        "the reason is given"
    );
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
        "round,p1,p2\n0,1.7e308,-1.7e308\n1,5e-324,0\n",
    );
    write(
        dir,
        "surface.csv",
        "p1,p2,loss\n0,0,1e308\n1,0,inf\n0,1,-1e308\n1,1,NaN\n",
    );
    render_run(dir).unwrap();
    assert!(read(dir, "window_distances.svg").contains("a&lt;b&amp;c window"));
    for f in [
        "loss.svg",
        "grad_norm.svg",
        "expulsions.svg",
        "trajectory.svg",
    ] {
        svg_doc(dir, f);
    }
}

#[test]
fn malformed_files_name_the_file_and_line_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let good_rounds = format!("{ROUNDS_HEADER}\n0,1,1,3,1,,0,0\n");
    let cases: [(&str, &str, usize); 9] = [
        ("rounds.csv", "round,loss\n0,1\n", 1),
        ("rounds.csv", "", 1),
        ("rounds.csv", &format!("{ROUNDS_HEADER}\n0,1,1,3\n"), 2),
        (
            "rounds.csv",
            &format!("{ROUNDS_HEADER}\n-1,1,1,3,1,,0,0\n"),
            2,
        ),
        (
            "rounds.csv",
            &format!("{ROUNDS_HEADER}\n0,1,1,3,1,,0,0\n1,abc,1,3,1,0.5,0,0\n"),
            3,
        ),
        ("workers.csv", "worker,role\n0,honest\n1,evil\n", 3),
        (
            "window_distances.csv",
            "round,worker,role,window,distance,threshold\n0,0,honest,long,x,1\n",
            2,
        ),
        (
            "faults.csv",
            "round,worker,role,kind\n1,x,honest,silent\n",
            2,
        ),
        ("surface.csv", "p1,p2,loss\n0,0,1\n1,0,2\n0,1,3\n", 1),
    ];
    let optional = [
        "workers.csv",
        "window_distances.csv",
        "faults.csv",
        "surface.csv",
        "trajectory.csv",
    ];
    for (file, text, line) in cases {
        for f in optional {
            let _ = fs::remove_file(dir.join(f));
        }
        write(dir, "rounds.csv", &good_rounds);
        write(dir, "trajectory.csv", "round,p1,p2\n0,0,0\n");
        write(dir, file, text);
        match render_run(dir) {
            Err(e @ PlotError::Csv { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&format!("{file}:{line}:")), "{file}: {msg}");
                assert!(e.is_bad_input());
            }
            other => panic!("{file}: {text}: unexpected {other:?}"),
        }
        assert!(
            !dir.join("loss.svg").exists(),
            "{file}: a figure was written"
        );
    }
    for f in optional {
        let _ = fs::remove_file(dir.join(f));
    }
    write(dir, "rounds.csv", &good_rounds);
    for (file, text) in [
        ("summary.json", "{\"name\": "),
        ("summary.json", "[1]"),
        ("scenario.json", "{"),
        ("trajectory.json", "nope"),
    ] {
        write(dir, file, text);
        if file == "trajectory.json" {
            write(dir, "trajectory.csv", "round,p1,p2\n0,0,0\n");
        }
        let err = render_run(dir).unwrap_err();
        assert!(matches!(err, PlotError::Json { .. }), "{file}: {err:?}");
        assert!(err.to_string().contains(file));
        fs::remove_file(dir.join(file)).unwrap();
    }
    fs::remove_file(dir.join("rounds.csv")).unwrap();
    let err = render_run(dir).unwrap_err();
    assert!(matches!(err, PlotError::NotARun { .. }), "{err:?}");
    assert!(err.to_string().contains("no rounds.csv"));
    let err = render_run(&dir.join("missing")).unwrap_err();
    assert!(matches!(err, PlotError::NotARun { .. }) && err.is_bad_input());
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
    render_run(dir).unwrap();
    assert!(svg_doc(dir, "loss.svg").contains("class=\"series loss\""));
}

#[test]
fn many_machines_share_one_envelope_per_role_and_files_stay_small() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synthetic_run(dir, 3000, 80, 3, true, false);
    render_run(dir).unwrap();
    for f in [
        "loss.svg",
        "grad_norm.svg",
        "good_machines.svg",
        "expulsions.svg",
        "window_distances.svg",
    ] {
        let len = fs::metadata(dir.join(f)).unwrap().len();
        assert!(len < 1_500_000, "{f}: {len} bytes");
    }
    let w = read(dir, "window_distances.svg");
    assert!(
        w.contains("class=\"series honest\""),
        "per-role envelopes above 64 machines"
    );
    assert!(!w.contains("worker-5\""));
    let long = w.find("long window").unwrap();
    let short = w.find("short window").unwrap();
    assert!(long < short, "long panel first");
}

#[test]
fn the_report_says_why_a_run_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synthetic_run(dir, 200, 5, 1, false, false);
    let summary = |status: &str, loss: &str| {
        format!(
            r#"{{"name":"s","status":"{status}","rounds":199,"final":{{"loss":{loss},"grad_norm":1}}}}"#
        )
    };
    write(
        dir,
        "summary.json",
        &summary("interrupted", "0.5").replace(
            "\"rounds\":199",
            "\"rounds\":199,\"warnings\":[\"No machine qualified as <reference> in 3 rounds.\"]",
        ),
    );
    render_run(dir).unwrap();
    let report = read(dir, "report.html");
    assert!(
        report.contains("Interrupted by the user (Ctrl-C) after round 199 of 1000"),
        "{report}"
    );
    assert!(read(dir, "loss.svg").contains("interrupted after round 199"));
    assert!(report.contains("<li>No machine qualified as &lt;reference&gt; in 3 rounds.</li>"));
    write(dir, "summary.json", &summary("diverged", "3e12"));
    render_run(dir).unwrap();
    let report = read(dir, "report.html");
    assert!(report.contains("Diverged at round 199 of 1000"));
    assert!(
        report.contains("The loss was still finite (3×10¹²), so the parameters left the ball ‖x‖ ≤ optimizer.divergence_norm (10⁶)"),
        "{report}"
    );
    write(dir, "summary.json", &summary("completed", "0.25"));
    render_run(dir).unwrap();
    let report = read(dir, "report.html");
    assert!(report.contains("Completed all 199 rounds. Final loss 0.25; expelled 1 of 1 Byzantine and 0 of 4 honest machines (round 50)."), "{report}");
}
