//! Every figure of one run directory, and its report.html: what happened (and why a run
//! diverged or stopped), the key numbers rounded for reading, the resolved settings, each figure
//! with a caption saying what it shows, the expulsions, and the faults as tables.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::data::{Role, RunData};
use super::format::{int, round_sig};
use super::html::{self, num};
use super::svg::escape;
use super::{PlotError, curves, metrics, timeline, trajectory, windows, write_atomic};

/// Redraw every SVG of the run directory `dir` from its files and write `report.html`.
///
/// Returns the paths written, in a fixed order: `loss.svg`, `grad_norm.svg`, `accuracy.svg`
/// (when rounds.csv has an `accuracy` column), `min_eig.svg` (when it has a `min_eig` column),
/// `good_machines.svg`, `expulsions.svg` (when `workers.csv` or `expulsions.csv` exists),
/// `window_distances.svg` (when `window_distances.csv` exists), `trajectory.svg` (when
/// `trajectory.csv` exists) and `report.html`.
///
/// `rounds.csv` is required; the other files are optional. Every file is read and checked
/// first: a damaged one gives a [`PlotError`] naming it (and the line, for CSV files), and
/// nothing is written.
pub fn render_run(dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let run = RunData::load(dir)?;
    let charts = run_charts(&run);
    let mut written = Vec::with_capacity(charts.len() + 1);
    for c in &charts {
        let path = dir.join(c.file);
        write_atomic(&path, c.svg.as_bytes())?;
        written.push(path);
    }
    let report = dir.join("report.html");
    write_atomic(&report, report_html(&run, &charts).as_bytes())?;
    written.push(report);
    Ok(written)
}

/// A figure with its file name and caption (HTML).
pub(crate) struct Chart {
    pub file: &'static str,
    pub svg: String,
    pub caption: String,
}

/// How expulsions and faults are marked, for captions.
fn events_sentence(run: &RunData) -> String {
    let mut s = String::new();
    if !run.expulsions.is_empty() {
        s.push_str(
            " Dashed vertical lines with triangles mark expulsions (vermillion: a Byzantine \
             machine, blue: an honest one), at the rounds of expulsions.csv.",
        );
    }
    if !run.faults.rows.is_empty() {
        s.push_str(" Purple ticks along the bottom mark faults (faults.csv).");
    }
    if let Some((a, b)) = run.zoom() {
        let _ = write!(
            s,
            " The right panel zooms on the expulsion period (rounds {}–{}), shaded in the main panel.",
            int(a as u64),
            int(b as u64)
        );
    }
    s
}

