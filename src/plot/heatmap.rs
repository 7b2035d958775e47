//! Heatmaps: a table of values as coloured cells (a sweep's defenses x attacks), the value
//! printed in each cell, a colour bar as legend.
//!
//! Colours come from viridis (sequential, perceptually uniform, colour-blind safe), on the
//! metric's scale (logarithmic for a loss above its minimum). A cell some of whose seeds
//! diverged is hatched, and its colour and value are the mean of the other seeds; a cell whose
//! seeds all diverged is grey and says so. Hatching and grey say it without relying on colour.

use std::fmt::Write as _;

use super::chart::{TICK_SIZE, TITLE_SIZE, WIDTH, draw_title};
use super::palette::{self, Color, viridis};
use super::scale::{Axis, Scale};
use super::svg::{Anchor, Font, Stroke, Svg, text_width};

/// One cell: the mean over the seeds that did not diverge, and how many did.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatCell {
    /// Mean over the seeds that did not diverge (`None`: every seed diverged, or no value).
    pub value: Option<f64>,
    /// Sample standard deviation over those seeds (`None` with fewer than two).
    pub std: Option<f64>,
    /// Seeds in the cell.
    pub seeds: usize,
    /// Seeds that diverged.
    pub diverged: usize,
}

/// One panel: a grid of cells, `cells[row][col]` (`None`: no such group).
#[derive(Debug, Clone)]
pub struct HeatPanel {
    /// Its title (the values of the other swept keys; empty when there are none).
    pub title: String,
    /// The cells.
    pub cells: Vec<Vec<Option<HeatCell>>>,
}

/// A heatmap: panels sharing rows, columns and one colour scale.
#[derive(Debug, Clone)]
pub struct Heatmap {
    /// Figure title.
    pub title: String,
    /// What the colour shows, for the colour bar (`final loss − f*`).
    pub metric: String,
    /// The colour scale.
    pub scale: Scale,
    /// Whether higher values are better (said in the colour bar's title).
    pub higher_is_better: bool,
    /// Values are percentages (printed with one decimal and `%`).
    pub percent: bool,
    /// The row key's name, written above the row labels.
    pub row_title: String,
    /// The column key's name, written above the column labels.
    pub col_title: String,
    /// Row labels.
    pub rows: Vec<String>,
    /// Column labels.
    pub cols: Vec<String>,
    /// The panels.
    pub panels: Vec<HeatPanel>,
}

const LABEL_SIZE: f64 = 13.0;
const VALUE_SIZE: f64 = 13.0;
const STD_SIZE: f64 = 10.5;
const BAR_W: f64 = 360.0;
const BAR_H: f64 = 14.0;
/// Diverged seeds everywhere: the colour of a cell without a value.
const NO_VALUE: Color = Color(0xbd, 0xbd, 0xbd);

/// Black or white, whichever reads better on `c`.
fn ink_on(c: Color) -> Color {
    let l = (0.2126 * f64::from(c.0) + 0.7152 * f64::from(c.1) + 0.0722 * f64::from(c.2)) / 255.0;
    if l < 0.5 {
        Color(255, 255, 255)
    } else {
        palette::BLACK
    }
}

impl Heatmap {
    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.panels
            .iter()
            .flat_map(|p| p.cells.iter().flatten().flatten())
            .filter_map(|c| c.value)
    }

    /// The colour axis. Percentages: 0 to 100 %, whatever the values (a collapse to 30 % must
    /// look it, and 90 against 91 % must not). Logarithmic scales: the values' range, widened to
    /// at least one decade around its middle, so that values within a few percent of each other
    /// get nearly one colour instead of the two ends of the map.
    fn axis(&self) -> Axis {
        if self.percent {
            return Axis::new(Scale::Linear, 0.0, 100.0);
        }
        let a = Axis::fit(self.scale, self.values(), 0.0)
            .unwrap_or_else(|| Axis::new(self.scale, 0.0, 1.0));
        match self.scale {
            Scale::Log | Scale::SymLog { .. } if a.hi - a.lo < 1.0 => {
                let mid = 0.5 * (a.lo + a.hi);
                Axis {
                    lo: mid - 0.5,
                    hi: mid + 0.5,
                    ..a
                }
            }
            _ => a,
        }
    }

    fn text(&self, v: f64) -> String {
        if self.percent {
            format!("{v:.1}%")
        } else {
            super::format::round_sig(v, 2)
        }
    }

    fn std_text(&self, s: f64) -> String {
        if self.percent {
            format!("± {s:.1}")
        } else {
            format!("± {}", super::format::round_sig(s, 2))
        }
    }
}

