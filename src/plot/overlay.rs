//! Overlays of groups of runs: one curve per group (the runs of a sweep that differ only in their
//! seed), the mean over the seeds with a band of ± one standard deviation across them, against
//! the round. A sweep draws one per attack (`overlay-<attack>.svg`), a curve per defense.
//!
//! Honest with runs of different lengths: the mean (solid) and its band are drawn over the rounds
//! where every seed is still running. After a seed diverged, the mean of the seeds still running
//! goes on dashed and without a band (a mean over fewer seeds, by survivors), and a cross marks
//! where each seed diverged (at its last finite value; at the top edge when that is off the
//! plot). A diverged run's last row (its diverged state) never enters a mean.
//!
//! Long runs: the mean line is downsampled per pixel column to its min/max envelope (M4) as
//! every time plot is, and the band to the per-column lowest low and highest high of the
//! per-round bands ([`super::downsample::band_envelope`]), so neither hides a round.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::PlotError;
use super::chart::{HLine, Series, SeriesData, TimeRow};
use super::csv::CsvReader;
use super::curves::{known_minimum, single_row_svg_with};
use super::format::round_sig;
use super::legend::{LegendItem, Mark, cross_halo};
use super::palette::{self, run_color};
use super::scale::Scale;
use super::svg::Stroke;

/// What an overlay draws against the round.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OverlayMetric {
    /// The loss above the problem's known minimum `f*` (the value), on a symmetric log scale.
    LossGap(f64),
    /// The loss, on a symmetric log scale (no known minimum).
    Loss,
    /// The test accuracy, in percent, on a linear scale.
    Accuracy,
}

impl OverlayMetric {
    /// A value of rounds.csv's column as drawn (the loss gap subtracts `f*`; the accuracy, a
    /// fraction, is drawn in percent).
    pub fn value(self, v: f64) -> f64 {
        match self {
            OverlayMetric::LossGap(f) => v - f,
            OverlayMetric::Loss => v,
            OverlayMetric::Accuracy => 100.0 * v,
        }
    }

    /// The y scale for the drawn `values`: linear for the accuracy, symmetric log otherwise.
    pub fn scale(self, values: impl IntoIterator<Item = f64>) -> Scale {
        match self {
            OverlayMetric::Accuracy => Scale::Linear,
            _ => Scale::symlog_for(values, 12),
        }
    }

    /// The drawn values the y axis always includes: 0 to 100 % for the accuracy (a fixed scale,
    /// so that figures of different runs read alike), the minimum (0) for the loss gap.
    pub fn y_include(self) -> Vec<f64> {
        match self {
            OverlayMetric::LossGap(_) => vec![0.0],
            OverlayMetric::Loss => Vec::new(),
            OverlayMetric::Accuracy => vec![0.0, 100.0],
        }
    }

    /// The y axis title.
    pub(crate) fn axis_title(self, scale: Scale) -> String {
        match self {
            OverlayMetric::LossGap(_) => format!("loss − f* ({})", scale.describe()),
            OverlayMetric::Loss => format!("loss ({})", scale.describe()),
            OverlayMetric::Accuracy => "test accuracy (%)".to_string(),
        }
    }

    /// What the curves show, for titles and captions.
    pub fn describe(self) -> &'static str {
        match self {
            OverlayMetric::LossGap(_) => "loss above the known minimum",
            OverlayMetric::Loss => "loss",
            OverlayMetric::Accuracy => "test accuracy",
        }
    }
}

/// One curve: a group of runs that differ only in their seed.
#[derive(Debug, Clone)]
pub struct OverlayGroup {
    /// The curve's name in the legend (the defense).
    pub label: String,
    /// The run directories, one per seed.
    pub runs: Vec<PathBuf>,
}

/// The mean over seeds of one group, round by round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupStats {
    /// `(round, mean, std)` where every seed is running (`std` is 0 with one seed).
    pub full: Vec<(f64, f64, f64)>,
    /// `(round, mean)` of the seeds still running once one has diverged.
    pub partial: Vec<(f64, f64)>,
    /// Where seeds diverged: `(round, last finite value before, if any)`.
    pub ends: Vec<(f64, Option<f64>)>,
    /// Seeds in the group.
    pub seeds: usize,
}

