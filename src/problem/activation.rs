//! Hidden-layer activations, with a portable, branch-free `tanh`.
//!
//! [`tanh`] is written in plain IEEE arithmetic (no libm call), so that (a) a loop over a layer's
//! outputs vectorises (the libm call cost about 16 ns per value, half the time of a 64-64-10
//! MLP round on digits), and (b) results do not depend on the platform's libm. Method:
//! - `|x| < 0.625`: `x + x^3 P(x^2) / Q(x^2)`, the Cody & Waite form with the coefficients of
//!   Cephes `tanh.c` (S. L. Moshier, Cephes Math Library 2.8, 2000; peak relative error
//!   2.5e-16 on [-2, 2]);
//! - otherwise `sign(x) (1 - 2 / (e^{2|x|} + 1))`, with `e^y` computed as in fdlibm's `e_exp.c`
//!   (Sun Microsystems 1993): `y = k ln2 + r` with `ln2` split in two parts (Cody-Waite
//!   reduction), `k` rounded with the `1.5 * 2^52` trick, `e^r` from the rational
//!   `1 - ((lo - r c / (2 - c)) - hi)` with a degree-5 polynomial `c`, and `2^k` built from its
//!   exponent bits. The argument is clamped at 40: beyond `|x| = 19.1`, `tanh` is `+-1` in `f64`.
//!
//! The test checks it against `f64::tanh` to within 2 ulps.

use ndarray::Array2;

/// Hidden-layer activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `tanh(z)`; initialised with Glorot.
    Tanh,
    /// `max(z, 0)`; initialised with He.
    Relu,
}

impl Activation {
    /// Apply in place.
    pub(crate) fn apply(self, z: &mut Array2<f64>) {
        match (self, z.as_slice_mut()) {
            (Activation::Tanh, Some(s)) => s.iter_mut().for_each(|v| *v = tanh(*v)),
            (Activation::Tanh, None) => z.mapv_inplace(tanh),
            (Activation::Relu, _) => z.mapv_inplace(|v| v.max(0.0)),
        }
    }

    /// Multiply `delta` by the derivative, written in terms of the activation's *output* `a`:
    /// `1 - a^2` for tanh, `[a > 0]` for ReLU.
    pub(crate) fn backprop(self, delta: &mut Array2<f64>, a: &Array2<f64>) {
        match self {
            Activation::Tanh => delta.zip_mut_with(a, |d, &a| *d *= 1.0 - a * a),
            Activation::Relu => delta.zip_mut_with(a, |d, &a| {
                if a <= 0.0 {
                    *d = 0.0
                }
            }),
        }
    }
}

// The published coefficients are kept digit for digit (they round to the same f64).

// Cephes tanh.c: tanh(x) = x + x^3 P(x^2) / Q(x^2) on |x| < 0.625 (Q monic).
#[allow(clippy::excessive_precision)]
const TANH_P: [f64; 3] = [
    -9.643_991_794_250_522_386_28e-1,
    -9.928_772_310_019_185_865_64e1,
    -1.614_687_684_417_084_479_52e3,
];
#[allow(clippy::excessive_precision)]
const TANH_Q: [f64; 3] = [
    1.128_116_784_916_329_314_02e2,
    2.235_488_390_601_004_485_83e3,
    4.844_063_053_251_254_860_48e3,
];

// fdlibm e_exp.c.
#[allow(clippy::excessive_precision)]
const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
#[allow(clippy::excessive_precision)]
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
/// `1 / ln 2` (fdlibm's `invln2`, 0x3FF71547652B82FE).
const INV_LN2: f64 = std::f64::consts::LOG2_E;
#[allow(clippy::excessive_precision)]
const EXP_P: [f64; 5] = [
    1.666_666_666_666_660_190_37e-1,
    -2.777_777_777_701_559_338_42e-3,
    6.613_756_321_437_934_361_17e-5,
    -1.653_390_220_546_525_153_90e-6,
    4.138_136_797_057_238_460_39e-8,
];
/// `1.5 * 2^52`: adding it rounds to an integer, which then sits in the low mantissa bits.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// `e^y` for `0 <= y <= 40` (fdlibm's method without the special cases; see the module docs).
#[inline(always)]
fn exp_bounded(y: f64) -> f64 {
    let shifted = y * INV_LN2 + ROUND;
    let k = shifted - ROUND;
    let hi = y - k * LN2_HI;
    let lo = k * LN2_LO;
    let r = hi - lo;
    let t = r * r;
    let c = r - t * (EXP_P[0] + t * (EXP_P[1] + t * (EXP_P[2] + t * (EXP_P[3] + t * EXP_P[4]))));
    let e_r = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    // 2^k from its exponent bits: the low bits of `shifted` hold k.
    let two_k = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
    e_r * two_k
}

