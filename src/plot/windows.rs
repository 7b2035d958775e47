//! window_distances.svg: each good machine's distance to the safeguard's reference, per window,
//! against `2 × threshold` (a machine above it is expelled).
//!
//! window_distances.csv can be huge (machines × windows × sampled rounds): it is streamed once
//! through per-bucket min/max envelopes ([`M4`]), one for the whole run and one for the zoom on
//! the expulsion period, so a 200,000-round run still shows the true range of every tumbling
//! window. The reference machine is the row whose distance is exactly 0: it is drawn as a strip
//! naming it, not as a line at the bottom of a log axis.

use std::collections::BTreeMap;
use std::path::Path;

use super::PlotError;
use super::chart::{self, Rect, RowFrames, Series, SeriesData, TimeRow, WIDTH};
use super::csv::CsvReader;
use super::curves::{ending, event_legend, run_events};
use super::data::{Role, RunData};
use super::downsample::M4;
use super::format::{int, round_sig};
use super::legend::{self, LegendItem, Mark};
use super::palette;
use super::scale::Scale;
use super::svg::{Anchor, Font, Stroke, Svg};

/// Buckets of the whole-run envelope (about one per pixel column).
const MAIN_BUCKETS: usize = 800;
/// Buckets of the zoom envelope.
const ZOOM_BUCKETS: usize = 300;
/// Above this many machines, machines of one role share one envelope.
const MAX_MACHINE_SERIES: usize = 64;
/// At most this many reference segments are kept per window.
const MAX_REFERENCE_SEGMENTS: usize = 2000;

/// The two envelopes of one curve.
#[derive(Debug, Clone)]
pub(crate) struct Envelopes {
    pub main: M4,
    pub zoom: Option<M4>,
}

impl Envelopes {
    fn new(x: (f64, f64), zoom: Option<(f64, f64)>) -> Self {
        Envelopes {
            main: M4::new(x.0, x.1, MAIN_BUCKETS),
            zoom: zoom.map(|z| M4::new(z.0, z.1, ZOOM_BUCKETS)),
        }
    }
    fn push(&mut self, x: f64, y: f64) {
        self.main.push(x, y);
        if let Some(z) = &mut self.zoom {
            z.push(x, y);
        }
    }
    fn data(&self) -> SeriesData {
        SeriesData::Buckets {
            main: self.main.clone(),
            zoom: self.zoom.clone(),
        }
    }
}

/// A stretch of rounds with the same reference machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReferenceSpan {
    pub first: i64,
    pub last: i64,
    pub worker: usize,
}

/// One window of window_distances.csv.
#[derive(Debug, Clone)]
pub(crate) struct WindowPanel {
    /// `long`, `short`, ...
    pub window: String,
    /// Distances > 0, by machine (or by role when there are many machines).
    pub series: BTreeMap<(Role, usize), Envelopes>,
    /// True when machines of one role share one envelope.
    pub by_role: bool,
    /// `2 × threshold`.
    pub threshold: Envelopes,
    /// Who was the reference (distance 0), when.
    pub reference: Vec<ReferenceSpan>,
    /// The reference changed more often than could be kept.
    pub reference_truncated: bool,
}

/// window_distances.csv, downsampled.
#[derive(Debug, Clone)]
pub(crate) struct WindowData {
    /// Long window first, then short, then others by name.
    pub panels: Vec<WindowPanel>,
}

fn window_rank(name: &str) -> (u8, String) {
    match name {
        "long" => (0, String::new()),
        "short" => (1, String::new()),
        other => (2, other.to_string()),
    }
}

