//! The trajectory's plane, chosen and sampled while the run has the problem at hand.
//!
//! [`TrajectoryRecorder`] is an [`Observer`]: during the run it keeps the path's projection on
//! a plane, and at the end it writes three files into the run directory, so that
//! `safeguard-sim plot` can redraw the trajectory from files alone, without the problem or the
//! scenario's kinds:
//!
//! - `trajectory.csv`: `round,p1,p2`, the path's coordinates in the plane (`p1 = x·u`,
//!   `p2 = x·v` for the plane's orthonormal basis `u`, `v`);
//! - `surface.csv`: `p1,p2,loss`, the loss on a grid over the plotted box of that plane (the
//!   plane through an anchor point `o`: `f(o + p1 u + p2 v)`, where `o` has no component along
//!   `u` or `v`);
//! - `trajectory.json`: which plane, why, what its axes are (labels, and the basis vectors when
//!   `d <= 1000`), the share of the path's variance it holds, the anchor, the grid, and the minima
//!   of `f` found on it.
//!
//! Which plane (`d` is the number of parameters):
//! - `d = 2`: the parameters themselves (`x0`, `x1`);
//! - `d <= 128` and the Hessian at the start point has a negative eigenvalue (a saddle): the
//!   eigenvectors of its two smallest eigenvalues, through the start point. The Hessian comes
//!   from `d` calls of [`Problem::hessian_vector`]. Eigenvectors that are
//!   coordinate axes are named as such (`x0`, `x1` for the shipped saddle);
//! - otherwise: the top two principal directions of the path (PCA), through its mean.
//!
//! Memory: with a plane known from the start, two numbers per sampled round and O(d) running
//! sums (for the share of variance). For PCA, the sampled parameter vectors themselves, at most
//! [`SAMPLE_BUDGET`] numbers: when more would be needed, every other sample is dropped and the
//! sampling interval doubles (so the samples stay evenly spaced and the first and last rounds are
//! always kept). PCA itself runs on at most `sqrt(10⁹ / d)` (and 256) evenly spaced samples
//! through their Gram matrix. The surface and its minima: `super::surface`.
//!
//! Everything is computed in a fixed order: the files are byte-identical for the same run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::eigen::{argmax_abs, normalise_sign, symmetric_eigen};
pub use super::surface::PlaneMinimum;
use super::surface::Surface;
use crate::actors::RoundEvent;
use crate::error::Error;
use crate::linalg::Vector;
use crate::problem::Problem;
use crate::record::{Observer, RunInfo, Summary, fmt_f64, write_atomic};

/// Most numbers kept for PCA samples (32 MiB of f64).
pub const SAMPLE_BUDGET: usize = 1 << 22;
/// Largest dimension for which the Hessian at the start is computed.
pub const HESSIAN_MAX_DIM: usize = 128;
/// Largest dimension for which the basis vectors are written to trajectory.json.
pub const BASIS_MAX_DIM: usize = 1000;

/// How the plane was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaneKind {
    /// The two parameters of a 2-parameter problem.
    Coordinates,
    /// The two most negative curvature directions of `f` at the start point.
    NegativeCurvature,
    /// The top two principal directions of the path.
    Principal,
}

/// One axis of the plane, as written to trajectory.json.
#[derive(Debug, Clone, Serialize)]
pub struct AxisInfo {
    /// Short label (`x0`, `v1`, `PC1`).
    pub label: String,
    /// What it is, in words.
    pub about: String,
}

/// trajectory.json.
#[derive(Debug, Clone, Serialize)]
pub struct TrajectoryInfo {
    /// How the plane was chosen.
    pub plane: PlaneKind,
    /// The plane in one sentence.
    pub about: String,
    /// The two axes.
    pub axes: [AxisInfo; 2],
    /// Number of parameters `d`.
    pub dim: usize,
    /// Share of the sampled path's variance (about its mean) that lies in the plane.
    pub explained_variance: Option<f64>,
    /// Share of the displacement from the first to the last point of the path,
    /// `‖x_end − x_0‖²`, that lies in the plane: whether the plane shows where the run went
    /// (the variance share, in a long run, is mostly the noise around where it ended).
    pub displacement_share: Option<f64>,
    /// Rounds between two rows of trajectory.csv (the last round is always there).
    pub sampled_every: u64,
    /// The surface's anchor, in words.
    pub surface_through: String,
    /// Grid points per side of surface.csv.
    pub surface_points_per_side: usize,
    /// Local minima of `f` on the plane, within the plotted box, lowest first.
    pub minima: Vec<PlaneMinimum>,
    /// The problem's known minimum, if any.
    pub known_min_loss: Option<f64>,
    /// The basis vectors `u`, `v` (only when `d <= 1000`).
    pub basis: Option<[Vec<f64>; 2]>,
}

