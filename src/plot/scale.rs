//! Axis scales (linear, logarithmic, symmetric logarithmic), axis ranges and their ticks.
//!
//! A [`Scale`] maps data values to an internal coordinate (`log10(v)` for [`Scale::Log`]), an
//! [`Axis`] is a range of that coordinate, and [`Axis::ticks`] places labelled ticks at round
//! values: 1, 2 or 5 times a power of ten on linear axes, powers of ten (and 2 and 5 times them
//! when the range is short) on logarithmic ones. No tick is ever at 0.631 or 0.398.

use super::format;

/// How data values map to an axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// `v`.
    Linear,
    /// `log10(v)`, for positive values only.
    Log,
    /// `sign(v) · log10(1 + |v| / c)`: linear near 0 (below about `c`), logarithmic beyond;
    /// zero and negative values have a place (Hunter's symlog, as in matplotlib).
    SymLog {
        /// The linear threshold `c` (a power of ten).
        c: f64,
    },
}

impl Scale {
    /// The internal coordinate of `v`, or `None` when `v` has no place on this scale (not
    /// finite, or not positive on a log scale).
    pub fn forward(self, v: f64) -> Option<f64> {
        if !v.is_finite() {
            return None;
        }
        match self {
            Scale::Linear => Some(v),
            Scale::Log => (v > 0.0).then(|| v.log10()),
            Scale::SymLog { c } => {
                Some(v.signum() * (v.abs() / c).ln_1p() / std::f64::consts::LN_10)
            }
        }
    }

    /// The data value at internal coordinate `t`.
    pub fn inverse(self, t: f64) -> f64 {
        match self {
            Scale::Linear => t,
            Scale::Log => 10f64.powf(t),
            Scale::SymLog { c } => t.signum() * c * (10f64.powf(t.abs()) - 1.0),
        }
    }

    /// A symlog scale whose linear part lies below the smallest non-zero magnitude of
    /// `values`, but no more than `max_decades` decades below the largest.
    pub fn symlog_for(values: impl IntoIterator<Item = f64>, max_decades: i32) -> Scale {
        let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
        for v in values {
            let a = v.abs();
            if a.is_finite() && a > 0.0 {
                lo = lo.min(a);
                hi = hi.max(a);
            }
        }
        if !lo.is_finite() {
            return Scale::SymLog { c: 1.0 };
        }
        let e_hi = hi.log10().floor() as i32;
        let e_lo = (lo.log10().floor() as i32).max(e_hi - max_decades);
        Scale::SymLog {
            c: 10f64.powi(e_lo.clamp(-300, 300)),
        }
    }

    /// Short words for an axis title: `"log scale"`, `"symmetric log scale"`, or nothing.
    pub fn describe(self) -> &'static str {
        match self {
            Scale::Linear => "",
            Scale::Log => "log scale",
            Scale::SymLog { .. } => "symmetric log scale",
        }
    }
}

/// One tick: its data value, its internal coordinate and its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// The data value.
    pub value: f64,
    /// Its internal coordinate (`scale.forward(value)`).
    pub t: f64,
    /// The label.
    pub label: String,
}

/// A range of a scale's internal coordinate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    /// The scale.
    pub scale: Scale,
    /// Internal coordinate at the low end.
    pub lo: f64,
    /// Internal coordinate at the high end (> `lo`).
    pub hi: f64,
}

impl Axis {
    /// An axis over `[lo, hi]` in data units (widened when empty or degenerate).
    pub fn new(scale: Scale, lo: f64, hi: f64) -> Axis {
        let tl = scale.forward(lo);
        let th = scale.forward(hi);
        let (tl, th) = match (tl, th) {
            (Some(a), Some(b)) if a <= b => (a, b),
            (Some(a), Some(b)) => (b, a),
            (Some(a), None) | (None, Some(a)) => (a, a),
            (None, None) => (0.0, 1.0),
        };
        Axis::from_internal(scale, tl, th, 0.0)
    }

