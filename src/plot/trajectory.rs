//! trajectory.svg: the path of the parameters on a plane, over level sets of the loss on that
//! plane, with the start, the end and the minima of `f` on the plane marked.
//!
//! Everything comes from files the run wrote ([`super::plane`] explains them): trajectory.csv
//! (the path's coordinates), surface.csv (the loss on a grid) and trajectory.json (what the
//! plane is). Older run directories whose trajectory.csv is `round,x0,x1` without the other
//! files are drawn too, without level sets. The grid is refined by bicubic interpolation before
//! the level sets are traced, so they are smooth curves, not staircases.

use std::path::Path;

use super::PlotError;
use super::chart::{self, AxisText, Frame, Rect, WIDTH};
use super::contour::{contour_lines, simplify, upsample};
use super::csv::{CsvReader, csv_err};
use super::data::{JsonMap, load_json};
use super::format::{int, round_sig};
use super::legend::{self, LegendItem, Mark};
use super::palette::{self, Color};
use super::scale::{Axis, Scale};
use super::svg::{Anchor, Font, Stroke, Svg};

/// The loss on a grid of the plane: `values[j][i]` at `(xs[i], ys[j])`.
#[derive(Debug, Clone)]
pub(crate) struct Surface {
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    pub values: Vec<Vec<f64>>,
}

/// trajectory.csv, surface.csv and trajectory.json of a run.
#[derive(Debug, Clone)]
pub(crate) struct TrajectoryData {
    /// `(round, p1, p2)`, finite points only, by round.
    pub points: Vec<(i64, f64, f64)>,
    /// Rows whose coordinates were not finite.
    pub skipped: usize,
    /// Axis labels (trajectory.json, else the CSV header).
    pub labels: [String; 2],
    /// surface.csv, when present.
    pub surface: Option<Surface>,
    /// trajectory.json, when present.
    pub info: Option<JsonMap>,
}

