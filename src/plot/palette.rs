//! Colours, used the same way in every figure.
//!
//! The palette is Okabe & Ito's (*Color Universal Design*, 2008), which stays distinguishable
//! for the common forms of colour blindness. Its roles here never change:
//! - honest machines: [`HONEST`] (blue); Byzantine machines: [`BYZANTINE`] (vermillion);
//! - the reference machine of the safeguard: [`REFERENCE`] (bluish green);
//! - faults: [`FAULT`] (reddish purple);
//! - thresholds, the known minimum and single-run curves: [`BLACK`] and greys;
//! - runs in a comparison: [`RUN_COLORS`], in order;
//! - level sets of a loss surface: [`viridis`] (perceptually uniform, colour-blind safe).

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(pub u8, pub u8, pub u8);

impl Color {
    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// Okabe-Ito black.
pub const BLACK: Color = Color(0, 0, 0);
/// Okabe-Ito orange.
pub const ORANGE: Color = Color(0xE6, 0x9F, 0x00);
/// Okabe-Ito sky blue.
pub const SKY_BLUE: Color = Color(0x56, 0xB4, 0xE9);
/// Okabe-Ito bluish green.
pub const BLUISH_GREEN: Color = Color(0x00, 0x9E, 0x73);
/// Okabe-Ito yellow.
pub const YELLOW: Color = Color(0xF0, 0xE4, 0x42);
/// Okabe-Ito blue.
pub const BLUE: Color = Color(0x00, 0x72, 0xB2);
/// Okabe-Ito vermillion.
pub const VERMILLION: Color = Color(0xD5, 0x5E, 0x00);
/// Okabe-Ito reddish purple.
pub const REDDISH_PURPLE: Color = Color(0xCC, 0x79, 0xA7);

/// Honest machines.
pub const HONEST: Color = BLUE;
/// Byzantine machines.
pub const BYZANTINE: Color = VERMILLION;
/// The safeguard's reference machine.
pub const REFERENCE: Color = BLUISH_GREEN;
/// Faults (misbehaving replies).
pub const FAULT: Color = REDDISH_PURPLE;
/// Start of a trajectory.
pub const START: Color = BLUISH_GREEN;
/// Minima of a loss surface.
pub const MINIMUM: Color = ORANGE;
/// Axis lines and text.
pub const AXIS: Color = Color(0x33, 0x33, 0x33);
/// Secondary text.
pub const GREY_TEXT: Color = Color(0x5a, 0x5a, 0x5a);
/// Grid lines.
pub const GRID: Color = Color(0xe4, 0xe4, 0xe4);
/// Shading of a zoomed span.
pub const SHADE: Color = Color(0xee, 0xee, 0xee);

/// One colour per run in a comparison, in order (yellow last: it is faint on white).
pub const RUN_COLORS: [Color; 8] = [
    BLUE,
    ORANGE,
    BLUISH_GREEN,
    REDDISH_PURPLE,
    VERMILLION,
    SKY_BLUE,
    BLACK,
    YELLOW,
];

/// The colour of run `i` in a comparison (the palette repeats after eight runs).
pub fn run_color(i: usize) -> Color {
    RUN_COLORS[i % RUN_COLORS.len()]
}

/// The viridis colour map (van der Walt & Smith, 2015) at `t` in [0, 1], from dark purple (low)
/// to yellow (high), interpolated between nine stops.
pub fn viridis(t: f64) -> Color {
    const STOPS: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 44.0, 122.0),
        (59.0, 81.0, 139.0),
        (44.0, 113.0, 142.0),
        (33.0, 144.0, 141.0),
        (39.0, 173.0, 129.0),
        (92.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let k = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - k as f64;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    let mix = |p: f64, q: f64| (p + f * (q - p)).round().clamp(0.0, 255.0) as u8;
    Color(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_ramp_ends() {
        assert_eq!(VERMILLION.hex(), "#d55e00");
        assert_eq!(viridis(0.0), Color(68, 1, 84));
        assert_eq!(viridis(1.0), Color(253, 231, 37));
        assert_eq!(viridis(f64::NAN), Color(68, 1, 84));
        assert_eq!(run_color(8), run_color(0));
    }
}
