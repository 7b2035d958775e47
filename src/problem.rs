//! Optimisation problems: a loss, its true gradient, and stochastic gradients drawn from a
//! worker's own seeded stream.
//!
//! Stochastic gradients are the true gradient plus noise ([`Noise`]): *bounded* noise, uniform in
//! a ball of radius `V` (the assumption of SafeguardSGD, Allen-Zhu et al. 2021, Section 2), or
//! Gaussian noise. The [`Problem`] trait takes the worker id, so problems with per-machine data
//! shards and minibatches fit the same interface; [`Problem::metrics`] reports extra evaluation
//! metrics.

use crate::linalg::Vector;
use crate::rng::SimRng;
use rand::RngExt;

/// An optimisation problem as seen by the simulator.
pub trait Problem: Send + Sync {
    /// Short name, as in the scenario's `kind`.
    fn name(&self) -> &str;
    /// Dimension `d` of the parameter vector.
    fn dim(&self) -> usize;
    /// The starting point `x_0`; `rng` is the dedicated [`crate::rng::streams::INIT`] stream.
    fn initial_point(&self, rng: &mut SimRng) -> Vector;
    /// The loss `f(x)`.
    fn loss(&self, x: &Vector) -> f64;
    /// The true gradient `grad f(x)`.
    fn gradient(&self, x: &Vector) -> Vector;
    /// A stochastic gradient for `worker`, drawn from that worker's stream.
    fn stochastic_gradient(&self, x: &Vector, worker: usize, rng: &mut SimRng) -> Vector;
    /// The known minimum value of `f`, if any (used in docs and tests).
    fn min_loss(&self) -> Option<f64> {
        None
    }
    /// `sigma` with `sigma^2 = E||g - grad f(x)||^2`, the noise level used by the `theory`
    /// threshold mode when no explicit `sigma` is given.
    fn noise_level(&self) -> f64;
    /// Extra evaluation metrics at `x` (name, value), e.g. test accuracy. None by default.
    fn metrics(&self, _x: &Vector) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
}

/// Gradient noise of an honest worker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Noise {
    /// Uniform in the Euclidean ball of radius `radius` (bounded noise, `||n|| <= V` a.s.).
    Bounded {
        /// The radius `V`.
        radius: f64,
    },
    /// `N(0, std^2 I)`.
    Gaussian {
        /// Per-coordinate standard deviation.
        std: f64,
    },
}

impl Noise {
    /// Draw one noise vector of dimension `dim`.
    pub fn sample(&self, dim: usize, rng: &mut SimRng) -> Vector {
        match *self {
            Noise::Gaussian { std } => {
                Vector::from_shape_simple_fn(dim, || std * crate::rng::normal(rng))
            }
            Noise::Bounded { radius } => {
                if radius == 0.0 || dim == 0 {
                    return Vector::zeros(dim);
                }
                // Uniform direction (normalised Gaussian), radius V * U^(1/d).
                let mut v: Vector = Vector::from_shape_simple_fn(dim, || crate::rng::normal(rng));
                let n = crate::linalg::norm(&v);
                let u: f64 = rng.random();
                let r = radius * u.powf(1.0 / dim as f64);
                if n > 0.0 {
                    v *= r / n;
                }
                v
            }
        }
    }

    /// `sqrt(E||n||^2)`: `V sqrt(d/(d+2))` for the ball, `std sqrt(d)` for the Gaussian.
    pub fn level(&self, dim: usize) -> f64 {
        let d = dim as f64;
        match *self {
            Noise::Bounded { radius } => radius * (d / (d + 2.0)).sqrt(),
            Noise::Gaussian { std } => std * d.sqrt(),
        }
    }
}

/// Convex sanity check: `f(x) = 1/2 sum_i lambda_i x_i^2`, with curvatures `lambda_i` spaced
/// linearly from `min_curvature` to `max_curvature`; minimum 0 at the origin; start at
/// `start * (1, ..., 1)`.
#[derive(Debug, Clone)]
pub struct Quadratic {
    curvature: Vector,
    start: f64,
    noise: Noise,
}

