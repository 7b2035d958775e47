//! Curves of the problem's metrics against the round: accuracy.svg (learning tasks) and
//! min_eig.svg (the second-order metric), each drawn when rounds.csv has its column.
//!
//! - The test accuracy is drawn in percent on a linear axis that always spans 0 to 100 %, as
//!   the sweep's accuracy overlays are ([`OverlayMetric::Accuracy`] gives both their scale), so
//!   figures of different runs read alike. The best accuracy reached is drawn too.
//! - The smallest Hessian eigenvalue `λ_min(∇²f(x))` is drawn on a symmetric log scale (it
//!   spans decades on both sides of 0 as an iterate leaves a saddle), with 0 and the bound
//!   `−√ε` of the `(ε, √ε)`-approximate local minimum (Theorem 2.3 of Allen-Zhu et al., ICLR
//!   2021) as reference lines. `ε` comes from summary.json's `second_order`, else from
//!   scenario.json's `evaluation`; without either the bound is not drawn.
//!
//! Both mark the expulsions and faults, and zoom on the expulsion period, as every time plot.
//! The test loss has no figure of its own: it is drawn on loss.svg beside the training loss
//! ([`super::curves::loss_svg`]).

use std::fmt::Write as _;

use super::chart::{HLine, Series, SeriesData, TimeRow};
use super::curves::{ending, event_legend, run_events, single_row_svg};
use super::data::RunData;
use super::format::{int, round_sig};
use super::legend::{LegendItem, Mark};
use super::overlay::OverlayMetric;
use super::palette;
use super::svg::{Stroke, escape};

/// `(round, accuracy in %)` of the rows with a finite accuracy.
pub(crate) fn accuracy_points(run: &RunData) -> Vec<(f64, f64)> {
    run.rounds
        .iter()
        .filter_map(|r| {
            let v = r.accuracy.filter(|v| v.is_finite())?;
            Some((r.round as f64, OverlayMetric::Accuracy.value(v)))
        })
        .collect()
}

/// The best accuracy (in %) and the first round that reached it.
pub(crate) fn best_accuracy(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    points
        .iter()
        .copied()
        .fold(None, |best: Option<(f64, f64)>, (r, v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((r, v)),
        })
}

/// accuracy.svg: the test accuracy against the round, 0 to 100 %.
pub(crate) fn accuracy_svg(run: &RunData) -> String {
    let metric = OverlayMetric::Accuracy;
    let pts = accuracy_points(run);
    let scale = metric.scale(pts.iter().map(|p| p.1));
    let line = Stroke::solid(palette::BLACK, 1.5);
    let mut legend: Vec<LegendItem> = vec![(
        "test accuracy (test set of the data)".to_string(),
        Mark::Line(line),
    )];
    let mut hlines = Vec::new();
    if let Some((round, best)) = best_accuracy(&pts) {
        // Labelled in the legend: on the plot, the label would sit on the rising curve (the
        // line is at the top, with no room above it).
        let s = Stroke::dashed(palette::ORANGE, 1.5, "6 4");
        hlines.push(HLine {
            y: best,
            stroke: s,
            label: String::new(),
            class: "best-accuracy".to_string(),
            label_below: true,
        });
        legend.push((
            format!(
                "best accuracy reached: {} % (round {})",
                round_sig(best, 4),
                int(round.max(0.0) as u64)
            ),
            Mark::Line(s),
        ));
    }
    legend.extend(event_legend(run));
    let row = TimeRow {
        title: String::new(),
        y_title: metric.axis_title(scale),
        y_scale: scale,
        y_include: metric.y_include(),
        y_integers: false,
        fit_series: None,
        x_range: run.x_range(),
        zoom: run.zoom(),
        series: vec![Series {
            class: "accuracy".to_string(),
            stroke: line,
            data: SeriesData::Points(pts),
        }],
        hlines,
        events: run_events(run, None),
        empty_note: "no finite test accuracy".to_string(),
        dots: true,
    };
    single_row_svg(
        "figure accuracy",
        &format!("test accuracy{}", ending(run)),
        &legend,
        &row,
    )
}

/// The caption of accuracy.svg.
pub(crate) fn accuracy_caption(run: &RunData, events: &str) -> String {
    let pts = accuracy_points(run);
    let mut s = String::from(
        "Test accuracy (the share of the held-out test set classified right, the accuracy \
         column of rounds.csv) against the round, in percent on a fixed axis from 0 to 100 %, \
         measured on the evaluated rounds (every eval_every rounds and the last).",
    );
    if let (Some(&(r, v)), Some((br, b))) = (pts.last(), best_accuracy(&pts)) {
        let _ = write!(
            s,
            " Final: {} % at round {}; best: {} % at round {} (dashed orange line).",
            escape(&round_sig(v, 4)),
            int(r.max(0.0) as u64),
            escape(&round_sig(b, 4)),
            int(br.max(0.0) as u64)
        );
    }
    s.push_str(events);
    s
}

