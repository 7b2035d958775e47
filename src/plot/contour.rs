//! Level sets of a surface sampled on a grid: bicubic upsampling (smooth contours instead of
//! staircases), marching squares, and polylines joined across cells and simplified.

use std::collections::BTreeMap;

/// An edge of the contour grid: (i, j, 0) joins nodes (i, j)-(i+1, j); (i, j, 1) joins
/// (i, j)-(i, j+1).
type EdgeId = (usize, usize, u8);

/// A polyline in data coordinates.
pub type Polyline = Vec<(f64, f64)>;

/// Level sets of `values` (a `(n+1) x (n+1)` grid, `values[j][i]` at `(xs[i], ys[j])`) at
/// `level`, by marching squares, joined into polylines.
pub fn contour_lines(xs: &[f64], ys: &[f64], values: &[Vec<f64>], level: f64) -> Vec<Polyline> {
    let val = |i: usize, j: usize| {
        values
            .get(j)
            .and_then(|row| row.get(i))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let nx = xs.len().saturating_sub(1);
    let ny = ys.len().saturating_sub(1);
    let mut segs: Vec<(EdgeId, EdgeId)> = Vec::new();
    for j in 0..ny {
        for i in 0..nx {
            let a = val(i, j);
            let b = val(i + 1, j);
            let c = val(i + 1, j + 1);
            let d = val(i, j + 1);
            if !(a.is_finite() && b.is_finite() && c.is_finite() && d.is_finite()) {
                continue;
            }
            let (sa, sb, sc, sd) = (a >= level, b >= level, c >= level, d >= level);
            let bottom: EdgeId = (i, j, 0);
            let right: EdgeId = (i + 1, j, 1);
            let top: EdgeId = (i, j + 1, 0);
            let left: EdgeId = (i, j, 1);
            let mut crossed = Vec::with_capacity(4);
            if sa != sb {
                crossed.push(bottom);
            }
            if sb != sc {
                crossed.push(right);
            }
            if sc != sd {
                crossed.push(top);
            }
            if sd != sa {
                crossed.push(left);
            }
            match crossed.len() {
                2 => segs.push((crossed[0], crossed[1])),
                4 => {
                    // Saddle: cut off the corners whose side differs from the centre's.
                    let centre = (a + b + c + d) / 4.0 >= level;
                    if sa != centre {
                        segs.push((left, bottom));
                    }
                    if sb != centre {
                        segs.push((bottom, right));
                    }
                    if sc != centre {
                        segs.push((right, top));
                    }
                    if sd != centre {
                        segs.push((top, left));
                    }
                }
                _ => {}
            }
        }
    }
    let point = |(i, j, dir): EdgeId| -> (f64, f64) {
        let (i2, j2) = if dir == 0 { (i + 1, j) } else { (i, j + 1) };
        let v1 = val(i, j);
        let v2 = val(i2, j2);
        let t = if v2 != v1 {
            ((level - v1) / (v2 - v1)).clamp(0.0, 1.0)
        } else {
            0.5
        };
        let x1 = xs.get(i).copied().unwrap_or(0.0);
        let x2 = xs.get(i2).copied().unwrap_or(x1);
        let y1 = ys.get(j).copied().unwrap_or(0.0);
        let y2 = ys.get(j2).copied().unwrap_or(y1);
        (x1 + t * (x2 - x1), y1 + t * (y2 - y1))
    };
    // Join segments sharing an edge into polylines.
    let mut adj: BTreeMap<EdgeId, Vec<usize>> = BTreeMap::new();
    for (k, &(e0, e1)) in segs.iter().enumerate() {
        adj.entry(e0).or_default().push(k);
        adj.entry(e1).or_default().push(k);
    }
    let degree = |e: &EdgeId| adj.get(e).map_or(0, Vec::len);
    let mut used = vec![false; segs.len()];
    let mut lines = Vec::new();
    for pass in 0..2 {
        for s in 0..segs.len() {
            if used[s] {
                continue;
            }
            let (e0, e1) = segs[s];
            // First pass: start open chains at their ends; second pass: closed loops.
            let start = if pass == 0 {
                if degree(&e0) == 1 {
                    e0
                } else if degree(&e1) == 1 {
                    e1
                } else {
                    continue;
                }
            } else {
                e0
            };
            let mut chain = vec![point(start)];
            let mut cur_seg = s;
            let mut cur_edge = start;
            loop {
                used[cur_seg] = true;
                let (a, b) = segs[cur_seg];
                let next = if a == cur_edge { b } else { a };
                chain.push(point(next));
                let nxt = adj
                    .get(&next)
                    .and_then(|v| v.iter().copied().find(|&t| !used[t]));
                match nxt {
                    Some(t) => {
                        cur_seg = t;
                        cur_edge = next;
                    }
                    None => break,
                }
            }
            lines.push(chain);
        }
    }
    lines
}

/// Catmull-Rom (bicubic) upsampling of an `nx x ny` grid (`values[j][i]`) by `factor`: the
/// refined grid passes through every original point and is C¹ between them, so level sets
/// drawn from it are smooth. Non-finite neighbours fall back to the nearest finite value.
pub fn upsample(
    xs: &[f64],
    ys: &[f64],
    values: &[Vec<f64>],
    factor: usize,
) -> (Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
    let factor = factor.max(1);
    let (nx, ny) = (xs.len(), ys.len());
    if nx < 2 || ny < 2 || factor == 1 {
        return (xs.to_vec(), ys.to_vec(), values.to_vec());
    }
    let fine = |v: &[f64]| -> Vec<f64> {
        let mut out = Vec::with_capacity((v.len() - 1) * factor + 1);
        for k in 0..v.len() - 1 {
            for s in 0..factor {
                out.push(v[k] + (v[k + 1] - v[k]) * s as f64 / factor as f64);
            }
        }
        out.push(v[v.len() - 1]);
        out
    };
    let fx = fine(xs);
    let fy = fine(ys);
    let at = |i: i64, j: i64| -> f64 {
        let i = i.clamp(0, nx as i64 - 1) as usize;
        let j = j.clamp(0, ny as i64 - 1) as usize;
        values
            .get(j)
            .and_then(|r| r.get(i))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let cr = |p0: f64, p1: f64, p2: f64, p3: f64, t: f64| -> f64 {
        // Fall back to linear when a neighbour is missing.
        if !(p0.is_finite() && p3.is_finite()) {
            return p1 + (p2 - p1) * t;
        }
        0.5 * ((2.0 * p1)
            + (-p0 + p2) * t
            + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * t * t
            + (-p0 + 3.0 * p1 - 3.0 * p2 + p3) * t * t * t)
    };
    let mut out = vec![vec![f64::NAN; fx.len()]; fy.len()];
    for (fj, row) in out.iter_mut().enumerate() {
        let (j, tj) = ((fj / factor) as i64, (fj % factor) as f64 / factor as f64);
        for (fi, cell) in row.iter_mut().enumerate() {
            let (i, ti) = ((fi / factor) as i64, (fi % factor) as f64 / factor as f64);
            let corners = [at(i, j), at(i + 1, j), at(i, j + 1), at(i + 1, j + 1)];
            if corners.iter().any(|v| !v.is_finite()) {
                *cell = if ti == 0.0 && tj == 0.0 {
                    at(i, j)
                } else {
                    f64::NAN
                };
                continue;
            }
            let col = |jj: i64| cr(at(i - 1, jj), at(i, jj), at(i + 1, jj), at(i + 2, jj), ti);
            *cell = cr(col(j - 1), col(j), col(j + 1), col(j + 2), tj);
        }
    }
    (fx, fy, out)
}

/// Drop points closer than `tol` to the segment joining their neighbours (Ramer-Douglas-Peucker).
pub fn simplify(points: &[(f64, f64)], tol: f64) -> Vec<(f64, f64)> {
    if points.len() < 3 {
        return points.to_vec();
    }
    let mut keep = vec![false; points.len()];
    keep[0] = true;
    keep[points.len() - 1] = true;
    let mut stack = vec![(0usize, points.len() - 1)];
    while let Some((a, b)) = stack.pop() {
        let (pa, pb) = (points[a], points[b]);
        let (dx, dy) = (pb.0 - pa.0, pb.1 - pa.1);
        let len = (dx * dx + dy * dy).sqrt();
        let mut worst = (0.0, 0usize);
        for (k, p) in points.iter().enumerate().take(b).skip(a + 1) {
            let d = if len > 0.0 {
                ((p.0 - pa.0) * dy - (p.1 - pa.1) * dx).abs() / len
            } else {
                ((p.0 - pa.0).powi(2) + (p.1 - pa.1).powi(2)).sqrt()
            };
            if d > worst.0 {
                worst = (d, k);
            }
        }
        if worst.0 > tol {
            keep[worst.1] = true;
            stack.push((a, worst.1));
            stack.push((worst.1, b));
        }
    }
    points
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(p, _)| *p)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circle_grid(n: usize) -> (Vec<f64>, Vec<f64>, Vec<Vec<f64>>) {
        let xs: Vec<f64> = (0..=n).map(|i| -2.0 + 4.0 * i as f64 / n as f64).collect();
        let ys = xs.clone();
        let values = ys
            .iter()
            .map(|&y| xs.iter().map(|&x| x * x + y * y).collect())
            .collect();
        (xs, ys, values)
    }

    #[test]
    fn contour_of_a_circle_is_one_closed_loop() {
        let (xs, ys, values) = circle_grid(40);
        let lines = contour_lines(&xs, &ys, &values, 1.0);
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        assert!(l.len() > 20);
        assert_eq!(l.first(), l.last(), "closed");
        for &(x, y) in l {
            assert!(((x * x + y * y).sqrt() - 1.0).abs() < 0.02);
        }
        assert!(contour_lines(&xs, &ys, &values, 100.0).is_empty());
    }

    #[test]
    fn upsampling_makes_contours_closer_to_the_truth() {
        let (xs, ys, values) = circle_grid(10);
        let err = |xs: &[f64], ys: &[f64], v: &[Vec<f64>]| {
            contour_lines(xs, ys, v, 1.0)
                .iter()
                .flatten()
                .map(|&(x, y)| ((x * x + y * y).sqrt() - 1.0).abs())
                .fold(0.0, f64::max)
        };
        let coarse = err(&xs, &ys, &values);
        let (fx, fy, fv) = upsample(&xs, &ys, &values, 4);
        assert_eq!(fx.len(), 41);
        assert_eq!(fv[4][4], values[1][1], "passes through the samples");
        let fine = err(&fx, &fy, &fv);
        assert!(fine < coarse / 3.0, "{fine} vs {coarse}");
    }

    #[test]
    fn simplify_keeps_corners() {
        let pts: Vec<(f64, f64)> = (0..=10)
            .map(|i| (f64::from(i), 0.0))
            .chain([(10.0, 5.0)])
            .collect();
        assert_eq!(
            simplify(&pts, 0.1),
            vec![(0.0, 0.0), (10.0, 0.0), (10.0, 5.0)]
        );
    }
}