impl TrajectoryData {
    /// A string of trajectory.json.
    pub fn info_str(&self, key: &str) -> Option<&str> {
        self.info.as_ref()?.get(key)?.as_str()
    }
    /// The minima of `f` on the plane (trajectory.json), as `(p1, p2)`.
    pub fn minima(&self) -> Vec<(f64, f64)> {
        self.info
            .as_ref()
            .and_then(|m| m.get("minima"))
            .and_then(|m| m.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|m| Some((m.get("p1")?.as_f64()?, m.get("p2")?.as_f64()?)))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// The plane's identity, for deciding whether two runs' trajectories can be overlaid: its
    /// kind, axis labels and basis.
    pub fn plane_key(&self) -> String {
        let get = |k: &str| {
            self.info
                .as_ref()
                .and_then(|m| m.get(k))
                .map_or(String::new(), |v| v.to_string())
        };
        format!(
            "{}|{}|{}|{}",
            get("plane"),
            get("dim"),
            self.labels.join(","),
            get("basis")
        )
    }
}

/// Read the trajectory files of `dir`; `Ok(None)` without trajectory.csv.
pub(crate) fn load(dir: &Path) -> Result<Option<TrajectoryData>, PlotError> {
    let path = dir.join("trajectory.csv");
    let Some(csv) = CsvReader::open(&path, &["round"])? else {
        return Ok(None);
    };
    let coords: Vec<String> = csv
        .header()
        .iter()
        .filter(|h| h.as_str() != "round")
        .take(2)
        .cloned()
        .collect();
    if coords.len() < 2 {
        return Err(csv_err(
            &path,
            1,
            "expected `round` and two coordinate columns",
        ));
    }
    drop(csv);
    let cols = ["round", coords[0].as_str(), coords[1].as_str()];
    let Some(mut csv) = CsvReader::open(&path, &cols)? else {
        return Ok(None);
    };
    let mut points = Vec::new();
    let mut skipped = 0;
    while let Some(row) = csv.next_row()? {
        let r = row.req_round(0)?;
        match (row.opt_f64(1)?, row.opt_f64(2)?) {
            (Some(a), Some(b)) if a.is_finite() && b.is_finite() => points.push((r, a, b)),
            _ => skipped += 1,
        }
    }
    points.sort_by_key(|p| p.0);
    let info = load_json(&dir.join("trajectory.json"))?;
    let label = |k: usize| {
        info.as_ref()
            .and_then(|m| m.get("axes"))
            .and_then(|a| a.get(k))
            .and_then(|a| a.get("label"))
            .and_then(|l| l.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| coords[k].clone())
    };
    Ok(Some(TrajectoryData {
        points,
        skipped,
        labels: [label(0), label(1)],
        surface: load_surface(&dir.join("surface.csv"))?,
        info,
    }))
}

fn load_surface(path: &Path) -> Result<Option<Surface>, PlotError> {
    let Some(mut csv) = CsvReader::open(path, &["p1", "p2", "loss"])? else {
        return Ok(None);
    };
    let mut rows: Vec<(f64, f64, f64)> = Vec::new();
    while let Some(row) = csv.next_row()? {
        let a = row
            .opt_f64(0)?
            .ok_or_else(|| row.err("column `p1` is empty"))?;
        let b = row
            .opt_f64(1)?
            .ok_or_else(|| row.err("column `p2` is empty"))?;
        let f = row.opt_f64(2)?.unwrap_or(f64::NAN);
        rows.push((a, b, f));
    }
    let mut xs: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let mut ys: Vec<f64> = rows.iter().map(|r| r.1).collect();
    for v in [&mut xs, &mut ys] {
        v.sort_by(f64::total_cmp);
        v.dedup();
    }
    if rows.is_empty() {
        return Ok(None);
    }
    if xs.len() < 2 || ys.len() < 2 || xs.len() * ys.len() != rows.len() {
        return Err(csv_err(
            path,
            1,
            format!(
                "not a full grid: {} rows for {} x {} distinct coordinates",
                rows.len(),
                xs.len(),
                ys.len()
            ),
        ));
    }
    let mut values = vec![vec![f64::NAN; xs.len()]; ys.len()];
    for (a, b, f) in rows {
        let i = xs.partition_point(|x| *x < a);
        let j = ys.partition_point(|y| *y < b);
        if let Some(cell) = values.get_mut(j).and_then(|r| r.get_mut(i)) {
            *cell = f;
        }
    }
    Ok(Some(Surface { xs, ys, values }))
}

/// One path to draw.
pub(crate) struct Path2 {
    /// `(round, p1, p2)`.
    pub points: Vec<(i64, f64, f64)>,
    /// Colour.
    pub color: Color,
    /// Line width (earlier runs wider in a comparison, so identical paths stay visible).
    pub width: f64,
    /// Legend label (empty: the single run).
    pub label: String,
}

/// Contour levels: ten evenly spaced over the grid's range and eight closer and closer to its
/// minimum (geometric gaps), so both the overall shape and the basins show.
fn levels(values: &[Vec<f64>]) -> Vec<f64> {
    let (lo, hi) = values
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return Vec::new();
    }
    let range = hi - lo;
    let mut out: Vec<f64> = (1..10).map(|k| lo + range * f64::from(k) / 10.0).collect();
    for k in 0..8 {
        out.push(lo + range * 0.05 * 10f64.powf(-f64::from(k) * 0.35));
    }
    out.sort_by(f64::total_cmp);
    out.dedup_by(|a, b| (*a - *b).abs() <= range * 1e-6);
    out
}

/// The plot box: the surface's grid, else the paths with a margin.
fn plot_box(surface: Option<&Surface>, paths: &[Path2]) -> (Axis, Axis) {
    if let Some(s) = surface
        && let (Some(x0), Some(x1), Some(y0), Some(y1)) =
            (s.xs.first(), s.xs.last(), s.ys.first(), s.ys.last())
    {
        return (
            Axis::new(Scale::Linear, *x0, *x1),
            Axis::new(Scale::Linear, *y0, *y1),
        );
    }
    let all = || paths.iter().flat_map(|p| p.points.iter());
    let x = Axis::fit(Scale::Linear, all().map(|p| p.1), 0.1)
        .unwrap_or_else(|| Axis::new(Scale::Linear, -1.0, 1.0));
    let y = Axis::fit(Scale::Linear, all().map(|p| p.2), 0.1)
        .unwrap_or_else(|| Axis::new(Scale::Linear, -1.0, 1.0));
    (x, y)
}

