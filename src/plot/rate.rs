//! The rate figure: rounds to reach a loss target against `alpha^2 + 1/m`, the factor of
//! Theorem 2.3 of Allen-Zhu, Ebrahimian, Li & Alistarh (ICLR 2021), on log-log axes, with one
//! fitted line `c (alpha^2 + 1/m)`.
//!
//! Each point is a machine setting (`m` machines, `alpha m` of them Byzantine): the mean over
//! seeds of the rounds the runs took to reach the target, with a bar of ± one standard deviation.
//! When the sweep tries several values of other keys at each setting (step sizes, say), the
//! point is the best of them (the fewest rounds, among the values where every seed reached the
//! target), and the others are drawn as small grey dots, joined across settings by thin grey
//! lines, one per value: what a fixed choice gives.

use super::chart::{AxisText, Frame, Rect, WIDTH, draw_axes, draw_title};
use super::format::round_sig;
use super::legend::{self, LegendItem, Mark};
use super::palette::{self, Color, run_color};
use super::scale::{Axis, Scale};
use super::svg::{Anchor, Font, Stroke, Svg};

/// One machine setting's result.
#[derive(Debug, Clone, PartialEq)]
pub struct RatePoint {
    /// Machines `m`.
    pub machines: u64,
    /// Byzantine machines among them.
    pub byzantine: u64,
    /// Mean over the seeds of the rounds to reach the target.
    pub rounds: f64,
    /// Their sample standard deviation (`None` with one seed).
    pub std: Option<f64>,
    /// The value of the other keys this point used (empty when nothing else is swept).
    pub choice: String,
}

impl RatePoint {
    /// `alpha = byzantine / m`.
    pub fn alpha(&self) -> f64 {
        self.byzantine as f64 / self.machines.max(1) as f64
    }
    /// `alpha^2 + 1/m`.
    pub fn factor(&self) -> f64 {
        let a = self.alpha();
        a * a + 1.0 / self.machines.max(1) as f64
    }
}

/// The points of one defense and attack.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateSeries {
    /// What it is (the defense and attack; empty when they are not swept).
    pub label: String,
    /// The best point of each machine setting that reached the target.
    pub best: Vec<RatePoint>,
    /// For each value of the other keys (by label), its point at each machine setting where
    /// every seed reached the target.
    pub fixed: Vec<(String, Vec<RatePoint>)>,
    /// Machine settings `(m, byzantine)` where no value reached the target with every seed.
    pub unreached: Vec<(u64, u64)>,
}

/// `c` of the line `c x` fitted to the best points by least squares on the logarithms
/// (`log c` = mean of `log rounds − log x`), and the smallest and largest ratio measured/fitted.
pub fn fit(points: &[RatePoint]) -> Option<(f64, f64, f64)> {
    let logs: Vec<f64> = points
        .iter()
        .filter(|p| p.rounds > 0.0 && p.factor() > 0.0)
        .map(|p| p.rounds.ln() - p.factor().ln())
        .collect();
    if logs.is_empty() {
        return None;
    }
    let c = (logs.iter().sum::<f64>() / logs.len() as f64).exp();
    let (lo, hi) = logs.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), l| {
        let r = l.exp() / c;
        (lo.min(r), hi.max(r))
    });
    Some((c, lo, hi))
}

/// The free power law `rounds = a x^s` fitted to the best points by least squares on the
/// logarithms: its exponent `s` and the correlation of the logarithms (`None` with fewer than
/// three points or a single `x`).
pub fn power_fit(points: &[RatePoint]) -> Option<(f64, f64)> {
    let xy: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.rounds > 0.0 && p.factor() > 0.0)
        .map(|p| (p.factor().ln(), p.rounds.ln()))
        .collect();
    if xy.len() < 3 {
        return None;
    }
    let n = xy.len() as f64;
    let (mx, my) = (
        xy.iter().map(|p| p.0).sum::<f64>() / n,
        xy.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = xy.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = xy.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let syy: f64 = xy.iter().map(|p| (p.1 - my) * (p.1 - my)).sum();
    (sxx > 0.0 && syy > 0.0).then(|| (sxy / sxx, sxy / (sxx * syy).sqrt()))
}

/// The marker of series `k`: a circle, a square, a diamond, a triangle, then again.
fn marker(svg: &mut Svg, k: usize, (x, y): (f64, f64), fill: Color, class: &str) {
    let outline = Stroke::solid(palette::BLACK, 1.0);
    match k % 4 {
        0 => svg.circle((x, y), 5.5, fill, Some(outline), class),
        1 => svg.rect(
            (x - 5.0, y - 5.0),
            (10.0, 10.0),
            Some((fill, 1.0)),
            Some(outline),
            class,
        ),
        2 => legend::diamond(svg, (x, y), 6.5, fill, class),
        _ => svg.polygon(
            &[(x - 6.0, y + 5.0), (x + 6.0, y + 5.0), (x, y - 6.0)],
            fill,
            1.0,
            class,
        ),
    }
}

