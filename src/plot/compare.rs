//! `safeguard-sim compare RUN_DIR... --out DIR`: several runs overlaid, one colour per run.
//!
//! Writes `loss.svg`, `grad_norm.svg`, `good_machines.svg`, `trajectory.svg` (when at least two
//! runs share the same trajectory plane), `comparison.json` (the runs compared) and a
//! `report.html` with a table of the runs' summaries and the settings that differ between
//! them. Every run directory is read and checked before anything is written, and the output is
//! written into a staging directory renamed into place at the end ([`Staging`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::chart::{Series, SeriesData, TimeRow};
use super::curves::{self, best_loss, good_steps, grad_points, loss_points, run_events};
use super::data::{RunData, zoom_span};
use super::format::int;
use super::html::{self, num};
use super::legend::{LegendItem, Mark};
use super::palette::{self, run_color};
use super::report::verdict;
use super::scale::Scale;
use super::svg::{Stroke, escape};
use super::trajectory::{self, Path2, TrajectoryPlot};
use super::{PlotError, write_atomic};
use crate::error::Error;
use crate::record::Staging;

/// The marker file of a comparison directory (what `--force` may replace).
pub const MARKER: &str = "comparison.json";

/// Overlay the runs in `runs` and write the figures and report into `out`.
///
/// `out` must not exist, unless `force` is true and it is an earlier comparison (it holds
/// comparison.json) or an empty directory. Returns the files written, in their final place.
/// A path that is not a run directory, or a damaged file in one, is a [`PlotError`] naming
/// it, and nothing is written.
pub fn compare_runs(runs: &[PathBuf], out: &Path, force: bool) -> Result<Vec<PathBuf>, PlotError> {
    if runs.is_empty() {
        return Err(PlotError::NotARun {
            path: out.to_path_buf(),
            reason: "no run directories to compare".to_string(),
        });
    }
    let data: Vec<RunData> = runs
        .iter()
        .map(|r| RunData::load(r))
        .collect::<Result<_, _>>()?;
    let staging = Staging::with_marker(out, force, MARKER).map_err(|e| output_error(out, e))?;
    let dir = staging
        .create()
        .map_err(|e| output_error(out, e))?
        .to_path_buf();
    let written = match write_all(&dir, &data) {
        Ok(w) => w,
        Err(e) => {
            staging.abandon();
            return Err(e);
        }
    };
    let target = staging.commit().map_err(|e| output_error(out, e))?;
    Ok(written.into_iter().map(|f| target.join(f)).collect())
}

fn output_error(out: &Path, e: Error) -> PlotError {
    match e {
        Error::Io { path, cause } => PlotError::Io {
            path,
            source: cause,
        },
        other => PlotError::Output {
            path: out.to_path_buf(),
            reason: match other {
                Error::OutputExists(_) => {
                    "exists already: choose another --out or pass --force to replace an earlier \
                     comparison"
                        .to_string()
                }
                Error::UnsafeOutput(_, why) => format!("refusing to write it: {why}"),
                e => e.to_string(),
            },
        },
    }
}

struct Figure {
    file: &'static str,
    svg: String,
    caption: String,
}

/// Names, made unique when two runs share one (`name`, `name (2)`).
fn labels(runs: &[RunData]) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    runs.iter()
        .map(|r| {
            let name = r.name();
            let n = seen.entry(name.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                name
            } else {
                format!("{name} ({n})")
            }
        })
        .collect()
}

/// The line of run `i`: wider for the first runs, so a later run drawn on top of an earlier
/// one (identical curves happen: common random numbers) leaves its colour visible.
fn run_stroke(i: usize) -> Stroke {
    Stroke::solid(run_color(i), (2.8 - 0.6 * i as f64).max(1.2))
}

/// Legend entries of the runs; `off` marks the runs whose curves leave the plot.
fn legend_for(runs: &[RunData], names: &[String], off: &[usize]) -> Vec<LegendItem> {
    runs.iter()
        .zip(names)
        .enumerate()
        .map(|(i, (r, n))| {
            let mut notes = Vec::new();
            if r.status() != "completed" {
                notes.push(r.status());
            }
            if off.contains(&i) {
                notes.push("leaves the plot".to_string());
            }
            let status = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            };
            (format!("{n}{status}"), Mark::Line(run_stroke(i)))
        })
        .collect()
}

/// The runs to fit a y axis to: those that did not diverge (all of them if every run did).
fn fitted(runs: &[RunData]) -> Option<Vec<usize>> {
    let ok: Vec<usize> = (0..runs.len())
        .filter(|&i| runs[i].status() != "diverged")
        .collect();
    (!ok.is_empty() && ok.len() < runs.len()).then_some(ok)
}

