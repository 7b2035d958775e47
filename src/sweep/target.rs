//! The loss target of a sweep's comparison, and the rounds each cell takes to reach it.
//!
//! A sweep file may give, beside its `sweep` block:
//!
//! ```json
//! "target": {"loss_gap": 5e-4, "window": 100}
//! ```
//!
//! `loss_gap` is a distance above the problem's known minimum `f*` (or `loss`, a loss value, for
//! problems without one). A cell reaches the target at the first round `t` at which the mean loss
//! over the `window` rounds centred on `t` (rounds `t - window/2 .. t - window/2 + window - 1`,
//! rounded down; every row of rounds.csv in that span, which must lie within the run) is at or
//! below `f* + loss_gap`. `window` 1 (the default) is the plain first-hitting time of the loss.
//!
//! Why a window: a noisy loss that hovers above the target dips below it now and then, so the
//! first hit says more about the noise than about convergence (with a step size near its noise
//! floor, a run "reaches" a target it never stays at). The mean over a window of rounds does
//! not dip so; centring it keeps the round where a steady descent crosses the target where it
//! is. comparison.csv then has `rounds_to_target` (empty when not reached) and `target_reached`
//! (1 or 0; for the seeds of a group, the share that reached it).

use serde_json::{Map, Value};

/// What a sweep's cells must reach, read from the sweep file's `target`.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Reach `f* + loss_gap`, with `f*` the problem's known minimum.
    pub loss_gap: Option<f64>,
    /// Reach this loss (for problems without a known minimum).
    pub loss: Option<f64>,
    /// The loss is averaged over this many rounds centred on each round (1: the loss itself).
    pub window: u64,
}

impl Target {
    /// Read a `target` object; an error gives the field (empty: the object) and the message.
    pub fn parse(v: &Value) -> Result<Target, (String, String)> {
        let Value::Object(map) = v else {
            return Err((
                String::new(),
                "expected an object such as {\"loss_gap\": 0.001, \"window\": 100}".into(),
            ));
        };
        for k in map.keys() {
            if !["loss_gap", "loss", "window"].contains(&k.as_str()) {
                return Err((
                    k.clone(),
                    format!("unknown field `{k}`, expected one of `loss_gap`, `loss`, `window`"),
                ));
            }
        }
        let number = |k: &str| -> Result<Option<f64>, (String, String)> {
            match map.get(k) {
                None => Ok(None),
                Some(x) => match x.as_f64() {
                    Some(f) if f.is_finite() => Ok(Some(f)),
                    _ => Err((k.to_string(), "expected a finite number".into())),
                },
            }
        };
        let (loss_gap, loss) = (number("loss_gap")?, number("loss")?);
        match (loss_gap, loss) {
            (Some(_), Some(_)) => {
                return Err((
                    "loss".into(),
                    "give `loss_gap` (above the known minimum) or `loss`, not both".into(),
                ));
            }
            (None, None) => {
                return Err((
                    String::new(),
                    "missing `loss_gap` (the distance above the problem's known minimum to reach) or `loss`".into(),
                ));
            }
            (Some(g), None) if g <= 0.0 => {
                return Err(("loss_gap".into(), format!("expected > 0, got {g}")));
            }
            _ => {}
        }
        let window = match map.get("window") {
            None => 1,
            Some(w) => match w.as_u64() {
                Some(w) if w >= 1 => w,
                _ => {
                    return Err((
                        "window".into(),
                        "expected a whole number of rounds, at least 1".into(),
                    ));
                }
            },
        };
        Ok(Target {
            loss_gap,
            loss,
            window,
        })
    }

