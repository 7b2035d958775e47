//! Curves against the round: loss.svg, grad_norm.svg and good_machines.svg.
//!
//! - The loss is drawn as `loss − f*` on a symmetric log scale when the problem's minimum `f*` is
//!   known (convergence shows as a straight descent, and `f*` itself is the line at 0), and as
//!   the loss on a symmetric log scale otherwise. The best loss reached is drawn too.
//! - The gradient norm is on a symmetric log scale (an exact 0, as at a saddle, has a place).
//! - The good set is a step function built from expulsions.csv, never from the sampled rows of
//!   rounds.csv, so it steps at the exact rounds whatever `eval_every`.
//! - Every time plot marks the expulsions (dashed lines, triangles) and faults (ticks at the
//!   bottom), with a zoom on the expulsion period when it is short.

use super::chart::{self, Event, EventKind, HLine, Rect, Series, SeriesData, TimeRow, WIDTH};
use super::data::{Role, RunData};
use super::format::{int, round_sig};
use super::legend::{self, LegendItem, Mark};
use super::palette::{self, Color};
use super::scale::Scale;
use super::svg::{Stroke, Svg};

/// Height of a single-row time plot's plotting area.
pub const PLOT_H: f64 = 300.0;

/// The events of a run: expulsions in the colour of the machine's role (or `color`, in a
/// comparison), faults in the fault colour.
pub(crate) fn run_events(run: &RunData, color: Option<Color>) -> Vec<Event> {
    let mut ev: Vec<Event> = run
        .expulsions
        .iter()
        .map(|e| Event {
            round: e.round as f64,
            color: color.unwrap_or(match e.role {
                Role::Honest => palette::HONEST,
                Role::Byzantine => palette::BYZANTINE,
            }),
            kind: EventKind::Expulsion,
        })
        .collect();
    ev.extend(run.faults.rows.iter().map(|f| Event {
        round: f.round as f64,
        color: color.unwrap_or(palette::FAULT),
        kind: EventKind::Fault,
    }));
    ev
}

/// Legend entries for the events of a run.
pub(crate) fn event_legend(run: &RunData) -> Vec<LegendItem> {
    let mut items = Vec::new();
    let byz = run.expulsions.iter().any(|e| e.role == Role::Byzantine);
    let honest = run.expulsions.iter().any(|e| e.role == Role::Honest);
    if byz {
        items.push((
            "Byzantine machine expelled".to_string(),
            Mark::Triangle(palette::BYZANTINE),
        ));
    }
    if honest {
        items.push((
            "honest machine expelled".to_string(),
            Mark::Triangle(palette::HONEST),
        ));
    }
    if !run.faults.rows.is_empty() {
        items.push(("fault (faults.csv)".to_string(), Mark::Tick(palette::FAULT)));
    }
    items
}

/// `(round, loss − f*)`, or `(round, loss)` without `f*`, for finite losses.
pub(crate) fn loss_points(run: &RunData, fstar: Option<f64>) -> Vec<(f64, f64)> {
    run.rounds
        .iter()
        .filter_map(|r| {
            let v = r.loss.filter(|v| v.is_finite())?;
            Some((r.round as f64, v - fstar.unwrap_or(0.0)))
        })
        .collect()
}

/// `(round, ‖∇f‖)` for finite values.
pub(crate) fn grad_points(run: &RunData) -> Vec<(f64, f64)> {
    run.rounds
        .iter()
        .filter_map(|r| Some((r.round as f64, r.grad_norm.filter(|v| v.is_finite())?)))
        .collect()
}

/// The points of a step function: `(round, value)`, the value holding until the next point.
pub(crate) type Steps = Vec<(f64, f64)>;

/// The size of the good set and its Byzantine members as step functions, from workers.csv and
/// expulsions.csv (rounds.csv's first row when workers.csv is missing).
pub(crate) fn good_steps(run: &RunData) -> (Steps, Steps) {
    let machines = run.machines();
    let (mut good, mut byz) = if run.workers.is_some() {
        (
            machines.len() as f64,
            machines.values().filter(|r| **r == Role::Byzantine).count() as f64,
        )
    } else {
        let first = run.rounds.first();
        (
            first.and_then(|r| r.good).unwrap_or(machines.len() as u64) as f64,
            first
                .and_then(|r| r.byzantine_in_good)
                .unwrap_or(machines.values().filter(|r| **r == Role::Byzantine).count() as u64)
                as f64,
        )
    };
    let (x0, x1) = run.x_range();
    let mut g = vec![(x0, good)];
    let mut b = vec![(x0, byz)];
    let mut seen = std::collections::BTreeSet::new();
    for e in &run.expulsions {
        // Expulsion is permanent: a machine counts once.
        if !seen.insert(e.worker) {
            continue;
        }
        good -= 1.0;
        if e.role == Role::Byzantine {
            byz -= 1.0;
        }
        g.push((e.round as f64, good));
        b.push((e.round as f64, byz));
    }
    g.push((x1, good));
    b.push((x1, byz));
    (g, b)
}

