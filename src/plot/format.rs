//! Numbers for people: tick labels and rounded values, in one style everywhere.
//!
//! - Minus is the typographic `−`; powers of ten are written `10⁵`, `2.5×10⁻³`.
//! - Plain decimals between 10⁻³ and 10⁶, grouped by thin spaces from 10 000 (`200 000`).
//! - Tick labels of one axis share one format (the same number of decimals, or all powers).
//!
//! Full precision stays in the CSV and JSON files; these are for reading.

/// Unicode superscript of an integer exponent.
fn superscript(e: i32) -> String {
    let digits = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let mut s = String::new();
    if e < 0 {
        s.push('⁻');
    }
    for ch in e.unsigned_abs().to_string().chars() {
        let d = ch.to_digit(10).unwrap_or(0) as usize;
        s.push(digits[d]);
    }
    s
}

/// `10ᵉ`.
pub fn power_of_ten(e: i32) -> String {
    format!("10{}", superscript(e))
}

/// Replace a leading `-` with the typographic minus.
fn minus(s: String) -> String {
    match s.strip_prefix('-') {
        Some(rest) => format!("−{rest}"),
        None => s,
    }
}

/// Group the integer part of a plain decimal by thin spaces when it has five digits or more.
fn group(s: &str) -> String {
    let (sign, body) = match s.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int.len() < 5 {
        return s.to_string();
    }
    let mut out = String::new();
    for (k, ch) in int.chars().enumerate() {
        if k > 0 && (int.len() - k).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(ch);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

/// `mantissa×10ᵉ` with `decimals` decimals in the mantissa (`1×10⁶` is written `10⁶`).
fn scientific(v: f64, e: i32, decimals: usize) -> String {
    let m = v / 10f64.powi(e);
    let ms = format!("{m:.decimals$}");
    if ms == "1" || ms == "-1" {
        return minus(format!(
            "{}{}",
            if m < 0.0 { "-" } else { "" },
            power_of_ten(e)
        ));
    }
    minus(format!("{ms}×{}", power_of_ten(e)))
}

/// `v` rounded to `sig` significant digits, for reading (tables, legends, captions).
pub fn round_sig(v: f64, sig: usize) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "∞" } else { "−∞" }.to_string();
    }
    let sig = sig.max(1);
    let e = v.abs().log10().floor() as i32;
    // Rounding may carry into the next power (9.9996 -> 10.00).
    let rounded: f64 = format!("{:.*e}", sig - 1, v).parse().unwrap_or(v);
    let e = if rounded.abs() >= 10f64.powi(e + 1) {
        e + 1
    } else {
        e
    };
    if !(-3..6).contains(&e) {
        let s = scientific(rounded, e, sig - 1);
        return trim_mantissa(&s);
    }
    let decimals = (sig as i32 - 1 - e).max(0) as usize;
    let s = format!("{rounded:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    minus(group(&s))
}

/// Drop trailing zeros of a scientific mantissa (`2.50×10⁷` -> `2.5×10⁷`).
fn trim_mantissa(s: &str) -> String {
    match s.split_once('×') {
        Some((m, rest)) if m.contains('.') => {
            let m = m.trim_end_matches('0').trim_end_matches('.');
            if m == "1" || m == "−1" {
                format!("{}{rest}", m.trim_end_matches('1'))
            } else {
                format!("{m}×{rest}")
            }
        }
        _ => s.to_string(),
    }
}

/// An integer for reading (`20 616`).
pub fn int(v: u64) -> String {
    group(&v.to_string())
}

/// Labels for linear ticks `values` spaced by `step`: one format for the whole axis.
pub fn linear_labels(values: &[f64], step: f64) -> Vec<String> {
    let max_abs = values.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let step = step.abs();
    if max_abs == 0.0 || !step.is_finite() || step == 0.0 {
        return values.iter().map(|_| "0".to_string()).collect();
    }
    let e_max = max_abs.log10().floor() as i32;
    let e_step = step.log10().floor() as i32;
    if !(-3..6).contains(&e_max) {
        let decimals = (e_max - e_step).clamp(0, 6) as usize;
        return values
            .iter()
            .map(|&v| {
                if v.abs() < step * 1e-6 {
                    "0".to_string()
                } else {
                    scientific(v, e_max, decimals)
                }
            })
            .collect();
    }
    // A step of 2.5 (or 0.25...) needs one decimal more than its power.
    let extra =
        i32::from((step / 10f64.powi(e_step) - (step / 10f64.powi(e_step)).round()).abs() > 1e-9);
    let decimals = (-e_step + extra).clamp(0, 12) as usize;
    values
        .iter()
        .map(|&v| {
            let v = if v.abs() < step * 1e-6 { 0.0 } else { v };
            minus(group(&format!("{v:.decimals$}")))
        })
        .collect()
}