/// The `ε` of the approximate-local-minimum test: summary.json's `second_order.eps`, else
/// scenario.json's `evaluation.eps`.
fn local_min_eps(run: &RunData) -> Option<f64> {
    run.summary_f64(&["second_order", "eps"])
        .or_else(|| {
            run.scenario
                .as_ref()?
                .get("evaluation")?
                .get("eps")?
                .as_f64()
        })
        .filter(|e| e.is_finite() && *e > 0.0)
}

/// A number of scenario.json's `evaluation` object.
fn evaluation_u64(run: &RunData, key: &str) -> Option<u64> {
    run.scenario.as_ref()?.get("evaluation")?.get(key)?.as_u64()
}

/// `(round, min_eig)` of the rows with a finite estimate.
fn min_eig_points(run: &RunData) -> Vec<(f64, f64)> {
    run.rounds
        .iter()
        .filter_map(|r| Some((r.round as f64, r.min_eig.filter(|v| v.is_finite())?)))
        .collect()
}

/// min_eig.svg: the smallest Hessian eigenvalue against the round, with 0 and `−√ε`.
pub(crate) fn min_eig_svg(run: &RunData) -> String {
    let pts = min_eig_points(run);
    let eps = local_min_eps(run);
    let bound = eps.map(|e| -e.sqrt());
    let scale = OverlayMetric::Loss.scale(pts.iter().map(|p| p.1).chain(bound));
    let line = Stroke::solid(palette::BLACK, 1.5);
    let mut legend: Vec<LegendItem> = vec![(
        "λ_min(∇²f(x)) (Lanczos estimate)".to_string(),
        Mark::Line(line),
    )];
    // The reference lines are named in the legend: labels on the plot would sit on the curve,
    // which crosses both lines as the iterate leaves a saddle.
    let zero = Stroke::solid(palette::GREY_TEXT, 1.0);
    let mut hlines = vec![HLine {
        y: 0.0,
        stroke: zero,
        label: String::new(),
        class: "zero".to_string(),
        label_below: false,
    }];
    legend.push((
        "0 (below: negative curvature)".to_string(),
        Mark::Line(zero),
    ));
    if let (Some(e), Some(b)) = (eps, bound) {
        let s = Stroke::dashed(palette::BLUISH_GREEN, 2.0, "6 4");
        hlines.push(HLine {
            y: b,
            stroke: s,
            label: String::new(),
            class: "min-eig-bound".to_string(),
            label_below: true,
        });
        legend.push((
            format!(
                "−√ε = {} (ε = {}): local-minimum bound",
                round_sig(b, 3),
                round_sig(e, 3)
            ),
            Mark::Line(s),
        ));
    }
    legend.extend(event_legend(run));
    let row = TimeRow {
        title: String::new(),
        y_title: format!("λ_min ({})", scale.describe()),
        y_scale: scale,
        y_include: std::iter::once(0.0).chain(bound).collect(),
        y_integers: false,
        fit_series: None,
        x_range: run.x_range(),
        zoom: run.zoom(),
        series: vec![Series {
            class: "min-eig".to_string(),
            stroke: line,
            data: SeriesData::Points(pts),
        }],
        hlines,
        events: run_events(run, None),
        empty_note: "no finite estimate of the smallest eigenvalue".to_string(),
        dots: true,
    };
    single_row_svg(
        "figure min-eig",
        &format!("smallest eigenvalue of the Hessian{}", ending(run)),
        &legend,
        &row,
    )
}

