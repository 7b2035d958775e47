//! Downsampling that cannot hide events: per-bucket min/max envelopes.
//!
//! [`M4`] splits an x range into buckets (about one per pixel column) and keeps, per bucket, the
//! first, lowest, highest and last point (the M4 aggregation of Jugel et al., *M4: A
//! Visualization-Oriented Time Series Data Aggregation*, VLDB 2014). A polyline through them
//! covers the same pixels as a polyline through every point: spikes, sawtooth ranges and short
//! events stay visible whatever the length of the run, and memory is O(buckets), so huge CSV
//! files can be streamed through it. When no bucket holds more than three points, the kept
//! points are all the points.

/// One bucket: (x, y) of its first, lowest, highest and last point, and how many it saw.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    first: (f64, f64),
    min: (f64, f64),
    max: (f64, f64),
    last: (f64, f64),
    count: u64,
}

/// A streaming min/max-envelope downsampler over `[lo, hi]`.
#[derive(Debug, Clone)]
pub struct M4 {
    lo: f64,
    hi: f64,
    buckets: Vec<Option<Bucket>>,
}

impl M4 {
    /// `n` buckets over `[lo, hi]` (at least one).
    pub fn new(lo: f64, hi: f64, n: usize) -> Self {
        let hi = if hi > lo { hi } else { lo + 1.0 };
        M4 {
            lo,
            hi,
            buckets: vec![None; n.max(1)],
        }
    }

    /// Add a point; points outside `[lo, hi]` or not finite are ignored.
    pub fn push(&mut self, x: f64, y: f64) {
        if !(x.is_finite() && y.is_finite()) || x < self.lo || x > self.hi {
            return;
        }
        let n = self.buckets.len();
        let k = (((x - self.lo) / (self.hi - self.lo)) * n as f64) as usize;
        let slot = &mut self.buckets[k.min(n - 1)];
        match slot {
            None => {
                *slot = Some(Bucket {
                    first: (x, y),
                    min: (x, y),
                    max: (x, y),
                    last: (x, y),
                    count: 1,
                });
            }
            Some(b) => {
                if y < b.min.1 {
                    b.min = (x, y);
                }
                if y > b.max.1 {
                    b.max = (x, y);
                }
                if x >= b.last.0 {
                    b.last = (x, y);
                }
                if x < b.first.0 {
                    b.first = (x, y);
                }
                b.count += 1;
            }
        }
    }

    /// Add every point of `points`.
    pub fn extend(&mut self, points: impl IntoIterator<Item = (f64, f64)>) {
        for (x, y) in points {
            self.push(x, y);
        }
    }

    /// The kept points in x order (each bucket's first, min, max and last, without repeats).
    pub fn points(&self) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        for b in self.buckets.iter().flatten() {
            let mut four = [b.first, b.min, b.max, b.last];
            four.sort_by(|a, b| a.0.total_cmp(&b.0));
            for p in four {
                if out.last() != Some(&p) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// True when every point pushed is kept (no bucket saw more than three).
    pub fn is_exact(&self) -> bool {
        self.buckets.iter().flatten().all(|b| b.count <= 3)
    }

    /// The points pushed.
    pub fn count(&self) -> u64 {
        self.buckets.iter().flatten().map(|b| b.count).sum()
    }

    /// The lowest and highest y pushed.
    pub fn y_range(&self) -> Option<(f64, f64)> {
        self.buckets
            .iter()
            .flatten()
            .fold(None, |acc, b| match acc {
                None => Some((b.min.1, b.max.1)),
                Some((lo, hi)) => Some((lo.min(b.min.1), hi.max(b.max.1))),
            })
    }
}

/// A polyline's points `(x, y)`.
pub type Line = Vec<(f64, f64)>;

/// The outline of a band of points `(x, low, high)` over `x` in `n` buckets: its upper edge
/// (`(x, high)`) and lower edge (`(x, low)`), both in x order. When no bucket holds more than two
/// points, every point is kept; otherwise each bucket gives its first and last x at the bucket's
/// highest high (upper edge) and lowest low (lower edge), so the drawn band covers every point's
/// band whatever the number of points. Points outside `x` or not finite are left out.
pub fn band_envelope(points: &[(f64, f64, f64)], x: (f64, f64), n: usize) -> (Line, Line) {
    let inside: Vec<&(f64, f64, f64)> = points
        .iter()
        .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite())
        .filter(|p| p.0 >= x.0 && p.0 <= x.1)
        .collect();
    let n = n.max(1);
    let span = if x.1 > x.0 { x.1 - x.0 } else { 1.0 };
    let bucket = |px: f64| ((((px - x.0) / span) * n as f64) as usize).min(n - 1);
    // (first x, last x, lowest low, highest high, count) per bucket, in x order.
    let mut buckets: Vec<(usize, f64, f64, f64, f64, usize)> = Vec::new();
    for p in &inside {
        let k = bucket(p.0);
        match buckets.last_mut() {
            Some(b) if b.0 == k => {
                b.2 = p.0;
                b.3 = b.3.min(p.1);
                b.4 = b.4.max(p.2);
                b.5 += 1;
            }
            _ => buckets.push((k, p.0, p.0, p.1, p.2, 1)),
        }
    }
    if buckets.iter().all(|b| b.5 <= 2) {
        let upper = inside.iter().map(|p| (p.0, p.2)).collect();
        let lower = inside.iter().map(|p| (p.0, p.1)).collect();
        return (upper, lower);
    }
    let mut upper = Vec::with_capacity(2 * buckets.len());
    let mut lower = Vec::with_capacity(2 * buckets.len());
    for &(_, first, last, lo, hi, _) in &buckets {
        upper.push((first, hi));
        lower.push((first, lo));
        if last > first {
            upper.push((last, hi));
            lower.push((last, lo));
        }
    }
    (upper, lower)
}

/// The points of a step function (the value holds until the next point) as a polyline.
pub fn steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(points.len() * 2);
    for &(x, y) in points {
        if let Some(&(_, prev)) = out.last()
            && prev != y
        {
            out.push((x, prev));
        }
        out.push((x, y));
    }
    // Drop interior points of flat runs.
    let mut compact: Vec<(f64, f64)> = Vec::with_capacity(out.len());
    for (i, &p) in out.iter().enumerate() {
        let n = compact.len();
        if n >= 2 && i + 1 < out.len() && compact[n - 1].1 == p.1 && compact[n - 2].1 == p.1 {
            compact[n - 1] = p;
        } else {
            compact.push(p);
        }
    }
    compact
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sawtooth_keeps_its_full_range_at_any_length() {
        // 200,000 rounds of a 100-round sawtooth from 0.1 to 3.0, sampled every round.
        let mut m = M4::new(0.0, 200_000.0, 600);
        for r in 0..=200_000u32 {
            let phase = f64::from(r % 100) / 99.0;
            m.push(f64::from(r), 0.1 + 2.9 * phase);
        }
        let pts = m.points();
        assert!(pts.len() <= 4 * 600);
        let (lo, hi) = m.y_range().unwrap();
        assert_eq!((lo, hi), (0.1, 3.0));
        // Every bucket spans (nearly) the whole range: the envelope is a band, not a flat line.
        let lows = pts.iter().filter(|p| p.1 < 0.2).count();
        let highs = pts.iter().filter(|p| p.1 > 2.9).count();
        assert!(lows >= 590 && highs >= 590, "{lows} {highs}");
        assert!(!m.is_exact());
    }

