//! What a white-box adversary can know of the safeguard's windows: every machine's windowed sum,
//! rebuilt from what it sees, and the largest deviation that keeps the colluders inside the
//! expulsion radius. Used by `threshold_aware` and `safeguard_attack`.
//!
//! The omniscient adversary of Allen-Zhu et al. (2021, Remark 2.2) sees every honest gradient of
//! every round, and the defense's public state ([`crate::aggregate::PublicState`]: window
//! lengths and positions, thresholds, `|good|`). From these it rebuilds each honest machine's
//! windowed sum exactly as the safeguard keeps it (`sum_k g_{k,i} / |good_k|`, reset when a
//! window starts), and the colluders' own sums from what they sent. Nothing is copied from the
//! defense: the tracker accumulates the round's gradients, `O(h d)` a round and `O((h + f) d)`
//! memory per window, paid once per round for all colluders (it lives in a
//! [`super::Collusion`]).
//!
//! A colluder is expelled when its sum lies farther than `2 * Th` from the reference's, and the
//! reference is a good machine's own sum. [`WindowTracker::step`] keeps the colluders'
//! sums within `fraction * 2 * Th` of *every* honest machine's sum in every window, so no honest
//! reference can expel them. The colluders' sums differ only by the honest gradients they sent
//! before the attack began (`from_round`); the largest such difference is subtracted from the
//! radius, so one shared vector is safe for all of them.

use super::{AttackContext, Collusion, RoundView};
use crate::linalg::{Vector, distance};
use std::collections::BTreeMap;

/// The windowed sums of one safeguard window, as rebuilt by the adversary.
#[derive(Debug, Clone, Default)]
struct Tracked {
    name: &'static str,
    honest: BTreeMap<usize, Vector>,
    colluders: BTreeMap<usize, Vector>,
}

/// Every machine's windowed sums, rebuilt from the gradients and the public state.
#[derive(Debug, Clone, Default)]
pub struct WindowTracker {
    windows: Vec<Tracked>,
}

/// The divisor of this round's contributions: the defense's `|good_t|`.
fn divisor(view: &RoundView) -> f64 {
    view.aggregator.good.unwrap_or(view.good).max(1) as f64
}

/// The interval of `l` with `||base + l * dir - target|| <= radius`, or `None` when the line
/// misses the ball. The whole line when `dir` is zero and `base` is inside.
fn inside_interval(
    base: &Vector,
    dir: &Vector,
    target: &Vector,
    radius: f64,
) -> Option<(f64, f64)> {
    if radius < 0.0 {
        return None;
    }
    let d = base - target;
    let dd: f64 = d.dot(&d);
    let ww: f64 = dir.dot(dir);
    if ww == 0.0 {
        return (dd <= radius * radius).then_some((f64::NEG_INFINITY, f64::INFINITY));
    }
    let dw: f64 = d.dot(dir);
    // l^2 ww + 2 l dw + dd - r^2 <= 0 between the two roots.
    let disc = dw * dw - ww * (dd - radius * radius);
    if disc < 0.0 {
        return None;
    }
    let root = disc.sqrt();
    Some(((-dw - root) / ww, (-dw + root) / ww))
}

impl WindowTracker {
    /// A tracker with no windows yet (they appear with the public state).
    pub fn new() -> Self {
        Self::default()
    }

    /// Start round `view.round`: reset the windows that start now, forget machines no longer in
    /// the good set, and add this round's honest gradients. Call once per round (through a
    /// [`super::Collusion`]), before any colluder adds its own vector.
    pub fn begin_round(&mut self, view: &RoundView) {
        let scale = 1.0 / divisor(view);
        let dim = view.dim();
        let public = &view.aggregator;
        self.windows
            .retain(|t| public.windows.iter().any(|w| w.name == t.name));
        for w in &public.windows {
            let k = match self.windows.iter().position(|t| t.name == w.name) {
                Some(k) => k,
                None => {
                    self.windows.push(Tracked {
                        name: w.name,
                        ..Tracked::default()
                    });
                    self.windows.len() - 1
                }
            };
            let t = &mut self.windows[k];
            if w.position == 0 {
                t.honest.clear();
                t.colluders.clear();
            }
            t.honest
                .retain(|id, _| view.honest.binary_search_by_key(id, |(i, _)| *i).is_ok());
            t.colluders
                .retain(|id, _| view.byzantine.binary_search(id).is_ok());
            for (id, g) in view.honest.iter() {
                t.honest
                    .entry(*id)
                    .or_insert_with(|| Vector::zeros(dim))
                    .scaled_add(scale, g);
            }
            for id in view.byzantine.iter() {
                t.colluders.entry(*id).or_insert_with(|| Vector::zeros(dim));
            }
        }
    }

