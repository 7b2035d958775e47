//! The sweep's figures, drawn from its comparison and its cells' files:
//! - `heatmap.svg`: defenses x attacks, colour = the final metric's mean over seeds (test accuracy
//!   where the problem reports one; else the final loss above the known minimum, on a log scale;
//!   else the final loss);
//! - `overlay-<attack>.svg`: one per attack (per column of the tables), a curve per defense, the
//!   mean over seeds with a ± std band;
//! - `rate.svg`: with a `target` and a swept `workers`, the rounds to reach the target against
//!   `alpha^2 + 1/m` (Theorem 2.3 of the SafeguardSGD paper).
//!
//! Everything is read in grid order, so the figures depend on the cells' results only (never on
//! `--jobs`, `--resume` or sharding).

use std::path::Path;

use super::table::{Comparison, Group};
use crate::error::Error;
use crate::plot::heatmap::{HeatCell, HeatPanel, Heatmap};
use crate::plot::overlay::{OverlayGroup, OverlayMetric, overlay};
use crate::plot::rate::{self, RatePoint, RateSeries};
use crate::plot::scale::Scale;
use crate::plot::svg::escape;

/// A figure of the sweep: its file, the SVG and its caption (HTML).
#[derive(Debug, Clone)]
pub struct Figure {
    /// File name in the sweep directory.
    pub file: String,
    /// The SVG.
    pub svg: String,
    /// What it shows (HTML).
    pub caption: String,
}

/// What the heatmap and overlays show, by the cells' files: test accuracy when any cell reports
/// one, else the loss above the known minimum when every cell knows the same one, else the loss.
fn metric(c: &Comparison) -> OverlayMetric {
    if c.results.iter().any(|r| r.final_accuracy.is_some()) {
        return OverlayMetric::Accuracy;
    }
    match c.results.first().and_then(|r| r.known_min) {
        Some(f) if c.results.iter().all(|r| r.known_min == Some(f)) => OverlayMetric::LossGap(f),
        _ => OverlayMetric::Loss,
    }
}

/// Every figure of the sweep, in the report's order: the heatmap, the rate figure (when there
/// is one) and the overlays.
pub fn figures(dir: &Path, c: &Comparison) -> Result<Vec<Figure>, Error> {
    let m = metric(c);
    let mut out = vec![heatmap(c, m)];
    if let Some(f) = rate_figure(c) {
        out.push(f);
    }
    out.extend(overlays(dir, c, m)?);
    Ok(out)
}

/// The seeds label: `2 seeds`.
fn seeds_text(n: usize) -> String {
    format!("{n} seed{}", if n == 1 { "" } else { "s" })
}

fn heatmap(c: &Comparison, m: OverlayMetric) -> Figure {
    let axes = c.axes();
    let groups = c.groups();
    let value = |r: &super::table::CellResult| -> Option<f64> {
        match m {
            OverlayMetric::Accuracy => r.final_accuracy.map(|a| 100.0 * a),
            OverlayMetric::LossGap(f) => Some(r.final_loss - f),
            OverlayMetric::Loss => Some(r.final_loss),
        }
        .filter(|v| v.is_finite())
    };
    let cell = |g: &Group| -> HeatCell {
        let members: Vec<&super::table::CellResult> =
            g.members.iter().map(|&i| &c.results[i]).collect();
        let diverged = members.iter().filter(|r| r.status == "diverged").count();
        let vals: Vec<f64> = members
            .iter()
            .filter(|r| r.status != "diverged")
            .filter_map(|r| value(r))
            .collect();
        let (value, std) = mean_std(&vals);
        HeatCell {
            value,
            std,
            seeds: members.len(),
            diverged,
        }
    };
    let panels = axes
        .combos
        .iter()
        .map(|combo| HeatPanel {
            title: c.combo_labels(&axes, combo).join(", "),
            cells: axes
                .rows
                .iter()
                .map(|&r| {
                    axes.cols
                        .iter()
                        .map(|&col| Comparison::group_at(&groups, &axes, r, col, combo).map(cell))
                        .collect()
                })
                .collect(),
        })
        .collect();
    let (what, scale, higher, percent) = match m {
        OverlayMetric::Accuracy => ("final test accuracy", Scale::Linear, true, true),
        OverlayMetric::LossGap(_) => ("final loss − f*", Scale::Log, false, false),
        OverlayMetric::Loss => (
            "final loss",
            Scale::symlog_for(c.results.iter().map(|r| r.final_loss), 12),
            false,
            false,
        ),
    };
    let key_name = |k: Option<usize>| k.map(|k| c.layout.keys[k].path.clone()).unwrap_or_default();
    let h = Heatmap {
        title: format!("{what}, mean over {}", seeds_text(c.seeds())),
        metric: what.to_string(),
        scale,
        higher_is_better: higher,
        percent,
        row_title: key_name(axes.row),
        col_title: key_name(axes.col),
        rows: axes.rows.iter().map(|&r| c.label(axes.row, r)).collect(),
        cols: axes.cols.iter().map(|&v| c.label(axes.col, v)).collect(),
        panels,
    };
    let scale_words = match m {
        OverlayMetric::Accuracy => "on a linear colour scale over the values' range".to_string(),
        OverlayMetric::LossGap(f) => format!(
            "the final loss minus the problem's known minimum f* = {}, on a logarithmic colour \
             scale (a value at or below 0 takes its low end)",
            crate::plot::format::round_sig(f, 6)
        ),
        OverlayMetric::Loss => "the final loss, on a symmetric logarithmic colour scale".into(),
    };
    Figure {
        file: "heatmap.svg".into(),
        svg: crate::plot::heatmap::draw(&h),
        caption: format!(
            "Each cell is one {} x {} pair: {scale_words}, the mean over the seeds (printed, \
             with ± the sample standard deviation). Colours are viridis (dark: low, yellow: high). \
             A hatched cell had seeds that diverged: its colour and value are the mean of the \
             others, which the tables above (means over every seed) do not leave out. A grey \
             cell diverged with every seed.{}",
            escape(&h.row_title),
            escape(&h.col_title),
            if axes.combos.len() > 1 {
                " One panel per value of the other swept keys, on one colour scale."
            } else {
                ""
            }
        ),
    }
}