/// Draw the rate figure of `series`; `target` says what was reached, `tuned` over what the best
/// point was chosen (empty when nothing else is swept).
pub fn draw(title: &str, series: &[RateSeries], target: &str, tuned: &str) -> String {
    let mut ms: Vec<u64> = series
        .iter()
        .flat_map(|s| s.best.iter().chain(s.fixed.iter().flat_map(|f| &f.1)))
        .map(|p| p.machines)
        .collect();
    ms.sort_unstable();
    ms.dedup();
    let color_of = |m: u64| run_color(ms.iter().position(|&x| x == m).unwrap_or(0));
    let all: Vec<&RatePoint> = series
        .iter()
        .flat_map(|s| s.best.iter().chain(s.fixed.iter().flat_map(|f| &f.1)))
        .collect();
    let fits: Vec<Option<(f64, f64, f64)>> = series.iter().map(|s| fit(&s.best)).collect();
    let x_axis = Axis::fit(Scale::Log, all.iter().map(|p| p.factor()), 0.08)
        .unwrap_or_else(|| Axis::new(Scale::Log, 0.01, 1.0));
    let y_axis = Axis::fit(
        Scale::Log,
        all.iter().flat_map(|p| {
            let sd = p.std.unwrap_or(0.0);
            [p.rounds, p.rounds + sd, (p.rounds - sd).max(p.rounds / 3.0)]
        }),
        0.08,
    )
    .unwrap_or_else(|| Axis::new(Scale::Log, 1.0, 10.0));
    // Legend: machine counts, series markers, fitted lines, the grey lines.
    let mut items: Vec<LegendItem> = ms
        .iter()
        .map(|&m| (format!("m = {m}"), Mark::Dot(color_of(m))))
        .collect();
    for (k, (s, f)) in series.iter().zip(&fits).enumerate() {
        let name = if s.label.is_empty() {
            String::new()
        } else {
            format!("{}: ", s.label)
        };
        if let Some((c, _, _)) = f {
            items.push((
                format!("{name}{} (α² + 1/m), fitted", round_sig(*c, 3)),
                Mark::Line(fit_stroke(k)),
            ));
        }
    }
    if series.iter().any(|s| !s.fixed.is_empty()) {
        items.push((
            format!("grey: one {tuned} throughout"),
            Mark::Line(Stroke::solid(palette::GREY_TEXT, 1.0).alpha(0.6)),
        ));
    }
    let legend_h = legend::legend_height(&items, WIDTH - 40.0);
    let plot_h = 420.0;
    let height = 36.0 + legend_h + 22.0 + plot_h + 50.0;
    let mut svg = Svg::new(WIDTH, height, "figure rate");
    let mut y = draw_title(&mut svg, title);
    y += legend::draw_legend(&mut svg, &items, y);
    svg.text(
        (WIDTH / 2.0, y + 8.0),
        &format!(
            "{target}; {}",
            if tuned.is_empty() {
                "mean ± std over seeds".to_string()
            } else {
                format!("markers: the best {tuned} of each setting")
            }
        ),
        Font::new(12.5, palette::GREY_TEXT).anchor(Anchor::Middle),
        false,
        "subtitle",
    );
    y += 22.0;
    let f = Frame {
        rect: Rect {
            x: 82.0,
            y: y + 4.0,
            w: WIDTH - 82.0 - 24.0,
            h: plot_h,
        },
        x: x_axis,
        y: y_axis,
    };
    draw_axes(
        &mut svg,
        &f,
        &AxisText {
            x_title: Some(
                "α² + 1/m   (α: the Byzantine fraction, m: the machines; log scale)".into(),
            ),
            y_title: Some("rounds to reach the target (log scale)".into()),
            y_labels: true,
            ..AxisText::default()
        },
    );
    f.clip(&mut svg);
    // Fixed values: thin grey lines across settings, small dots.
    svg.begin_group("fixed");
    for s in series {
        for (_, pts) in &s.fixed {
            let mut sorted: Vec<&RatePoint> = pts.iter().collect();
            sorted.sort_by(|a, b| a.factor().total_cmp(&b.factor()));
            let px: Vec<(f64, f64)> = sorted
                .iter()
                .filter_map(|p| f.px((p.factor(), p.rounds)))
                .collect();
            svg.polyline(&px, Stroke::solid(palette::GREY_TEXT, 0.8).alpha(0.45), "");
            for p in px {
                svg.circle(p, 2.2, Color(0x9a, 0x9a, 0x9a), None, "fixed-point");
            }
        }
    }
    svg.end_group();
    // Fitted lines.
    for (k, fitted) in fits.iter().enumerate() {
        if let Some((c, _, _)) = fitted {
            let (a, b) = (
                x_axis.scale.inverse(x_axis.lo),
                x_axis.scale.inverse(x_axis.hi),
            );
            let line: Vec<(f64, f64)> = (0..=40)
                .map(|i| {
                    let x = a * (b / a).powf(f64::from(i) / 40.0);
                    (x, c * x)
                })
                .collect();
            svg.polyline(&f.px_all(&line), fit_stroke(k), "fitted");
        }
    }
    // Best points with their bars and alpha labels.
    for (k, s) in series.iter().enumerate() {
        svg.begin_group(&format!("series series-{k}"));
        for p in &s.best {
            let Some((px, py)) = f.px((p.factor(), p.rounds)) else {
                continue;
            };
            if let Some(sd) = p.std.filter(|s| *s > 0.0) {
                let lo = f.px_y((p.rounds - sd).max(p.rounds / 3.0));
                let hi = f.px_y(p.rounds + sd);
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    svg.line((px, lo), (px, hi), Stroke::solid(palette::AXIS, 1.2), "std");
                }
            }
            marker(&mut svg, k, (px, py), color_of(p.machines), "best");
            svg.text(
                (px + 8.0, py - 9.0),
                &format!("α={}", round_sig(p.alpha(), 2)),
                Font::new(10.5, palette::GREY_TEXT).halo(),
                false,
                "alpha-label",
            );
        }
        svg.end_group();
    }
    svg.end_group();
    svg.finish()
}