/// One run's curve: `(round, value)` from rounds.csv (values not finite as NaN), sorted by
/// round, and whether the run diverged (summary.json's `status`).
fn read_run(dir: &Path, metric: OverlayMetric) -> Result<(Vec<(i64, f64)>, bool), PlotError> {
    let path = dir.join("rounds.csv");
    let column = match metric {
        OverlayMetric::Accuracy => "accuracy",
        _ => "loss",
    };
    let mut csv =
        CsvReader::open(&path, &["round", column])?.ok_or_else(|| PlotError::NotARun {
            path: dir.to_path_buf(),
            reason: "no rounds.csv".to_string(),
        })?;
    let mut rows = Vec::new();
    while let Some(row) = csv.next_row()? {
        let round = row.req_round(0)?;
        let v = row.opt_f64(1)?.unwrap_or(f64::NAN);
        rows.push((round, metric.value(v)));
    }
    rows.sort_by_key(|r| r.0);
    let summary = dir.join("summary.json");
    let diverged = std::fs::read_to_string(&summary)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["status"] == "diverged");
    Ok((rows, diverged))
}

/// The statistics of runs `curves` (`(rows, diverged)` each, in seed order): at each round, the
/// mean and sample standard deviation of the finite values of the runs still running there. A
/// diverged run runs up to (not including) its last row.
pub fn group_stats(curves: &[(Vec<(i64, f64)>, bool)]) -> GroupStats {
    let seeds = curves.len();
    // Round -> values of the runs running there, in seed order.
    let mut at: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    let mut ends = Vec::new();
    let mut alive_until: Vec<i64> = Vec::with_capacity(seeds);
    for (rows, diverged) in curves {
        let last = rows.last().map_or(i64::MIN, |r| r.0);
        let running = |r: i64| !*diverged || r < last;
        for &(r, v) in rows {
            if running(r) && v.is_finite() {
                at.entry(r).or_default().push(v);
            }
        }
        if *diverged {
            let before = rows.iter().rev().find(|p| p.1.is_finite()).map(|p| p.1);
            ends.push((last as f64, before));
            alive_until.push(last - 1);
        } else {
            alive_until.push(i64::MAX);
        }
    }
    let mut stats = GroupStats {
        seeds,
        ends,
        ..GroupStats::default()
    };
    for (&r, vals) in &at {
        let running = alive_until.iter().filter(|&&u| r <= u).count();
        let n = vals.len() as f64;
        let mean = vals.iter().sum::<f64>() / n;
        if running == seeds && vals.len() == seeds {
            let std = if vals.len() > 1 {
                (vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)).sqrt()
            } else {
                0.0
            };
            stats.full.push((r as f64, mean, std));
        } else if running < seeds {
            stats.partial.push((r as f64, mean));
        }
    }
    // The dashed part starts where the solid one ends.
    if let (Some(&(r, m, _)), Some(first)) = (stats.full.last(), stats.partial.first())
        && first.0 > r
    {
        stats.partial.insert(0, (r, m));
    }
    stats
}

/// An overlay figure and its caption (HTML).
pub struct OverlayFigure {
    /// The SVG.
    pub svg: String,
    /// What it shows.
    pub caption: String,
}

/// The stroke of curve `i`: its colour, dashed from the ninth curve on (the palette repeats).
fn curve_stroke(i: usize) -> Stroke {
    let s = Stroke::solid(run_color(i), 2.2);
    if i >= palette::RUN_COLORS.len() {
        Stroke {
            dash: Some("10 4"),
            ..s
        }
    } else {
        s
    }
}