/// The best loss reached and its round: summary.json's `best_loss` (every round), else the
/// lowest sampled row.
pub(crate) fn best_loss(run: &RunData) -> Option<(f64, Option<f64>)> {
    if let Some(v) = run.summary_f64(&["best_loss"]) {
        return Some((v, run.summary_f64(&["best_loss_round"])));
    }
    run.rounds
        .iter()
        .filter_map(|r| Some((r.loss.filter(|v| v.is_finite())?, r.round as f64)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(v, r)| (v, Some(r)))
}

/// What the title says about how the run ended.
pub(crate) fn ending(run: &RunData) -> String {
    match run.status().as_str() {
        "diverged" => format!(
            " — diverged at round {}",
            int(run.last_round().max(0) as u64)
        ),
        "interrupted" => format!(
            " — interrupted after round {}",
            int(run.last_round().max(0) as u64)
        ),
        _ => String::new(),
    }
}

/// Draw a figure of one time row: title, legend, row.
pub(crate) fn single_row_svg(
    class: &str,
    title: &str,
    legend: &[LegendItem],
    row: &TimeRow,
) -> String {
    single_row_svg_with(class, title, legend, row, |_, _| {})
}

/// [`single_row_svg`], then `extra` draws over the row's frames (marks a row cannot hold).
pub(crate) fn single_row_svg_with(
    class: &str,
    title: &str,
    legend: &[LegendItem],
    row: &TimeRow,
    extra: impl FnOnce(&mut Svg, &chart::RowFrames),
) -> String {
    let legend_h = legend::legend_height(legend, WIDTH - 40.0);
    let height = 36.0 + legend_h + chart::row_height(PLOT_H, row.titled()) + 8.0;
    let mut svg = Svg::new(WIDTH, height, class);
    let mut y = chart::draw_title(&mut svg, title);
    y += legend::draw_legend(&mut svg, legend, y);
    let frames = chart::draw_time_row(
        &mut svg,
        Rect {
            x: 0.0,
            y: y + 4.0,
            w: WIDTH,
            h: chart::row_height(PLOT_H, row.titled()),
        },
        row,
    );
    extra(&mut svg, &frames);
    svg.finish()
}

/// The line of the known minimum `f` on a `loss − f*` axis (at 0), and its legend entry.
pub(crate) fn known_minimum(f: f64, stroke: Stroke) -> (HLine, LegendItem) {
    (
        HLine {
            y: 0.0,
            stroke,
            label: format!("known minimum f* = {}", round_sig(f, 4)),
            class: "known-minimum".to_string(),
            label_below: true,
        },
        ("known minimum f* (at 0)".to_string(), Mark::Line(stroke)),
    )
}

/// `(round, test loss)` for finite values, when loss.svg draws the test loss: rounds.csv has
/// the `test_loss` column and the plot is of the loss itself (no known minimum: a gap to the
/// training objective's `f*` means nothing for the test loss).
pub(crate) fn test_loss_points(run: &RunData) -> Option<Vec<(f64, f64)>> {
    (run.columns.test_loss && run.known_min().is_none()).then(|| {
        run.rounds
            .iter()
            .filter_map(|r| Some((r.round as f64, r.test_loss.filter(|v| v.is_finite())?)))
            .collect()
    })
}

/// loss.svg.
pub(crate) fn loss_svg(run: &RunData) -> String {
    let fstar = run.known_min();
    let pts = loss_points(run, fstar);
    let test = test_loss_points(run);
    let scale = Scale::symlog_for(pts.iter().chain(test.iter().flatten()).map(|p| p.1), 12);
    let line = Stroke::solid(palette::BLACK, 1.5);
    let test_line = Stroke::solid(palette::SKY_BLUE, 2.0);
    let mut legend: Vec<LegendItem> = match test {
        Some(_) => vec![
            (
                "training loss (the objective)".to_string(),
                Mark::Line(line),
            ),
            (
                "test loss (cross-entropy on the test set)".to_string(),
                Mark::Line(test_line),
            ),
        ],
        None => vec![("loss".to_string(), Mark::Line(line))],
    };
    let mut hlines = Vec::new();
    let best = best_loss(run);
    if let Some(f) = fstar {
        let (line, item) = known_minimum(f, Stroke::solid(palette::BLUISH_GREEN, 2.0));
        hlines.push(line);
        legend.push(item);
    }
    if let Some((b, round)) = best {
        let s = Stroke::dashed(palette::ORANGE, 1.5, "6 4");
        let at = round.map_or(String::new(), |r| format!(" (round {})", int(r as u64)));
        hlines.push(HLine {
            y: b - fstar.unwrap_or(0.0),
            stroke: s,
            label: format!("best loss {}{at}", round_sig(b, 5)),
            class: "best-loss".to_string(),
            label_below: false,
        });
        legend.push(("best loss reached".to_string(), Mark::Line(s)));
    }
    legend.extend(event_legend(run));
    let (title, y_title) = match fstar {
        Some(_) => (
            format!("loss above the known minimum{}", ending(run)),
            format!("loss − f* ({})", scale.describe()),
        ),
        None => (
            format!("loss{}", ending(run)),
            format!("loss ({})", scale.describe()),
        ),
    };
    let non_finite = run
        .rounds
        .iter()
        .filter(|r| r.loss.is_some_and(|v| !v.is_finite()))
        .count();
    let mut row = TimeRow {
        title: String::new(),
        y_title,
        y_scale: scale,
        y_include: fstar.map(|_| vec![0.0]).unwrap_or_default(),
        y_integers: false,
        fit_series: None,
        x_range: run.x_range(),
        zoom: run.zoom(),
        series: test
            .map(|t| Series {
                class: "test-loss".to_string(),
                stroke: test_line,
                data: SeriesData::Points(t),
            })
            .into_iter()
            .chain([Series {
                class: "loss".to_string(),
                stroke: line,
                data: SeriesData::Points(pts),
            }])
            .collect(),
        hlines,
        events: run_events(run, None),
        empty_note: "no finite loss values".to_string(),
        dots: true,
    };
    if non_finite > 0 {
        row.title = format!(
            "{non_finite} non-finite value{} not drawn",
            if non_finite == 1 { "" } else { "s" }
        );
    }
    single_row_svg("figure loss", &title, &legend, &row)
}

/// A row of gradient norms on `scale`, over `(x_range, zoom)`; `fit_series` as in
/// [`TimeRow`].
pub(crate) fn grad_norm_row(
    scale: Scale,
    (x_range, zoom): ((f64, f64), Option<(f64, f64)>),
    series: Vec<Series>,
    events: Vec<Event>,
    fit_series: Option<Vec<usize>>,
) -> TimeRow {
    TimeRow {
        title: String::new(),
        y_title: format!("gradient norm ({})", scale.describe()),
        y_scale: scale,
        y_include: vec![0.0],
        y_integers: false,
        fit_series,
        x_range,
        zoom,
        series,
        hlines: Vec::new(),
        events,
        empty_note: "no finite gradient norms".to_string(),
        dots: false,
    }
}

/// grad_norm.svg.
pub(crate) fn grad_norm_svg(run: &RunData) -> String {
    let pts = grad_points(run);
    let scale = Scale::symlog_for(pts.iter().map(|p| p.1), 12);
    let line = Stroke::solid(palette::BLACK, 1.5);
    let mut legend: Vec<LegendItem> = vec![("‖∇f(x)‖".to_string(), Mark::Line(line))];
    legend.extend(event_legend(run));
    let row = TimeRow {
        dots: true,
        ..grad_norm_row(
            scale,
            (run.x_range(), run.zoom()),
            vec![Series {
                class: "grad-norm".to_string(),
                stroke: line,
                data: SeriesData::Points(pts),
            }],
            run_events(run, None),
            None,
        )
    };
    single_row_svg(
        "figure grad-norm",
        &format!("norm of the true gradient{}", ending(run)),
        &legend,
        &row,
    )
}

/// good_machines.svg.
pub(crate) fn good_machines_svg(run: &RunData) -> String {
    let (good, byz) = good_steps(run);
    let g = Stroke::solid(palette::BLACK, 2.0);
    let b = Stroke::solid(palette::BYZANTINE, 2.0);
    let mut legend: Vec<LegendItem> = vec![
        ("machines in the good set".to_string(), Mark::Line(g)),
        ("Byzantine machines among them".to_string(), Mark::Line(b)),
    ];
    legend.extend(event_legend(run));
    let m = good.first().map_or(1.0, |p| p.1).max(1.0);
    let row = TimeRow {
        title: String::new(),
        y_title: "machines".to_string(),
        y_scale: Scale::Linear,
        y_include: vec![0.0, m],
        y_integers: true,
        fit_series: None,
        x_range: run.x_range(),
        zoom: run.zoom(),
        series: vec![
            Series {
                class: "good".to_string(),
                stroke: g,
                data: SeriesData::Steps(good),
            },
            Series {
                class: "byzantine-in-good".to_string(),
                stroke: b,
                data: SeriesData::Steps(byz),
            },
        ],
        hlines: Vec::new(),
        events: run_events(run, None),
        empty_note: "no machines".to_string(),
        dots: false,
    };
    single_row_svg(
        "figure good-machines",
        "machines in the good set (from expulsions.csv)",
        &legend,
        &row,
    )
}
