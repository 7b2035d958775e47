//! `alie`: "a little is enough" (G. Baruch, M. Baruch, Y. Goldberg, *A Little Is Enough:
//! Circumventing Defenses For Distributed Learning*, NeurIPS 2019): every Byzantine machine
//! sends `mu - z * s`, with `mu`, `s` the coordinate-wise mean and standard deviation of the
//! round's honest gradients. The SafeguardSGD paper calls it the "variance attack" (z = 0.3).
//!
//! `z` is a number or computed from `n` machines and `f` Byzantine ones, with
//! `s* = floor(n/2 + 1) - f` (the supporters the attackers need):
//! - `baruch`: `z = Phi^-1((n - s*) / n)` (Baruch et al. 2019, Algorithm 3);
//! - `karimireddy`: `z = Phi^-1((n - f - s*) / (n - f))` (the form used by Karimireddy, He &
//!   Jaggi, ICLR 2022, and by libraries that follow them).
//!
//! At n = 10, f = 4 they give 0.8416 and 0.4307.

use super::{Adversaries, Adversary, AttackContext, AttackKind, Dependency};
use crate::linalg::Vector;
use crate::registry::{BuildContext, CheckContext, ParamError, Params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// ALIE's `z`: a number, or a rule computing it from `n` and `f`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ZSpec {
    /// A given value.
    Value(f64),
    /// `Phi^-1((n - s*) / n)`, `s* = floor(n/2 + 1) - f` (Baruch et al. 2019).
    Baruch,
    /// `Phi^-1((n - f - s*) / (n - f))` (Karimireddy et al. 2022).
    Karimireddy,
}

impl Serialize for ZSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ZSpec::Value(z) => s.serialize_f64(*z),
            ZSpec::Baruch => s.serialize_str("baruch"),
            ZSpec::Karimireddy => s.serialize_str("karimireddy"),
        }
    }
}

impl<'de> Deserialize<'de> for ZSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ZSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, `baruch` or `karimireddy`")
            }
            fn visit_f64<E>(self, z: f64) -> Result<ZSpec, E> {
                Ok(ZSpec::Value(z))
            }
            fn visit_i64<E>(self, z: i64) -> Result<ZSpec, E> {
                Ok(ZSpec::Value(z as f64))
            }
            fn visit_u64<E>(self, z: u64) -> Result<ZSpec, E> {
                Ok(ZSpec::Value(z as f64))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ZSpec, E> {
                match s {
                    "baruch" => Ok(ZSpec::Baruch),
                    "karimireddy" => Ok(ZSpec::Karimireddy),
                    other => Err(E::unknown_variant(other, &["baruch", "karimireddy"])),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ZSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AlieZ".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [
                {"type": "number"},
                {"const": "baruch", "description": "Phi^-1((n - s*) / n), s* = floor(n/2 + 1) - f"},
                {"const": "karimireddy", "description": "Phi^-1((n - f - s*) / (n - f))"}
            ]
        })
    }
}

/// The sign of ALIE's shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlieSign {
    /// `mu - z * s`, the paper's form.
    Minus,
    /// `mu + z * s` (some libraries' form).
    Plus,
}

/// `alie`: "a little is enough" (Baruch, Baruch & Goldberg, NeurIPS 2019), the SafeguardSGD
/// paper's "variance attack": every Byzantine machine sends `mu - z * s` (`sign: "plus"`:
/// `mu + z * s`), with `mu` and `s` the coordinate-wise mean and standard deviation (`ddof` 1:
/// sample, the default; 0: population) of the round's honest gradients. `z` is a number, or
/// `"baruch"` (`Phi^-1((n - s*) / n)`) or `"karimireddy"` (`Phi^-1((n - f - s*) / (n - f))`)
/// with `s* = floor(n/2 + 1) - f`, computed once from `n` (default: all machines, honest and
/// Byzantine, at the start of the run) and `f` (default: the Byzantine machines).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AlieParams {
    /// `z`: a number, `"baruch"` or `"karimireddy"`.
    pub z: ZSpec,
    /// `minus` (`mu - z s`, the paper's form) or `plus`.
    pub sign: AlieSign,
    /// `ddof` of the standard deviation: 1 (sample, divides by h - 1) or 0 (population).
    pub ddof: usize,
    /// `n` for the `z` rules (default: all machines of the scenario).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// `f` for the `z` rules (default: the scenario's Byzantine machines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f: Option<usize>,
}