/// Draw the overlay titled `title` of `groups`, showing `metric`; `per` names what a curve
/// stands for in the caption (`aggregator`).
pub fn overlay(
    title: &str,
    per: &str,
    metric: OverlayMetric,
    groups: &[OverlayGroup],
) -> Result<OverlayFigure, PlotError> {
    let mut stats = Vec::with_capacity(groups.len());
    for g in groups {
        let curves = g
            .runs
            .iter()
            .map(|r| read_run(r, metric))
            .collect::<Result<Vec<_>, _>>()?;
        stats.push(group_stats(&curves));
    }
    let loss_gap = matches!(metric, OverlayMetric::LossGap(_));
    // Bands first (under every line), then the lines.
    let mut series = Vec::new();
    let mut lines = Vec::new();
    let (mut fit, mut fit_lines) = (Vec::new(), Vec::new());
    let mut legend: Vec<LegendItem> = Vec::new();
    for (i, (g, st)) in groups.iter().zip(&stats).enumerate() {
        let stroke = curve_stroke(i);
        let ok = st.ends.is_empty();
        if st.seeds > 1 {
            if ok {
                fit.push(series.len());
            }
            let band: Vec<(f64, f64, f64)> = st
                .full
                .iter()
                .map(|&(r, m, s)| {
                    // loss − f* is never below 0: the band stops at the minimum.
                    let lo = if loss_gap { (m - s).max(0.0) } else { m - s };
                    (r, lo, m + s)
                })
                .collect();
            series.push(Series {
                class: format!("band-{i}"),
                stroke: stroke.alpha(0.18),
                data: SeriesData::Band(band),
            });
        }
        if ok {
            fit_lines.push(lines.len());
        }
        lines.push(Series {
            class: format!("mean curve-{i}"),
            stroke,
            data: SeriesData::Points(st.full.iter().map(|&(r, m, _)| (r, m)).collect()),
        });
        if !st.partial.is_empty() {
            lines.push(Series {
                class: format!("survivors curve-{i}"),
                stroke: Stroke {
                    dash: Some("3 3"),
                    width: 1.6,
                    ..stroke
                },
                data: SeriesData::Points(st.partial.clone()),
            });
        }
        let note = match st.ends.len() {
            0 => String::new(),
            k => format!(" ({k}/{} seeds diverged)", st.seeds),
        };
        legend.push((format!("{}{note}", g.label), Mark::Line(stroke)));
    }
    // Fit the axis to the groups where no seed diverged (all of them if every group has one).
    let bands = series.len();
    series.extend(lines);
    fit.extend(fit_lines.into_iter().map(|k| bands + k));
    let fit_series = (!fit.is_empty() && fit.len() < series.len()).then_some(fit);
    let seeds = stats.iter().map(|s| s.seeds).max().unwrap_or(0);
    let any_partial = stats.iter().any(|s| !s.partial.is_empty());
    let any_end = stats.iter().any(|s| !s.ends.is_empty());
    let mut remarks = Vec::new();
    if seeds > 1 {
        remarks.push(format!(
            "line: mean over the {seeds} seeds; shaded: ± 1 std across them"
        ));
    }
    if any_partial {
        remarks.push("dashed: mean of the seeds still running after one diverged".to_string());
    }
    if !remarks.is_empty() {
        legend.push((remarks.join("; "), Mark::Remark));
    }
    if any_end {
        legend.push((
            "a seed diverged (its last finite value, or the top edge)".to_string(),
            Mark::Cross(palette::GREY_TEXT),
        ));
    }
    let values = series
        .iter()
        .enumerate()
        .filter(|(k, _)| fit_series.as_ref().is_none_or(|f| f.contains(k)))
        .flat_map(|(_, s)| match &s.data {
            // The scale's linear part follows the means: a band edge near 0 (a standard
            // deviation as large as the mean) then lies in the linear part, not decades below.
            SeriesData::Points(p) => p.iter().map(|q| q.1).collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect::<Vec<_>>();
    let scale = metric.scale(values);
    let mut hlines: Vec<HLine> = Vec::new();
    if let OverlayMetric::LossGap(f) = metric {
        let (line, item) = known_minimum(f, Stroke::solid(palette::GREY_TEXT, 1.5));
        hlines.push(line);
        legend.push(item);
    }
    let x_hi = stats
        .iter()
        .flat_map(|s| {
            s.full
                .last()
                .map(|p| p.0)
                .into_iter()
                .chain(s.partial.last().map(|p| p.0))
                .chain(s.ends.iter().map(|e| e.0))
        })
        .fold(1.0f64, f64::max);
    let row = TimeRow {
        title: String::new(),
        y_title: metric.axis_title(scale),
        y_scale: scale,
        y_include: metric.y_include(),
        y_integers: false,
        fit_series,
        x_range: (0.0, x_hi),
        zoom: None,
        series,
        hlines,
        events: Vec::new(),
        empty_note: format!("no finite values of the {}", metric.describe()),
        dots: false,
    };
    // Curves of groups left out of the fit that rise above the axis: say so in the legend.
    let axis = super::chart::row_y_axis(&row);
    for (i, st) in stats.iter().enumerate() {
        let above = st
            .full
            .iter()
            .map(|p| p.1)
            .chain(st.partial.iter().map(|p| p.1))
            .any(|v| scale.forward(v).is_some_and(|t| t > axis.hi));
        if above && !st.ends.is_empty() {
            let (label, _) = &mut legend[i];
            label.push_str(" — leaves the plot");
        }
    }
    let ends: Vec<(f64, Option<f64>, usize)> = stats
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.ends.iter().map(move |&(r, v)| (r, v, i)))
        .collect();
    let svg = single_row_svg_with("figure sweep-overlay", title, &legend, &row, |svg, f| {
        let f = f.main;
        svg.begin_group("divergences");
        for (r, v, i) in ends {
            let Some(x) = f.px_x(r) else { continue };
            let top = f.rect.y + 6.0;
            let y = v
                .and_then(|v| f.px_y(v))
                .map_or(top, |y| y.clamp(top, f.rect.y + f.rect.h - 6.0));
            cross_halo(svg, (x, y), 5.0, run_color(i), "diverged");
        }
        svg.end_group();
    });
    let mut caption = format!(
        "The {} against the round, one curve per {} (its runs differ only in their seed): the \
         mean over the seeds{}.",
        metric.describe(),
        super::svg::escape(per),
        if seeds > 1 {
            ", with a band of ± one sample standard deviation across them"
        } else {
            ""
        }
    );
    match metric {
        OverlayMetric::LossGap(f) => caption.push_str(&format!(
            " Loss minus the known minimum f* = {}, on a symmetric log scale; the band stops \
             at 0, below which no loss lies.",
            round_sig(f, 6)
        )),
        OverlayMetric::Loss => caption.push_str(" On a symmetric log scale."),
        OverlayMetric::Accuracy => {}
    }
    if any_end {
        caption.push_str(
            " Where a seed diverged, the solid mean and its band stop; the dashed line is the \
             mean of the seeds still running (fewer seeds, the ones that survived), and a cross \
             marks each divergence. The y axis fits the groups where no seed diverged.",
        );
    }
    caption.push_str(
        " Long runs are drawn per pixel column: the line through its min/max envelope, the band \
         through the lowest and highest of its rounds' bands.",
    );
    Ok(OverlayFigure { svg, caption })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_over_seeds_stop_where_a_seed_diverges() {
        let a: Vec<(i64, f64)> = vec![(0, 1.0), (10, 2.0), (20, 3.0), (30, 4.0)];
        let b: Vec<(i64, f64)> = vec![(0, 3.0), (10, 4.0), (13, f64::INFINITY)];
        let s = group_stats(&[(a.clone(), false), (b, true)]);
        // Rounds 0 and 10: both seeds; sample std of {1, 3} is sqrt(2).
        assert_eq!(s.full.len(), 2);
        assert_eq!(s.full[0], (0.0, 2.0, 2f64.sqrt()));
        assert_eq!(s.full[1].1, 3.0);
        // Then the survivor alone, starting from the last full point; the diverged state (round
        // 13) is never averaged.
        assert_eq!(s.partial, vec![(10.0, 3.0), (20.0, 3.0), (30.0, 4.0)]);
        assert_eq!(s.ends, vec![(13.0, Some(4.0))]);
        // One seed: std 0, no partial part.
        let s = group_stats(&[(a, false)]);
        assert_eq!(s.full[3], (30.0, 4.0, 0.0));
        assert!(s.partial.is_empty() && s.ends.is_empty());
    }
}