/// Draw `h`.
pub fn draw(h: &Heatmap) -> String {
    let axis = h.axis();
    let ncols = h.cols.len().max(1);
    // Row labels, right-aligned at the grid's left edge; the row key's name (bold) above them.
    let labels_w = h
        .rows
        .iter()
        .map(|r| text_width(r, LABEL_SIZE))
        .chain(std::iter::once(1.15 * text_width(&h.row_title, LABEL_SIZE)))
        .fold(60.0f64, f64::max)
        .min(320.0)
        + 24.0;
    // Cells wide enough for their text; the figure grows past the usual width when needed.
    let widest = h
        .values()
        .map(|v| text_width(&h.text(v), VALUE_SIZE))
        .fold(text_width("diverged", VALUE_SIZE), f64::max)
        + 14.0;
    let cell_w = ((WIDTH - labels_w - 24.0) / ncols as f64).clamp(widest.max(56.0), 150.0);
    let width = (labels_w + cell_w * ncols as f64 + 24.0).max(WIDTH);
    // The grid centred in the figure.
    let left = labels_w + ((width - labels_w - cell_w * ncols as f64 - 24.0) / 2.0).max(0.0);
    let cell_h = 44.0;
    let col_label_w = h
        .cols
        .iter()
        .map(|c| text_width(c, LABEL_SIZE))
        .fold(0.0, f64::max);
    let rotate = col_label_w > cell_w - 8.0;
    let header_h = if rotate { col_label_w + 14.0 } else { 22.0 } + 20.0;
    let any_partial = h
        .panels
        .iter()
        .flat_map(|p| p.cells.iter().flatten().flatten())
        .any(|c| c.diverged > 0 && c.value.is_some());
    let any_all = h
        .panels
        .iter()
        .flat_map(|p| p.cells.iter().flatten().flatten())
        .any(|c| c.value.is_none() && c.diverged > 0);
    let notes = usize::from(any_partial || any_all);
    let bar_block = 78.0 + 18.0 * notes as f64;
    let panel_h = |p: &HeatPanel| {
        (if p.title.is_empty() { 0.0 } else { 26.0 })
            + header_h
            + cell_h * h.rows.len() as f64
            + 16.0
    };
    let height = 36.0 + bar_block + h.panels.iter().map(panel_h).sum::<f64>();
    let mut svg = Svg::new(width, height, "figure heatmap");
    // The title, centred on the figure's own width.
    if width > WIDTH {
        svg.text(
            (width / 2.0, 20.0),
            &h.title,
            Font::new(TITLE_SIZE, palette::BLACK)
                .anchor(Anchor::Middle)
                .bold(),
            false,
            "title",
        );
    } else {
        draw_title(&mut svg, &h.title);
    }
    let mut y = 36.0;
    colour_bar(&mut svg, h, &axis, width, y);
    y += 78.0;
    if notes > 0 {
        let mut parts = Vec::new();
        if any_partial {
            parts.push("hatched: some seeds diverged (colour and value: the mean of the others)");
        }
        if any_all {
            parts.push("grey: every seed diverged");
        }
        svg.text(
            (width / 2.0, y - 6.0),
            &parts.join(" · "),
            Font::new(12.0, palette::GREY_TEXT).anchor(Anchor::Middle),
            false,
            "heatmap-note",
        );
        y += 18.0;
    }
    for (k, p) in h.panels.iter().enumerate() {
        svg.begin_group(&format!("panel panel-{k}"));
        if !p.title.is_empty() {
            svg.text(
                (left + cell_w * ncols as f64 / 2.0, y + 12.0),
                &p.title,
                Font::new(14.0, palette::BLACK)
                    .anchor(Anchor::Middle)
                    .bold(),
                false,
                "panel-title",
            );
            y += 26.0;
        }
        // Key names, then column labels.
        let label_font = Font::new(LABEL_SIZE, palette::AXIS);
        svg.text(
            (left + cell_w * ncols as f64 / 2.0, y + 8.0),
            &h.col_title,
            label_font.anchor(Anchor::Middle).bold(),
            false,
            "col-title",
        );
        svg.text(
            (left - 10.0, y + header_h - 10.0),
            &h.row_title,
            label_font.anchor(Anchor::End).bold(),
            false,
            "row-title",
        );
        for (c, label) in h.cols.iter().enumerate() {
            let x = left + cell_w * (c as f64 + 0.5);
            if rotate {
                svg.text(
                    (x, y + header_h - 6.0),
                    label,
                    label_font,
                    true,
                    "col-label",
                );
            } else {
                svg.text(
                    (x, y + header_h - 10.0),
                    label,
                    label_font.anchor(Anchor::Middle),
                    false,
                    "col-label",
                );
            }
        }
        y += header_h;
        for (r, label) in h.rows.iter().enumerate() {
            let cy = y + cell_h * r as f64;
            svg.text(
                (left - 10.0, cy + cell_h / 2.0),
                label,
                label_font.anchor(Anchor::End),
                false,
                "row-label",
            );
            for c in 0..ncols {
                let cell = p.cells.get(r).and_then(|row| row.get(c)).cloned().flatten();
                let x = left + cell_w * c as f64;
                draw_cell(&mut svg, h, &axis, cell.as_ref(), (x, cy), (cell_w, cell_h));
            }
        }
        y += cell_h * h.rows.len() as f64 + 16.0;
        svg.end_group();
    }
    svg.finish()
}

