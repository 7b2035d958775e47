//! The loss on the trajectory's plane: the plotted box, the grid written to surface.csv, and
//! the minima of `f` found on it (grid, then Nelder-Mead).
//!
//! The grid has `n x n` points with `n` from 121 (small `d`) down to 21 (`d` near 10⁶), so its
//! cost stays near `2·10⁷` loss evaluations' worth of `d`; the minima get at most 400
//! evaluations each, fewer for large `d`. A learning task's loss is a pass over its data (the
//! `eval_size` training samples, hundreds of times `d`), so problems that report classes get at
//! most [`LEARNING_SURFACE_POINTS`] per side.

use std::fmt::Write as _;

use serde::Serialize;

use crate::record::fmt_f64;

/// A local minimum of `f` on the plane.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PlaneMinimum {
    /// First coordinate.
    pub p1: f64,
    /// Second coordinate.
    pub p2: f64,
    /// `f` there.
    pub loss: f64,
}

/// The loss on an `n x n` grid over a box of the plane.
#[derive(Debug, Clone)]
pub(crate) struct Surface {
    /// Points per side.
    pub n: usize,
    /// Low corner of the box.
    pub lo: (f64, f64),
    /// High corner of the box.
    pub hi: (f64, f64),
    /// `values[j * n + i]` at grid point `(i, j)`.
    pub values: Vec<f64>,
}

/// Most grid points per side for a learning task (a problem that reports classes): each point
/// is a pass over the loss's samples (the whole training set, or `eval_size` of them). For the
/// shipped digits MLP (256 samples) the default 64 × 64 grid cost about 1.5 times its 600
/// rounds; 16 × 16 costs about a tenth of them, and still draws smooth level sets.
pub const LEARNING_SURFACE_POINTS: usize = 16;

impl Surface {
    /// The default number of grid points per side for a problem of `dim` parameters: 121 for
    /// small problems, down to 21 near 10⁶ parameters.
    pub fn default_points(dim: usize) -> usize {
        ((2e7 / dim.max(1) as f64).sqrt() as usize).clamp(21, 121)
    }

    /// [`Surface::default_points`], at most [`LEARNING_SURFACE_POINTS`] for a learning task
    /// (`learning`: the problem reports classes, so its loss is a pass over a data set).
    pub fn default_points_for(dim: usize, learning: bool) -> usize {
        let n = Surface::default_points(dim);
        if learning {
            n.min(LEARNING_SURFACE_POINTS)
        } else {
            n
        }
    }

    /// Sample `f` on `n x n` points (at least 2) over the box of `points` (`(round, p1, p2)`).
    pub fn sample(f: impl Fn(f64, f64) -> f64, points: &[(u64, f64, f64)], n: usize) -> Self {
        let (lo, hi) = plot_box(points);
        let n = n.max(2);
        let mut s = Surface {
            n,
            lo,
            hi,
            values: vec![f64::NAN; n * n],
        };
        for j in 0..n {
            for i in 0..n {
                let (a, b) = s.at(i, j);
                s.values[j * n + i] = f(a, b);
            }
        }
        s
    }

    /// The plane coordinates of grid point `(i, j)`.
    pub fn at(&self, i: usize, j: usize) -> (f64, f64) {
        let g = |k: usize, lo: f64, hi: f64| lo + (hi - lo) * k as f64 / (self.n - 1) as f64;
        (g(i, self.lo.0, self.hi.0), g(j, self.lo.1, self.hi.1))
    }

    /// surface.csv: `p1,p2,loss`, rows by `p2` then `p1`.
    pub fn csv(&self) -> String {
        let mut out = String::from("p1,p2,loss\n");
        for j in 0..self.n {
            for i in 0..self.n {
                let (a, b) = self.at(i, j);
                let f = self.values[j * self.n + i];
                let _ = writeln!(out, "{},{},{}", fmt_f64(a), fmt_f64(b), fmt_f64(f));
            }
        }
        out
    }