/// The runs left out of `fit` (their curves may leave the plot).
fn left_out(runs: &[RunData], fit: &Option<Vec<usize>>) -> Vec<usize> {
    fit.as_ref().map_or(Vec::new(), |f| {
        (0..runs.len()).filter(|i| !f.contains(i)).collect()
    })
}

fn x_range(runs: &[RunData]) -> (f64, f64) {
    runs.iter().fold((0.0, 1.0), |(a, b), r| {
        let (lo, hi) = r.x_range();
        (f64::min(a, lo), f64::max(b, hi))
    })
}

fn events(runs: &[RunData]) -> Vec<super::chart::Event> {
    runs.iter()
        .enumerate()
        .flat_map(|(i, r)| run_events(r, Some(run_color(i))))
        .collect()
}

fn zoom(runs: &[RunData]) -> Option<(f64, f64)> {
    let (lo, hi) = x_range(runs);
    zoom_span(
        runs.iter()
            .flat_map(|r| r.expulsions.iter().map(|e| e.round as f64)),
        lo,
        hi,
    )
}

fn write_all(dir: &Path, runs: &[RunData]) -> Result<Vec<&'static str>, PlotError> {
    let names = labels(runs);
    let mut figures = vec![loss(runs, &names), grad(runs, &names), good(runs, &names)];
    if let Some(t) = trajectory_overlay(runs, &names) {
        figures.push(t);
    }
    let mut written = Vec::new();
    for f in &figures {
        write_atomic(&dir.join(f.file), f.svg.as_bytes())?;
        written.push(f.file);
    }
    let list: Vec<serde_json::Value> = runs
        .iter()
        .zip(&names)
        .map(|(r, n)| serde_json::json!({"name": n, "dir": r.dir.display().to_string(), "status": r.status()}))
        .collect();
    let mut json =
        serde_json::to_string_pretty(&serde_json::json!({ "runs": list })).unwrap_or_default();
    json.push('\n');
    write_atomic(&dir.join(MARKER), json.as_bytes())?;
    written.push(MARKER);
    write_atomic(
        &dir.join("report.html"),
        report(runs, &names, &figures).as_bytes(),
    )?;
    written.push("report.html");
    Ok(written)
}

const EVENTS_NOTE: &str = " Triangles and dashed lines mark each run's expulsions, in its colour; \
    ticks along the bottom, its faults. The right panel, when there is one, zooms on the \
    expulsion period.";

fn loss(runs: &[RunData], names: &[String]) -> Figure {
    // Loss above the minimum only when every run knows the same one.
    let mins: Vec<Option<f64>> = runs.iter().map(RunData::known_min).collect();
    let fstar = match mins.first() {
        Some(Some(f)) if mins.iter().all(|m| *m == Some(*f)) => Some(*f),
        _ => None,
    };
    let series: Vec<Series> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| Series {
            class: format!("loss run-{i}"),
            stroke: run_stroke(i),
            data: SeriesData::Points(loss_points(r, fstar)),
        })
        .collect();
    let fit = fitted(runs);
    let scale = Scale::symlog_for(
        series
            .iter()
            .enumerate()
            .filter(|(i, _)| fit.as_ref().is_none_or(|f| f.contains(i)))
            .flat_map(|(_, s)| match &s.data {
                SeriesData::Points(p) => p.iter().map(|q| q.1).collect::<Vec<_>>(),
                _ => Vec::new(),
            }),
        12,
    );
    let mut legend = legend_for(runs, names, &left_out(runs, &fit));
    let mut hlines = Vec::new();
    if let Some(f) = fstar {
        let (line, item) = curves::known_minimum(f, Stroke::solid(palette::GREY_TEXT, 1.5));
        hlines.push(line);
        legend.push(item);
    }
    let row = TimeRow {
        title: String::new(),
        y_title: match fstar {
            Some(_) => format!("loss − f* ({})", scale.describe()),
            None => format!("loss ({})", scale.describe()),
        },
        y_scale: scale,
        y_include: fstar.map(|_| vec![0.0]).unwrap_or_default(),
        y_integers: false,
        fit_series: fit,
        x_range: x_range(runs),
        zoom: zoom(runs),
        series,
        hlines,
        events: events(runs),
        empty_note: "no finite loss values".to_string(),
        dots: false,
    };
    let title = if fstar.is_some() {
        "loss above the known minimum"
    } else {
        "loss"
    };
    Figure {
        file: "loss.svg",
        svg: curves::single_row_svg("figure compare-loss", title, &legend, &row),
        caption: format!(
            "{} of each run, on a symmetric log scale; the axis fits the runs that did not \
             diverge.{EVENTS_NOTE}",
            if fstar.is_some() {
                "Loss minus the known minimum f* (the line at 0)"
            } else {
                "Loss"
            }
        ),
    }
}