    /// Add what colluder `id` sent this round (before the attack starts, its own honest
    /// gradient, which only it knows).
    pub fn add_own(&mut self, view: &RoundView, id: usize, sent: &Vector) {
        let scale = 1.0 / divisor(view);
        for t in &mut self.windows {
            if let Some(s) = t.colluders.get_mut(&id) {
                s.scaled_add(scale, sent);
            }
        }
    }

    /// Add the vector every colluder sent this round.
    pub fn add_shared(&mut self, view: &RoundView, sent: &Vector) {
        let scale = 1.0 / divisor(view);
        for t in &mut self.windows {
            for s in t.colluders.values_mut() {
                s.scaled_add(scale, sent);
            }
        }
    }

    /// The step `l` for this round: every colluder sends `anchor + l * dir`, and `l` is `cap`
    /// moved into the set of steps that keep each colluder's windowed sum within
    /// `fraction * 2 * Th` of every honest machine's sum, in every window of the public state
    /// (an interval: a negative `l` pulls back). When no step on that line is inside (the honest
    /// sums alone are nearly `2 * fraction * Th` apart across the line), `0`: the colluders send
    /// `anchor`. `cap` when the rule publishes no windows. Costs `O(h d)` per window.
    pub fn step(
        &self,
        view: &RoundView,
        anchor: &Vector,
        dir: &Vector,
        cap: f64,
        fraction: f64,
    ) -> f64 {
        let scale = 1.0 / divisor(view);
        let step = dir * scale;
        let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
        for t in &self.windows {
            let Some(w) = view.aggregator.window(t.name) else {
                continue;
            };
            // The representative: the lowest colluder id; the others differ from it by a fixed
            // amount this round, taken off the radius.
            let Some((_, first)) = t.colluders.iter().next() else {
                continue;
            };
            let slack = t
                .colluders
                .values()
                .map(|s| distance(s, first))
                .fold(0.0, f64::max);
            let radius = fraction * 2.0 * w.threshold - slack;
            let mut base = first.clone();
            base.scaled_add(scale, anchor);
            for target in t.honest.values() {
                match inside_interval(&base, &step, target, radius) {
                    Some((a, b)) => {
                        lo = lo.max(a);
                        hi = hi.min(b);
                    }
                    None => return 0.0,
                }
            }
        }
        if lo > hi {
            return 0.0;
        }
        cap.clamp(lo, hi)
    }

    /// The largest distance from the representative colluder's sum to an honest machine's sum,
    /// per window, with the window's threshold: `(name, distance, threshold)`.
    pub fn distances(&self, view: &RoundView) -> Vec<(&'static str, f64, f64)> {
        self.windows
            .iter()
            .filter_map(|t| {
                let w = view.aggregator.window(t.name)?;
                let (_, first) = t.colluders.iter().next()?;
                let far = t
                    .honest
                    .values()
                    .map(|h| distance(h, first))
                    .fold(0.0, f64::max);
                Some((t.name, far, w.threshold))
            })
            .collect()
    }
}

/// The state white-box colluders share: the tracker and the vector they send this round.
#[derive(Debug, Clone)]
pub struct WhiteBox {
    shared: Collusion<(WindowTracker, Vector)>,
}

impl Default for WhiteBox {
    fn default() -> Self {
        WhiteBox::new()
    }
}

impl WhiteBox {
    /// A fresh shared state (clone it for every colluder).
    pub fn new() -> Self {
        WhiteBox {
            shared: Collusion::new((WindowTracker::new(), Vector::zeros(0))),
        }
    }

    /// The vector every colluder sends this round. Once per round (whichever colluder asks
    /// first), the tracker takes the round's honest gradients, `choose` picks the vector from
    /// the tracker and the view, and the vector is added to the colluders' sums.
    pub fn send(
        &self,
        view: &RoundView,
        choose: impl FnOnce(&WindowTracker, &RoundView) -> Vector,
    ) -> Vector {
        self.shared.round(
            view.round,
            |(tracker, sent)| {
                tracker.begin_round(view);
                let v = choose(tracker, view);
                tracker.add_shared(view, &v);
                *sent = v;
            },
            |(_, sent)| sent.clone(),
        )
    }