/// Stream window_distances.csv into envelopes over the round range `x` (and `zoom`).
pub(crate) fn load(
    path: &Path,
    x: (f64, f64),
    zoom: Option<(f64, f64)>,
) -> Result<Option<WindowData>, PlotError> {
    const COLS: [&str; 6] = ["round", "worker", "role", "window", "distance", "threshold"];
    let Some(mut csv) = CsvReader::open(path, &COLS)? else {
        return Ok(None);
    };
    struct Acc {
        panel: WindowPanel,
        // The reference of the round being read: (round, worker).
        current: Option<(i64, usize)>,
        // The last round whose threshold was taken (every machine's row repeats it).
        threshold_round: Option<i64>,
    }
    let mut panels: BTreeMap<(u8, String), Acc> = BTreeMap::new();
    let mut machines: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
    let mut by_role = false;
    while let Some(row) = csv.next_row()? {
        let round = row.req_round(0)?;
        let worker = row.req_worker(1)?;
        // Lenient: the recorder writes `unknown` for a worker it cannot place.
        let role = if row.raw(2) == "byzantine" {
            Role::Byzantine
        } else {
            Role::Honest
        };
        let window = row.raw(3);
        if window.is_empty() {
            return Err(row.err("column `window` is empty"));
        }
        let distance = row.opt_f64(4)?;
        let threshold = row.opt_f64(5)?;
        if !by_role && machines.insert(worker) && machines.len() > MAX_MACHINE_SERIES {
            by_role = true;
            for acc in panels.values_mut() {
                regroup_by_role(&mut acc.panel);
            }
        }
        let acc = panels.entry(window_rank(window)).or_insert_with(|| Acc {
            panel: WindowPanel {
                window: window.to_string(),
                series: BTreeMap::new(),
                by_role,
                threshold: Envelopes::new(x, zoom),
                reference: Vec::new(),
                reference_truncated: false,
            },
            current: None,
            threshold_round: None,
        });
        let r = round as f64;
        if let Some(t) = threshold.filter(|t| t.is_finite())
            && acc.threshold_round != Some(round)
        {
            acc.threshold_round = Some(round);
            acc.panel.threshold.push(r, 2.0 * t);
        }
        match distance {
            // The reference: distance exactly 0 (the first such machine of the round).
            Some(0.0) if acc.current.is_none_or(|(cr, _)| cr != round) => {
                acc.current = Some((round, worker));
                note_reference(&mut acc.panel, round, worker);
            }
            Some(d) if d.is_finite() && d > 0.0 => {
                let key = if by_role { (role, 0) } else { (role, worker) };
                acc.panel
                    .series
                    .entry(key)
                    .or_insert_with(|| Envelopes::new(x, zoom))
                    .push(r, d);
            }
            _ => {}
        }
    }
    Ok(Some(WindowData {
        panels: panels.into_values().map(|a| a.panel).collect(),
    }))
}

/// Merge per-machine envelopes into one per role (when machines become too many to draw).
fn regroup_by_role(panel: &mut WindowPanel) {
    let old = std::mem::take(&mut panel.series);
    for ((role, _), env) in old {
        let merged = panel.series.entry((role, 0)).or_insert_with(|| Envelopes {
            main: M4::new(0.0, 1.0, 1),
            zoom: None,
        });
        if merged.main.count() == 0 {
            *merged = env;
        } else {
            for p in env.main.points() {
                merged.main.push(p.0, p.1);
            }
            if let (Some(mz), Some(ez)) = (&mut merged.zoom, &env.zoom) {
                for p in ez.points() {
                    mz.push(p.0, p.1);
                }
            }
        }
    }
    panel.by_role = true;
}

fn note_reference(panel: &mut WindowPanel, round: i64, worker: usize) {
    if let Some(last) = panel.reference.last_mut()
        && last.worker == worker
    {
        last.last = round;
        return;
    }
    if panel.reference.len() >= MAX_REFERENCE_SEGMENTS {
        panel.reference_truncated = true;
        if let Some(last) = panel.reference.last_mut() {
            last.last = round;
        }
        return;
    }
    panel.reference.push(ReferenceSpan {
        first: round,
        last: round,
        worker,
    });
}

const PANEL_PLOT_H: f64 = 250.0;