    #[test]
    fn few_points_are_all_kept_and_spikes_survive() {
        let mut m = M4::new(0.0, 10.0, 100);
        m.extend((0..=10).map(|i| (f64::from(i), f64::from(i * i))));
        assert!(m.is_exact());
        assert_eq!(m.points().len(), 11);
        let mut m = M4::new(0.0, 10_000.0, 50);
        m.extend((0..=10_000).map(|i| (f64::from(i), if i == 5003 { 99.0 } else { 0.0 })));
        assert!(m.points().contains(&(5003.0, 99.0)));
        assert_eq!(m.points().first(), Some(&(0.0, 0.0)));
        assert_eq!(m.points().last(), Some(&(10_000.0, 0.0)));
        m.push(f64::NAN, 1.0);
        m.push(20_000.0, 1.0);
        assert_eq!(m.count(), 10_001);
    }

    #[test]
    fn band_envelope_covers_every_point() {
        // Few points: all kept.
        let few = [(0.0, 1.0, 2.0), (5.0, 0.5, 3.0), (10.0, 1.0, 1.5)];
        let (up, low) = band_envelope(&few, (0.0, 10.0), 100);
        assert_eq!(up, vec![(0.0, 2.0), (5.0, 3.0), (10.0, 1.5)]);
        assert_eq!(low, vec![(0.0, 1.0), (5.0, 0.5), (10.0, 1.0)]);
        // 100,000 points in 50 buckets: at most 100 points per edge, and the extremes survive.
        let many: Vec<(f64, f64, f64)> = (0..100_000)
            .map(|i| {
                let x = f64::from(i);
                let spike = if i == 61_234 { 50.0 } else { 0.0 };
                (x, -1.0 - spike, 1.0 + spike)
            })
            .collect();
        let (up, low) = band_envelope(&many, (0.0, 99_999.0), 50);
        assert!(up.len() <= 100 && low.len() == up.len());
        assert_eq!(up.iter().map(|p| p.1).fold(f64::MIN, f64::max), 51.0);
        assert_eq!(low.iter().map(|p| p.1).fold(f64::MAX, f64::min), -51.0);
        assert_eq!(up.first().map(|p| p.0), Some(0.0));
        assert_eq!(up.last().map(|p| p.0), Some(99_999.0));
        // Outside the range or not finite: left out.
        let (up, _) = band_envelope(&[(-1.0, 0.0, 1.0), (1.0, f64::NAN, 1.0)], (0.0, 1.0), 4);
        assert!(up.is_empty());
    }

    #[test]
    fn step_polyline() {
        assert_eq!(
            steps(&[(0.0, 5.0), (1.0, 5.0), (2.0, 5.0), (3.0, 4.0), (4.0, 4.0)]),
            vec![(0.0, 5.0), (3.0, 5.0), (3.0, 4.0), (4.0, 4.0)]
        );
    }
}