impl Quadratic {
    /// A quadratic of dimension `dim`.
    pub fn new(
        dim: usize,
        min_curvature: f64,
        max_curvature: f64,
        start: f64,
        noise: Noise,
    ) -> Self {
        let curvature = Vector::from_shape_fn(dim, |i| {
            if dim <= 1 {
                min_curvature
            } else {
                min_curvature + (max_curvature - min_curvature) * i as f64 / (dim - 1) as f64
            }
        });
        Quadratic {
            curvature,
            start,
            noise,
        }
    }
}

impl Problem for Quadratic {
    fn name(&self) -> &str {
        "quadratic"
    }
    fn dim(&self) -> usize {
        self.curvature.len()
    }
    fn initial_point(&self, _rng: &mut SimRng) -> Vector {
        Vector::from_elem(self.dim(), self.start)
    }
    fn loss(&self, x: &Vector) -> f64 {
        0.5 * x
            .iter()
            .zip(self.curvature.iter())
            .map(|(x, l)| l * x * x)
            .sum::<f64>()
    }
    fn gradient(&self, x: &Vector) -> Vector {
        x * &self.curvature
    }
    fn stochastic_gradient(&self, x: &Vector, _worker: usize, rng: &mut SimRng) -> Vector {
        self.gradient(x) + self.noise.sample(self.dim(), rng)
    }
    fn min_loss(&self) -> Option<f64> {
        Some(0.0)
    }
    fn noise_level(&self) -> f64 {
        self.noise.level(self.dim())
    }
}

/// A `d`-dimensional strict-saddle function with `k` negative-curvature directions:
/// `f(x) = sum_{i<k} (x_i^4/4 - x_i^2/2) + sum_{i>=k} x_i^2/2`.
///
/// The origin is a strict saddle with `f = 0` (Hessian eigenvalues `-1` (k times) and `+1`);
/// the minima are at `x_i = +-1` for `i < k`, `x_i = 0` otherwise, with `f = -k/4`. The run
/// starts at the saddle plus a random offset of norm `start_offset` (0: exactly at the saddle,
/// where only noise and the perturbation can move it).
#[derive(Debug, Clone)]
pub struct Saddle {
    dim: usize,
    negative_dims: usize,
    start_offset: f64,
    noise: Noise,
}

impl Saddle {
    /// A saddle problem; `negative_dims <= dim` is checked by the scenario.
    pub fn new(dim: usize, negative_dims: usize, start_offset: f64, noise: Noise) -> Self {
        Saddle {
            dim,
            negative_dims,
            start_offset,
            noise,
        }
    }
}

impl Problem for Saddle {
    fn name(&self) -> &str {
        "saddle"
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn initial_point(&self, rng: &mut SimRng) -> Vector {
        if self.start_offset == 0.0 {
            return Vector::zeros(self.dim);
        }
        let mut v: Vector = Vector::from_shape_simple_fn(self.dim, || crate::rng::normal(rng));
        let n = crate::linalg::norm(&v);
        if n > 0.0 {
            v *= self.start_offset / n;
        }
        v
    }
    fn loss(&self, x: &Vector) -> f64 {
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                if i < self.negative_dims {
                    v.powi(4) / 4.0 - v * v / 2.0
                } else {
                    v * v / 2.0
                }
            })
            .sum()
    }
    fn gradient(&self, x: &Vector) -> Vector {
        Vector::from_shape_fn(self.dim, |i| {
            let v = x[i];
            if i < self.negative_dims {
                v * v * v - v
            } else {
                v
            }
        })
    }
    fn stochastic_gradient(&self, x: &Vector, _worker: usize, rng: &mut SimRng) -> Vector {
        self.gradient(x) + self.noise.sample(self.dim, rng)
    }
    fn min_loss(&self) -> Option<f64> {
        Some(-(self.negative_dims as f64) / 4.0)
    }
    fn noise_level(&self) -> f64 {
        self.noise.level(self.dim)
    }
}

/// The Rosenbrock function `f(x, y) = (a - x)^2 + b (y - x^2)^2` (Rosenbrock 1960), a classic
/// non-convex test function in two parameters: a curved, flat-bottomed valley with its minimum
/// 0 at `(a, a^2)`.
#[derive(Debug, Clone)]
pub struct Rosenbrock {
    a: f64,
    b: f64,
    start: [f64; 2],
    noise: Noise,
}