fn draw_cell(
    svg: &mut Svg,
    h: &Heatmap,
    axis: &Axis,
    cell: Option<&HeatCell>,
    (x, y): (f64, f64),
    (w, ch): (f64, f64),
) {
    let (fill, lines): (Color, Vec<(String, f64)>) = match cell {
        None => (Color(255, 255, 255), vec![("—".to_string(), VALUE_SIZE)]),
        Some(c) => match c.value {
            None if c.diverged > 0 => (NO_VALUE, vec![("diverged".to_string(), VALUE_SIZE)]),
            None => (NO_VALUE, vec![("n/a".to_string(), VALUE_SIZE)]),
            Some(v) => {
                // Values with no place on a log scale (<= 0) take its low end.
                let t = axis.frac_of(v).unwrap_or(0.0).clamp(0.0, 1.0);
                let mut lines = vec![(h.text(v), VALUE_SIZE)];
                if c.diverged > 0 {
                    lines.push((format!("{}/{} diverged", c.diverged, c.seeds), STD_SIZE));
                } else if let Some(s) = c.std {
                    lines.push((h.std_text(s), STD_SIZE));
                }
                (viridis(t), lines)
            }
        },
    };
    let mut class = String::from("cell");
    if let Some(c) = cell {
        if c.diverged > 0 {
            class.push_str(if c.value.is_some() {
                " some-diverged"
            } else {
                " all-diverged"
            });
        }
        if let Some(v) = c.value {
            let _ = write!(class, " value-{}", super::svg::escape(&format!("{v:e}")));
        }
    }
    svg.begin_group(&class);
    svg.rect(
        (x, y),
        (w, ch),
        Some((fill, 1.0)),
        Some(Stroke::solid(Color(255, 255, 255), 1.5)),
        "",
    );
    let ink = ink_on(fill);
    if cell.is_some_and(|c| c.diverged > 0) {
        // Diagonal hatching, clipped to the cell.
        svg.begin_clip((x, y), (w, ch));
        let mut k = -ch;
        while k < w {
            svg.line(
                (x + k, y + ch),
                (x + k + ch, y),
                Stroke::solid(ink, 1.2).alpha(0.35),
                "hatch",
            );
            k += 9.0;
        }
        svg.end_group();
    }
    let total: f64 = lines.iter().map(|l| l.1 + 3.0).sum();
    let mut ty = y + ch / 2.0 - total / 2.0;
    for (text, size) in &lines {
        ty += (size + 3.0) / 2.0;
        let font = Font::new(*size, ink).anchor(Anchor::Middle);
        let font = if *size == VALUE_SIZE {
            font.bold()
        } else {
            font
        };
        svg.text((x + w / 2.0, ty), text, font, false, "value");
        ty += (size + 3.0) / 2.0;
    }
    svg.end_group();
}