    /// An axis over the values that have a place on `scale`, with `margin` (a fraction of the
    /// span) on both sides; `None` when no value has a place.
    pub fn fit(scale: Scale, values: impl IntoIterator<Item = f64>, margin: f64) -> Option<Axis> {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            if let Some(t) = scale.forward(v) {
                lo = lo.min(t);
                hi = hi.max(t);
            }
        }
        (lo <= hi).then(|| Axis::from_internal(scale, lo, hi, margin))
    }

    /// An axis over internal coordinates `[lo, hi]` plus `margin`.
    pub fn from_internal(scale: Scale, lo: f64, hi: f64, margin: f64) -> Axis {
        let (lo, hi) = (lo.clamp(-1e300, 1e300), hi.clamp(-1e300, 1e300));
        let span = hi - lo;
        let scale_mag = lo.abs().max(hi.abs());
        let min_span = match scale {
            Scale::Linear => (scale_mag * 1e-9).max(1e-300),
            _ => 1e-9,
        };
        if span.is_nan() || span < min_span {
            let centre = 0.5 * (lo + hi);
            let half = match scale {
                Scale::Linear if scale_mag > 0.0 => (scale_mag * 0.1).max(min_span),
                Scale::Linear => 1.0,
                _ => 0.5,
            };
            return Axis {
                scale,
                lo: centre - half,
                hi: centre + half,
            };
        }
        Axis {
            scale,
            lo: lo - span * margin,
            hi: hi + span * margin,
        }
    }

    /// The same axis with its low end moved to include data value `v` (e.g. 0).
    pub fn including(self, v: f64) -> Axis {
        match self.scale.forward(v) {
            Some(t) if t < self.lo => Axis { lo: t, ..self },
            Some(t) if t > self.hi => Axis { hi: t, ..self },
            _ => self,
        }
    }

    /// Position of internal coordinate `t` as a fraction of the axis (0 at `lo`, 1 at `hi`).
    pub fn frac(&self, t: f64) -> f64 {
        (t - self.lo) / (self.hi - self.lo)
    }

    /// Position of data value `v` as a fraction of the axis, if it has a place on the scale.
    pub fn frac_of(&self, v: f64) -> Option<f64> {
        self.scale.forward(v).map(|t| self.frac(t))
    }

    /// Labelled ticks, at most about `max` of them.
    pub fn ticks(&self, max: usize) -> Vec<Tick> {
        let max = max.max(2);
        let values = match self.scale {
            Scale::Linear => return self.linear_ticks(max),
            Scale::Log => log_values(self.lo, self.hi, max),
            Scale::SymLog { c } => symlog_values(self, c, max),
        };
        if values.len() < 2 {
            // Less than one decade: ticks at round values, placed on the log axis.
            return self.linear_ticks_on_curved(max);
        }
        let labels = format::log_labels(&values);
        values
            .into_iter()
            .zip(labels)
            .filter_map(|(value, label)| {
                self.scale.forward(value).map(|t| Tick { value, t, label })
            })
            .collect()
    }

    fn linear_ticks(&self, max: usize) -> Vec<Tick> {
        nice_labelled(self.lo, self.hi, max)
            .into_iter()
            .map(|(value, label)| Tick {
                value,
                t: value,
                label,
            })
            .collect()
    }

    fn linear_ticks_on_curved(&self, max: usize) -> Vec<Tick> {
        let (a, b) = (self.scale.inverse(self.lo), self.scale.inverse(self.hi));
        nice_labelled(a.min(b), a.max(b), max.min(5))
            .into_iter()
            .filter_map(|(value, label)| {
                let t = self.scale.forward(value)?;
                (t >= self.lo && t <= self.hi).then_some(Tick { value, t, label })
            })
            .collect()
    }
}

/// [`nice_values`] with their labels, in one format.
fn nice_labelled(lo: f64, hi: f64, max: usize) -> Vec<(f64, String)> {
    let values = nice_values(lo, hi, max);
    let step = if values.len() >= 2 {
        values[1] - values[0]
    } else {
        1.0
    };
    let labels = format::linear_labels(&values, step);
    values.into_iter().zip(labels).collect()
}

/// Round values (1, 2 or 5 times a power of ten apart) inside `[lo, hi]`, about `max` of them.
pub fn nice_values(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return if lo.is_finite() { vec![lo] } else { Vec::new() };
    }
    let raw = (hi - lo) / max.max(2) as f64;
    let e = raw.log10().floor();
    let base = 10f64.powf(e);
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * base)
        .find(|s| (hi - lo) / s <= max as f64)
        .unwrap_or(10.0 * base);
    let first = (lo / step).ceil();
    let last = (hi / step).floor();
    if !(last - first).is_finite() || last - first > 1000.0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut k = first;
    while k <= last {
        // Multiply (not accumulate) so values stay exact multiples of the step.
        out.push(k * step);
        k += 1.0;
    }
    out
}

/// Values 10ᵏ (and 2·10ᵏ, 5·10ᵏ when there are few decades) with `log10` in `[lo, hi]`.
fn log_values(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let (e0, e1) = (lo.ceil() as i64, hi.floor() as i64);
    let decades = (e1 - e0 + 1).max(0) as usize;
    let mut out = Vec::new();
    if decades <= 2 {
        let (f0, f1) = (lo.floor() as i64, hi.ceil() as i64);
        for e in f0..=f1 {
            for m in [1.0, 2.0, 5.0] {
                let v = m * 10f64.powi(e as i32);
                let t = v.log10();
                if t >= lo - 1e-12 && t <= hi + 1e-12 {
                    out.push(v);
                }
            }
        }
        return out;
    }
    let every = decades.div_ceil(max).max(1) as i64;
    let mut e = e0;
    while e <= e1 {
        if e.rem_euclid(every) == 0 {
            out.push(10f64.powi(e.clamp(-300, 300) as i32));
        }
        e += 1;
    }
    out
}

