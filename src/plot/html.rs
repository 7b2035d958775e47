//! Pieces shared by report.html and the comparison's report: the page, figures with captions,
//! tables of rounded numbers (full precision in a tooltip), and a scenario's settings read as
//! plain JSON.

use std::fmt::Write as _;

use super::format::round_sig;
use super::svg::escape;

/// The page's head and style, up to the opening `<body>`.
pub fn page_start(title: &str) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(h, "<title>{}</title>", escape(title));
    h.push_str(
        "<style>\n\
         body{font-family:sans-serif;margin:24px auto;max-width:960px;color:#222;padding:0 12px;line-height:1.4}\n\
         h1{font-size:26px;margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd}\n\
         .status{display:inline-block;padding:2px 10px;border-radius:10px;font-size:16px;\
         vertical-align:middle;color:#fff;background:#777}\n\
         .status.completed{background:#009e73}.status.diverged{background:#d55e00}.status.interrupted{background:#e69f00}\n\
         .verdict{font-size:16px;margin:10px 0 16px}\n\
         .warnings{border-left:4px solid #e69f00;background:#fff8e6;padding:6px 12px;margin:0 0 16px}\n\
         .warnings ul{margin:4px 0}\n\
         table{border-collapse:collapse;margin:8px 0 16px}\n\
         th,td{border:1px solid #ccc;padding:3px 10px;text-align:left;vertical-align:top;font-size:14px}\n\
         th{background:#f3f3f3;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}\n\
         figure{margin:16px 0 30px}figcaption{font-size:14px;color:#444;margin-top:4px}\n\
         figure svg{max-width:100%;height:auto;display:block;border:1px solid #e3e3e3}\n\
         .swatch{display:inline-block;width:14px;height:14px;border-radius:3px;vertical-align:-2px;margin-right:6px}\n\
         pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}\n\
         </style>\n</head>\n<body>\n",
    );
    h
}

/// The end of the page.
pub fn page_end(h: &mut String) {
    h.push_str("</body>\n</html>\n");
}

/// A number for reading, with the full value as a tooltip.
pub fn num(v: f64, sig: usize) -> String {
    let text = round_sig(v, sig);
    if v.is_finite() && text != format!("{v}") {
        format!("<span title=\"{}\">{}</span>", v, escape(&text))
    } else {
        escape(&text)
    }
}

/// A JSON value for reading: numbers rounded, strings bare, null as a dash.
pub fn json_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "—".to_string(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => super::format::int(u),
            (None, Some(i), _) => format!("−{}", super::format::int(i.unsigned_abs())),
            (_, _, Some(f)) => num(f, 6),
            _ => escape(&n.to_string()),
        },
        serde_json::Value::String(s) => escape(s),
        serde_json::Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(json_value).collect();
            format!("[{}]", parts.join(", "))
        }
        serde_json::Value::Object(map) => {
            // `kind` (or `mode`) first, as the name of the thing; then its parameters.
            let mut parts = Vec::new();
            let head = map
                .get("kind")
                .or_else(|| map.get("mode"))
                .and_then(|v| v.as_str())
                .map(|s| format!("<b>{}</b>", escape(s)));
            for (k, v) in map {
                if (k == "kind" || k == "mode") && head.is_some() {
                    continue;
                }
                parts.push(format!("{} = {}", escape(k), json_value(v)));
            }
            match (head, parts.is_empty()) {
                (Some(h), true) => h,
                (Some(h), false) => format!("{h} ({})", parts.join(", ")),
                (None, _) => parts.join(", "),
            }
        }
    }
}

/// The settings table of a scenario read as plain JSON (every kind, even ones this binary does
/// not know, is shown the same way).
pub fn settings_table(scenario: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut h = String::from("<table class=\"settings\">\n");
    for (k, v) in scenario {
        if k == "$schema" {
            continue;
        }
        let _ = writeln!(
            h,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(k),
            json_value(v)
        );
    }
    h.push_str("</table>\n");
    h
}

/// A figure: the SVG inline, a caption, and the file it came from.
///
/// The SVG's ids (its clip paths) are prefixed with the figure's anchor: ids are global to an
/// HTML page, and two inline figures with the same `clip1` would clip each other's curves.
pub fn figure(h: &mut String, number: usize, file: &str, svg: &str, caption: &str) {
    let id = anchor(file);
    let _ = writeln!(
        h,
        "<figure id=\"{}\" data-file=\"{}\">",
        escape(&id),
        escape(file)
    );
    h.push_str(&inline_svg(file, svg));
    h.push('\n');
    let _ = writeln!(
        h,
        "<figcaption><b>Figure {number}.</b> {} <i>({})</i></figcaption>\n</figure>",
        caption,
        escape(file)
    );
}

/// The SVG of `file` as a page inlines it: trimmed, its ids prefixed with the file's anchor.
pub fn inline_svg(file: &str, svg: &str) -> String {
    let id = anchor(file);
    svg.trim_end()
        .replace("id=\"clip", &format!("id=\"{id}-clip"))
        .replace("url(#clip", &format!("url(#{id}-clip"))
}

/// An HTML id for a file name.
pub fn anchor(file: &str) -> String {
    file.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_read_as_plain_json() {
        let v = json!({"$schema": "x", "name": "q", "seed": 7,
            "problem": {"kind": "my_user_problem", "dim": 10, "noise": {"kind": "bounded", "radius": 1.0}},
            "optimizer": {"lr": 0.02, "perturbation": 0.1},
            "aggregator": {"kind": "mean"}});
        let t = settings_table(v.as_object().unwrap());
        assert!(!t.contains("$schema"));
        assert!(
            t.contains("<b>my_user_problem</b> (dim = 10, noise = <b>bounded</b> (radius = 1))"),
            "{t}"
        );
        assert!(t.contains("lr = 0.02, perturbation = 0.1"));
        assert!(t.contains("<td><b>mean</b></td>"));
        assert_eq!(
            json_value(&json!(20615.843344329594)),
            "<span title=\"20615.843344329594\">20\u{2009}615.8</span>"
        );
    }
}