/// The comparison's mean and sample standard deviation, with no mean for no values.
fn mean_std(v: &[f64]) -> (Option<f64>, Option<f64>) {
    if v.is_empty() {
        return (None, None);
    }
    let (mean, std) = super::table::mean_std(v);
    (Some(mean), std)
}

/// The file name of the overlay of column label `col` and other labels `rest`.
pub fn overlay_file(col: Option<&str>, rest: &[String]) -> String {
    let mut parts: Vec<&str> = col.into_iter().collect();
    parts.extend(rest.iter().map(String::as_str));
    if parts.is_empty() {
        "overlay.svg".into()
    } else {
        format!("overlay-{}.svg", parts.join("__"))
    }
}

fn overlays(dir: &Path, c: &Comparison, m: OverlayMetric) -> Result<Vec<Figure>, Error> {
    let axes = c.axes();
    let groups = c.groups();
    let mut out = Vec::new();
    for combo in &axes.combos {
        let rest = c.combo_labels(&axes, combo);
        for &col in &axes.cols {
            let col_label = axes.col.map(|_| c.label(axes.col, col));
            let curves: Vec<OverlayGroup> = axes
                .rows
                .iter()
                .filter_map(|&r| {
                    let g = Comparison::group_at(&groups, &axes, r, col, combo)?;
                    Some(OverlayGroup {
                        label: c.label(axes.row, r),
                        runs: g
                            .members
                            .iter()
                            .map(|&i| dir.join("cells").join(&c.layout.cells[i].name))
                            .collect(),
                    })
                })
                .collect();
            let mut title = m.describe().to_string();
            if let (Some(k), Some(l)) = (axes.col, &col_label) {
                // The key's name, unless the label starts with it (`lr-0.01`).
                let key = &c.layout.keys[k];
                let last = key.paths[0].rsplit('.').next().unwrap_or("");
                if key.paths.len() == 1 && !l.starts_with(last) {
                    title.push_str(&format!(" — {} {l}", key.path));
                } else {
                    title.push_str(&format!(" — {l}"));
                }
            }
            if !rest.is_empty() {
                title.push_str(&format!(" ({})", rest.join(", ")));
            }
            let per = axes.row.map_or("group of seeds".to_string(), |k| {
                c.layout.keys[k].path.clone()
            });
            let fig = overlay(&title, &per, m, &curves).map_err(Error::Plot)?;
            out.push(Figure {
                file: overlay_file(col_label.as_deref(), &rest),
                svg: fig.svg,
                caption: fig.caption,
            });
        }
    }
    Ok(out)
}

/// The key that sets `workers`, if one does.
fn workers_key(c: &Comparison) -> Option<usize> {
    c.layout
        .keys
        .iter()
        .position(|k| k.paths.iter().any(|p| p == "workers"))
}