/// An orthonormal basis with an anchor point.
#[derive(Debug, Clone)]
struct Plane {
    kind: PlaneKind,
    u: Vec<f64>,
    v: Vec<f64>,
    axes: [AxisInfo; 2],
    about: String,
    /// Off-plane component of the anchor.
    origin: Vec<f64>,
    through: String,
}

impl Plane {
    fn project(&self, x: &[f64]) -> (f64, f64) {
        (dot(&self.u, x), dot(&self.v, x))
    }
    fn point(&self, a: f64, b: f64) -> Vector {
        Vector::from_shape_fn(self.u.len(), |i| {
            self.origin[i] + a * self.u[i] + b * self.v[i]
        })
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The off-plane part of `x`.
fn off_plane(x: &[f64], u: &[f64], v: &[f64]) -> Vec<f64> {
    let (a, b) = (dot(u, x), dot(v, x));
    x.iter()
        .zip(u.iter().zip(v))
        .map(|(xi, (ui, vi))| xi - a * ui - b * vi)
        .collect()
}

/// Records the path on a plane and writes trajectory.csv, surface.csv and trajectory.json.
pub struct TrajectoryRecorder {
    dir: PathBuf,
    problem: Arc<dyn Problem>,
    dim: usize,
    eval_every: u64,
    known_min: Option<f64>,
    plane: Option<Plane>,
    /// Projected points (plane known from the start).
    projected: Vec<(u64, f64, f64)>,
    /// Sampled parameters (PCA), every `stride`-th evaluation round.
    samples: Vec<(u64, Vec<f64>)>,
    stride: u64,
    max_samples: usize,
    /// Running mean and sum of squared deviations of the recorded points (plane known).
    mean: Vec<f64>,
    m2: f64,
    count: u64,
    pending: Option<(u64, Arc<Vector>)>,
    /// The first and the last finite points recorded.
    ends: Option<(Vec<f64>, Vec<f64>)>,
    /// Grid points per side of surface.csv (`None`: [`Surface::default_points`]).
    surface_points: Option<usize>,
    /// The round of the last point recorded.
    last_round: u64,
    enabled: bool,
}

impl TrajectoryRecorder {
    /// A recorder writing into the run directory `dir` (which must exist when the run starts).
    /// `problem` must be the run's problem (its loss draws the surface).
    pub fn new(dir: &Path, problem: Arc<dyn Problem>) -> Self {
        TrajectoryRecorder {
            dir: dir.to_path_buf(),
            problem,
            dim: 0,
            eval_every: 1,
            known_min: None,
            plane: None,
            projected: Vec::new(),
            samples: Vec::new(),
            stride: 1,
            max_samples: 0,
            mean: Vec::new(),
            m2: 0.0,
            count: 0,
            pending: None,
            ends: None,
            surface_points: None,
            last_round: 0,
            enabled: false,
        }
    }

    /// Sample the loss surface on `n x n` points instead of the default (121 for small
    /// problems, down to 21 near 10⁶ parameters; at most 16 for problems that report classes,
    /// whose loss is a pass over a data set): fewer where one loss evaluation is costly, and 0
    /// for no surface.csv at all (the trajectory is then drawn without level sets). The surface
    /// costs about `n²` loss evaluations, plus at most 400 for each minimum refined.
    pub fn with_surface_points(mut self, n: usize) -> Self {
        self.surface_points = Some(n);
        self
    }

    fn record(&mut self, round: u64, x: &[f64]) {
        if !x.iter().all(|v| v.is_finite()) {
            return;
        }
        match &mut self.ends {
            None => self.ends = Some((x.to_vec(), x.to_vec())),
            Some((_, last)) => last.copy_from_slice(x),
        }
        self.last_round = round;
        match &self.plane {
            Some(plane) => {
                let (a, b) = plane.project(x);
                self.projected.push((round, a, b));
                // Welford, over the whole vector.
                self.count += 1;
                let k = self.count as f64;
                let mut delta_sq = 0.0;
                for (m, xi) in self.mean.iter_mut().zip(x) {
                    let d = xi - *m;
                    *m += d / k;
                    delta_sq += d * (xi - *m);
                }
                self.m2 += delta_sq;
            }
            None => {
                let index = round / self.eval_every.max(1);
                if index.is_multiple_of(self.stride) || self.samples.is_empty() {
                    self.samples.push((round, x.to_vec()));
                    if self.samples.len() > self.max_samples {
                        self.stride *= 2;
                        let stride = self.stride;
                        let every = self.eval_every.max(1);
                        self.samples
                            .retain(|(r, _)| (r / every).is_multiple_of(stride) || *r == 0);
                    }
                }
            }
        }
    }

    /// The plane from the Hessian at `x0`, when it has negative curvature.
    fn curvature_plane(&self, x0: &Vector) -> Option<Plane> {
        let d = self.dim;
        // Column j of the Hessian: the problem's Hessian-vector product with e_j (exact where
        // the problem provides it, central differences of the gradient otherwise).
        let mut hess = vec![0.0; d * d];
        for j in 0..d {
            let mut e = Vector::zeros(d);
            e[j] = 1.0;
            let col = self.problem.hessian_vector(x0, &e);
            for i in 0..d {
                hess[i * d + j] = col.get(i).copied().unwrap_or(f64::NAN);
            }
        }
        if !hess.iter().all(|v| v.is_finite()) {
            return None;
        }
        let (vals, mut vecs) = symmetric_eigen(&hess, d);
        let scale = vals.iter().fold(1.0f64, |a, v| a.max(v.abs()));
        if vals.first().is_none_or(|&l| l >= -1e-6 * scale) || vecs.len() < 2 {
            return None;
        }
        for v in vecs.iter_mut().take(2) {
            snap_to_axis(v);
        }
        let axes = [0, 1].map(|k| {
            let label = axis_label(&vecs[k]).unwrap_or_else(|| format!("v{}", k + 1));
            AxisInfo {
                about: if axis_label(&vecs[k]).is_some() {
                    format!(
                        "the parameter {label}, a direction of curvature {} at the start point",
                        short(vals[k])
                    )
                } else {
                    format!(
                        "eigenvector of the Hessian at the start point, curvature {}: {}",
                        short(vals[k]),
                        combination(&vecs[k])
                    )
                },
                label,
            }
        });
        let negatives = vals.iter().filter(|&&l| l < -1e-6 * scale).count();
        Some(Plane {
            kind: PlaneKind::NegativeCurvature,
            about: format!(
                "the plane of the two most negative curvature directions of f at the start point \
                 (the Hessian there has {negatives} negative eigenvalue{}: a saddle to escape)",
                if negatives == 1 { "" } else { "s" }
            ),
            origin: off_plane(x0.as_slice().unwrap_or(&[]), &vecs[0], &vecs[1]),
            u: vecs[0].clone(),
            v: vecs[1].clone(),
            axes,
            through: "the start point".to_string(),
        })
    }

    /// The top two principal directions of the sampled path (`None` without samples). A path
    /// that does not move (or a single point) gets the plane of `x0` and `x1` through it.
    fn principal_plane(&self) -> Option<(Plane, Option<f64>)> {
        let d = self.dim;
        let max_n = ((1e9 / d.max(1) as f64).sqrt() as usize).clamp(8, 256);
        let k = self.samples.len().div_ceil(max_n).max(1);
        let pts: Vec<&Vec<f64>> = self.samples.iter().step_by(k).map(|(_, x)| x).collect();
        let n = pts.len();
        if n == 0 {
            return None;
        }
        let mut mean = vec![0.0; d];
        for p in &pts {
            for (m, x) in mean.iter_mut().zip(p.iter()) {
                *m += x / n as f64;
            }
        }
        let mut centred: Vec<Vec<f64>> = pts
            .iter()
            .map(|p| p.iter().zip(&mean).map(|(x, m)| x - m).collect())
            .collect();
        // Directions do not depend on scale: bring the largest entry to 1, so that paths that ran
        // off towards 1e300 do not overflow the products below.
        let big =
            centred.iter().flatten().fold(
                0.0f64,
                |a, v| if v.is_finite() { a.max(v.abs()) } else { a },
            );
        if big > 0.0 {
            for v in centred.iter_mut().flatten() {
                *v /= big;
            }
        }
        let mut gram = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let g = dot(&centred[i], &centred[j]);
                gram[i * n + j] = g;
                gram[j * n + i] = g;
            }
        }
        let total: f64 = (0..n).map(|i| gram[i * n + i]).sum();
        let moved = total > 0.0 && total.is_finite();
        let (vals, vecs) = if moved {
            symmetric_eigen(&gram, n)
        } else {
            (Vec::new(), Vec::new())
        };
        let mut dirs: Vec<Vec<f64>> = Vec::new();
        for a in vecs.iter().rev().take(2) {
            let mut u = vec![0.0; d];
            for (ai, c) in a.iter().zip(&centred) {
                for (uj, cj) in u.iter_mut().zip(c) {
                    *uj += ai * cj;
                }
            }
            // Orthogonalise against the first (rounding), then normalise.
            if let Some(first) = dirs.first() {
                let p = dot(&u, first);
                for (uj, fj) in u.iter_mut().zip(first) {
                    *uj -= p * fj;
                }
            }
            if dot(&u, &u) <= 0.0 {
                // A path on a line: any orthogonal direction will do.
                u = vec![0.0; d];
                let i = dirs.first().map_or(0, |f| (argmax_abs(f) + 1) % d.max(1));
                if let Some(x) = u.get_mut(i) {
                    *x = 1.0;
                }
                if let Some(first) = dirs.first() {
                    let p = dot(&u, first);
                    for (uj, fj) in u.iter_mut().zip(first) {
                        *uj -= p * fj;
                    }
                }
            }
            normalise_sign(&mut u);
            snap_to_axis(&mut u);
            dirs.push(u);
        }
        // Without motion there are no eigenvectors: the loop below did not run.
        while dirs.len() < 2 {
            let mut u = vec![0.0; d];
            let i = dirs.first().map_or(0, |f| (argmax_abs(f) + 1) % d.max(1));
            if let Some(x) = u.get_mut(i) {
                *x = 1.0;
            }
            dirs.push(u);
        }
        let top: f64 = vals.iter().rev().take(2).map(|v| v.max(0.0)).sum();
        let explained = moved.then(|| (top / total).clamp(0.0, 1.0));
        let shares: Vec<f64> = vals
            .iter()
            .rev()
            .take(2)
            .map(|v| v.max(0.0) / total)
            .collect();
        let axes = [0, 1].map(|k| AxisInfo {
            label: axis_label(&dirs[k]).unwrap_or_else(|| format!("PC{}", k + 1)),
            about: format!(
                "principal direction {} of the path ({:.0}% of its variance): {}",
                k + 1,
                100.0 * shares.get(k).copied().unwrap_or(0.0),
                combination(&dirs[k])
            ),
        });
        Some((
            Plane {
                kind: PlaneKind::Principal,
                about: "the plane of the path's top two principal directions (PCA of the sampled \
                        parameters), through their mean"
                    .to_string(),
                origin: off_plane(&mean, &dirs[0], &dirs[1]),
                u: dirs[0].clone(),
                v: dirs[1].clone(),
                axes,
                through: "the mean of the sampled path".to_string(),
            },
            explained,
        ))
    }

