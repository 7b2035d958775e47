//! Chart primitives shared by every figure: frames (a rectangle with two axes), axes with their
//! ticks and grid, titles, legends, event markers, and rows of time panels (the whole run, and a
//! zoom on the expulsion period beside it).

use super::downsample::M4;
use super::legend::triangle;
use super::palette::{self, Color};
use super::scale::{Axis, Scale};
use super::svg::{Anchor, Font, Stroke, Svg};

/// Width of every figure, in pixels.
pub const WIDTH: f64 = 900.0;
/// Figure title size.
pub const TITLE_SIZE: f64 = 18.0;
/// Panel title size.
pub const PANEL_TITLE_SIZE: f64 = 14.0;
/// Tick label size.
pub const TICK_SIZE: f64 = 12.0;
/// Axis title size.
pub const AXIS_TITLE_SIZE: f64 = 13.0;
/// Legend text size.
pub const LEGEND_SIZE: f64 = 12.5;
/// Left margin of a panel row (tick labels and the y-axis title).
pub const LEFT: f64 = 82.0;
/// Right margin of a panel row.
pub const RIGHT: f64 = 18.0;
/// Gap between the main panel and the zoom panel.
const ZOOM_GAP: f64 = 44.0;
/// Share of the row's plotting width the zoom panel gets.
const ZOOM_SHARE: f64 = 0.3;

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// A plotting rectangle with its two axes.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// Where it is drawn.
    pub rect: Rect,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
}

impl Frame {
    /// Pixel x of data value `v`.
    pub fn px_x(&self, v: f64) -> Option<f64> {
        self.x.frac_of(v).map(|f| self.rect.x + f * self.rect.w)
    }
    /// Pixel y of data value `v`.
    pub fn px_y(&self, v: f64) -> Option<f64> {
        self.y
            .frac_of(v)
            .map(|f| self.rect.y + self.rect.h - f * self.rect.h)
    }
    /// Pixel position of data point `(x, y)`.
    pub fn px(&self, (x, y): (f64, f64)) -> Option<(f64, f64)> {
        Some((self.px_x(x)?, self.px_y(y)?))
    }
    /// Pixel positions of the points that have a place on both axes.
    pub fn px_all(&self, points: &[(f64, f64)]) -> Vec<(f64, f64)> {
        points.iter().filter_map(|&p| self.px(p)).collect()
    }
    /// Clip what follows to this frame (until [`Svg::end_group`]).
    pub fn clip(&self, svg: &mut Svg) {
        svg.begin_clip((self.rect.x, self.rect.y), (self.rect.w, self.rect.h));
    }
}

/// What an axis shows besides its ticks.
#[derive(Debug, Clone, Default)]
pub struct AxisText {
    /// Title under the x axis.
    pub x_title: Option<String>,
    /// Title left of the y axis (rotated).
    pub y_title: Option<String>,
    /// Draw y tick labels (a zoom panel shares them with its main panel).
    pub y_labels: bool,
    /// Only integer y ticks (counts, machine ids).
    pub y_integers: bool,
    /// No y ticks or grid at all (rows of machines, labelled by the caller).
    pub hide_y: bool,
}