/// A grey for level `t` in [0, 1] (darker for lower levels).
fn level_grey(t: f64) -> Color {
    let v = (110.0 + 110.0 * t.clamp(0.0, 1.0)).round() as u8;
    Color(v, v, v)
}

/// A trajectory figure: paths over level sets.
pub(crate) struct TrajectoryPlot<'a> {
    pub class: &'a str,
    pub title: String,
    pub labels: [String; 2],
    pub surface: Option<&'a Surface>,
    pub minima: Vec<(f64, f64)>,
    pub paths: Vec<Path2>,
    pub notes: Vec<String>,
    /// Level sets in greys (for overlays, where colours name runs).
    pub grey_levels: bool,
}

/// Draw a [`TrajectoryPlot`].
pub(crate) fn draw(plot: &TrajectoryPlot<'_>) -> String {
    let (xa, ya) = plot_box(plot.surface, &plot.paths);
    let mut legend: Vec<LegendItem> = Vec::new();
    let contours: Vec<(usize, Vec<super::contour::Polyline>)> = match plot.surface {
        Some(s) => {
            let (fx, fy, fv) = upsample(&s.xs, &s.ys, &s.values, 3);
            levels(&s.values)
                .into_iter()
                .enumerate()
                .map(|(k, l)| (k, contour_lines(&fx, &fy, &fv, l)))
                .collect()
        }
        None => Vec::new(),
    };
    if !contours.is_empty() {
        legend.push(if plot.grey_levels {
            (
                "level sets of f (darker: lower)".to_string(),
                Mark::Line(Stroke::solid(level_grey(0.3), 1.0)),
            )
        } else {
            (
                "level sets of f (dark: low, yellow: high)".to_string(),
                Mark::Ramp,
            )
        });
    }
    for p in &plot.paths {
        let label = if p.label.is_empty() {
            "path".to_string()
        } else {
            p.label.clone()
        };
        legend.push((label, Mark::Line(Stroke::solid(p.color, p.width))));
    }
    if plot.paths.iter().any(|p| !p.points.is_empty()) {
        legend.push(("start".to_string(), Mark::Dot(palette::START)));
        legend.push(("end".to_string(), Mark::Cross(palette::BLACK)));
    }
    if !plot.minima.is_empty() {
        legend.push((
            "minimum of f on this plane".to_string(),
            Mark::Diamond(palette::MINIMUM),
        ));
    }
    for n in &plot.notes {
        legend.push((n.clone(), Mark::Remark));
    }
    let legend_h = legend::legend_height(&legend, WIDTH - 40.0);
    // Same units on both axes: keep their scale equal when the box is square.
    let square = ((xa.hi - xa.lo) / (ya.hi - ya.lo) - 1.0).abs() < 1e-6;
    let plot_h = 470.0;
    let plot_w = if square {
        plot_h
    } else {
        WIDTH - chart::LEFT - chart::RIGHT
    };
    let height = 36.0 + legend_h + plot_h + 56.0;
    let mut svg = Svg::new(WIDTH, height, plot.class);
    let mut y = chart::draw_title(&mut svg, &plot.title);
    y += legend::draw_legend(&mut svg, &legend, y);
    let x0 = if square {
        (WIDTH - plot_w) / 2.0 + 20.0
    } else {
        chart::LEFT
    };
    let f = Frame {
        rect: Rect {
            x: x0,
            y: y + 6.0,
            w: plot_w,
            h: plot_h,
        },
        x: xa,
        y: ya,
    };
    chart::draw_axes(
        &mut svg,
        &f,
        &AxisText {
            x_title: Some(plot.labels[0].clone()),
            y_title: Some(plot.labels[1].clone()),
            y_labels: true,
            y_integers: false,
            hide_y: false,
        },
    );
    f.clip(&mut svg);
    svg.begin_group("level-sets");
    let denom = contours.len().saturating_sub(1).max(1) as f64;
    for (k, lines) in &contours {
        let t = *k as f64 / denom;
        let color = if plot.grey_levels {
            level_grey(t)
        } else {
            palette::viridis(t * 0.9)
        };
        for line in lines {
            let px = simplify(&f.px_all(line), 0.3);
            svg.polyline(&px, Stroke::solid(color, 1.0), "");
        }
    }
    svg.end_group();
    for p in &plot.paths {
        let pts: Vec<(f64, f64)> = p.points.iter().map(|q| (q.1, q.2)).collect();
        svg.begin_group("path");
        let pieces: Vec<Vec<(f64, f64)>> = pixel_path(&f.px_all(&pts))
            .iter()
            .map(|piece| simplify(piece, 0.3))
            .collect();
        svg.multi_polyline(&pieces, Stroke::solid(p.color, p.width), "");
        svg.end_group();
    }
    for &(a, b) in &plot.minima {
        if let Some(p) = f.px((a, b)) {
            legend::diamond(&mut svg, p, 7.0, palette::MINIMUM, "minimum");
        }
    }
    for p in &plot.paths {
        if plot.paths.len() == 1 {
            time_labels(&mut svg, &f, &p.points);
        }
        if let Some(first) = p.points.first().and_then(|q| f.px((q.1, q.2))) {
            svg.circle(
                first,
                6.0,
                palette::START,
                Some(Stroke::solid(palette::BLACK, 1.0)),
                "start",
            );
        }
        if let Some(last) = p.points.last().and_then(|q| f.px((q.1, q.2))) {
            legend::cross_halo(&mut svg, last, 6.0, palette::BLACK, "end");
        }
    }
    svg.end_group();
    if plot.paths.iter().all(|p| p.points.is_empty()) {
        svg.text(
            (f.rect.x + f.rect.w / 2.0, f.rect.y + f.rect.h / 2.0),
            "no finite trajectory points",
            Font::new(16.0, palette::GREY_TEXT).anchor(Anchor::Middle),
            false,
            "note",
        );
    }
    svg.finish()
}