fn run_charts(run: &RunData) -> Vec<Chart> {
    let ev = events_sentence(run);
    let loss_caption = match run.known_min() {
        Some(f) => format!(
            "Loss minus the problem's known minimum f* = {}, on a symmetric log scale \
             (logarithmic above its smallest decade, linear below): convergence shows as a \
             descent toward the green line at 0, which is f* itself. The dashed orange line is \
             the best loss reached.{ev}",
            escape(&round_sig(f, 6))
        ),
        None => format!(
            "Loss on a symmetric log scale (the problem has no known minimum). The dashed orange \
             line is the best loss reached.{}{ev}",
            if curves::test_loss_points(run).is_some() {
                " The black line is the training objective (the loss column: mean training \
                 cross-entropy plus weight decay, on eval_size training samples when set); the \
                 light blue one is the test loss (the test_loss column: mean cross-entropy on \
                 the test set, without weight decay). A test loss rising while the training \
                 loss falls is overfitting."
            } else {
                ""
            }
        ),
    };
    let mut charts = vec![
        Chart {
            file: "loss.svg",
            svg: curves::loss_svg(run),
            caption: loss_caption,
        },
        Chart {
            file: "grad_norm.svg",
            svg: curves::grad_norm_svg(run),
            caption: format!(
                "Norm of the true gradient ‖∇f(x)‖ after each round, on a symmetric log scale (an \
                 exact 0, as at a saddle point, sits on the axis).{ev}"
            ),
        },
    ];
    if run.columns.accuracy {
        charts.push(Chart {
            file: "accuracy.svg",
            svg: metrics::accuracy_svg(run),
            caption: metrics::accuracy_caption(run, &ev),
        });
    }
    if run.columns.min_eig {
        charts.push(Chart {
            file: "min_eig.svg",
            svg: metrics::min_eig_svg(run),
            caption: metrics::min_eig_caption(run, &ev),
        });
    }
    charts.extend([Chart {
        file: "good_machines.svg",
        svg: curves::good_machines_svg(run),
        caption: format!(
            "Size of the good set and the Byzantine machines in it, from workers.csv and \
                 expulsions.csv: it steps at the exact round of each expulsion, whatever \
                 eval_every.{ev}"
        ),
    }]);
    if run.workers.is_some() || !run.expulsions.is_empty() {
        charts.push(Chart {
            file: "expulsions.svg",
            svg: timeline::svg(run),
            caption: "One row per machine (blue: honest, vermillion: Byzantine): the bar runs \
                      while the machine is in the good set and ends with a cross at its \
                      expulsion; purple ticks are its faults. The zoom, when there is one, \
                      shows the expulsion period."
                .to_string(),
        });
    }
    if let Some(w) = &run.windows {
        charts.push(Chart {
            file: "window_distances.svg",
            svg: windows::svg(run, w),
            caption: format!(
                "Distance of each good machine's windowed gradient sum to the reference \
                 machine's, in each safeguard window (log scale). A machine whose distance passes \
                 the dashed line (2 × threshold) is expelled. The sums reset at every window \
                 boundary (tumbling windows); the threshold rises when the good set shrinks, \
                 because thresholds scale as 1/|good|. The reference itself (distance 0) is the \
                 green strip along the bottom. Lines follow the min–max of the rounds under each \
                 pixel, so no round is hidden by downsampling.{ev}"
            ),
        });
    }
    if let Some(t) = &run.trajectory {
        charts.push(Chart {
            file: "trajectory.svg",
            svg: trajectory::svg(t, &curves::ending(run)),
            caption: trajectory_caption(t),
        });
    }
    charts
}

fn trajectory_caption(t: &trajectory::TrajectoryData) -> String {
    let mut s = String::from("The path of the parameters");
    match t.info_str("about") {
        Some(about) => {
            let _ = write!(s, " projected on {}.", escape(about));
        }
        None => s.push('.'),
    }
    if let Some(axes) = t
        .info
        .as_ref()
        .and_then(|m| m.get("axes"))
        .and_then(|a| a.as_array())
    {
        for a in axes {
            if let (Some(l), Some(about)) = (
                a.get("label").and_then(|v| v.as_str()),
                a.get("about").and_then(|v| v.as_str()),
            ) {
                let _ = write!(s, " {}: {}.", escape(l), escape(about));
            }
        }
    }
    if t.surface.is_some() {
        let through = t.info_str("surface_through").unwrap_or("the plane");
        let _ = write!(
            s,
            " Level sets: the loss on this plane through {} (surface.csv); orange diamonds: \
             minima of f on the plane.",
            escape(through)
        );
    }
    s.push_str(" Start: green dot; end: cross; small labels give the round.");
    s
}

/// The loss reached (when `with_loss`) and the machines expelled, in a sentence.
fn outcome(run: &RunData, with_loss: bool) -> String {
    let mut s = String::new();
    if let Some(l) = run.summary_f64(&["final", "loss"]).filter(|_| with_loss) {
        let _ = write!(s, "Final loss {}", escape(&round_sig(l, 4)));
        if let Some(f) = run.known_min() {
            let _ = write!(
                s,
                " ({} above the known minimum {})",
                escape(&round_sig(l - f, 3)),
                escape(&round_sig(f, 4))
            );
        }
        s.push_str("; ");
    }
    let machines = run.machines();
    let count = |role: Role| machines.values().filter(|r| **r == role).count();
    let mut seen = std::collections::BTreeSet::new();
    let expelled: Vec<_> = run
        .expulsions
        .iter()
        .filter(|e| seen.insert(e.worker))
        .collect();
    let of = |role: Role| expelled.iter().filter(|e| e.role == role).count();
    let _ = write!(
        s,
        "{} {} of {} Byzantine and {} of {} honest machines",
        if s.is_empty() { "Expelled" } else { "expelled" },
        of(Role::Byzantine),
        count(Role::Byzantine),
        of(Role::Honest),
        count(Role::Honest)
    );
    if let (Some(a), Some(b)) = (expelled.first(), expelled.last()) {
        if a.round == b.round {
            let _ = write!(s, " (round {})", int(a.round.max(0) as u64));
        } else {
            let _ = write!(
                s,
                " (rounds {}–{})",
                int(a.round.max(0) as u64),
                int(b.round.max(0) as u64)
            );
        }
    }
    s.push('.');
    s
}