/// Draw the grid, the axes, their ticks and titles of `f`.
pub fn draw_axes(svg: &mut Svg, f: &Frame, text: &AxisText) {
    let r = f.rect;
    let tick_font = Font::new(TICK_SIZE, palette::AXIS);
    let x_ticks = f.x.ticks(((r.w / 90.0) as usize).clamp(2, 8));
    let mut y_ticks = f.y.ticks(((r.h / 45.0) as usize).clamp(2, 8));
    if text.y_integers {
        y_ticks.retain(|t| (t.value - t.value.round()).abs() < 1e-9);
    }
    if text.hide_y {
        y_ticks.clear();
    }
    svg.begin_group("grid");
    for t in &y_ticks {
        let y = r.y + r.h - f.y.frac(t.t) * r.h;
        svg.line(
            (r.x, y),
            (r.x + r.w, y),
            Stroke::solid(palette::GRID, 1.0),
            "",
        );
    }
    for t in &x_ticks {
        let x = r.x + f.x.frac(t.t) * r.w;
        svg.line(
            (x, r.y),
            (x, r.y + r.h),
            Stroke::solid(palette::GRID, 1.0),
            "",
        );
    }
    svg.end_group();
    let axis = Stroke::solid(palette::AXIS, 1.0);
    svg.line((r.x, r.y + r.h), (r.x + r.w, r.y + r.h), axis, "axis-x");
    svg.line((r.x, r.y), (r.x, r.y + r.h), axis, "axis-y");
    for t in &x_ticks {
        let x = r.x + f.x.frac(t.t) * r.w;
        svg.line((x, r.y + r.h), (x, r.y + r.h + 4.0), axis, "");
        svg.text(
            (x, r.y + r.h + 15.0),
            &t.label,
            tick_font.anchor(Anchor::Middle),
            false,
            "tick-x",
        );
    }
    for t in &y_ticks {
        let y = r.y + r.h - f.y.frac(t.t) * r.h;
        svg.line((r.x - 4.0, y), (r.x, y), axis, "");
        if text.y_labels {
            svg.text(
                (r.x - 7.0, y),
                &t.label,
                tick_font.anchor(Anchor::End),
                false,
                "tick-y",
            );
        }
    }
    let title_font = Font::new(AXIS_TITLE_SIZE, palette::AXIS).anchor(Anchor::Middle);
    if let Some(t) = &text.x_title {
        svg.text(
            (r.x + r.w / 2.0, r.y + r.h + 35.0),
            t,
            title_font,
            false,
            "axis-title-x",
        );
    }
    if let Some(t) = &text.y_title {
        svg.text(
            (r.x - LEFT + 16.0, r.y + r.h / 2.0),
            t,
            title_font,
            true,
            "axis-title-y",
        );
    }
}

/// A figure title, centred at the top; returns the height it takes.
pub fn draw_title(svg: &mut Svg, title: &str) -> f64 {
    svg.text(
        (WIDTH / 2.0, 20.0),
        title,
        Font::new(TITLE_SIZE, palette::BLACK)
            .anchor(Anchor::Middle)
            .bold(),
        false,
        "title",
    );
    36.0
}

/// An event on the round axis.
#[derive(Debug, Clone)]
pub struct Event {
    /// Round.
    pub round: f64,
    /// Colour (the role of the machine, or the run in a comparison).
    pub color: Color,
    /// Expulsion (a line and a triangle) or fault (a tick at the bottom).
    pub kind: EventKind,
}

/// The kinds of events marked on time plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    /// A machine was expelled.
    Expulsion,
    /// A machine misbehaved (faults.csv).
    Fault,
}

/// Mark `events` on frame `f`: expulsions as dashed vertical lines with a triangle at the top,
/// faults as ticks along the top edge, under the triangles. Events falling on the same pixel column and colour are
/// drawn once, so the size of the drawing does not grow with their number.
pub fn draw_events(svg: &mut Svg, f: &Frame, events: &[Event]) {
    let mut seen: std::collections::BTreeSet<(i64, EventKind, u8, u8, u8)> =
        std::collections::BTreeSet::new();
    svg.begin_group("events");
    for e in events {
        let Some(x) = f.px_x(e.round) else { continue };
        if x < f.rect.x - 0.5 || x > f.rect.x + f.rect.w + 0.5 {
            continue;
        }
        let key = (
            (x * 2.0).round() as i64,
            e.kind,
            e.color.0,
            e.color.1,
            e.color.2,
        );
        if !seen.insert(key) {
            continue;
        }
        match e.kind {
            EventKind::Expulsion => {
                svg.line(
                    (x, f.rect.y),
                    (x, f.rect.y + f.rect.h),
                    Stroke::dashed(e.color, 1.0, "3 3").alpha(0.7),
                    "expulsion",
                );
                triangle(
                    svg,
                    (x, f.rect.y + 1.0),
                    5.0,
                    e.color,
                    Some("expulsion-mark"),
                );
            }
            EventKind::Fault => svg.line(
                (x, f.rect.y + 8.0),
                (x, f.rect.y + 16.0),
                Stroke::solid(e.color, 1.5),
                "fault",
            ),
        }
    }
    svg.end_group();
}

/// What a series holds.
#[derive(Debug, Clone)]
pub enum SeriesData {
    /// Points `(round, value)`, downsampled per panel at drawing time.
    Points(Vec<(f64, f64)>),
    /// A step function: each value holds until the next point.
    Steps(Vec<(f64, f64)>),
    /// A band `(round, low, high)` (the mean ± one standard deviation across seeds), filled in
    /// the series' colour at the stroke's opacity. Downsampled per panel to the per-bucket lowest
    /// low and highest high ([`super::downsample::band_envelope`]), so it covers every round's
    /// band.
    Band(Vec<(f64, f64, f64)>),
    /// Points downsampled while reading: one envelope for the whole run, one for the zoom.
    Buckets {
        /// Over the whole run.
        main: M4,
        /// Over the zoom span.
        zoom: Option<M4>,
    },
}