fn grad(runs: &[RunData], names: &[String]) -> Figure {
    let series: Vec<Series> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| Series {
            class: format!("grad-norm run-{i}"),
            stroke: run_stroke(i),
            data: SeriesData::Points(grad_points(r)),
        })
        .collect();
    let fit = fitted(runs);
    let scale = Scale::symlog_for(
        runs.iter()
            .enumerate()
            .filter(|(i, _)| fit.as_ref().is_none_or(|f| f.contains(i)))
            .flat_map(|(_, r)| grad_points(r))
            .map(|p| p.1),
        12,
    );
    let off = left_out(runs, &fit);
    let row = curves::grad_norm_row(
        scale,
        (x_range(runs), zoom(runs)),
        series,
        events(runs),
        fit,
    );
    Figure {
        file: "grad_norm.svg",
        svg: curves::single_row_svg(
            "figure compare-grad-norm",
            "norm of the true gradient",
            &legend_for(runs, names, &off),
            &row,
        ),
        caption: format!(
            "Norm of the true gradient of each run, on a symmetric log scale.{EVENTS_NOTE}"
        ),
    }
}

fn good(runs: &[RunData], names: &[String]) -> Figure {
    let mut series = Vec::new();
    let mut top: f64 = 1.0;
    for (i, r) in runs.iter().enumerate() {
        let (g, b) = good_steps(r);
        top = top.max(g.first().map_or(0.0, |p| p.1));
        series.push(Series {
            class: format!("good run-{i}"),
            stroke: run_stroke(i),
            data: SeriesData::Steps(g),
        });
        series.push(Series {
            class: format!("byzantine-in-good run-{i}"),
            stroke: Stroke {
                dash: Some("6 4"),
                ..run_stroke(i)
            },
            data: SeriesData::Steps(b),
        });
    }
    let mut legend = legend_for(runs, names, &[]);
    legend.push((
        "solid: machines in the good set; dashed: Byzantine among them".to_string(),
        Mark::Remark,
    ));
    let row = TimeRow {
        title: String::new(),
        y_title: "machines".to_string(),
        y_scale: Scale::Linear,
        y_include: vec![0.0, top],
        y_integers: true,
        fit_series: None,
        x_range: x_range(runs),
        zoom: zoom(runs),
        series,
        hlines: Vec::new(),
        events: events(runs),
        empty_note: "no machines".to_string(),
        dots: false,
    };
    Figure {
        file: "good_machines.svg",
        svg: curves::single_row_svg(
            "figure compare-good-machines",
            "machines in the good set (from expulsions.csv)",
            &legend,
            &row,
        ),
        caption: format!(
            "Size of each run's good set (solid) and the Byzantine machines in it (dashed), from \
             expulsions.csv.{EVENTS_NOTE}"
        ),
    }
}

/// The runs whose trajectories lie on the same plane (the largest such group, first run's
/// group on ties), over the level sets of the first of them that did not diverge.
fn trajectory_overlay(runs: &[RunData], names: &[String]) -> Option<Figure> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        if let Some(t) = &r.trajectory {
            groups.entry(t.plane_key()).or_default().push(i);
        }
    }
    let group = groups
        .into_values()
        .filter(|g| g.len() >= 2)
        .max_by(|a, b| a.len().cmp(&b.len()).then(b[0].cmp(&a[0])))?;
    let base = group
        .iter()
        .copied()
        .find(|&i| {
            runs[i].status() != "diverged"
                && runs[i]
                    .trajectory
                    .as_ref()
                    .is_some_and(|t| t.surface.is_some())
        })
        .unwrap_or(group[0]);
    let bt = runs[base].trajectory.as_ref()?;
    let paths: Vec<Path2> = group
        .iter()
        .map(|&i| Path2 {
            points: runs[i]
                .trajectory
                .as_ref()
                .map(|t| t.points.clone())
                .unwrap_or_default(),
            color: run_color(i),
            width: run_stroke(i).width,
            label: match runs[i].status().as_str() {
                "completed" => names[i].clone(),
                s => format!("{} ({s})", names[i]),
            },
        })
        .collect();
    let left_out: Vec<&str> = (0..runs.len())
        .filter(|i| !group.contains(i))
        .map(|i| names[i].as_str())
        .collect();
    let mut notes = vec![format!("level sets: {}", names[base])];
    if !left_out.is_empty() {
        notes.push(format!("not on this plane: {}", left_out.join(", ")));
    }
    let minima = bt.minima();
    let svg = trajectory::draw(&TrajectoryPlot {
        class: "figure compare-trajectory",
        title: format!(
            "trajectories on the plane of {} and {}",
            bt.labels[0], bt.labels[1]
        ),
        labels: bt.labels.clone(),
        surface: bt.surface.as_ref(),
        minima,
        paths,
        notes,
        grey_levels: true,
    });
    Some(Figure {
        file: "trajectory.svg",
        svg,
        caption: format!(
            "The paths of the runs on their common plane ({}), over the level sets of the loss \
             recorded by {}. Paths that leave the box are cut at its edge.",
            escape(bt.info_str("about").unwrap_or("the same plane")),
            escape(&names[base])
        ),
    })
}