    /// The lowest minima of `f` in the box: the grid's lowest local minima refined, then those
    /// as low as the lowest (several when `f` is symmetric, like the saddle's four minima), one
    /// per place.
    pub fn minima(&self, f: impl Fn(f64, f64) -> f64, dim: usize) -> Vec<PlaneMinimum> {
        let n = self.n;
        let cell = (
            (self.hi.0 - self.lo.0) / (n - 1) as f64,
            (self.hi.1 - self.lo.1) / (n - 1) as f64,
        );
        let budget = ((2e7 / dim.max(1) as f64) as usize).clamp(60, 400);
        let mut refined: Vec<PlaneMinimum> = grid_minima(&self.values, n)
            .into_iter()
            .map(|(i, j)| refine(&f, self.at(i, j), cell, (self.lo, self.hi), budget))
            .filter(|m| m.loss.is_finite())
            .collect();
        refined.sort_by(|a, b| a.loss.total_cmp(&b.loss));
        let best = refined.first().map_or(0.0, |m| m.loss);
        let range = self
            .values
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0f64, |a, v| a.max((v - best).abs()));
        refined
            .into_iter()
            .filter(|m| m.loss <= best + 1e-6 * range.max(1e-300))
            .fold(Vec::new(), |mut acc: Vec<PlaneMinimum>, m| {
                let near = acc.iter().any(|o| {
                    (o.p1 - m.p1).abs() < 2.0 * cell.0 && (o.p2 - m.p2).abs() < 2.0 * cell.1
                });
                if !near {
                    acc.push(m);
                }
                acc
            })
    }
}

/// The plotted box: the path with a margin, both sides of equal length when they are within a
/// factor 3 of each other (same units on both axes: circles stay round).
fn plot_box(points: &[(u64, f64, f64)]) -> ((f64, f64), (f64, f64)) {
    let clip = |v: f64| v.clamp(-1e150, 1e150);
    let (mut a0, mut a1, mut b0, mut b1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for p in points {
        a0 = a0.min(clip(p.1));
        a1 = a1.max(clip(p.1));
        b0 = b0.min(clip(p.2));
        b1 = b1.max(clip(p.2));
    }
    let (mut sa, mut sb) = (a1 - a0, b1 - b0);
    let floor = 1e-3 * (a0.abs().max(a1.abs()).max(b0.abs()).max(b1.abs())).max(1e-9);
    sa = sa.max(floor);
    sb = sb.max(floor);
    if sa < 3.0 * sb && sb < 3.0 * sa {
        let s = sa.max(sb);
        sa = s;
        sb = s;
    } else {
        // Very unequal: keep at least a fifth of the larger side on the smaller.
        let s = sa.max(sb) / 5.0;
        sa = sa.max(s);
        sb = sb.max(s);
    }
    let (ca, cb) = (0.5 * (a0 + a1), 0.5 * (b0 + b1));
    let (ha, hb) = (0.5 * sa * 1.25, 0.5 * sb * 1.25);
    ((ca - ha, cb - hb), (ca + ha, cb + hb))
}

/// Interior local minima of an `n x n` grid whose value is within 2% of the grid's range of its
/// lowest value, lowest first, at most 8.
fn grid_minima(values: &[f64], n: usize) -> Vec<(usize, usize)> {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if lo > hi {
        return Vec::new();
    }
    let tol = lo + 0.02 * (hi - lo);
    let mut out: Vec<(f64, usize, usize)> = Vec::new();
    for j in 1..n.saturating_sub(1) {
        for i in 1..n - 1 {
            let v = values[j * n + i];
            if !(v.is_finite() && v <= tol) {
                continue;
            }
            let mut is_min = true;
            for dj in [-1i64, 0, 1] {
                for di in [-1i64, 0, 1] {
                    if di == 0 && dj == 0 {
                        continue;
                    }
                    let w = values[(j as i64 + dj) as usize * n + (i as i64 + di) as usize];
                    if !(w.is_finite() && w >= v) {
                        is_min = false;
                    }
                }
            }
            if is_min {
                out.push((v, i, j));
            }
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)).then(a.1.cmp(&b.1)));
    out.into_iter().take(8).map(|(_, i, j)| (i, j)).collect()
}