/// A curve of a time panel.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its class in the SVG (`series loss`, ...).
    pub class: String,
    /// How it is drawn.
    pub stroke: Stroke,
    /// Its points.
    pub data: SeriesData,
}

impl Series {
    /// The data values, for fitting an axis.
    fn values(&self) -> Vec<f64> {
        match &self.data {
            SeriesData::Points(p) | SeriesData::Steps(p) => p.iter().map(|p| p.1).collect(),
            SeriesData::Band(b) => b.iter().flat_map(|p| [p.1, p.2]).collect(),
            SeriesData::Buckets { main, .. } => {
                main.y_range().map(|(a, b)| vec![a, b]).unwrap_or_default()
            }
        }
    }

    /// The number of data points.
    fn len(&self) -> usize {
        match &self.data {
            SeriesData::Points(p) => p.len(),
            SeriesData::Band(b) => b.len(),
            SeriesData::Steps(_) => usize::MAX,
            SeriesData::Buckets { main, .. } => usize::try_from(main.count()).unwrap_or(usize::MAX),
        }
    }

    /// The points to draw in a panel over `x` of `width` pixels (`zoom`: the zoom panel).
    fn panel_points(&self, x: (f64, f64), width: f64, zoom: bool, scale: Scale) -> Vec<(f64, f64)> {
        let keep = |p: &(f64, f64)| scale.forward(p.1).is_some();
        match &self.data {
            SeriesData::Points(p) => {
                let mut m = M4::new(x.0, x.1, width.max(1.0) as usize);
                m.extend(p.iter().copied().filter(keep));
                m.points()
            }
            SeriesData::Steps(p) => {
                let inside: Vec<(f64, f64)> = clip_steps(p, x);
                super::downsample::steps(&inside)
                    .into_iter()
                    .filter(keep)
                    .collect()
            }
            SeriesData::Buckets { main, zoom: z } => {
                let m = if zoom { z.as_ref() } else { Some(main) };
                m.map(|m| m.points().into_iter().filter(keep).collect())
                    .unwrap_or_default()
            }
            // A band has no line: see `draw_band`.
            SeriesData::Band(_) => Vec::new(),
        }
    }
}

/// The part of a step function inside `[x.0, x.1]`, with its value at both ends.
fn clip_steps(p: &[(f64, f64)], x: (f64, f64)) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut before: Option<f64> = None;
    for &(r, v) in p {
        if r < x.0 {
            before = Some(v);
        } else if r <= x.1 {
            if out.is_empty()
                && let Some(b) = before
                && r > x.0
            {
                out.push((x.0, b));
            }
            out.push((r, v));
        }
    }
    if out.is_empty()
        && let Some(b) = before
    {
        out.push((x.0, b));
    }
    if let Some(&(r, v)) = out.last()
        && r < x.1
        && p.last().is_some_and(|l| l.0 >= x.1 || l.0 == r)
    {
        out.push((x.1, v));
    }
    out
}

/// A horizontal reference line (the known minimum, a threshold) with a label at its right end.
#[derive(Debug, Clone)]
pub struct HLine {
    /// Data value.
    pub y: f64,
    /// How it is drawn.
    pub stroke: Stroke,
    /// Label, written at the left end, above the line (below it near the top).
    pub label: String,
    /// Write the label below the line when there is room (so two close lines keep readable
    /// labels).
    pub label_below: bool,
    /// Class in the SVG.
    pub class: String,
}

/// One row of time panels: the whole run and, when there is a zoom span, a zoom beside it.
#[derive(Debug, Clone)]
pub struct TimeRow {
    /// Title above the main panel (empty: none).
    pub title: String,
    /// Title of the y axis.
    pub y_title: String,
    /// Scale of the y axis.
    pub y_scale: Scale,
    /// Data values the y axis must include (0 for counts, the known minimum).
    pub y_include: Vec<f64>,
    /// Fit the y axis to these series only (by index; all when `None`): a comparison fits it to
    /// the runs that did not diverge, and lets the others leave the plot.
    pub fit_series: Option<Vec<usize>>,
    /// Only integer y ticks.
    pub y_integers: bool,
    /// The rounds of the whole run.
    pub x_range: (f64, f64),
    /// The zoom span, if any.
    pub zoom: Option<(f64, f64)>,
    /// Curves, drawn in order.
    pub series: Vec<Series>,
    /// Reference lines.
    pub hlines: Vec<HLine>,
    /// Expulsions and faults.
    pub events: Vec<Event>,
    /// Shown in the middle when no series has a point.
    pub empty_note: String,
    /// Draw dots on the points of series that have few of them (40 or less).
    pub dots: bool,
}