/// Flattened `path -> value` of a JSON object (numbers and strings as text).
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), html::json_value(other));
        }
    }
}

fn report(runs: &[RunData], names: &[String], figures: &[Figure]) -> String {
    let mut h = html::page_start(&format!(
        "comparison of {} runs - safeguard-sim",
        runs.len()
    ));
    let _ = writeln!(h, "<h1>Comparison of {} runs</h1>", runs.len());
    h.push_str("<h2 id=\"runs\">Runs</h2>\n<table class=\"runs\">\n<tr><th>run</th><th>aggregator</th><th>attack</th><th>status</th><th>rounds</th><th>final loss</th><th>best loss</th><th>expelled (Byzantine / honest)</th><th>first expulsion</th><th>faults</th></tr>\n");
    for (i, (r, n)) in runs.iter().zip(names).enumerate() {
        let kind = |k: &str| {
            r.scenario
                .as_ref()
                .and_then(|s| s.get(k))
                .and_then(|a| a.get("kind"))
                .and_then(|v| v.as_str())
                .map_or("—".to_string(), escape)
        };
        let expelled = |role| {
            let mut seen = std::collections::BTreeSet::new();
            r.expulsions
                .iter()
                .filter(|e| e.role == role && seen.insert(e.worker))
                .count()
        };
        let _ = writeln!(
            h,
            "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}<br><small>{}</small></td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} / {}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            run_color(i).hex(),
            escape(n),
            escape(&r.dir.display().to_string()),
            kind("aggregator"),
            kind("attack"),
            escape(&r.status()),
            int(r.last_round().max(0) as u64),
            r.summary_f64(&["final", "loss"])
                .map_or("—".to_string(), |v| num(v, 5)),
            best_loss(r).map_or("—".to_string(), |(v, _)| num(v, 5)),
            expelled(super::data::Role::Byzantine),
            expelled(super::data::Role::Honest),
            r.expulsions
                .first()
                .map_or("—".to_string(), |e| int(e.round.max(0) as u64)),
            int(r.faults.rows.len() as u64),
        );
    }
    h.push_str("</table>\n<ul>\n");
    for (r, n) in runs.iter().zip(names) {
        let _ = writeln!(
            h,
            "<li><b>{}</b>: {}{}</li>",
            escape(n),
            verdict(r),
            super::report::warnings(r)
        );
    }
    h.push_str("</ul>\n");
    // The settings that differ.
    let flat: Vec<BTreeMap<String, String>> = runs
        .iter()
        .map(|r| {
            let mut m = BTreeMap::new();
            if let Some(s) = &r.scenario {
                flatten("", &serde_json::Value::Object(s.clone()), &mut m);
            }
            m
        })
        .collect();
    let keys: std::collections::BTreeSet<&String> = flat.iter().flat_map(|m| m.keys()).collect();
    let differing: Vec<&String> = keys
        .into_iter()
        .filter(|k| k.as_str() != "name" && k.as_str() != "$schema")
        .filter(|k| flat.iter().any(|m| m.get(*k) != flat[0].get(*k)))
        .collect();
    h.push_str("<h2 id=\"settings\">Settings that differ</h2>\n");
    if differing.is_empty() {
        h.push_str("<p>The scenarios are the same but for their names.</p>\n");
    } else {
        h.push_str("<table class=\"settings-diff\">\n<tr><th>setting</th>");
        for n in names {
            let _ = write!(h, "<th>{}</th>", escape(n));
        }
        h.push_str("</tr>\n");
        for k in differing {
            let _ = write!(h, "<tr><th>{}</th>", escape(k));
            for m in &flat {
                let _ = write!(h, "<td>{}</td>", m.get(k).map_or("—", String::as_str));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2 id=\"figures\">Figures</h2>\n");
    for (k, f) in figures.iter().enumerate() {
        html::figure(&mut h, k + 1, f.file, &f.svg, &f.caption);
    }
    html::page_end(&mut h);
    h
}