/// A path in pixels as polylines that draw the same picture with a bounded number of points:
/// points are snapped to the pixel grid, repeats dropped, and each step between two pixels
/// drawn once (a long run that wanders around a minimum for 200,000 rounds crosses the same
/// few pixels again and again). The picture differs from the full path by at most half a
/// pixel; the order of the steps is kept within each polyline.
pub(crate) fn pixel_path(px: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let cell = |p: (f64, f64)| (p.0.round() as i64, p.1.round() as i64);
    let centre = |c: (i64, i64)| (c.0 as f64, c.1 as f64);
    let mut drawn: std::collections::BTreeSet<((i64, i64), (i64, i64))> =
        std::collections::BTreeSet::new();
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let mut last: Option<(i64, i64)> = None;
    for &p in px {
        let c = cell(p);
        let Some(prev) = last else {
            last = Some(c);
            current.push(centre(c));
            continue;
        };
        if c == prev {
            continue;
        }
        let edge = if prev < c { (prev, c) } else { (c, prev) };
        if drawn.insert(edge) {
            if current.is_empty() {
                current.push(centre(prev));
            }
            current.push(centre(c));
        } else if current.len() >= 2 {
            out.push(std::mem::take(&mut current));
        } else {
            current.clear();
        }
        last = Some(c);
    }
    if current.len() >= 2 || (out.is_empty() && !current.is_empty()) {
        out.push(current);
    }
    out
}