impl Rosenbrock {
    /// A Rosenbrock problem starting at `start`.
    pub fn new(a: f64, b: f64, start: [f64; 2], noise: Noise) -> Self {
        Rosenbrock { a, b, start, noise }
    }
}

impl Problem for Rosenbrock {
    fn name(&self) -> &str {
        "rosenbrock"
    }
    fn dim(&self) -> usize {
        2
    }
    fn initial_point(&self, _rng: &mut SimRng) -> Vector {
        Vector::from_vec(self.start.to_vec())
    }
    fn loss(&self, x: &Vector) -> f64 {
        let (u, v) = (x[0], x[1]);
        (self.a - u).powi(2) + self.b * (v - u * u).powi(2)
    }
    fn gradient(&self, x: &Vector) -> Vector {
        let (u, v) = (x[0], x[1]);
        Vector::from_vec(vec![
            -2.0 * (self.a - u) - 4.0 * self.b * u * (v - u * u),
            2.0 * self.b * (v - u * u),
        ])
    }
    fn stochastic_gradient(&self, x: &Vector, _worker: usize, rng: &mut SimRng) -> Vector {
        self.gradient(x) + self.noise.sample(2, rng)
    }
    fn min_loss(&self) -> Option<f64> {
        Some(0.0)
    }
    fn noise_level(&self) -> f64 {
        self.noise.level(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::norm;
    use crate::rng::stream;
    use ndarray::array;

    fn finite_difference(p: &dyn Problem, x: &Vector) -> Vector {
        let h = 1e-6;
        Vector::from_shape_fn(x.len(), |i| {
            let mut a = x.clone();
            let mut b = x.clone();
            a[i] += h;
            b[i] -= h;
            (p.loss(&a) - p.loss(&b)) / (2.0 * h)
        })
    }

    #[test]
    fn gradients_match_finite_differences() {
        let none = Noise::Gaussian { std: 0.0 };
        let problems: Vec<Box<dyn Problem>> = vec![
            Box::new(Quadratic::new(3, 1.0, 5.0, 1.0, none)),
            Box::new(Saddle::new(4, 2, 0.0, none)),
            Box::new(Rosenbrock::new(1.0, 100.0, [-1.0, 1.0], none)),
        ];
        for p in &problems {
            let x = Vector::from_shape_fn(p.dim(), |i| 0.3 + 0.2 * i as f64);
            let g = p.gradient(&x);
            let fd = finite_difference(p.as_ref(), &x);
            assert!(
                crate::linalg::distance(&g, &fd) < 1e-5,
                "{}: {g} vs {fd}",
                p.name()
            );
        }
    }

    #[test]
    fn saddle_values() {
        let p = Saddle::new(5, 2, 0.0, Noise::Bounded { radius: 1.0 });
        assert_eq!(p.loss(&Vector::zeros(5)), 0.0);
        assert_eq!(p.gradient(&Vector::zeros(5)), Vector::zeros(5));
        let min = array![1.0, -1.0, 0.0, 0.0, 0.0];
        assert_eq!(p.loss(&min), -0.5);
        assert_eq!(p.min_loss(), Some(-0.5));
        assert_eq!(norm(&p.gradient(&min)), 0.0);
    }

    #[test]
    fn bounded_noise_stays_in_ball_and_is_centred() {
        let noise = Noise::Bounded { radius: 2.0 };
        let mut rng = stream(1, 0);
        let mut sum = Vector::zeros(3);
        let mut sq = 0.0;
        let n = 20_000;
        for _ in 0..n {
            let v = noise.sample(3, &mut rng);
            assert!(norm(&v) <= 2.0 + 1e-12);
            sq += norm(&v).powi(2);
            sum += &v;
        }
        assert!(norm(&(sum / n as f64)) < 0.05);
        // E||n||^2 = V^2 d / (d + 2) = 4 * 3/5 = 2.4
        assert!((sq / n as f64 - 2.4).abs() < 0.05);
        assert!((noise.level(3) - 2.4f64.sqrt()).abs() < 1e-12);
    }
}