/// The caption of min_eig.svg: what the line means, and the final iterate's verdict.
pub(crate) fn min_eig_caption(run: &RunData, events: &str) -> String {
    let mut s = String::from(
        "The smallest eigenvalue λ_min of the Hessian ∇²f at the iterate (the min_eig column of \
         rounds.csv), estimated by Lanczos on Hessian-vector products",
    );
    if let Some(k) = evaluation_u64(run, "lanczos_steps") {
        let _ = write!(s, " ({} steps)", int(k));
    }
    s.push_str(" at the start");
    if let Some(k) = evaluation_u64(run, "min_eig_every") {
        let _ = write!(s, ", every {} rounds", int(k));
    }
    s.push_str(
        " and at the last round, on a symmetric log scale (logarithmic away from 0, linear \
         near it). A negative value means a direction of negative curvature: the iterate is at \
         or near a saddle, from which a descent method must escape. The grey line is 0.",
    );
    match local_min_eps(run) {
        Some(e) => {
            let _ = write!(
                s,
                " The dashed green line is −√ε = {} (ε = {}): an iterate with ‖∇f(x)‖ ≤ ε and \
                 λ_min ≥ −√ε is an (ε, √ε)-approximate local minimum: Theorem 2.3 of \
                 Allen-Zhu et al. (ICLR 2021) guarantees that a constant fraction of \
                 SafeguardSGD's iterates are, despite the Byzantine machines. A Lanczos \
                 estimate can only overestimate λ_min.",
                escape(&round_sig(-e.sqrt(), 4)),
                escape(&round_sig(e, 4))
            );
        }
        None => s.push_str(
            " No ε is known (no summary.json second_order, nor scenario.json evaluation.eps): \
             the bound −√ε of an approximate local minimum is not drawn.",
        ),
    }
    if let Some(so) = run
        .summary
        .as_ref()
        .and_then(|m| m.get("second_order"))
        .and_then(|v| v.as_object())
    {
        let f = |k: &str| so.get(k).and_then(|v| v.as_f64());
        let shown = |v: Option<f64>| v.map_or("not finite".to_string(), |v| round_sig(v, 3));
        let yes = so
            .get("approximate_local_minimum")
            .and_then(|v| v.as_bool());
        let _ = write!(
            s,
            " The final iterate (round {}): ‖∇f(x)‖ = {}, λ_min = {}: {}.",
            int(f("round").unwrap_or(0.0).max(0.0) as u64),
            escape(&shown(f("grad_norm"))),
            escape(&shown(f("min_eig"))),
            match yes {
                Some(true) => "an approximate local minimum",
                Some(false) => "not an approximate local minimum",
                None => "not tested",
            }
        );
    }
    s.push_str(events);
    s
}

#[cfg(test)]
mod tests {
    use super::super::render_run;
    use std::fmt::Write as _;
    use std::path::Path;

    const HEADER: &str =
        "round,loss,grad_norm,good,byzantine_in_good,agg_error,no_reference,faults";

    /// A run of 200 rounds with the optional columns `extra` (of `accuracy`, `test_loss`,
    /// `min_eig`): accuracy from 10 % to 95 %, min_eig every 50 rounds from −1 to +0.01.
    fn run_with(dir: &Path, extra: &[&str]) {
        let mut s = HEADER.to_string();
        for e in extra {
            let _ = write!(s, ",{e}");
        }
        s.push('\n');
        let eig = [-1.0, -0.5, -0.05, -0.001, 0.01];
        for r in 0..=200u32 {
            let t = f64::from(r) / 200.0;
            let _ = write!(
                s,
                "{r},{},{},10,0,,0,0",
                2.3 * (1.0 - t) + 0.1,
                1.0 - 0.9 * t
            );
            for e in extra {
                let v = match *e {
                    "accuracy" => format!("{}", 0.1 + 0.85 * t),
                    "test_loss" => format!("{}", 2.3 * (1.0 - t) + 0.2),
                    _ if r % 50 == 0 => format!("{}", eig[(r / 50) as usize]),
                    _ => String::new(),
                };
                let _ = write!(s, ",{v}");
            }
            s.push('\n');
        }
        std::fs::write(dir.join("rounds.csv"), s).unwrap();
        std::fs::write(
            dir.join("summary.json"),
            r#"{"name":"m","status":"completed","rounds":200,"final":{"loss":0.1},
               "second_order":{"round":200,"eps":0.02,"grad_norm":0.1,"grad_norm_bound":0.02,
               "min_eig":0.01,"min_eig_bound":-0.1414,"approximate_local_minimum":false}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("scenario.json"),
            r#"{"rounds":200,"evaluation":{"min_eig_every":50,"lanczos_steps":30,"eps":0.02}}"#,
        )
        .unwrap();
    }