    /// The object as the normalised sweep file writes it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(g) = self.loss_gap {
            m.insert("loss_gap".into(), g.into());
        }
        if let Some(l) = self.loss {
            m.insert("loss".into(), l.into());
        }
        m.insert("window".into(), self.window.into());
        Value::Object(m)
    }

    /// The loss to reach in a run whose problem has the known minimum `known_min` (`None`: a
    /// `loss_gap` target cannot be reached there).
    pub fn threshold(&self, known_min: Option<f64>) -> Option<f64> {
        match (self.loss, self.loss_gap) {
            (Some(l), _) => Some(l),
            (None, Some(g)) => known_min.map(|f| f + g),
            (None, None) => None,
        }
    }

    /// The target in words, for captions and tables.
    pub fn describe(&self) -> String {
        let what = match (self.loss, self.loss_gap) {
            (Some(l), _) => format!("loss ≤ {l}"),
            (None, Some(g)) => format!("loss − f* ≤ {g}"),
            (None, None) => String::new(),
        };
        if self.window <= 1 {
            format!("first round with {what}")
        } else {
            format!(
                "first round whose {}-round centred mean has {what}",
                self.window
            )
        }
    }

    /// The first round at which `rows` (`(round, loss)`, in round order) reach `threshold`: the
    /// mean of the rows within the window centred on that round is at most `threshold`. A window
    /// must lie within the rows' rounds and hold only finite losses.
    pub fn first_round(&self, rows: &[(i64, f64)], threshold: f64) -> Option<i64> {
        let (first, last) = (rows.first()?.0, rows.last()?.0);
        let w = i64::try_from(self.window).unwrap_or(i64::MAX).max(1);
        let half = w / 2;
        let mut lo = 0usize;
        for &(t, _) in rows {
            let (start, end) = (
                t.saturating_sub(half),
                t.saturating_sub(half).saturating_add(w),
            );
            if start < first || end - 1 > last {
                continue;
            }
            while rows[lo].0 < start {
                lo += 1;
            }
            let (mut sum, mut n) = (0.0, 0usize);
            let mut finite = true;
            for &(r, v) in &rows[lo..] {
                if r >= end {
                    break;
                }
                finite &= v.is_finite();
                sum += v;
                n += 1;
            }
            if finite && n > 0 && sum / n as f64 <= threshold {
                return Some(t);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(window: u64) -> Target {
        Target {
            loss_gap: Some(0.1),
            loss: None,
            window,
        }
    }

    #[test]
    fn first_hit_and_centred_mean() {
        // A descent to 0 with one early dip below the target at round 2.
        let rows: Vec<(i64, f64)> = [1.0, 0.8, 0.05, 0.6, 0.4, 0.2, 0.08, 0.06, 0.05, 0.07]
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as i64, v))
            .collect();
        // Window 1: the dip counts.
        assert_eq!(target(1).first_round(&rows, 0.1), Some(2));
        // Window 3 (rounds t-1..t+1): the dip is averaged away; round 7 is the first whose mean
        // (0.08 + 0.06 + 0.05) / 3 is within 0.1, round 6's is (0.2 + 0.08 + 0.06) / 3 > 0.1.
        assert_eq!(target(3).first_round(&rows, 0.1), Some(7));
        // Never reached.
        assert_eq!(target(1).first_round(&rows, 0.0), None);
        // A window that does not fit in the run is never complete.
        assert_eq!(target(20).first_round(&rows, 10.0), None);
        // A non-finite loss in the window: not reached there.
        let bad = [(0, 1.0), (1, f64::INFINITY), (2, 0.0), (3, 0.0)];
        assert_eq!(target(2).first_round(&bad, 0.5), Some(3));
        // Rows every 5 rounds: the window counts rounds, not rows.
        let sparse: Vec<(i64, f64)> = (0..10).map(|i| (5 * i, 1.0 / (1.0 + i as f64))).collect();
        assert_eq!(target(10).first_round(&sparse, 0.2), Some(25));
    }

    #[test]
    fn parse_and_errors() {
        let t = Target::parse(&json!({"loss_gap": 5e-4, "window": 100})).unwrap();
        assert_eq!((t.loss_gap, t.window), (Some(5e-4), 100));
        assert_eq!(t.threshold(Some(-0.5)), Some(-0.5 + 5e-4));
        assert_eq!(t.threshold(None), None);
        assert_eq!(Target::parse(&t.to_json()).unwrap(), t);
        let t = Target::parse(&json!({"loss": -0.4})).unwrap();
        assert_eq!((t.threshold(None), t.window), (Some(-0.4), 1));
        let err = |v: Value| Target::parse(&v).unwrap_err();
        assert_eq!(err(json!({"loss_gap": 0})).0, "loss_gap");
        assert_eq!(err(json!({"loss_gap": 1, "loss": 1})).0, "loss");
        assert_eq!(err(json!({"window": 3})).0, "");
        assert_eq!(err(json!({"loss": 1, "window": 0})).0, "window");
        assert_eq!(err(json!({"loss": 1, "hold": 3})).0, "hold");
        assert_eq!(err(json!([1])).0, "");
    }
}
