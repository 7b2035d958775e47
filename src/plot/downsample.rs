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
    fn step_polyline() {
        assert_eq!(
            steps(&[(0.0, 5.0), (1.0, 5.0), (2.0, 5.0), (3.0, 4.0), (4.0, 4.0)]),
            vec![(0.0, 5.0), (3.0, 5.0), (3.0, 4.0), (4.0, 4.0)]
        );
    }
}