    fn write(&mut self) -> Result<(), Error> {
        let explained;
        let points: Vec<(u64, f64, f64)>;
        let plane = match self.plane.take() {
            Some(p) => {
                points = std::mem::take(&mut self.projected);
                explained = variance_share(&points, self.m2);
                p
            }
            None => {
                let Some((p, share)) = self.principal_plane() else {
                    return Ok(());
                };
                points = self
                    .samples
                    .iter()
                    .map(|(r, x)| {
                        let (a, b) = p.project(x);
                        (*r, a, b)
                    })
                    .collect();
                explained = share;
                p
            }
        };
        if points.is_empty() {
            return Ok(());
        }
        let mut csv = String::from("round,p1,p2\n");
        for (r, a, b) in &points {
            let _ = writeln!(csv, "{r},{},{}", fmt_f64(*a), fmt_f64(*b));
        }
        write_atomic(&self.dir.join("trajectory.csv"), csv.as_bytes())?;

        let problem = &self.problem;
        let n = self.surface_points.unwrap_or_else(|| {
            Surface::default_points_for(self.dim, self.problem.classes().is_some())
        });
        if n == 0 {
            return self.write_info(&plane, explained, Vec::new(), 0);
        }
        let surface = Surface::sample(|a, b| problem.loss(&plane.point(a, b)), &points, n);
        write_atomic(&self.dir.join("surface.csv"), surface.csv().as_bytes())?;
        let minima = surface.minima(|a, b| problem.loss(&plane.point(a, b)), self.dim);
        self.write_info(&plane, explained, minima, surface.n)
    }