/// Nelder-Mead on the plane from `start` (initial simplex of one grid cell), kept inside the
/// box, for at most `max_evals` evaluations of `f` (Nelder & Mead, *A simplex method for
/// function minimization*, 1965, with the usual coefficients 1, 2, 1/2, 1/2).
fn refine(
    f: &impl Fn(f64, f64) -> f64,
    start: (f64, f64),
    cell: (f64, f64),
    (lo, hi): ((f64, f64), (f64, f64)),
    max_evals: usize,
) -> PlaneMinimum {
    let clamp = |p: (f64, f64)| (p.0.clamp(lo.0, hi.0), p.1.clamp(lo.1, hi.1));
    let eval = |p: (f64, f64)| {
        let v = f(p.0, p.1);
        if v.is_nan() { f64::INFINITY } else { v }
    };
    let mut s: Vec<((f64, f64), f64)> = [
        start,
        (start.0 + cell.0, start.1),
        (start.0, start.1 + cell.1),
    ]
    .into_iter()
    .map(|p| {
        let p = clamp(p);
        (p, eval(p))
    })
    .collect();
    let mut evals = 3;
    let lerp =
        |a: (f64, f64), b: (f64, f64), t: f64| (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
    while evals < max_evals {
        s.sort_by(|a, b| a.1.total_cmp(&b.1));
        let size = ((s[2].0.0 - s[0].0.0) / cell.0).abs() + ((s[2].0.1 - s[0].0.1) / cell.1).abs();
        if size < 1e-9 {
            break;
        }
        let centroid = lerp(s[0].0, s[1].0, 0.5);
        let worst = s[2];
        let reflect = clamp(lerp(centroid, worst.0, -1.0));
        let fr = eval(reflect);
        evals += 1;
        if fr < s[0].1 {
            let expand = clamp(lerp(centroid, worst.0, -2.0));
            let fe = eval(expand);
            evals += 1;
            s[2] = if fe < fr { (expand, fe) } else { (reflect, fr) };
        } else if fr < s[1].1 {
            s[2] = (reflect, fr);
        } else {
            let contract = clamp(lerp(centroid, worst.0, 0.5));
            let fc = eval(contract);
            evals += 1;
            if fc < worst.1 {
                s[2] = (contract, fc);
            } else {
                for k in 1..3 {
                    let p = clamp(lerp(s[0].0, s[k].0, 0.5));
                    s[k] = (p, eval(p));
                    evals += 1;
                }
            }
        }
    }
    s.sort_by(|a, b| a.1.total_cmp(&b.1));
    PlaneMinimum {
        p1: s[0].0.0,
        p2: s[0].0.1,
        loss: s[0].1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_is_square_for_similar_spans() {
        let b = plot_box(&[(0, 0.0, 0.0), (1, 1.0, 0.5)]);
        assert!(
            (b.1.0 - b.0.0 - (b.1.1 - b.0.1)).abs() < 1e-12,
            "square: {b:?}"
        );
    }

    #[test]
    fn learning_tasks_get_a_capped_grid_and_other_problems_the_default() {
        // The digits MLP (4810 parameters): 64 by default, capped for a learning task.
        assert_eq!(Surface::default_points_for(4810, false), 64);
        assert_eq!(
            Surface::default_points_for(4810, true),
            LEARNING_SURFACE_POINTS
        );
        // Logistic regression on breast cancer (31 parameters): 121, capped likewise.
        assert_eq!(Surface::default_points_for(31, false), 121);
        assert_eq!(
            Surface::default_points_for(31, true),
            LEARNING_SURFACE_POINTS
        );
        // Large models: 21 by default, still capped for a learning task.
        assert_eq!(Surface::default_points_for(1_000_000, false), 21);
        assert_eq!(
            Surface::default_points_for(1_000_000, true),
            LEARNING_SURFACE_POINTS
        );
    }

    #[test]
    fn rosenbrock_minimum_is_found_in_its_curved_valley() {
        let f = |x: f64, y: f64| (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2);
        let path = [(0, -1.5, 2.0), (1, 0.8, 0.64)];
        let s = Surface::sample(f, &path, Surface::default_points(2));
        let m = s.minima(f, 2);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            (m[0].p1 - 1.0).abs() < 1e-4 && (m[0].p2 - 1.0).abs() < 1e-4,
            "{m:?}"
        );
    }
}