fn fit_stroke(k: usize) -> Stroke {
    let dash = ["7 5", "2 4", "10 3 2 3", "4 2"][k % 4];
    Stroke::dashed(palette::BLACK, 1.6, dash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(m: u64, b: u64, rounds: f64) -> RatePoint {
        RatePoint {
            machines: m,
            byzantine: b,
            rounds,
            std: Some(rounds / 10.0),
            choice: String::new(),
        }
    }

    #[test]
    fn the_fitted_constant_is_the_geometric_mean_ratio() {
        let p = point(10, 4, 520.0);
        assert!((p.factor() - 0.26).abs() < 1e-12);
        // Exactly proportional: c is the ratio, the spread is 1.
        let (c, lo, hi) = fit(&[point(10, 0, 100.0), point(40, 0, 25.0)]).unwrap();
        assert!((c - 1000.0).abs() < 1e-9 && (lo - 1.0).abs() < 1e-12 && (hi - 1.0).abs() < 1e-12);
        // Twice and half: c in the middle, ratios 2 and 1/2.
        let (c, lo, hi) = fit(&[point(10, 0, 200.0), point(40, 0, 12.5)]).unwrap();
        assert!((c - 1000.0).abs() < 1e-9);
        assert!((lo - 0.5).abs() < 1e-12 && (hi - 2.0).abs() < 1e-12);
        assert_eq!(fit(&[]), None);
        // A free power law: exponent 1 and correlation 1 on proportional points, 0.5 on a
        // square root.
        let pts = [point(10, 0, 100.0), point(40, 0, 25.0), point(10, 4, 260.0)];
        let (s, r) = power_fit(&pts).unwrap();
        assert!((s - 1.0).abs() < 1e-9 && (r - 1.0).abs() < 1e-9);
        let root: Vec<RatePoint> = [(10, 0), (40, 0), (10, 4)]
            .iter()
            .map(|&(m, b)| {
                let p = point(m, b, 1.0);
                point(m, b, 1000.0 * p.factor().sqrt())
            })
            .collect();
        assert!((power_fit(&root).unwrap().0 - 0.5).abs() < 1e-9);
        assert_eq!(power_fit(&pts[..2]), None);
        let svg = draw(
            "t",
            &[RateSeries {
                label: String::new(),
                best: vec![point(10, 0, 100.0), point(10, 4, 260.0)],
                fixed: vec![("lr-0.01".into(), vec![point(10, 0, 150.0)])],
                unreached: Vec::new(),
            }],
            "loss − f* ≤ 0.001",
            "optimizer.lr",
        );
        assert_eq!(svg.matches("class=\"best\"").count(), 2);
        assert_eq!(svg.matches("class=\"fixed-point\"").count(), 1);
        assert!(svg.contains("1000 (α² + 1/m), fitted"), "{svg}");
    }
}