    /// trajectory.json.
    fn write_info(
        &self,
        plane: &Plane,
        explained: Option<f64>,
        minima: Vec<PlaneMinimum>,
        surface_points: usize,
    ) -> Result<(), Error> {
        let info = TrajectoryInfo {
            plane: plane.kind,
            about: plane.about.clone(),
            axes: plane.axes.clone(),
            dim: self.dim,
            explained_variance: explained,
            displacement_share: self.ends.as_ref().and_then(|(a, b)| {
                let d: Vec<f64> = b.iter().zip(a).map(|(b, a)| b - a).collect();
                let total = dot(&d, &d);
                let (p, q) = plane.project(&d);
                (total > 0.0 && total.is_finite())
                    .then(|| ((p * p + q * q) / total).clamp(0.0, 1.0))
            }),
            sampled_every: match plane.kind {
                PlaneKind::Principal => self.eval_every * self.stride,
                _ => self.eval_every,
            },
            surface_through: plane.through.clone(),
            surface_points_per_side: surface_points,
            minima,
            known_min_loss: self.known_min,
            basis: (self.dim <= BASIS_MAX_DIM).then(|| [plane.u.clone(), plane.v.clone()]),
        };
        let mut json =
            serde_json::to_string_pretty(&info).map_err(|e| Error::Runtime(e.to_string()))?;
        json.push('\n');
        write_atomic(&self.dir.join("trajectory.json"), json.as_bytes())
    }
}