impl TimeRow {
    /// True when the row has a title line (its own, or "whole run" beside a zoom).
    pub fn titled(&self) -> bool {
        !self.title.is_empty() || self.zoom.is_some()
    }
}

/// The frames a [`TimeRow`] was drawn in.
#[derive(Debug, Clone, Copy)]
pub struct RowFrames {
    /// The whole run.
    pub main: Frame,
    /// The zoom.
    pub zoom: Option<Frame>,
}

/// The y axis a row would get.
pub fn row_y_axis(row: &TimeRow) -> Axis {
    let values: Vec<f64> = row
        .series
        .iter()
        .enumerate()
        .filter(|(i, _)| row.fit_series.as_ref().is_none_or(|f| f.contains(i)))
        .flat_map(|(_, s)| s.values())
        .chain(row.hlines.iter().map(|h| h.y))
        .collect();
    let mut axis =
        Axis::fit(row.y_scale, values, 0.06).unwrap_or_else(|| Axis::new(row.y_scale, 0.0, 1.0));
    for &v in &row.y_include {
        axis = axis.including(v);
    }
    axis
}

/// Draw a row in `rect` (its plotting area plus the space for tick labels below).
pub fn draw_time_row(svg: &mut Svg, rect: Rect, row: &TimeRow) -> RowFrames {
    let title_h = if row.titled() { 22.0 } else { 0.0 };
    let main_title = match (row.title.is_empty(), row.zoom.is_some()) {
        (true, true) => "whole run",
        _ => row.title.as_str(),
    };
    let plot_top = rect.y + title_h;
    let plot_h = rect.h - title_h - 44.0;
    let avail = rect.w - LEFT - RIGHT;
    let (main_w, zoom_w) = match row.zoom {
        Some(_) => {
            let z = ((avail - ZOOM_GAP) * ZOOM_SHARE).round();
            (avail - ZOOM_GAP - z, z)
        }
        None => (avail, 0.0),
    };
    let y = row_y_axis(row);
    let main = Frame {
        rect: Rect {
            x: rect.x + LEFT,
            y: plot_top,
            w: main_w,
            h: plot_h,
        },
        x: Axis::new(Scale::Linear, row.x_range.0, row.x_range.1),
        y,
    };
    let zoom = row.zoom.map(|(a, b)| Frame {
        rect: Rect {
            x: main.rect.x + main_w + ZOOM_GAP,
            y: plot_top,
            w: zoom_w,
            h: plot_h,
        },
        x: Axis::new(Scale::Linear, a, b),
        y,
    });
    if !main_title.is_empty() {
        svg.text(
            (main.rect.x + main_w / 2.0, rect.y + 10.0),
            main_title,
            Font::new(PANEL_TITLE_SIZE, palette::BLACK).anchor(Anchor::Middle),
            false,
            "panel-title",
        );
    }
    // The zoomed span, shaded in the main panel.
    if let (Some((a, b)), Some(_)) = (row.zoom, zoom)
        && let (Some(xa), Some(xb)) = (main.px_x(a), main.px_x(b))
    {
        svg.rect(
            (xa, main.rect.y),
            (xb - xa, main.rect.h),
            Some((palette::SHADE, 1.0)),
            None,
            "zoom-span",
        );
    }
    let text = AxisText {
        x_title: Some("round".to_string()),
        y_title: Some(row.y_title.clone()),
        y_labels: true,
        y_integers: row.y_integers,
        hide_y: false,
    };
    svg.begin_group("panel main");
    draw_axes(svg, &main, &text);
    draw_panel_data(svg, &main, row, false);
    svg.end_group();
    if let Some(z) = &zoom {
        svg.begin_group("panel zoom");
        let ztitle = format!(
            "zoom: rounds {}–{}",
            super::format::round_sig(z.x.lo, 6),
            super::format::round_sig(z.x.hi, 6)
        );
        svg.text(
            (z.rect.x + z.rect.w / 2.0, rect.y + 10.0),
            &ztitle,
            Font::new(PANEL_TITLE_SIZE, palette::GREY_TEXT).anchor(Anchor::Middle),
            false,
            "zoom-title",
        );
        draw_axes(
            svg,
            z,
            &AxisText {
                x_title: Some("round".to_string()),
                y_title: None,
                y_labels: false,
                y_integers: row.y_integers,
                hide_y: false,
            },
        );
        draw_panel_data(svg, z, row, true);
        svg.end_group();
    }
    RowFrames { main, zoom }
}

