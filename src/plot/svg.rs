//! A small SVG writer: the few elements the charts need, written deterministically.
//!
//! Coordinates are written with one decimal (a tenth of a pixel), so the same drawing always
//! gives the same bytes. Text is escaped. Every element may carry a `class`, which names what it
//! shows (`series loss`, `tick-x`, ...): tests and users can find things by meaning.

use std::fmt::Write as _;

use super::palette::Color;

/// Escape text for XML and HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate as text: one decimal, no `-0.0`, finite (non-finite values become 0).
fn c(v: f64) -> String {
    let v = if v.is_finite() {
        v.clamp(-1e7, 1e7)
    } else {
        0.0
    };
    let s = format!("{v:.1}");
    let s = s.strip_suffix(".0").unwrap_or(&s).to_string();
    if s == "-0" { "0".to_string() } else { s }
}

/// How a line is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Stroke {
    /// Colour.
    pub color: Color,
    /// Width in pixels.
    pub width: f64,
    /// Dash pattern (`"6 4"`), or solid.
    pub dash: Option<&'static str>,
    /// Opacity in [0, 1].
    pub opacity: f64,
}

impl Stroke {
    /// A solid line.
    pub fn solid(color: Color, width: f64) -> Self {
        Stroke {
            color,
            width,
            dash: None,
            opacity: 1.0,
        }
    }
    /// A dashed line.
    pub fn dashed(color: Color, width: f64, dash: &'static str) -> Self {
        Stroke {
            dash: Some(dash),
            ..Stroke::solid(color, width)
        }
    }
    /// The same line with another opacity.
    pub fn alpha(self, opacity: f64) -> Self {
        Stroke { opacity, ..self }
    }
    fn attrs(&self) -> String {
        let mut s = format!(
            "fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"",
            self.color.hex(),
            c(self.width)
        );
        if let Some(d) = self.dash {
            let _ = write!(s, " stroke-dasharray=\"{d}\"");
        }
        if self.opacity < 1.0 {
            let _ = write!(s, " stroke-opacity=\"{:.2}\"", self.opacity.max(0.0));
        }
        s
    }
}

/// Horizontal anchor of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// Text starts at x.
    Start,
    /// Text is centred on x.
    Middle,
    /// Text ends at x.
    End,
}

/// How a text is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Font {
    /// Size in pixels.
    pub size: f64,
    /// Colour.
    pub color: Color,
    /// Anchor.
    pub anchor: Anchor,
    /// Bold.
    pub bold: bool,
    /// A white outline behind the glyphs, so the text stays readable over lines.
    pub halo: bool,
}

impl Font {
    /// A plain text of `size` pixels, anchored at its start.
    pub fn new(size: f64, color: Color) -> Self {
        Font {
            size,
            color,
            anchor: Anchor::Start,
            bold: false,
            halo: false,
        }
    }
    /// The same font with another anchor.
    pub fn anchor(self, anchor: Anchor) -> Self {
        Font { anchor, ..self }
    }
    /// The same font in bold.
    pub fn bold(self) -> Self {
        Font { bold: true, ..self }
    }
    /// The same font with a white halo.
    pub fn halo(self) -> Self {
        Font { halo: true, ..self }
    }
}

/// The estimated width of `text` in pixels at `size` (sans-serif; enough for layout).
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars()
        .map(|ch| match ch {
            'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | ' ' | '(' | ')' => 0.30,
            'f' | 't' | 'r' | 'I' | '-' | '/' | '[' | ']' => 0.38,
            'm' | 'w' | 'M' | 'W' | '—' | '×' => 0.85,
            '0'..='9' => 0.56,
            c if c.is_uppercase() => 0.66,
            _ => 0.53,
        })
        .sum::<f64>()
        * size
        * 1.06
}

/// An SVG document being written.
pub struct Svg {
    buf: String,
    clips: usize,
    open_groups: usize,
}