impl Observer for TrajectoryRecorder {
    fn init(&mut self, info: &RunInfo) -> Result<(), Error> {
        self.dim = info.dim;
        self.eval_every = info.eval_every.max(1);
        self.known_min = info.min_loss;
        self.enabled = info.dim >= 2;
        if !self.enabled {
            return Ok(());
        }
        let x0 = &info.initial_params;
        self.plane = if info.dim == 2 {
            let axes = [0, 1].map(|k| AxisInfo {
                label: format!("x{k}"),
                about: format!("parameter x{k}"),
            });
            Some(Plane {
                kind: PlaneKind::Coordinates,
                u: vec![1.0, 0.0],
                v: vec![0.0, 1.0],
                axes,
                about: "the problem's two parameters".to_string(),
                origin: vec![0.0, 0.0],
                through: "the whole parameter space".to_string(),
            })
        } else if info.dim <= HESSIAN_MAX_DIM && x0.iter().all(|v| v.is_finite()) {
            self.curvature_plane(x0)
        } else {
            None
        };
        self.mean = vec![0.0; if self.plane.is_some() { info.dim } else { 0 }];
        self.max_samples = (SAMPLE_BUDGET / info.dim.max(1)).clamp(16, 100_000);
        if let Some(x) = x0.as_slice() {
            self.record(0, x);
        }
        Ok(())
    }