/// Why the run ended as it did, in one paragraph.
pub(crate) fn verdict(run: &RunData) -> String {
    let planned = run
        .scenario
        .as_ref()
        .and_then(|s| s.get("rounds"))
        .and_then(|v| v.as_u64());
    let rounds = run
        .summary_f64(&["rounds"])
        .map_or(run.last_round().max(0) as u64, |v| v as u64);
    let of = planned.map_or(String::new(), |p| format!(" of {}", int(p)));
    match run.status().as_str() {
        "completed" => format!(
            "Completed all {} rounds. {}",
            int(rounds),
            outcome(run, true)
        ),
        "diverged" => {
            let bound = run
                .scenario
                .as_ref()
                .and_then(|s| s.get("optimizer"))
                .and_then(|o| o.get("divergence_norm"))
                .and_then(|v| v.as_f64());
            let bound_text = bound.map_or(String::new(), |b| format!(" ({})", round_sig(b, 3)));
            let cause = match run.summary_f64(&["final", "loss"]) {
                Some(l) => format!(
                    "The loss was still finite ({}), so the parameters left the ball ‖x‖ ≤ \
                     optimizer.divergence_norm{bound_text}.",
                    escape(&round_sig(l, 3))
                ),
                None => "The loss (or the parameters) stopped being finite.".to_string(),
            };
            format!(
                "Diverged at round {}{of}: a run stops when ‖x‖ exceeds \
                 optimizer.divergence_norm{bound_text} or when the loss is no longer finite. \
                 {cause} Every file is complete up to that round. {}",
                int(rounds),
                outcome(run, false)
            )
        }
        "interrupted" => format!(
            "Interrupted by the user (Ctrl-C) after round {}{of}. Every file is consistent up to \
             that round. {}",
            int(rounds),
            outcome(run, true)
        ),
        _ => "No summary.json in this run directory: the run did not finish writing, or the file \
              was removed."
            .to_string(),
    }
}

/// summary.json's warnings (what a reader must not miss), as a list; empty without any.
pub(crate) fn warnings(run: &RunData) -> String {
    let list: Vec<&str> = run
        .summary
        .as_ref()
        .and_then(|s| s.get("warnings"))
        .and_then(|w| w.as_array())
        .map(|a| a.iter().filter_map(|w| w.as_str()).collect())
        .unwrap_or_default();
    if list.is_empty() {
        return String::new();
    }
    let mut h = String::from("<div class=\"warnings\"><b>Warnings</b>\n<ul>\n");
    for w in list {
        let _ = writeln!(h, "<li>{}</li>", escape(w));
    }
    h.push_str("</ul></div>\n");
    h
}

fn row(h: &mut String, name: &str, value: &str) {
    let _ = writeln!(h, "<tr><th>{}</th><td>{value}</td></tr>", escape(name));
}