    /// A round before the attack starts: the tracker takes the round, and this colluder's own
    /// gradient (which only it knows) is added to its sums.
    pub fn honest_round(&self, ctx: &AttackContext<'_>) {
        let view = ctx.view;
        self.shared
            .round(view.round, |(t, _)| t.begin_round(view), |_| ());
        self.shared.with(|(t, _)| t.add_own(view, ctx.id, ctx.own));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{PublicState, WindowState};
    use ndarray::array;
    use std::sync::Arc;

    fn view(round: u64, position: u64, honest: Vec<Vector>, threshold: f64) -> RoundView {
        let h = honest.len();
        RoundView::new(
            round,
            Arc::new(Vector::zeros(1)),
            h + 1,
            h + 1,
            Arc::new(honest.into_iter().enumerate().collect()),
            Arc::new(vec![h]),
            Arc::new(PublicState {
                good: Some(h + 1),
                windows: vec![WindowState {
                    name: "short",
                    length: 3,
                    position,
                    threshold,
                    scales_with_good: false,
                    reference: None,
                    distances: Vec::new(),
                }],
                ..PublicState::default()
            }),
        )
    }

    #[test]
    fn inside_interval_solves_the_quadratic() {
        let i = inside_interval(&array![0.0], &array![1.0], &array![0.0], 2.0);
        assert_eq!(i, Some((-2.0, 2.0)));
        let (a, b) =
            inside_interval(&array![1.0, 0.0], &array![0.0, 1.0], &array![0.0, 0.0], 2.0).unwrap();
        assert!((a + 3f64.sqrt()).abs() < 1e-15 && (b - 3f64.sqrt()).abs() < 1e-15);
        // Outside, but the line crosses the ball: a pull-back interval.
        assert_eq!(
            inside_interval(&array![3.0], &array![1.0], &array![0.0], 2.0),
            Some((-5.0, -1.0))
        );
        // The line misses the ball.
        assert_eq!(
            inside_interval(&array![0.0, 3.0], &array![1.0, 0.0], &array![0.0, 0.0], 2.0),
            None
        );
    }

    #[test]
    fn tracks_sums_resets_and_bounds_the_step() {
        // Two honest machines at +1 and -1, one colluder; |good| = 3; threshold 1 (radius 2).
        let mut t = WindowTracker::new();
        let v1 = view(1, 0, vec![array![1.0], array![-1.0]], 1.0);
        t.begin_round(&v1);
        // Colluder sends 0 + l: its sum l/3 must stay within 2 of +1/3 and -1/3: l <= 5.
        let l = t.step(&v1, &array![0.0], &array![1.0], 100.0, 1.0);
        assert!((l - 5.0).abs() < 1e-12, "{l}");
        // The cap binds when smaller.
        assert_eq!(t.step(&v1, &array![0.0], &array![1.0], 2.0, 1.0), 2.0);
        t.add_shared(&v1, &array![5.0]);
        // Round 2: honest sums 2/3 and -2/3; the colluder's 5/3 must come back within 2 of
        // -2/3: it pulls back by 1 (sum 4/3).
        let v2 = view(2, 1, vec![array![1.0], array![-1.0]], 1.0);
        t.begin_round(&v2);
        let l = t.step(&v2, &array![0.0], &array![1.0], 100.0, 1.0);
        assert!((l + 1.0).abs() < 1e-12, "{l}");
        // A new window (position 0) restores the budget.
        let v4 = view(4, 0, vec![array![1.0], array![-1.0]], 1.0);
        t.begin_round(&v4);
        let l = t.step(&v4, &array![0.0], &array![1.0], 100.0, 1.0);
        assert!((l - 5.0).abs() < 1e-12, "{l}");
        // Honest sums farther apart than twice the radius: no step is safe, send the anchor.
        let far = view(7, 0, vec![array![9.0], array![-9.0]], 1.0);
        t.begin_round(&far);
        assert_eq!(t.step(&far, &array![0.0], &array![1.0], 100.0, 1.0), 0.0);
        // A rule without windows caps nothing.
        let mut plain = view(5, 0, vec![array![1.0]], 1.0);
        Arc::get_mut(&mut plain.aggregator).unwrap().windows.clear();
        let mut t = WindowTracker::new();
        t.begin_round(&plain);
        assert_eq!(t.step(&plain, &array![0.0], &array![1.0], 7.0, 1.0), 7.0);
    }
}