impl Svg {
    /// A white document of `width` x `height` pixels; `class` names the figure.
    pub fn new(width: f64, height: f64, class: &str) -> Self {
        let mut buf = String::with_capacity(64 * 1024);
        let _ = writeln!(
            buf,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" class=\"{}\">",
            escape(class),
            w = c(width),
            h = c(height),
        );
        let _ = writeln!(
            buf,
            "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>",
            c(width),
            c(height)
        );
        Svg {
            buf,
            clips: 0,
            open_groups: 0,
        }
    }

    fn class_attr(class: &str) -> String {
        if class.is_empty() {
            String::new()
        } else {
            format!(" class=\"{}\"", escape(class))
        }
    }

    /// A straight line.
    pub fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), s: Stroke, class: &str) {
        let _ = writeln!(
            self.buf,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" {}{}/>",
            c(x1),
            c(y1),
            c(x2),
            c(y2),
            s.attrs(),
            Self::class_attr(class)
        );
    }

    /// A polyline through `points` (pixels); points closer than a tenth of a pixel to the
    /// previous one are dropped. Nothing is written for fewer than two distinct points.
    pub fn polyline(&mut self, points: &[(f64, f64)], s: Stroke, class: &str) {
        let text = points_text(points);
        if text.1 < 2 {
            return;
        }
        let _ = writeln!(
            self.buf,
            "<polyline points=\"{}\" {} stroke-linejoin=\"round\"{}/>",
            text.0,
            s.attrs(),
            Self::class_attr(class)
        );
    }

    /// Several polylines as one `<path>` element (one subpath each).
    pub fn multi_polyline(&mut self, pieces: &[Vec<(f64, f64)>], s: Stroke, class: &str) {
        let mut d = String::new();
        for piece in pieces {
            let (text, n) = points_text(piece);
            if n < 2 {
                continue;
            }
            for (k, p) in text.split(' ').enumerate() {
                if !d.is_empty() {
                    d.push(' ');
                }
                d.push(if k == 0 { 'M' } else { 'L' });
                d.push_str(&p.replace(',', " "));
            }
        }
        if d.is_empty() {
            return;
        }
        let _ = writeln!(
            self.buf,
            "<path d=\"{d}\" {} stroke-linejoin=\"round\" stroke-linecap=\"round\"{}/>",
            s.attrs(),
            Self::class_attr(class)
        );
    }

    /// A filled polygon.
    pub fn polygon(&mut self, points: &[(f64, f64)], fill: Color, opacity: f64, class: &str) {
        let text = points_text(points);
        if text.1 < 3 {
            return;
        }
        let _ = writeln!(
            self.buf,
            "<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"{:.2}\" stroke=\"none\"{}/>",
            text.0,
            fill.hex(),
            opacity,
            Self::class_attr(class)
        );
    }

    /// A rectangle, filled and/or outlined.
    pub fn rect(
        &mut self,
        (x, y): (f64, f64),
        (w, h): (f64, f64),
        fill: Option<(Color, f64)>,
        stroke: Option<Stroke>,
        class: &str,
    ) {
        let fill_attr = match fill {
            Some((col, op)) if op < 1.0 => {
                format!("fill=\"{}\" fill-opacity=\"{:.2}\"", col.hex(), op)
            }
            Some((col, _)) => format!("fill=\"{}\"", col.hex()),
            None => "fill=\"none\"".to_string(),
        };
        let stroke_attr = match stroke {
            Some(s) => {
                let a = s.attrs();
                a.replacen("fill=\"none\" ", "", 1)
            }
            None => String::new(),
        };
        let _ = writeln!(
            self.buf,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {fill_attr} {stroke_attr}{}/>",
            c(x),
            c(y),
            c(w.max(0.0)),
            c(h.max(0.0)),
            Self::class_attr(class)
        );
    }

    /// A filled circle (with an optional outline).
    pub fn circle(
        &mut self,
        (x, y): (f64, f64),
        r: f64,
        fill: Color,
        stroke: Option<Stroke>,
        class: &str,
    ) {
        let stroke_attr = stroke.map_or(String::new(), |s| {
            format!(" {}", s.attrs().replacen("fill=\"none\" ", "", 1))
        });
        let _ = writeln!(
            self.buf,
            "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\"{stroke_attr}{}/>",
            c(x),
            c(y),
            c(r),
            fill.hex(),
            Self::class_attr(class)
        );
    }

    /// A text; `rotate` turns it by -90 degrees around its anchor (for vertical axis titles).
    /// `title` adds a tooltip (the full-precision value, for instance).
    pub fn text(&mut self, (x, y): (f64, f64), text: &str, font: Font, rotate: bool, class: &str) {
        let anchor = match font.anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let mut attrs = format!(
            "x=\"{}\" y=\"{}\" font-size=\"{}\" fill=\"{}\" text-anchor=\"{anchor}\" dominant-baseline=\"central\"",
            c(x),
            c(y),
            c(font.size),
            font.color.hex()
        );
        if font.bold {
            attrs.push_str(" font-weight=\"bold\"");
        }
        if font.halo {
            attrs.push_str(
                " stroke=\"#ffffff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\"",
            );
        }
        if rotate {
            let _ = write!(attrs, " transform=\"rotate(-90 {} {})\"", c(x), c(y));
        }
        let _ = writeln!(
            self.buf,
            "<text {attrs}{}>{}</text>",
            Self::class_attr(class),
            escape(text)
        );
    }

    /// Open a group clipped to a rectangle (closed by [`Svg::end_group`]).
    pub fn begin_clip(&mut self, (x, y): (f64, f64), (w, h): (f64, f64)) {
        self.clips += 1;
        let id = format!("clip{}", self.clips);
        let _ = writeln!(
            self.buf,
            "<clipPath id=\"{id}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>",
            c(x),
            c(y),
            c(w.max(0.0)),
            c(h.max(0.0))
        );
        let _ = writeln!(self.buf, "<g clip-path=\"url(#{id})\">");
        self.open_groups += 1;
    }

    /// Open a plain group with a class (closed by [`Svg::end_group`]).
    pub fn begin_group(&mut self, class: &str) {
        let _ = writeln!(self.buf, "<g{}>", Self::class_attr(class));
        self.open_groups += 1;
    }

    /// Close the last group opened.
    pub fn end_group(&mut self) {
        if self.open_groups > 0 {
            self.open_groups -= 1;
            self.buf.push_str("</g>\n");
        }
    }

    /// The finished document (open groups are closed).
    pub fn finish(mut self) -> String {
        while self.open_groups > 0 {
            self.end_group();
        }
        self.buf.push_str("</svg>\n");
        self.buf
    }
}