/// The key numbers of summary.json, rounded.
fn results_table(run: &RunData) -> String {
    let mut h = String::from("<table class=\"results\">\n");
    let f = |path: &[&str]| run.summary_f64(path);
    if let Some(v) = f(&["final", "loss"]) {
        row(&mut h, "final loss", &num(v, 6));
    } else if run.summary.is_some() {
        row(&mut h, "final loss", "not finite");
    }
    if let Some(v) = f(&["best_loss"]) {
        let at = f(&["best_loss_round"])
            .map_or(String::new(), |r| format!(" at round {}", int(r as u64)));
        row(&mut h, "best loss", &format!("{}{at}", num(v, 6)));
    }
    if let Some(v) = run.known_min() {
        row(&mut h, "known minimum of the problem", &num(v, 6));
    }
    if let Some(v) = f(&["final", "grad_norm"]) {
        row(&mut h, "final ‖∇f(x)‖", &num(v, 4));
    }
    let accuracy = metrics::accuracy_points(run);
    if let Some(&(_, v)) = accuracy.last() {
        row(&mut h, "final test accuracy", &format!("{v:.2} %"));
    }
    if let Some((r, v)) = metrics::best_accuracy(&accuracy) {
        row(
            &mut h,
            "best test accuracy",
            &format!("{v:.2} % at round {}", int(r as u64)),
        );
    }
    let machines = run.machines();
    let honest = machines.values().filter(|r| **r == Role::Honest).count();
    let byz = machines.len() - honest;
    let mut expelled = std::collections::BTreeSet::new();
    let (mut eb, mut eh) = (0, 0);
    for e in &run.expulsions {
        if expelled.insert(e.worker) {
            match e.role {
                Role::Honest => eh += 1,
                Role::Byzantine => eb += 1,
            }
        }
    }
    row(
        &mut h,
        "machines",
        &format!("{honest} honest, {byz} Byzantine"),
    );
    row(
        &mut h,
        "expelled",
        &format!("{eb} of {byz} Byzantine, {eh} of {honest} honest"),
    );
    if let Some(first) = run.expulsions.first() {
        row(
            &mut h,
            "first expulsion",
            &format!("round {}", int(first.round.max(0) as u64)),
        );
    }
    if let Some(t) = run
        .summary
        .as_ref()
        .and_then(|s| s.get("thresholds"))
        .and_then(|t| t.as_object())
    {
        let list = |calibrated: bool| -> Vec<String> {
            t.iter()
                .filter(|(k, _)| k.starts_with("calibrated_") == calibrated)
                .filter_map(|(k, v)| {
                    let name = k.trim_start_matches("calibrated_");
                    Some(format!("{} = {}", escape(name), num(v.as_f64()?, 4)))
                })
                .collect()
        };
        let (thresholds, measured) = (list(false), list(true));
        if !thresholds.is_empty() {
            row(
                &mut h,
                "safeguard thresholds at the start",
                &thresholds.join(", "),
            );
        }
        if !measured.is_empty() {
            row(
                &mut h,
                "measured by the honest pre-run",
                &measured.join(", "),
            );
        }
    }
    for (key, name) in [
        ("no_reference_rounds", "rounds without a reference machine"),
        ("skipped_steps", "steps skipped (aggregate overflowed)"),
    ] {
        if let Some(v) = f(&[key]) {
            row(&mut h, name, &int(v as u64));
        }
    }
    row(&mut h, "faults", &int(run.faults.rows.len() as u64));
    if let Some(v) = f(&["seed"]) {
        row(&mut h, "seed", &int(v as u64));
    }
    if let (Some(rate), Some(wall)) = (f(&["rounds_per_second"]), f(&["wall_seconds"])) {
        row(
            &mut h,
            "speed",
            &format!(
                "{} rounds/s ({} s of wall time)",
                num(rate, 3),
                num(wall, 3)
            ),
        );
    }
    h.push_str("</table>\n");
    h
}

const MAX_TABLE_ROWS: usize = 200;

fn expulsions_section(h: &mut String, run: &RunData) {
    let _ = writeln!(
        h,
        "<h2 id=\"expulsions\">Expulsions ({})</h2>",
        run.expulsions.len()
    );
    if run.expulsions.is_empty() {
        h.push_str("<p>No machine was expelled.</p>\n");
        return;
    }
    h.push_str("<table class=\"expulsions\">\n<tr><th>round</th><th>worker</th><th>role</th><th>reason</th></tr>\n");
    for e in run.expulsions.iter().take(MAX_TABLE_ROWS) {
        let _ = writeln!(
            h,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            int(e.round.max(0) as u64),
            e.worker,
            e.role.as_str(),
            escape(&e.reason)
        );
    }
    h.push_str("</table>\n");
    if run.expulsions.len() > MAX_TABLE_ROWS {
        let _ = writeln!(
            h,
            "<p>… and {} more rows in expulsions.csv.</p>",
            int((run.expulsions.len() - MAX_TABLE_ROWS) as u64)
        );
    }
}