/// Labels for logarithmic ticks (each a mantissa 1, 2 or 5 times a power of ten): plain
/// decimals when every tick lies in [10⁻³, 10⁴], powers of ten otherwise.
pub fn log_labels(values: &[f64]) -> Vec<String> {
    let plain = values
        .iter()
        .all(|&v| v == 0.0 || (1e-3 * 0.999..=1e4 * 1.001).contains(&v.abs()));
    values
        .iter()
        .map(|&v| {
            if v == 0.0 {
                return "0".to_string();
            }
            let e = v.abs().log10().floor() as i32;
            let m = (v.abs() / 10f64.powi(e)).round();
            // Guard against 9.999... rounding.
            let (m, e) = if m >= 10.0 { (1.0, e + 1) } else { (m, e) };
            let sign = if v < 0.0 { "−" } else { "" };
            if plain {
                let decimals = (-e).max(0) as usize;
                format!(
                    "{sign}{}",
                    group(&format!("{:.decimals$}", m * 10f64.powi(e)))
                )
            } else if m == 1.0 {
                format!("{sign}{}", power_of_ten(e))
            } else {
                format!("{sign}{m}×{}", power_of_ten(e))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounded_values_read_well() {
        assert_eq!(round_sig(20615.843344329594, 4), "20\u{2009}620");
        assert_eq!(round_sig(-0.4988776866882437, 4), "−0.4989");
        assert_eq!(round_sig(0.053261343907694214, 3), "0.0533");
        assert_eq!(round_sig(5.3e11, 3), "5.3×10¹¹");
        assert_eq!(round_sig(1e-7, 3), "10⁻⁷");
        assert_eq!(round_sig(9.99996, 4), "10");
        assert_eq!(round_sig(0.0, 4), "0");
        assert_eq!(round_sig(1.5, 4), "1.5");
        assert_eq!(round_sig(f64::INFINITY, 4), "∞");
        assert_eq!(int(3000), "3000");
        assert_eq!(int(200000), "200\u{2009}000");
    }

    #[test]
    fn linear_ticks_share_one_format() {
        assert_eq!(
            linear_labels(&[0.0, 0.5, 1.0, 1.5], 0.5),
            vec!["0.0", "0.5", "1.0", "1.5"]
        );
        assert_eq!(
            linear_labels(&[0.0, 50000.0, 100000.0], 50000.0),
            vec!["0", "50\u{2009}000", "100\u{2009}000"]
        );
        assert_eq!(
            linear_labels(&[0.0, 1e6, 2e6], 1e6),
            vec!["0", "10⁶", "2×10⁶"]
        );
        assert_eq!(
            linear_labels(&[-0.5, -0.25, 0.0], 0.25),
            vec!["−0.50", "−0.25", "0.00"]
        );
        assert_eq!(
            linear_labels(&[0.0, 1e-4, 2e-4], 1e-4),
            vec!["0", "10⁻⁴", "2×10⁻⁴"]
        );
    }

    #[test]
    fn log_ticks_are_decades_or_1_2_5() {
        assert_eq!(
            log_labels(&[0.01, 0.1, 1.0, 10.0]),
            vec!["0.01", "0.1", "1", "10"]
        );
        assert_eq!(
            log_labels(&[1e-5, 1e-3, 0.1, 10.0]),
            vec!["10⁻⁵", "10⁻³", "10⁻¹", "10¹"]
        );
        assert_eq!(
            log_labels(&[0.2, 0.5, 1.0, 2.0]),
            vec!["0.2", "0.5", "1", "2"]
        );
        assert_eq!(log_labels(&[2e-5, 5e-5]), vec!["2×10⁻⁵", "5×10⁻⁵"]);
        assert_eq!(log_labels(&[0.0, -1e6, 1e6]), vec!["0", "−10⁶", "10⁶"]);
    }
}