/// The colour bar: the ramp, its ticks, and what it shows.
fn colour_bar(svg: &mut Svg, h: &Heatmap, axis: &Axis, width: f64, top: f64) {
    let x0 = (width - BAR_W) / 2.0;
    let y0 = top + 24.0;
    svg.begin_group("colour-bar");
    let better = if h.higher_is_better {
        "higher is better"
    } else {
        "lower is better"
    };
    let scale = match h.scale.describe() {
        "" => String::new(),
        s => format!(", {s}"),
    };
    svg.text(
        (width / 2.0, top + 10.0),
        &format!("colour: {}{scale} ({better})", h.metric),
        Font::new(13.0, palette::AXIS).anchor(Anchor::Middle),
        false,
        "colour-bar-title",
    );
    let steps = 72;
    for k in 0..steps {
        let t = (f64::from(k) + 0.5) / f64::from(steps);
        let w = BAR_W / f64::from(steps);
        svg.rect(
            (x0 + w * f64::from(k), y0),
            (w + 0.6, BAR_H),
            Some((viridis(t), 1.0)),
            None,
            "",
        );
    }
    svg.rect(
        (x0, y0),
        (BAR_W, BAR_H),
        None,
        Some(Stroke::solid(palette::AXIS, 1.0)),
        "",
    );
    let tick_font = Font::new(TICK_SIZE, palette::AXIS).anchor(Anchor::Middle);
    for t in axis.ticks(6) {
        let f = axis.frac(t.t);
        if !(-1e-9..=1.0 + 1e-9).contains(&f) {
            continue;
        }
        let x = x0 + f * BAR_W;
        svg.line(
            (x, y0 + BAR_H),
            (x, y0 + BAR_H + 4.0),
            Stroke::solid(palette::AXIS, 1.0),
            "",
        );
        let label = if h.percent {
            format!("{}%", t.label)
        } else {
            t.label.clone()
        };
        svg.text(
            (x, y0 + BAR_H + 14.0),
            &label,
            tick_font,
            false,
            "colour-tick",
        );
    }
    svg.end_group();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(value: Option<f64>, diverged: usize) -> Option<HeatCell> {
        Some(HeatCell {
            value,
            std: value.map(|v| v / 10.0),
            seeds: 2,
            diverged,
        })
    }

    #[test]
    fn cells_carry_their_values_and_divergence() {
        let h = Heatmap {
            title: "t".into(),
            metric: "final loss − f*".into(),
            scale: Scale::Log,
            higher_is_better: false,
            percent: false,
            row_title: "aggregator".into(),
            col_title: "attack".into(),
            rows: vec!["mean".into(), "safeguard".into()],
            cols: vec!["sign_flip".into(), "zero".into()],
            panels: vec![HeatPanel {
                title: String::new(),
                cells: vec![
                    vec![cell(None, 2), cell(Some(0.3), 1)],
                    vec![cell(Some(1e-3), 0), cell(Some(2e-3), 0)],
                ],
            }],
        };
        let svg = draw(&h);
        let doc = svg.as_str();
        assert!(doc.contains("class=\"cell all-diverged\""));
        assert!(doc.contains("class=\"cell some-diverged value-3e-1\""));
        assert!(doc.contains(">diverged</text>") && doc.contains(">1/2 diverged</text>"));
        assert!(doc.contains(">0.001</text>") && doc.contains(">± 10⁻⁴</text>"));
        assert!(doc.contains("lower is better"));
        // The lowest value takes viridis' low end, the highest its high end.
        assert!(doc.contains(&viridis(0.0).hex()) && doc.contains(&viridis(1.0).hex()));
        assert_eq!(ink_on(viridis(0.0)), Color(255, 255, 255));
        assert_eq!(ink_on(viridis(1.0)), palette::BLACK);
    }
}