/// Ticks of a symlog axis: 0 (when in range) and ±10ᵏ beyond the linear threshold.
fn symlog_values(axis: &Axis, c: f64, max: usize) -> Vec<f64> {
    let (vlo, vhi) = (axis.scale.inverse(axis.lo), axis.scale.inverse(axis.hi));
    let ec = c.log10().round() as i32;
    let mut pos: Vec<i32> = Vec::new();
    let mut neg: Vec<i32> = Vec::new();
    // A side that holds only the axis' margin (less than ten times `c` beyond 0) gets no ticks.
    if vhi > 10.0 * c || (vhi > 0.0 && vlo > 0.0) {
        let top = vhi.log10().floor() as i32;
        pos = (ec..=top.min(ec + 600))
            .filter(|&e| 10f64.powi(e) >= vlo)
            .collect();
    }
    if vlo < -10.0 * c || (vlo < 0.0 && vhi < 0.0) {
        let top = (-vlo).log10().floor() as i32;
        neg = (ec..=top.min(ec + 600))
            .filter(|&e| -(10f64.powi(e)) <= vhi)
            .collect();
    }
    let total = pos.len() + neg.len() + 1;
    let every = total.div_ceil(max).max(1) as i32;
    let mut out: Vec<f64> = Vec::new();
    for &e in neg.iter().rev() {
        if e.rem_euclid(every) == 0 {
            out.push(-(10f64.powi(e)));
        }
    }
    if vlo <= 0.0 && vhi >= 0.0 {
        out.push(0.0);
    }
    for &e in &pos {
        if e.rem_euclid(every) == 0 {
            out.push(10f64.powi(e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(a: &Axis) -> Vec<String> {
        a.ticks(8).into_iter().map(|t| t.label).collect()
    }

    #[test]
    fn log_axis_ticks_at_decades_not_at_odd_values() {
        let a = Axis::new(Scale::Log, 0.05, 5.0);
        let l = labels(&a);
        assert_eq!(l, vec!["0.05", "0.1", "0.2", "0.5", "1", "2", "5"]);
        let a = Axis::new(Scale::Log, 1e-6, 1e3);
        assert_eq!(
            labels(&a),
            vec![
                "10⁻⁶", "10⁻⁵", "10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "10⁰", "10¹", "10²", "10³"
            ]
            .into_iter()
            .step_by(2)
            .collect::<Vec<_>>()
        );
        // Less than a decade wide: round values placed on the log axis.
        let a = Axis::new(Scale::Log, 0.3, 0.45);
        let t = a.ticks(8);
        assert!(t.len() >= 2, "{t:?}");
        for tick in t {
            assert!(!tick.label.contains("631"), "{tick:?}");
        }
    }

    #[test]
    fn symlog_has_zero_and_decades() {
        let s = Scale::symlog_for([0.0, 1e-4, 0.5], 12);
        assert_eq!(s, Scale::SymLog { c: 1e-4 });
        let a = Axis::fit(s, [0.0, 1e-4, 0.5], 0.0).unwrap();
        assert_eq!(labels(&a), vec!["0", "10⁻⁴", "10⁻³", "10⁻²", "10⁻¹"]);
        for v in [-3.0, 0.0, 1e-4, 2.5] {
            let t = s.forward(v).unwrap();
            assert!((s.inverse(t) - v).abs() < 1e-12 * (1.0 + v.abs()));
        }
        let s = Scale::symlog_for([-5e11, 1e-9], 6);
        assert_eq!(s, Scale::SymLog { c: 1e5 });
    }

    #[test]
    fn linear_axes_and_degenerate_ranges() {
        let a = Axis::new(Scale::Linear, 0.0, 3000.0);
        assert_eq!(
            labels(&a),
            vec!["0", "500", "1000", "1500", "2000", "2500", "3000"]
        );
        let a = Axis::new(Scale::Linear, 0.0, 200_000.0);
        assert_eq!(labels(&a)[1], "25\u{2009}000");
        let a = Axis::new(Scale::Linear, 2.0, 2.0);
        assert!(a.hi > a.lo);
        assert!(Axis::fit(Scale::Log, [0.0, -1.0, f64::NAN], 0.1).is_none());
        assert_eq!(
            nice_values(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
    }
}