/// The hyperbolic tangent, within 2 ulps of `f64::tanh`, branch-free (see the module docs).
/// `tanh(NaN)` is NaN, `tanh(+-inf) = +-1`, `tanh(-0) = -0`.
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    let z = x.abs();
    let s = x * x;
    let p = (TANH_P[0] * s + TANH_P[1]) * s + TANH_P[2];
    let q = ((s + TANH_Q[0]) * s + TANH_Q[1]) * s + TANH_Q[2];
    let small = (z + z * s * (p / q)).copysign(x);
    let e = exp_bounded((2.0 * z).min(40.0));
    let big = (1.0 - 2.0 / (e + 1.0)).copysign(x);
    if z < 0.625 {
        small
    } else if z >= 0.625 {
        big
    } else {
        x // NaN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{normal, stream};

    fn ulps(a: f64, b: f64) -> f64 {
        let spacing = f64::EPSILON * b.abs().max(f64::MIN_POSITIVE);
        (a - b).abs() / spacing
    }

    #[test]
    fn tanh_matches_libm_within_two_ulps() {
        let mut worst: f64 = 0.0;
        let mut check = |x: f64| {
            let u = ulps(tanh(x), x.tanh());
            assert!(
                u <= 2.0,
                "tanh({x:e}) = {:e}, libm {:e}: {u} ulps",
                tanh(x),
                x.tanh()
            );
            worst = worst.max(u);
        };
        for i in -200_000..=200_000 {
            check(i as f64 * 1e-4); // [-20, 20], both branches and the switch at 0.625
        }
        let mut rng = stream(0, 0);
        for _ in 0..100_000 {
            check(normal(&mut rng) * 3.0);
            check(normal(&mut rng) * 1e-8);
        }
        for x in [
            0.625,
            -0.625,
            0.625f64.next_down(),
            19.0,
            19.1,
            30.0,
            1e300,
            1e-310,
        ] {
            check(x);
        }
        assert!(worst <= 2.0);
    }

    #[test]
    fn constants_have_the_published_bits() {
        assert_eq!(INV_LN2.to_bits(), 0x3FF7_1547_652B_82FE);
        assert_eq!(LN2_HI.to_bits(), 0x3FE6_2E42_FEE0_0000);
        assert_eq!(LN2_LO.to_bits(), 0x3DEA_39EF_3579_3C76);
        assert_eq!(TANH_P[0].to_bits(), 0xBFEE_DC5B_AAFD_6F4B);
        assert_eq!(TANH_Q[2].to_bits(), 0x40B2_EC10_2442_040C);
    }

    #[test]
    fn tanh_special_values() {
        assert!(tanh(f64::NAN).is_nan());
        assert_eq!(tanh(f64::INFINITY), 1.0);
        assert_eq!(tanh(f64::NEG_INFINITY), -1.0);
        assert_eq!(tanh(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(tanh(25.0), 1.0);
        assert_eq!(tanh(-25.0), -1.0);
    }

    #[test]
    fn apply_and_backprop() {
        let mut z = ndarray::array![[-1.0, 0.0], [2.0, 0.5]];
        let mut r = z.clone();
        Activation::Tanh.apply(&mut z);
        Activation::Relu.apply(&mut r);
        assert_eq!(r, ndarray::array![[0.0, 0.0], [2.0, 0.5]]);
        assert!((z[[1, 0]] - 2f64.tanh()).abs() < 1e-15);
        let mut d = ndarray::Array2::from_elem((2, 2), 1.0);
        Activation::Relu.backprop(&mut d, &r);
        assert_eq!(d, ndarray::array![[0.0, 0.0], [1.0, 1.0]]);
        let mut d = ndarray::Array2::from_elem((2, 2), 1.0);
        Activation::Tanh.backprop(&mut d, &z);
        assert!((d[[0, 0]] - (1.0 - z[[0, 0]].powi(2))).abs() < 1e-15);
    }
}