/// The rate figure: with a target and a swept `workers`. Series: the values of the keys that set
/// the whole `aggregator` or `attack`; the best over the values of every other key (but the seed).
fn rate_figure(c: &Comparison) -> Option<Figure> {
    let target = c.layout.target.as_ref()?;
    let wk = workers_key(c)?;
    let keys = &c.layout.keys;
    let seed = c.layout.seed_key();
    let series_keys: Vec<usize> = (0..keys.len())
        .filter(|&k| {
            keys[k]
                .paths
                .iter()
                .any(|p| p == "aggregator" || p == "attack")
        })
        .filter(|&k| k != wk)
        .collect();
    let tuned_keys: Vec<usize> = (0..keys.len())
        .filter(|&k| k != wk && Some(k) != seed && !series_keys.contains(&k))
        .collect();
    let groups = c.groups();
    let label_of = |g: &Group, ks: &[usize]| -> String {
        ks.iter()
            .filter_map(|&k| g.choice[k].map(|v| keys[k].labels[v].clone()))
            .collect::<Vec<_>>()
            .join("__")
    };
    // Series in order of first appearance.
    let mut series: Vec<(String, RateSeries)> = Vec::new();
    for g in &groups {
        let name = label_of(g, &series_keys);
        if !series.iter().any(|s| s.0 == name) {
            series.push((
                name.clone(),
                RateSeries {
                    label: name,
                    ..RateSeries::default()
                },
            ));
        }
    }
    for (name, s) in &mut series {
        for w in 0..keys[wk].values.len() {
            let cands: Vec<&Group> = groups
                .iter()
                .filter(|g| g.choice[wk] == Some(w) && label_of(g, &series_keys) == *name)
                .collect();
            let mut best: Option<RatePoint> = None;
            let mut machines = None;
            for g in cands {
                let members: Vec<&super::table::CellResult> =
                    g.members.iter().map(|&i| &c.results[i]).collect();
                let Some((h, b)) = members.first().and_then(|r| r.workers) else {
                    continue;
                };
                machines = Some((h + b, b));
                let rounds: Vec<f64> = members.iter().filter_map(|r| r.rounds_to_target).collect();
                if rounds.len() < members.len() || rounds.is_empty() {
                    continue;
                }
                let (mean, std) = mean_std(&rounds);
                let point = RatePoint {
                    machines: h + b,
                    byzantine: b,
                    rounds: mean.unwrap_or(f64::NAN),
                    std,
                    choice: label_of(g, &tuned_keys),
                };
                if !tuned_keys.is_empty() {
                    match s.fixed.iter_mut().find(|f| f.0 == point.choice) {
                        Some(f) => f.1.push(point.clone()),
                        None => s.fixed.push((point.choice.clone(), vec![point.clone()])),
                    }
                }
                if best.as_ref().is_none_or(|p| point.rounds < p.rounds) {
                    best = Some(point);
                }
            }
            match (best, machines) {
                (Some(p), _) => s.best.push(p),
                (None, Some(mb)) => s.unreached.push(mb),
                (None, None) => {}
            }
        }
    }
    let series: Vec<RateSeries> = series.into_iter().map(|s| s.1).collect();
    if series.iter().all(|s| s.best.is_empty()) {
        return None;
    }
    // In the figure, each tuned key by its first path (a zipped key's others follow it).
    let tuned_short: String = tuned_keys
        .iter()
        .map(|&k| keys[k].paths[0].clone())
        .collect::<Vec<_>>()
        .join(", ");
    let tuned: String = tuned_keys
        .iter()
        .map(|&k| match keys[k].paths.len() {
            1 => keys[k].path.clone(),
            _ => format!(
                "{} (with {})",
                keys[k].paths[0],
                keys[k].paths[1..].join(", ")
            ),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let svg = rate::draw(
        &format!(
            "rounds to reach the target against α² + 1/m — {}",
            c.layout.name
        ),
        &series,
        &format!("target: {}", target.describe()),
        &tuned_short,
    );
    let mut fits = Vec::new();
    for s in &series {
        if let Some((k, lo, hi)) = rate::fit(&s.best) {
            let who = if s.label.is_empty() {
                String::new()
            } else {
                format!("{}: ", escape(&s.label))
            };
            let mut text = format!(
                "{who}c = {} (measured / fitted from {} to {})",
                crate::plot::format::round_sig(k, 4),
                crate::plot::format::round_sig(lo, 2),
                crate::plot::format::round_sig(hi, 2)
            );
            if let Some((slope, r)) = rate::power_fit(&s.best) {
                text.push_str(&format!(
                    "; a free power law rounds ∝ (α² + 1/m)^s fits s = {} (correlation of the \
                     logarithms {})",
                    crate::plot::format::round_sig(slope, 2),
                    crate::plot::format::round_sig(r, 2)
                ));
            }
            fits.push(text);
        }
    }
    let unreached: Vec<String> = series
        .iter()
        .flat_map(|s| s.unreached.iter())
        .map(|(m, b)| format!("m = {m} with {b} Byzantine"))
        .collect();
    let mut caption = format!(
        "Rounds to reach the target ({}) against α² + 1/m, the factor of Theorem 2.3 \
         (Allen-Zhu et al. 2021), on log-log axes: one marker per machine setting (m machines, \
         α m of them Byzantine), coloured by m, the mean over the seeds with a bar of ± one \
         standard deviation. The dashed line is c (α² + 1/m) with c fitted by least squares on \
         the logarithms: {}.",
        escape(&target.describe()),
        fits.join("; ")
    );
    if !tuned.is_empty() {
        caption.push_str(&format!(
            " Each marker is the best {} of its setting (the fewest rounds among the values \
             where every seed reached the target); a thin grey line joins the points of one \
             value across settings.",
            escape(&tuned)
        ));
    }
    if !unreached.is_empty() {
        caption.push_str(&format!(
            " Not reached with every seed at any value: {}.",
            unreached.join(", ")
        ));
    }
    Some(Figure {
        file: "rate.svg".into(),
        svg,
        caption,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::Layout;

    /// A cell directory with rounds.csv (`(round, loss, accuracy)` rows), summary.json and
    /// scenario.json, as a run writes them.
    fn cell(dir: &Path, name: &str, status: &str, rows: &[(u32, f64, f64)]) {
        let d = dir.join("cells").join(name);
        std::fs::create_dir_all(&d).unwrap();
        let mut csv = String::from(
            "round,loss,grad_norm,good,byzantine_in_good,agg_error,no_reference,faults,accuracy\n",
        );
        for (r, l, a) in rows {
            csv.push_str(&format!("{r},{l},1,4,1,,0,0,{a}\n"));
        }
        std::fs::write(d.join("rounds.csv"), csv).unwrap();
        std::fs::write(
            d.join("summary.json"),
            format!(
                "{{\"status\": \"{status}\", \"rounds\": {}, \"expelled\": {{\"byzantine\": 0, \"honest\": 0}}}}",
                rows.len() - 1
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("scenario.json"),
            "{\"workers\": {\"honest\": 3, \"byzantine\": 1}}",
        )
        .unwrap();
    }

    #[test]
    fn test_accuracy_is_shown_when_the_cells_report_it() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::parse(
            r#"{"name": "acc", "seed": 1, "rounds": 2, "problem": {"kind": "mlp"},
                "aggregator": {"kind": "mean"},
                "sweep": {"aggregator": [{"kind": "mean"}, {"kind": "median"}], "seed": [1, 2]}}"#,
            "acc.json",
        )
        .unwrap();
        let dir = tmp.path();
        cell(
            dir,
            "mean__seed-1",
            "completed",
            &[(0, 2.3, 0.1), (1, 1.0, 0.6), (2, 0.5, 0.7)],
        );
        cell(
            dir,
            "mean__seed-2",
            "completed",
            &[(0, 2.3, 0.1), (1, 1.1, 0.5), (2, 0.6, 0.8)],
        );
        cell(
            dir,
            "median__seed-1",
            "completed",
            &[(0, 2.3, 0.1), (1, 1.0, 0.9), (2, 0.4, 0.9)],
        );
        cell(
            dir,
            "median__seed-2",
            "diverged",
            &[(0, 2.3, 0.1), (1, f64::INFINITY, 0.1)],
        );
        let c = Comparison::read(dir, &layout).unwrap();
        let figs = figures(dir, &c).unwrap();
        let files: Vec<&str> = figs.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(files, ["heatmap.svg", "overlay.svg"]);
        let heat = &figs[0].svg;
        assert!(
            heat.contains("final test accuracy, mean over 2 seeds"),
            "{heat}"
        );
        assert!(heat.contains("higher is better"));
        // mean: (70 + 80) / 2 %; median: the seed that did not diverge, hatched.
        assert!(
            heat.contains(">75.0%</text>") && heat.contains(">± 7.1</text>"),
            "{heat}"
        );
        assert!(heat.contains(">90.0%</text>") && heat.contains(">1/2 diverged</text>"));
        // The fixed 0-100 % colour scale.
        assert!(
            heat.contains(">0%</text>") && heat.contains(">100%</text>"),
            "{heat}"
        );
        let overlay = &figs[1].svg;
        assert!(overlay.contains("test accuracy (%)"));
        assert!(overlay.contains("median (1/2 seeds diverged)"));
        assert!(!figs[1].caption.contains("f*"));
    }
}