/// The `points` attribute of a polyline and the number of points kept.
fn points_text(points: &[(f64, f64)]) -> (String, usize) {
    let mut s = String::with_capacity(points.len() * 12);
    let mut last: Option<(String, String)> = None;
    let mut n = 0;
    for &(x, y) in points {
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let p = (c(x), c(y));
        if last.as_ref() == Some(&p) {
            continue;
        }
        if n > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{},{}", p.0, p.1);
        last = Some(p);
        n += 1;
    }
    (s, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::palette::BLACK;

    #[test]
    fn coordinates_are_short_and_finite() {
        assert_eq!(c(1.04), "1");
        assert_eq!(c(-0.04), "0");
        assert_eq!(c(12.345), "12.3");
        assert_eq!(c(f64::NAN), "0");
        assert_eq!(c(1e300), "10000000");
    }

    #[test]
    fn document_is_closed_and_escaped() {
        let mut s = Svg::new(100.0, 50.0, "t");
        s.begin_clip((0.0, 0.0), (10.0, 10.0));
        s.text(
            (1.0, 2.0),
            "a<b&c",
            Font::new(12.0, BLACK),
            false,
            "x \"y\"",
        );
        s.polyline(
            &[(0.0, 0.0), (0.01, 0.0), (5.0, f64::NAN), (1.0, 1.0)],
            Stroke::solid(BLACK, 1.0),
            "",
        );
        let text = s.finish();
        assert!(text.contains("a&lt;b&amp;c"));
        assert!(text.contains("class=\"x &quot;y&quot;\""));
        assert!(text.contains("points=\"0,0 1,1\""));
        assert!(text.trim_end().ends_with("</g>\n</svg>") || text.trim_end().ends_with("</svg>"));
        assert_eq!(text.matches("<g").count(), text.matches("</g>").count());
    }
}