/// Small labels with the round at a few points of the path (1, 2, 5 × 10ᵏ), so the reader can
/// tell when things happened; labels that would overlap are skipped.
fn time_labels(svg: &mut Svg, f: &Frame, points: &[(i64, f64, f64)]) {
    let Some(last) = points.last().map(|p| p.0) else {
        return;
    };
    let mut placed: Vec<(f64, f64)> = Vec::new();
    if let Some(p) = points.first().and_then(|q| f.px((q.1, q.2))) {
        placed.push(p);
    }
    if let Some(p) = points.last().and_then(|q| f.px((q.1, q.2))) {
        placed.push(p);
    }
    let mut e = 1i64;
    while e <= last {
        for m in [1, 2, 5] {
            let r = m * e;
            if r <= 0 || r >= last {
                continue;
            }
            let k = points.partition_point(|p| p.0 < r);
            let Some(q) = points.get(k) else { continue };
            let Some(p) = f.px((q.1, q.2)) else { continue };
            if placed
                .iter()
                .any(|o| (o.0 - p.0).powi(2) + (o.1 - p.1).powi(2) < 26.0 * 26.0)
            {
                continue;
            }
            placed.push(p);
            svg.circle(p, 2.5, palette::BLACK, None, "round-mark");
            svg.text(
                (p.0 + 5.0, p.1 - 8.0),
                &format!("round {}", int(q.0.max(0) as u64)),
                Font::new(10.5, palette::GREY_TEXT).halo(),
                false,
                "round-label",
            );
        }
        e = e.saturating_mul(10);
    }
}

/// trajectory.svg of one run.
pub(crate) fn svg(t: &TrajectoryData, run_ending: &str) -> String {
    let plane = t.info_str("plane");
    let what = match plane {
        Some("negative_curvature") => "negative-curvature plane at the start",
        Some("principal") => "principal plane of the path",
        _ => "parameters",
    };
    let title = format!(
        "trajectory: {what} ({}, {}){run_ending}",
        t.labels[0], t.labels[1]
    );
    let mut notes = Vec::new();
    let share = |key: &str| {
        t.info
            .as_ref()
            .and_then(|m| m.get(key))
            .and_then(|v| v.as_f64())
    };
    let pct = |v: f64| {
        if v < 0.001 {
            "less than 0.1".to_string()
        } else {
            round_sig(100.0 * v, 3)
        }
    };
    if plane != Some("coordinates")
        && let Some(d) = share("displacement_share")
    {
        notes.push(format!(
            "this plane holds {}% of the displacement from start to end",
            pct(d)
        ));
        if d < 0.5 {
            notes.push("(the run went mostly elsewhere)".to_string());
        }
    } else if plane != Some("coordinates")
        && let Some(v) = share("explained_variance")
    {
        notes.push(format!(
            "this plane holds {}% of the path's variance",
            pct(v)
        ));
    }
    if t.skipped > 0 {
        notes.push(format!(
            "{} non-finite points not drawn",
            int(t.skipped as u64)
        ));
    }
    let minima = t.minima();
    draw(&TrajectoryPlot {
        class: "figure trajectory",
        title,
        labels: t.labels.clone(),
        surface: t.surface.as_ref(),
        minima,
        paths: vec![Path2 {
            points: t.points.clone(),
            color: palette::BLACK,
            width: 1.6,
            label: String::new(),
        }],
        notes,
        grey_levels: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_circles_is_drawn_once() {
        // 100 laps of the same 8-pixel square.
        let lap = [(0.0, 0.0), (8.0, 0.0), (8.0, 8.0), (0.0, 8.0)];
        let px: Vec<(f64, f64)> = (0..400).map(|k| lap[k % 4]).collect();
        let pieces = pixel_path(&px);
        let points: usize = pieces.iter().map(Vec::len).sum();
        assert!(points <= 6, "{pieces:?}");
        assert_eq!(pieces[0][..4], lap);
        // A single point stays a point (drawn as a dot by the caller).
        assert_eq!(pixel_path(&[(1.0, 1.0)]), vec![vec![(1.0, 1.0)]]);
    }
}