    fn round(&mut self, e: &RoundEvent) -> Result<(), Error> {
        if !self.enabled {
            return Ok(());
        }
        if e.round.is_multiple_of(self.eval_every) {
            self.pending = None;
            if let Some(x) = e.params.as_slice() {
                self.record(e.round, x);
            }
        } else {
            self.pending = Some((e.round, e.params.clone()));
        }
        Ok(())
    }

    fn finish(&mut self, _summary: &Summary) -> Result<(), Error> {
        if !self.enabled {
            return Ok(());
        }
        if let Some((r, x)) = self.pending.take()
            && let Some(x) = x.as_slice()
        {
            self.record(r, x);
        }
        // PCA samples: the last point recorded is always kept, whatever the stride.
        if self.plane.is_none()
            && let Some((_, last)) = &self.ends
            && self
                .samples
                .last()
                .is_none_or(|(r, _)| *r != self.last_round)
        {
            self.samples.push((self.last_round, last.clone()));
        }
        self.write()
    }
}

/// Share of the path's variance in the plane: variance of the projections over `m2` (the sum of
/// squared deviations of the full vectors).
fn variance_share(points: &[(u64, f64, f64)], m2: f64) -> Option<f64> {
    let n = points.len() as f64;
    if n < 2.0 || !(m2 > 0.0 && m2.is_finite()) {
        return None;
    }
    let (ma, mb) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p.1 / n, b + p.2 / n));
    let s: f64 = points
        .iter()
        .map(|p| (p.1 - ma).powi(2) + (p.2 - mb).powi(2))
        .sum();
    Some((s / m2).clamp(0.0, 1.0))
}

/// `xi` when `v` is (up to rounding) a coordinate axis; `v` is then made exactly that axis.
fn snap_to_axis(v: &mut [f64]) {
    let i = argmax_abs(v);
    if v.get(i).is_some_and(|x| x.abs() > 1.0 - 1e-9) {
        for (k, x) in v.iter_mut().enumerate() {
            *x = if k == i { 1.0 } else { 0.0 };
        }
    }
}

fn axis_label(v: &[f64]) -> Option<String> {
    let i = argmax_abs(v);
    (v.get(i) == Some(&1.0) && v.iter().filter(|x| **x != 0.0).count() == 1)
        .then(|| format!("x{i}"))
}

fn short(v: f64) -> String {
    super::format::round_sig(v, 3)
}