impl Default for AlieParams {
    fn default() -> Self {
        AlieParams {
            z: ZSpec::Baruch,
            sign: AlieSign::Minus,
            ddof: 1,
            n: None,
            f: None,
        }
    }
}

/// `s* = floor(n/2 + 1) - f` as a signed number.
fn supporters(n: usize, f: usize) -> i64 {
    (n / 2 + 1) as i64 - f as i64
}

/// The probability whose normal quantile a rule takes, or why there is none.
fn rule_probability(rule: ZSpec, n: usize, f: usize) -> Result<f64, String> {
    let s = supporters(n, f);
    let (num, den) = match rule {
        ZSpec::Value(_) => return Err("not a rule".into()),
        ZSpec::Baruch => (n as i64 - s, n as i64),
        ZSpec::Karimireddy => (n as i64 - f as i64 - s, n as i64 - f as i64),
    };
    let p = if den > 0 {
        num as f64 / den as f64
    } else {
        f64::NAN
    };
    if p > 0.0 && p < 1.0 {
        Ok(p)
    } else {
        Err(format!(
            "with n = {n} and f = {f}, s* = floor(n/2 + 1) - f = {s} gives the probability {num}/{den}, outside (0, 1): no finite z (the rules need 0 < s* < n - f); give z as a number"
        ))
    }
}

/// `z` of a rule for `n` machines, `f` of them Byzantine (see the module docs).
pub fn z_rule(rule: ZSpec, n: usize, f: usize) -> Result<f64, String> {
    match rule {
        ZSpec::Value(z) => Ok(z),
        _ => rule_probability(rule, n, f).map(normal_quantile),
    }
}

impl AlieParams {
    /// The `z` this attack uses (the number, or the rule at the resolved `n` and `f`).
    pub fn z_value(&self) -> Result<f64, String> {
        z_rule(self.z, self.n.unwrap_or(0), self.f.unwrap_or(0))
    }
}

impl Params for AlieParams {
    fn check(&mut self, ctx: &CheckContext<'_>) -> Result<(), ParamError> {
        if self.ddof > 1 {
            return Err(ParamError::new(
                "ddof",
                format!("expected 0 or 1, got {}", self.ddof),
            ));
        }
        let n = *self.n.get_or_insert(ctx.setting.machines());
        let f = *self.f.get_or_insert(ctx.setting.byzantine);
        if n == 0 {
            return Err(ParamError::new("n", "expected at least 1 machine"));
        }
        if f > n {
            return Err(ParamError::new(
                "f",
                format!("{f} Byzantine machines out of n = {n}"),
            ));
        }
        match self.z {
            ZSpec::Value(z) => ParamError::require_finite("z", z),
            rule => z_rule(rule, n, f)
                .map(|_| ())
                .map_err(|e| ParamError::new("z", e)),
        }
    }
}

impl AttackKind for AlieParams {
    fn build(&self, _: &BuildContext) -> Result<Adversaries, String> {
        let z = self.z_value()?;
        let (sign, ddof) = (self.sign, self.ddof);
        Ok(Adversaries::each(move |_| Alie { z, sign, ddof }))
    }
    fn depends_on(&self) -> Vec<Dependency> {
        Vec::new()
    }
}

/// `mu - z s` (`Minus`) or `mu + z s` (`Plus`) from the round's honest statistics.
pub fn alie_vector(view: &super::RoundView, z: f64, sign: AlieSign, ddof: usize) -> Vector {
    let s = view.honest_std(ddof);
    let k = match sign {
        AlieSign::Minus => -z,
        AlieSign::Plus => z,
    };
    view.honest_mean() + &(s * k)
}

/// ALIE with a fixed `z`.
#[derive(Debug, Clone)]
pub struct Alie {
    /// `z`.
    pub z: f64,
    /// The sign of the shift.
    pub sign: AlieSign,
    /// `ddof` of the standard deviation.
    pub ddof: usize,
}

