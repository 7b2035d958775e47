//! The sweep's `report.html`: one self-contained page with the comparison tables and a link to
//! every cell's own report.

use super::table::Comparison;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report page of a sweep.
pub fn html(c: &Comparison) -> String {
    let name = escape(&c.layout.name);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{name}: sweep</title>\n<style>\nbody {{ font-family: sans-serif; margin: 2em auto; max-width: 72em; color: #222; }}\ntable {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}\nth, td {{ border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; }}\nth:first-child, td:first-child {{ text-align: left; }}\nthead th {{ background: #f0f0f0; }}\n</style>\n</head>\n<body>\n<h1>{name}</h1>\n<p>{} cells; every entry is the mean ± standard deviation over {} seed(s). Full precision: <a href=\"comparison.csv\">comparison.csv</a>; the same tables in markdown: <a href=\"comparison.md\">comparison.md</a>.</p>\n",
        c.layout.cells.len(),
        c.seeds()
    );
    for t in c.tables() {
        out.push_str(&format!(
            "<h2>{}</h2>\n<table>\n<thead><tr>",
            escape(&t.title)
        ));
        for h in &t.header {
            out.push_str(&format!("<th>{}</th>", escape(h)));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for r in &t.rows {
            out.push_str("<tr>");
            for (i, v) in r.iter().enumerate() {
                let tag = if i == 0 { "th" } else { "td" };
                out.push_str(&format!("<{tag}>{}</{tag}>", escape(v)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("<h2>Cells</h2>\n<ul>\n");
    for (cell, r) in c.layout.cells.iter().zip(&c.results) {
        let n = escape(&cell.name);
        out.push_str(&format!(
            "<li><a href=\"cells/{n}/report.html\">{n}</a>: {}</li>\n",
            escape(&r.status)
        ));
    }
    out.push_str("</ul>\n</body>\n</html>\n");
    out
}