fn faults_section(h: &mut String, run: &RunData) {
    let rows = &run.faults.rows;
    let _ = writeln!(
        h,
        "<h2 id=\"faults\">Faults ({})</h2>",
        int(rows.len() as u64)
    );
    if rows.is_empty() {
        h.push_str("<p>No machine sent a faulty reply (NaN or infinite values, a wrong length, silence, a second reply, a crash or a timeout).</p>\n");
        return;
    }
    // Counts by kind and role, then machines.
    let mut counts: std::collections::BTreeMap<
        (String, &str),
        (u64, std::collections::BTreeSet<usize>, i64),
    > = std::collections::BTreeMap::new();
    for f in rows {
        let kind = run.faults.kinds.get(f.kind).cloned().unwrap_or_default();
        let e = counts.entry((kind, f.role.as_str())).or_insert((
            0,
            std::collections::BTreeSet::new(),
            f.round,
        ));
        e.0 += 1;
        e.1.insert(f.worker);
    }
    h.push_str("<table class=\"fault-kinds\">\n<tr><th>kind</th><th>role</th><th>faults</th><th>machines</th><th>first round</th></tr>\n");
    for ((kind, role), (n, machines, first)) in &counts {
        let ids: Vec<String> = machines.iter().take(20).map(|m| m.to_string()).collect();
        let more = if machines.len() > 20 { ", …" } else { "" };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{role}</td><td class=\"num\">{}</td><td>{}{more}</td><td class=\"num\">{}</td></tr>",
            escape(kind),
            int(*n),
            ids.join(", "),
            int((*first).max(0) as u64)
        );
    }
    h.push_str("</table>\n");
    let _ = writeln!(
        h,
        "<p>The first {} faults (all of them are in faults.csv):</p>",
        rows.len().min(MAX_TABLE_ROWS)
    );
    let details = rows.iter().take(MAX_TABLE_ROWS).any(|f| f.detail.is_some());
    h.push_str(
        "<table class=\"faults\">\n<tr><th>round</th><th>worker</th><th>role</th><th>kind</th>",
    );
    if details {
        h.push_str("<th>detail</th>");
    }
    h.push_str("</tr>\n");
    for f in rows.iter().take(MAX_TABLE_ROWS) {
        let _ = write!(
            h,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td>",
            int(f.round.max(0) as u64),
            f.worker,
            f.role.as_str(),
            escape(run.faults.kinds.get(f.kind).map_or("", String::as_str))
        );
        if details {
            let _ = write!(h, "<td>{}</td>", escape(f.detail.as_deref().unwrap_or("")));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

fn report_html(run: &RunData, charts: &[Chart]) -> String {
    let name = run.name();
    let status = run.status();
    let mut h = html::page_start(&format!("{name} ({status}) - safeguard-sim run"));
    let _ = writeln!(
        h,
        "<h1>Run {} <span class=\"status {}\">{}</span></h1>",
        escape(&name),
        escape(&status),
        escape(&status)
    );
    let _ = writeln!(h, "<p class=\"verdict\">{}</p>", verdict(run));
    h.push_str(&warnings(run));
    h.push_str("<h2 id=\"results\">Results</h2>\n");
    h.push_str(&results_table(run));
    h.push_str("<h2 id=\"settings\">Settings</h2>\n");
    match &run.scenario {
        Some(s) => {
            h.push_str("<p>The resolved scenario (scenario.json, every default filled in; running it again reproduces this run).</p>\n");
            h.push_str(&html::settings_table(s));
        }
        None => h.push_str("<p>No scenario.json in this run directory.</p>\n"),
    }
    h.push_str("<h2 id=\"figures\">Figures</h2>\n");
    for (k, c) in charts.iter().enumerate() {
        html::figure(&mut h, k + 1, c.file, &c.svg, &c.caption);
    }
    expulsions_section(&mut h, run);
    faults_section(&mut h, run);
    if let Some(s) = &run.summary {
        let text = serde_json::to_string_pretty(s).unwrap_or_default();
        let _ = writeln!(
            h,
            "<details><summary>summary.json, full precision</summary>\n<pre>{}</pre>\n</details>",
            escape(&text)
        );
    }
    html::page_end(&mut h);
    h
}
