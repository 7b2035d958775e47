//! expulsions.svg: one row per machine, a bar while it is in the good set, a cross at its
//! expulsion, ticks at its faults; with a zoom on the expulsion period, where bars that are
//! slivers over the whole run can be read.

use super::chart::{self, AxisText, Frame, LEFT, RIGHT, Rect, WIDTH};
use super::curves::ending;
use super::data::{Role, RunData};
use super::legend::{self, LegendItem, Mark};
use super::palette::{self, Color};
use super::scale::{Axis, Scale};
use super::svg::{Anchor, Font, Stroke, Svg};
use std::collections::BTreeMap;

/// expulsions.svg.
pub(crate) fn svg(run: &RunData) -> String {
    let machines = run.machines();
    let n = machines.len();
    let mut expelled: BTreeMap<usize, (i64, String)> = BTreeMap::new();
    for e in &run.expulsions {
        expelled
            .entry(e.worker)
            .or_insert_with(|| (e.round, e.reason.clone()));
    }
    let mut faults: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
    for f in &run.faults.rows {
        faults.entry(f.worker).or_default().push(f.round);
    }
    let row_px = (420.0 / n.max(1) as f64).clamp(3.0, 22.0);
    let plot_h = (row_px * n.max(1) as f64).max(60.0);
    let mut legend: Vec<LegendItem> = vec![
        ("honest".to_string(), Mark::Box(palette::HONEST)),
        ("Byzantine".to_string(), Mark::Box(palette::BYZANTINE)),
        ("expelled".to_string(), Mark::Cross(palette::BLACK)),
    ];
    if !run.faults.rows.is_empty() {
        legend.push(("fault".to_string(), Mark::Tick(palette::FAULT)));
    }
    legend.push((
        "(a bar runs while the machine is in the good set)".to_string(),
        Mark::Remark,
    ));
    let legend_h = legend::legend_height(&legend, WIDTH - 40.0);
    let zoom = run.zoom();
    let titled = zoom.is_some();
    let height = 36.0 + legend_h + chart::row_height(plot_h, titled) + 12.0;
    let mut svg = Svg::new(WIDTH, height, "figure expulsions");
    let title = format!(
        "machine timeline: {} of {} machines expelled{}",
        expelled.len(),
        n,
        ending(run)
    );
    let mut y = chart::draw_title(&mut svg, &title);
    y += legend::draw_legend(&mut svg, &legend, y);
    let top = y + 4.0 + if titled { 22.0 } else { 0.0 };
    let avail = WIDTH - LEFT - RIGHT;
    let (main_w, zoom_w) = if zoom.is_some() {
        let z = ((avail - 30.0) * 0.3).round();
        (avail - 30.0 - z, z)
    } else {
        (avail, 0.0)
    };
    let y_axis = Axis::new(Scale::Linear, -0.5, n as f64 - 0.5);
    let (x0, x1) = run.x_range();
    let main = Frame {
        rect: Rect {
            x: LEFT,
            y: top,
            w: main_w,
            h: plot_h,
        },
        x: Axis::new(Scale::Linear, x0, x1),
        y: y_axis,
    };
    let zf = zoom.map(|(a, b)| Frame {
        rect: Rect {
            x: LEFT + main_w + 30.0,
            y: top,
            w: zoom_w,
            h: plot_h,
        },
        x: Axis::new(Scale::Linear, a, b),
        y: y_axis,
    });
    if let Some(z) = &zf {
        svg.text(
            (main.rect.x + main_w / 2.0, y + 14.0),
            "whole run",
            Font::new(chart::PANEL_TITLE_SIZE, palette::BLACK).anchor(Anchor::Middle),
            false,
            "panel-title",
        );
        svg.text(
            (z.rect.x + z.rect.w / 2.0, y + 14.0),
            &format!(
                "zoom: rounds {}–{}",
                super::format::round_sig(z.x.lo, 6),
                super::format::round_sig(z.x.hi, 6)
            ),
            Font::new(chart::PANEL_TITLE_SIZE, palette::GREY_TEXT).anchor(Anchor::Middle),
            false,
            "zoom-title",
        );
        if let (Some(a), Some(b)) = (main.px_x(z.x.lo), main.px_x(z.x.hi)) {
            svg.rect(
                (a, main.rect.y),
                (b - a, main.rect.h),
                Some((palette::SHADE, 1.0)),
                None,
                "zoom-span",
            );
        }
    }
    let last = run.last_round() as f64;
    for (k, f) in std::iter::once(&main).chain(zf.as_ref()).enumerate() {
        let text = AxisText {
            x_title: Some("round".to_string()),
            y_title: (k == 0).then(|| "machine".to_string()),
            y_labels: false,
            y_integers: true,
            hide_y: true,
        };
        svg.begin_group(if k == 0 { "panel main" } else { "panel zoom" });
        chart::draw_axes(&mut svg, f, &text);
        f.clip(&mut svg);
        for (rank, (&id, &role)) in machines.iter().enumerate() {
            let yc = (n - 1 - rank) as f64;
            let Some(py) = f.px_y(yc) else { continue };
            let color: Color = match role {
                Role::Honest => palette::HONEST,
                Role::Byzantine => palette::BYZANTINE,
            };
            let end = expelled.get(&id).map_or(last, |e| e.0 as f64);
            if let (Some(a), Some(b)) = (f.px_x(x0), f.px_x(end)) {
                let bh = (row_px * 0.64).max(2.0);
                svg.rect(
                    (a, py - bh / 2.0),
                    ((b - a).max(1.5), bh),
                    Some((color, 0.85)),
                    None,
                    &format!("bar {} worker-{id}", role.as_str()),
                );
            }
            if let Some(rounds) = faults.get(&id) {
                let mut seen = std::collections::BTreeSet::new();
                for &r in rounds {
                    if let Some(x) = f.px_x(r as f64)
                        && seen.insert((x * 2.0).round() as i64)
                    {
                        let h = (row_px * 0.45).max(2.0);
                        svg.line(
                            (x, py - h),
                            (x, py + h),
                            Stroke::solid(palette::FAULT, 1.5),
                            "fault",
                        );
                    }
                }
            }
            if let Some((r, _)) = expelled.get(&id)
                && let Some(x) = f.px_x(*r as f64)
            {
                legend::cross(
                    &mut svg,
                    (x, py),
                    (row_px * 0.3).clamp(2.0, 5.0),
                    palette::BLACK,
                    "expelled",
                );
            }
        }
        svg.end_group();
        svg.end_group();
    }
    // Machine labels, every k-th when there are many.
    let every = (n as f64 / (plot_h / 14.0)).ceil().max(1.0) as usize;
    for (rank, (&id, &role)) in machines.iter().enumerate() {
        if rank % every != 0 {
            continue;
        }
        let Some(py) = main.px_y((n - 1 - rank) as f64) else {
            continue;
        };
        let color = match role {
            Role::Honest => palette::HONEST,
            Role::Byzantine => palette::BYZANTINE,
        };
        svg.text(
            (LEFT - 7.0, py),
            &id.to_string(),
            Font::new(chart::TICK_SIZE, color).anchor(Anchor::End),
            false,
            "tick-y",
        );
    }
    if n == 0 {
        svg.text(
            (
                main.rect.x + main.rect.w / 2.0,
                main.rect.y + main.rect.h / 2.0,
            ),
            "no machines",
            Font::new(16.0, palette::GREY_TEXT).anchor(Anchor::Middle),
            false,
            "note",
        );
    }
    svg.finish()
}