fn draw_panel_data(svg: &mut Svg, f: &Frame, row: &TimeRow, zoom: bool) {
    let x = (f.x.lo, f.x.hi);
    let mut any = false;
    f.clip(svg);
    for h in &row.hlines {
        if let Some(y) = f.px_y(h.y) {
            svg.line((f.rect.x, y), (f.rect.x + f.rect.w, y), h.stroke, &h.class);
        }
    }
    for s in &row.series {
        if let SeriesData::Band(b) = &s.data {
            any |= draw_band(svg, f, b, s);
            continue;
        }
        let pts = s.panel_points(x, f.rect.w, zoom, row.y_scale);
        // Within a quarter pixel of the envelope; sparse series keep every point (and dot).
        let px = if s.len() <= 40 {
            f.px_all(&pts)
        } else {
            super::contour::simplify(&f.px_all(&pts), 0.25)
        };
        any |= !px.is_empty();
        svg.begin_group(&format!("series {}", s.class));
        svg.polyline(&px, s.stroke, "");
        if row.dots && s.len() <= 40 || px.len() == 1 {
            for &p in &px {
                svg.circle(p, 2.5, s.stroke.color, None, "");
            }
        }
        svg.end_group();
    }
    draw_events(svg, f, &row.events);
    svg.end_group();
    // Labels of reference lines, right-aligned above the line, outside the clip so they are whole.
    if !zoom {
        for h in &row.hlines {
            if let Some(y) = f.px_y(h.y)
                && !h.label.is_empty()
                && y >= f.rect.y
                && y <= f.rect.y + f.rect.h
            {
                let room_below = y + 16.0 < f.rect.y + f.rect.h;
                let room_above = y - 16.0 > f.rect.y;
                let ty = if (h.label_below && room_below) || !room_above {
                    y + 9.0
                } else {
                    y - 9.0
                };
                // At the left end: curves of losses and distances start high, so the labels
                // of lines near their lowest values rarely cover data there.
                svg.text(
                    (f.rect.x + 8.0, ty),
                    &h.label,
                    Font::new(TICK_SIZE, h.stroke.color).halo(),
                    false,
                    &format!("{}-label", h.class),
                );
            }
        }
    }
    if !any && !zoom {
        svg.text(
            (f.rect.x + f.rect.w / 2.0, f.rect.y + f.rect.h / 2.0),
            &row.empty_note,
            Font::new(16.0, palette::GREY_TEXT).anchor(Anchor::Middle),
            false,
            "note",
        );
    }
}

/// Draw band `b` of series `s` in frame `f` as one filled polygon per stretch of rounds whose
/// ends have a place on the y scale; true when something was drawn.
fn draw_band(svg: &mut Svg, f: &Frame, b: &[(f64, f64, f64)], s: &Series) -> bool {
    let (upper, lower) =
        super::downsample::band_envelope(b, (f.x.lo, f.x.hi), f.rect.w.max(1.0) as usize);
    let mut outline: Vec<(f64, f64)> = f.px_all(&upper);
    let low: Vec<(f64, f64)> = f.px_all(&lower);
    if outline.len() != upper.len() || low.len() != lower.len() || outline.len() < 2 {
        // Values without a place on the scale (a log axis and values <= 0): no band at all,
        // rather than a wrong one.
        return false;
    }
    outline.extend(low.into_iter().rev());
    svg.polygon(
        &outline,
        s.stroke.color,
        s.stroke.opacity,
        &format!("band {}", s.class),
    );
    true
}

/// Height of one time row with a plot area of `plot_h` pixels.
pub fn row_height(plot_h: f64, titled: bool) -> f64 {
    plot_h + 44.0 + if titled { 22.0 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_clipped_with_their_values_at_the_ends() {
        let p = [(0.0, 10.0), (59.0, 9.0), (92.0, 6.0), (3000.0, 6.0)];
        assert_eq!(
            clip_steps(&p, (50.0, 100.0)),
            vec![(50.0, 10.0), (59.0, 9.0), (92.0, 6.0), (100.0, 6.0)]
        );
        assert_eq!(clip_steps(&p, (0.0, 3000.0)), p.to_vec());
    }
}