/// window_distances.svg.
pub(crate) fn svg(run: &RunData, data: &WindowData) -> String {
    let exact = data
        .panels
        .iter()
        .all(|p| p.series.values().all(|e| e.main.is_exact()) && p.threshold.main.is_exact());
    let honest = Stroke::solid(palette::HONEST, 1.0).alpha(0.85);
    let byz = Stroke::solid(palette::BYZANTINE, 1.3);
    let thr = Stroke::dashed(palette::BLACK, 1.6, "7 4");
    let mut legend: Vec<LegendItem> = Vec::new();
    let has = |r: Role| {
        data.panels
            .iter()
            .any(|p| p.series.keys().any(|k| k.0 == r))
    };
    if has(Role::Honest) {
        legend.push(("honest machines".to_string(), Mark::Line(honest)));
    }
    if has(Role::Byzantine) {
        legend.push(("Byzantine machines".to_string(), Mark::Line(byz)));
    }
    legend.push((
        "2 × threshold (expelled above it)".to_string(),
        Mark::Line(thr),
    ));
    if data.panels.iter().any(|p| !p.reference.is_empty()) {
        legend.push((
            "reference machine (distance 0)".to_string(),
            Mark::Box(palette::REFERENCE),
        ));
    }
    legend.extend(event_legend(run));
    if !exact {
        let (a, b) = run.x_range();
        let per = ((b - a) / MAIN_BUCKETS as f64).max(1.0);
        legend.push((
            format!(
                "downsampled: each line keeps the min and max of every {} rounds",
                round_sig(per, 2)
            ),
            Mark::Remark,
        ));
    }
    let n = data.panels.len().max(1) as f64;
    let legend_h = legend::legend_height(&legend, WIDTH - 40.0);
    let row_h = chart::row_height(PANEL_PLOT_H, true);
    let height = 36.0 + legend_h + n * (row_h + 8.0) + 8.0;
    let mut svg = Svg::new(WIDTH, height, "figure window-distances");
    let mut y = chart::draw_title(
        &mut svg,
        &format!(
            "distance of each good machine to the reference{}",
            ending(run)
        ),
    );
    y += legend::draw_legend(&mut svg, &legend, y);
    if data.panels.is_empty() {
        svg.text(
            (WIDTH / 2.0, y + 60.0),
            "no rows in window_distances.csv",
            Font::new(16.0, palette::GREY_TEXT).anchor(Anchor::Middle),
            false,
            "note",
        );
    }
    let events = run_events(run, None);
    for panel in &data.panels {
        let mut series = Vec::new();
        // Honest first, Byzantine on top.
        for ((role, id), env) in &panel.series {
            let (stroke, class) = match role {
                Role::Honest => (honest, format!("honest worker-{id}")),
                Role::Byzantine => (byz, format!("byzantine worker-{id}")),
            };
            series.push(Series {
                class: if panel.by_role {
                    role.as_str().to_string()
                } else {
                    class
                },
                stroke,
                data: env.data(),
            });
        }
        series.push(Series {
            class: "threshold".to_string(),
            stroke: thr,
            data: panel.threshold.data(),
        });
        let row = TimeRow {
            title: window_title(run, &panel.window),
            y_title: "distance (log scale)".to_string(),
            y_scale: Scale::Log,
            y_include: Vec::new(),
            y_integers: false,
            fit_series: None,
            x_range: run.x_range(),
            zoom: run.zoom(),
            series,
            hlines: Vec::new(),
            events: events.clone(),
            empty_note: "no positive distances".to_string(),
            dots: false,
        };
        let frames = chart::draw_time_row(
            &mut svg,
            Rect {
                x: 0.0,
                y: y + 4.0,
                w: WIDTH,
                h: row_h,
            },
            &row,
        );
        draw_reference(&mut svg, &frames, panel);
        y += row_h + 8.0;
    }
    svg.finish()
}

/// `long window (600 rounds)`, with the length from scenario.json when it is there.
fn window_title(run: &RunData, window: &str) -> String {
    let key = format!("window_{window}");
    let len = run
        .scenario
        .as_ref()
        .and_then(|s| s.get("aggregator"))
        .and_then(|a| {
            a.get(&key)
                .or_else(|| a.get("params").and_then(|p| p.get(&key)))
        })
        .and_then(|v| v.as_u64());
    match len {
        Some(l) => format!("{window} window ({} rounds, tumbling)", int(l)),
        None => format!("{window} window"),
    }
}

/// The reference strip along the bottom of each frame, naming the machine.
fn draw_reference(svg: &mut Svg, frames: &RowFrames, panel: &WindowPanel) {
    for f in std::iter::once(&frames.main).chain(frames.zoom.as_ref()) {
        f.clip(svg);
        svg.begin_group("reference");
        let y = f.rect.y + f.rect.h - 5.0;
        for span in &panel.reference {
            let (Some(a), Some(b)) = (f.px_x(span.first as f64), f.px_x(span.last as f64)) else {
                continue;
            };
            let (a, b) = (a.max(f.rect.x), b.min(f.rect.x + f.rect.w));
            if b < a {
                continue;
            }
            svg.rect(
                (a, y),
                ((b - a).max(1.5), 5.0),
                Some((palette::REFERENCE, 1.0)),
                None,
                "",
            );
            let label = format!("reference: worker {}", span.worker);
            if b - a > super::svg::text_width(&label, 11.0) + 8.0 {
                svg.text(
                    (a + 4.0, y - 8.0),
                    &label,
                    Font::new(11.0, palette::REFERENCE).halo(),
                    false,
                    "reference-label",
                );
            }
        }
        svg.end_group();
        svg.end_group();
    }
}