impl Adversary for Alie {
    fn attack(&mut self, ctx: &mut AttackContext<'_>) -> Option<Vector> {
        Some(alie_vector(ctx.view, self.z, self.sign, self.ddof))
    }
}

/// `Phi^-1(p)`, the quantile of the standard normal distribution, for `0 < p < 1` (`-inf` at 0,
/// `+inf` at 1, NaN outside [0, 1]). Algorithm AS241 `PPND16` (M. J. Wichura, *The Percentage
/// Points of the Normal Distribution*, Applied Statistics 37(3), 1988): rational approximations
/// on three ranges, relative error about 1e-16.
// The coefficients are written with the digits AS241 publishes; they round to the nearest f64.
#[allow(clippy::excessive_precision)]
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    fn poly(c: &[f64], x: f64) -> f64 {
        c.iter().rev().fold(0.0, |acc, &k| acc * x + k)
    }
    const A: [f64; 8] = [
        3.387_132_872_796_366_608,
        1.331_416_678_917_843_774_5e2,
        1.971_590_950_306_551_442_7e3,
        1.373_169_376_550_946_112_5e4,
        4.592_195_393_154_987_145_7e4,
        6.726_577_092_700_870_085_3e4,
        3.343_057_558_358_812_810_5e4,
        2.509_080_928_730_122_672_7e3,
    ];
    const B: [f64; 8] = [
        1.0,
        4.231_333_070_160_091_125_2e1,
        6.871_870_074_920_579_083e2,
        5.394_196_021_424_751_107_7e3,
        2.121_379_430_158_659_586_7e4,
        3.930_789_580_009_271_061e4,
        2.872_908_573_572_194_267_4e4,
        5.226_495_278_852_854_561e3,
    ];
    const C: [f64; 8] = [
        1.423_437_110_749_683_577_34,
        4.630_337_846_156_545_295_9,
        5.769_497_221_460_691_405_5,
        3.647_848_324_763_204_605_04,
        1.270_458_252_452_368_382_58,
        2.417_807_251_774_506_117_7e-1,
        2.272_384_498_926_918_458_33e-2,
        7.745_450_142_783_414_076_4e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.053_191_626_637_758_821_87,
        1.676_384_830_183_803_849_4,
        6.897_673_349_851_000_045_5e-1,
        1.481_039_764_274_800_745_9e-1,
        1.519_866_656_361_645_719_66e-2,
        5.475_938_084_995_344_946e-4,
        1.050_750_071_644_416_843_24e-9,
    ];
    const E: [f64; 8] = [
        6.657_904_643_501_103_777_2,
        5.463_784_911_164_114_369_9,
        1.784_826_539_917_291_335_8,
        2.965_605_718_285_048_912_3e-1,
        2.653_218_952_657_612_309_3e-2,
        1.242_660_947_388_078_438_6e-3,
        2.711_555_568_743_487_578_15e-5,
        2.010_334_399_292_288_132_65e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        5.998_322_065_558_879_376_9e-1,
        1.369_298_809_227_358_053_1e-1,
        1.487_536_129_085_061_485_25e-2,
        7.868_691_311_456_132_591e-4,
        1.846_318_317_510_054_681_8e-5,
        1.421_511_758_316_445_888_7e-7,
        2.044_263_103_389_939_785_64e-15,
    ];
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q * poly(&A, r) / poly(&B, r);
    }
    let r = if q < 0.0 { p } else { 1.0 - p };
    let r = (-r.ln()).sqrt();
    let x = if r <= 5.0 {
        let r = r - 1.6;
        poly(&C, r) / poly(&D, r)
    } else {
        let r = r - 5.0;
        poly(&E, r) / poly(&F, r)
    };
    if q < 0.0 { -x } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attack::tests::{attack_once, reference_view};
    use ndarray::array;

    #[test]
    fn normal_quantile_known_values() {
        // Reference values of Phi^-1 (to 16 digits), one or more in each of AS241's three ranges.
        let known = [
            (0.5, 0.0),
            (0.6, 0.253_347_103_135_799_7),
            (0.75, 0.674_489_750_196_081_7),
            (0.8, 0.841_621_233_572_914_3),
            (0.975, 1.959_963_984_540_054),
            (0.01, -2.326_347_874_040_840_8),
            (0.999, 3.090_232_306_167_813),
            (1e-10, -6.361_340_902_404_056),
            (1e-20, -9.262_340_089_798_408),
        ];
        for (p, want) in known {
            let got = normal_quantile(p);
            assert!(
                (got - want).abs() <= 2e-15 * want.abs().max(1.0),
                "Phi^-1({p}) = {got}, want {want}"
            );
        }
        // Symmetry, the edges, and monotonicity across the range boundaries.
        for p in [0.07, 0.3, 0.0749, 0.015625] {
            assert!((normal_quantile(p) + normal_quantile(1.0 - p)).abs() < 1e-12);
        }
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
        assert!(normal_quantile(1.5).is_nan() && normal_quantile(f64::NAN).is_nan());
        let grid: Vec<f64> = (1..2000)
            .map(|i| normal_quantile(i as f64 / 2000.0))
            .collect();
        assert!(grid.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn z_rules_match_the_reference_table() {
        // (n, f, baruch, karimireddy), from the reference file (4 decimals).
        let table = [
            (25, 5, 0.4677, 0.2533),
            (20, 8, 1.0364, 0.6745),
            (10, 2, 0.2533, 0.0),
            (10, 4, 0.8416, 0.4307),
        ];
        for (n, f, b, k) in table {
            let zb = z_rule(ZSpec::Baruch, n, f).unwrap();
            let zk = z_rule(ZSpec::Karimireddy, n, f).unwrap_or(f64::NAN);
            assert!((zb - b).abs() < 5e-5, "baruch n={n} f={f}: {zb}");
            assert!((zk - k).abs() < 5e-5, "karimireddy n={n} f={f}: {zk}");
        }
        // A Byzantine majority has no finite z.
        let e = z_rule(ZSpec::Baruch, 10, 6).unwrap_err();
        assert!(e.contains("s* = floor(n/2 + 1) - f = 0"), "{e}");
    }

    #[test]
    fn reference_answer_plus_sign_ddof_1() {
        // The reference file's known answer on [1,2,3], [4,5,6], [7,8,9]: z = 1.5, +, ddof 1.
        let mut a = Alie {
            z: 1.5,
            sign: AlieSign::Plus,
            ddof: 1,
        };
        let own = array![0.0, 0.0, 0.0];
        assert_eq!(
            attack_once(&mut a, &reference_view(), &own),
            Some(array![8.5, 9.5, 10.5])
        );
        // The paper's form subtracts; ddof 0 uses the population deviation sqrt(6).
        a.sign = AlieSign::Minus;
        assert_eq!(
            attack_once(&mut a, &reference_view(), &own),
            Some(array![-0.5, 0.5, 1.5])
        );
        a.ddof = 0;
        let got = attack_once(&mut a, &reference_view(), &own).unwrap();
        assert_eq!(got[0], 4.0 - 1.5 * 6f64.sqrt());
    }

    #[test]
    fn z_spec_parses_numbers_and_rules_with_suggestions() {
        let p: AlieParams = serde_json::from_str(r#"{"z": 0.3, "sign": "plus"}"#).unwrap();
        assert_eq!((p.z, p.sign), (ZSpec::Value(0.3), AlieSign::Plus));
        let p: AlieParams = serde_json::from_str(r#"{"z": "karimireddy"}"#).unwrap();
        assert_eq!(p.z, ZSpec::Karimireddy);
        let e = serde_json::from_str::<AlieParams>(r#"{"z": "baruk"}"#).unwrap_err();
        assert!(
            e.to_string().contains("unknown variant `baruk`, expected"),
            "{e}"
        );
        assert_eq!(serde_json::to_string(&ZSpec::Baruch).unwrap(), "\"baruch\"");
        assert_eq!(serde_json::to_string(&ZSpec::Value(0.5)).unwrap(), "0.5");
    }
}