/// `0.71·x0 + 0.71·x1 + …` (the largest components).
fn combination(v: &[f64]) -> String {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].abs().total_cmp(&v[a].abs()).then(a.cmp(&b)));
    let shown: Vec<usize> = idx
        .into_iter()
        .take(4)
        .filter(|&i| v[i].abs() >= 0.005)
        .collect();
    let mut s = String::new();
    for (k, &i) in shown.iter().enumerate() {
        let c = v[i];
        if k == 0 {
            let _ = write!(s, "{}·x{i}", short(c));
        } else {
            let _ = write!(
                s,
                " {} {}·x{i}",
                if c < 0.0 { "−" } else { "+" },
                short(c.abs())
            );
        }
    }
    if v.iter().filter(|x| x.abs() >= 0.005).count() > shown.len() {
        s.push_str(" + …");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::{Noise, Quadratic, Saddle};

    fn info(dim: usize, x0: Vector) -> RunInfo {
        RunInfo {
            name: "t".into(),
            roles: Vec::new(),
            dim,
            rounds: 10,
            eval_every: 1,
            initial_loss: 0.0,
            initial_grad_norm: 0.0,
            initial_metrics: Vec::new(),
            local_min_eps: None,
            initial_params: x0,
            min_loss: Some(-0.5),
            seed: 1,
            thresholds: Vec::new(),
            has_windows: false,
            rule: Default::default(),
        }
    }

    #[test]
    fn saddle_plane_is_its_negative_curvature_coordinates() {
        let p: Arc<dyn Problem> = Arc::new(Saddle::new(6, 2, 0.0, Noise::Bounded { radius: 1.0 }));
        let tmp = tempfile::tempdir().unwrap();
        let mut rec = TrajectoryRecorder::new(tmp.path(), p);
        rec.init(&info(6, Vector::zeros(6))).unwrap();
        let plane = rec.plane.as_ref().unwrap();
        assert_eq!(plane.kind, PlaneKind::NegativeCurvature);
        assert_eq!(plane.axes[0].label, "x0");
        assert_eq!(plane.axes[1].label, "x1");
        // A path escaping towards (1, -1, 0, ...).
        for r in 1..=50u64 {
            let t = r as f64 / 50.0;
            let x = [t, -t, 0.01, 0.0, 0.0, 0.0];
            rec.record(r, &x);
        }
        rec.write().unwrap();
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join("trajectory.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["plane"], "negative_curvature");
        assert!(json["explained_variance"].as_f64().unwrap() > 0.99);
        // The minimum at (1, -1) is found and refined.
        let m = &json["minima"];
        assert!(
            m.as_array().unwrap().iter().any(|m| {
                (m["p1"].as_f64().unwrap() - 1.0).abs() < 1e-3
                    && (m["p2"].as_f64().unwrap() + 1.0).abs() < 1e-3
                    && (m["loss"].as_f64().unwrap() + 0.5).abs() < 1e-6
            }),
            "{m}"
        );
        let csv = std::fs::read_to_string(tmp.path().join("trajectory.csv")).unwrap();
        assert!(
            csv.starts_with("round,p1,p2\n0,0,0\n1,0.02,-0.02\n"),
            "{csv}"
        );
        let surface = std::fs::read_to_string(tmp.path().join("surface.csv")).unwrap();
        let n = json["surface_points_per_side"].as_u64().unwrap() as usize;
        assert_eq!(surface.lines().count(), 1 + n * n);
    }

    #[test]
    fn convex_problem_uses_principal_directions_with_bounded_samples() {
        let p: Arc<dyn Problem> = Arc::new(Quadratic::new(
            5,
            1.0,
            2.0,
            1.0,
            Noise::Gaussian { std: 0.0 },
        ));
        let tmp = tempfile::tempdir().unwrap();
        let mut rec = TrajectoryRecorder::new(tmp.path(), p);
        rec.init(&info(5, Vector::from_vec(vec![1.0, 1.0, 1.0, 0.0, 0.0])))
            .unwrap();
        assert!(rec.plane.is_none());
        rec.max_samples = 16;
        for r in 1..=1000u64 {
            let t = (-(r as f64) / 200.0).exp();
            rec.record(r, &[t, t, t * t, 0.0, 0.0]);
            assert!(rec.samples.len() <= 16);
        }
        // Evenly spaced: every stride-th round.
        let rounds: Vec<u64> = rec.samples.iter().map(|s| s.0).collect();
        assert!(
            rounds.windows(2).all(|w| w[1] - w[0] == rec.stride),
            "{rounds:?}"
        );
        rec.write().unwrap();
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(tmp.path().join("trajectory.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["plane"], "principal");
        assert_eq!(json["axes"][0]["label"], "PC1");
        assert!(json["explained_variance"].as_f64().unwrap() > 0.999);
    }

    #[test]
    fn the_surface_can_be_smaller_or_left_out() {
        let p: Arc<dyn Problem> = Arc::new(Saddle::new(4, 2, 0.0, Noise::Bounded { radius: 1.0 }));
        for (n, lines) in [(0, None), (5, Some(26))] {
            let tmp = tempfile::tempdir().unwrap();
            let mut rec = TrajectoryRecorder::new(tmp.path(), p.clone()).with_surface_points(n);
            rec.init(&info(4, Vector::zeros(4))).unwrap();
            rec.record(1, &[0.5, 0.5, 0.0, 0.0]);
            rec.write().unwrap();
            assert!(tmp.path().join("trajectory.json").is_file());
            let surface = std::fs::read_to_string(tmp.path().join("surface.csv")).ok();
            assert_eq!(surface.map(|s| s.lines().count()), lines);
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(combination(&[0.6, -0.8, 0.0]), "−0.8·x1 + 0.6·x0");
        let mut v = vec![0.0, -1.0 + 1e-12, 1e-13];
        snap_to_axis(&mut v);
        assert_eq!(v, vec![0.0, 1.0, 0.0]);
        assert_eq!(axis_label(&v).as_deref(), Some("x1"));
    }
}