    fn figures(dir: &Path) -> Vec<String> {
        render_run(dir)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    /// The y pixel of the first element of `tag` whose class is `class`.
    fn y_of(doc: &roxmltree::Document, tag: &str, class: &str) -> f64 {
        let n = doc
            .descendants()
            .find(|n| n.has_tag_name(tag) && n.attribute("class") == Some(class))
            .unwrap_or_else(|| panic!("no <{tag} class={class}>"));
        n.attribute(if tag == "line" { "y1" } else { "y" })
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The points of the first polyline of the group `series {class}`.
    fn series(doc: &roxmltree::Document, class: &str) -> Vec<(f64, f64)> {
        let g = doc
            .descendants()
            .find(|n| n.attribute("class") == Some(&format!("series {class}")))
            .unwrap_or_else(|| panic!("no series {class}"));
        let line = g
            .descendants()
            .find(|n| n.has_tag_name("polyline"))
            .unwrap();
        line.attribute("points")
            .unwrap()
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn accuracy_and_min_eig_figures_exist_exactly_when_their_columns_do() {
        let tmp = tempfile::tempdir().unwrap();
        let cases: [(&[&str], bool, bool); 4] = [
            (&["accuracy", "test_loss", "min_eig"], true, true),
            (&["accuracy", "test_loss"], true, false),
            (&["min_eig"], false, true),
            (&[], false, false),
        ];
        for (k, (extra, acc, eig)) in cases.into_iter().enumerate() {
            let dir = tmp.path().join(k.to_string());
            std::fs::create_dir(&dir).unwrap();
            run_with(&dir, extra);
            let files = figures(&dir);
            let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
            for (file, want) in [("accuracy.svg", acc), ("min_eig.svg", eig)] {
                assert_eq!(
                    files.contains(&file.to_string()),
                    want,
                    "{extra:?}: {files:?}"
                );
                assert_eq!(dir.join(file).exists(), want, "{extra:?}: {file}");
                assert_eq!(
                    report.contains(&format!("data-file=\"{file}\"")),
                    want,
                    "{extra:?}: {file} in report.html"
                );
            }
            // The results table: the final and best accuracy (95 % at round 200), or neither.
            assert_eq!(report.contains("final test accuracy"), acc, "{extra:?}");
            assert_eq!(
                report.contains("best test accuracy</th><td>95.00 % at round 200"),
                acc,
                "{extra:?}"
            );
            let loss = std::fs::read_to_string(dir.join("loss.svg")).unwrap();
            assert_eq!(
                loss.contains("series test-loss"),
                extra.contains(&"test_loss"),
                "{extra:?}"
            );
        }
    }

    #[test]
    fn accuracy_axis_spans_0_to_100_percent_and_the_curve_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        run_with(tmp.path(), &["accuracy"]);
        figures(tmp.path());
        let text = std::fs::read_to_string(tmp.path().join("accuracy.svg")).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let ticks: Vec<(f64, f64)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text") && n.attribute("class") == Some("tick-y"))
            .map(|n| {
                let y: f64 = n.attribute("y").unwrap().parse().unwrap();
                (y, n.text().unwrap().parse::<f64>().unwrap())
            })
            .collect();
        let values: Vec<f64> = ticks.iter().map(|t| t.1).collect();
        assert!(
            values.contains(&0.0) && values.contains(&100.0),
            "{values:?}"
        );
        // Pixel -> percent through the ticks 0 and 100; the curve runs from 10 % to 95 %.
        let (y0, y100) = (
            ticks.iter().find(|t| t.1 == 0.0).unwrap().0,
            ticks.iter().find(|t| t.1 == 100.0).unwrap().0,
        );
        let pct = |y: f64| 100.0 * (y - y0) / (y100 - y0);
        let pts = series(&doc, "accuracy");
        let (first, last) = (pts[0], pts[pts.len() - 1]);
        assert!((pct(first.1) - 10.0).abs() < 0.5, "{}", pct(first.1));
        assert!((pct(last.1) - 95.0).abs() < 0.5, "{}", pct(last.1));
        // The best accuracy's line is at 95 %, labelled with its round.
        assert!((pct(y_of(&doc, "line", "best-accuracy")) - 95.0).abs() < 0.5);
        assert!(
            text.contains("best accuracy reached: 95 % (round 200)"),
            "best label"
        );
    }

    #[test]
    fn min_eig_bound_lies_between_zero_and_the_saddle_and_the_caption_explains_it() {
        let tmp = tempfile::tempdir().unwrap();
        run_with(tmp.path(), &["min_eig"]);
        figures(tmp.path());
        let text = std::fs::read_to_string(tmp.path().join("min_eig.svg")).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let zero = y_of(&doc, "line", "zero");
        let bound = y_of(&doc, "line", "min-eig-bound");
        assert!(text.contains("−√ε = −0.141 (ε = 0.02)"), "bound label");
        // Five estimates (rounds 0, 50, …, 200), top to bottom in pixels: +0.01 above the
        // zero line; −0.001 and −0.05 between it and the bound −√0.02 = −0.141; −0.5 and −1
        // below the bound.
        let pts = series(&doc, "min-eig");
        assert_eq!(pts.len(), 5, "{pts:?}");
        let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
        assert!(y[4] < zero && zero < y[3], "{y:?} zero {zero}");
        assert!(y[3] < y[2] && y[2] < bound, "{y:?} bound {bound}");
        assert!(bound < y[1] && y[1] < y[0], "{y:?} bound {bound}");
        let report = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
        assert!(report.contains("Theorem 2.3"), "caption");
        assert!(report.contains("(30 steps)") && report.contains("every 50 rounds"));
        assert!(
            report.contains("not an approximate local minimum"),
            "verdict"
        );
    }
}
