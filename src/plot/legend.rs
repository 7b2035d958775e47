//! Legends and the marks they show (lines, boxes, dots, crosses, triangles, diamonds, the
//! colour ramp), laid out in centred rows that wrap.

use super::chart::{LEGEND_SIZE, WIDTH};
use super::palette::{self, Color};
use super::svg::{Font, Stroke, Svg, text_width};

/// The sample drawn before a legend label.
#[derive(Debug, Clone, Copy)]
pub enum Mark {
    /// A line.
    Line(Stroke),
    /// A filled box.
    Box(Color),
    /// A filled dot.
    Dot(Color),
    /// A cross.
    Cross(Color),
    /// A downward triangle (an event marker).
    Triangle(Color),
    /// A short vertical tick (a fault marker).
    Tick(Color),
    /// A diamond (a minimum).
    Diamond(Color),
    /// The viridis colour ramp.
    Ramp,
    /// No sample: the label is a remark.
    Remark,
}

/// A legend entry.
pub type LegendItem = (String, Mark);

const LEGEND_ROW: f64 = 20.0;

fn item_width(label: &str, mark: &Mark) -> f64 {
    let text = text_width(label, LEGEND_SIZE);
    match mark {
        Mark::Remark => text,
        _ => 30.0 + text,
    }
}

/// Lay out `items` in centred rows within `width`; returns the rows (indices) and height.
fn legend_rows(items: &[LegendItem], width: f64) -> Vec<Vec<usize>> {
    let gap = 22.0;
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = 0.0;
    for (i, (label, mark)) in items.iter().enumerate() {
        let w = item_width(label, mark);
        match rows.last_mut() {
            Some(row) if used + gap + w <= width => {
                row.push(i);
                used += gap + w;
            }
            _ => {
                rows.push(vec![i]);
                used = w;
            }
        }
    }
    rows
}

/// The height a legend of `items` takes in a row of `width` pixels.
pub fn legend_height(items: &[LegendItem], width: f64) -> f64 {
    legend_rows(items, width).len() as f64 * LEGEND_ROW + if items.is_empty() { 0.0 } else { 6.0 }
}

/// Draw `items` in centred rows from `top`; returns the height taken.
pub fn draw_legend(svg: &mut Svg, items: &[LegendItem], top: f64) -> f64 {
    let width = WIDTH - 40.0;
    let gap = 22.0;
    let rows = legend_rows(items, width);
    svg.begin_group("legend");
    for (k, row) in rows.iter().enumerate() {
        let total: f64 = row
            .iter()
            .map(|&i| item_width(&items[i].0, &items[i].1))
            .sum::<f64>()
            + gap * (row.len().saturating_sub(1)) as f64;
        let mut x = ((WIDTH - total) / 2.0).max(8.0);
        let y = top + LEGEND_ROW * (k as f64 + 0.5);
        for &i in row {
            let (label, mark) = &items[i];
            draw_mark(svg, *mark, (x + 12.0, y));
            let (tx, color) = match mark {
                Mark::Remark => (x, palette::GREY_TEXT),
                _ => (x + 30.0, palette::BLACK),
            };
            svg.text(
                (tx, y),
                label,
                Font::new(LEGEND_SIZE, color),
                false,
                "legend-label",
            );
            x += item_width(label, mark) + gap;
        }
    }
    svg.end_group();
    legend_height(items, width)
}

/// Draw a legend sample centred at `(x, y)`.
pub fn draw_mark(svg: &mut Svg, mark: Mark, (x, y): (f64, f64)) {
    match mark {
        Mark::Line(s) => svg.line(
            (x - 12.0, y),
            (x + 12.0, y),
            Stroke {
                width: s.width.max(2.0),
                ..s
            },
            "",
        ),
        Mark::Box(c) => svg.rect((x - 11.0, y - 6.0), (22.0, 12.0), Some((c, 1.0)), None, ""),
        Mark::Dot(c) => svg.circle((x, y), 5.0, c, None, ""),
        Mark::Cross(c) => cross(svg, (x, y), 5.0, c, ""),
        Mark::Triangle(c) => triangle(svg, (x, y - 4.0), 5.0, c, None),
        Mark::Tick(c) => svg.line((x, y - 6.0), (x, y + 6.0), Stroke::solid(c, 2.0), ""),
        Mark::Diamond(c) => diamond(svg, (x, y), 6.0, c, ""),
        Mark::Ramp => {
            for k in 0..8 {
                let c = palette::viridis(f64::from(k) / 7.0);
                let x0 = x - 12.0 + 3.0 * f64::from(k);
                svg.line((x0, y), (x0 + 3.0, y), Stroke::solid(c, 4.0), "");
            }
        }
        Mark::Remark => {}
    }
}

/// A cross (×) of half-size `r`.
pub fn cross(svg: &mut Svg, (x, y): (f64, f64), r: f64, c: Color, class: &str) {
    let s = Stroke::solid(c, 2.5);
    svg.begin_group(class);
    svg.line((x - r, y - r), (x + r, y + r), s, "");
    svg.line((x - r, y + r), (x + r, y - r), s, "");
    svg.end_group();
}

/// A cross on a white halo, readable over lines.
pub fn cross_halo(svg: &mut Svg, (x, y): (f64, f64), r: f64, c: Color, class: &str) {
    let halo = Stroke::solid(Color(255, 255, 255), 5.5);
    svg.begin_group(class);
    svg.line((x - r, y - r), (x + r, y + r), halo, "");
    svg.line((x - r, y + r), (x + r, y - r), halo, "");
    svg.end_group();
    cross(svg, (x, y), r, c, class);
}

/// A diamond of half-size `r`, outlined in black.
pub fn diamond(svg: &mut Svg, (x, y): (f64, f64), r: f64, c: Color, class: &str) {
    svg.polygon(
        &[(x, y - r), (x + r, y), (x, y + r), (x - r, y)],
        c,
        1.0,
        class,
    );
    svg.polyline(
        &[(x, y - r), (x + r, y), (x, y + r), (x - r, y), (x, y - r)],
        Stroke::solid(palette::BLACK, 1.0),
        "",
    );
}

/// A downward triangle with its tip at `(x, y + r)`; `tooltip` becomes its `<title>`.
pub fn triangle(svg: &mut Svg, (x, y): (f64, f64), r: f64, c: Color, class: Option<&str>) {
    svg.polygon(
        &[(x - r, y - r * 0.6), (x + r, y - r * 0.6), (x, y + r)],
        c,
        1.0,
        class.unwrap_or(""),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_wraps_rows() {
        let items: Vec<LegendItem> = (0..12)
            .map(|i| {
                (
                    format!("an item with a long label {i}"),
                    Mark::Dot(palette::BLUE),
                )
            })
            .collect();
        let rows = legend_rows(&items, 860.0);
        assert!(rows.len() > 1);
        assert_eq!(rows.iter().map(Vec::len).sum::<usize>(), 12);
    }
}
