//! The sweep's `report.html`: one self-contained page with the comparison tables, the heatmap,
//! the rate figure (when there is one) and the overlays with their captions, and a link to every
//! cell's own report. Every link names a file of the sweep directory.

use std::fmt::Write as _;

use super::figures::Figure;
use super::table::Comparison;
use crate::plot::html;
use crate::plot::svg::escape;

/// The report page of a sweep, with `figures` (already written beside it).
pub fn html(c: &Comparison, figures: &[Figure]) -> String {
    let name = escape(&c.layout.name);
    let mut out = html::page_start(&format!("{}: sweep - safeguard-sim", c.layout.name));
    let n = c.seeds();
    let _ = writeln!(
        out,
        "<h1>{name}</h1>\n<p>{} cells ({} key{}: {}); every entry is the mean ± the sample \
         standard deviation over {n} seed{}. Full precision: <a href=\"comparison.csv\">\
         comparison.csv</a>; the same tables in markdown: <a href=\"comparison.md\">comparison.md\
         </a>; the sweep file, normalised: <a href=\"sweep.json\">sweep.json</a>.</p>",
        c.layout.cells.len(),
        c.layout.keys.len(),
        if c.layout.keys.len() == 1 { "" } else { "s" },
        c.layout
            .keys
            .iter()
            .map(|k| format!("<code>{}</code>", escape(&k.path)))
            .collect::<Vec<_>>()
            .join(", "),
        if n == 1 { "" } else { "s" },
    );
    if let Some(t) = &c.layout.target {
        let _ = writeln!(
            out,
            "<p>Target: the {} (<code>rounds_to_target</code> in comparison.csv).</p>",
            escape(&t.describe())
        );
    }
    let diverged = c.results.iter().filter(|r| r.status == "diverged").count();
    if diverged > 0 {
        let _ = writeln!(
            out,
            "<div class=\"warnings\">{diverged} of {} cells diverged: their final losses are \
             those of the diverged state. Tables say how many seeds diverged in each entry.</div>",
            c.results.len()
        );
    }
    let figure_list: Vec<String> = figures
        .iter()
        .map(|f| {
            format!(
                "<a href=\"#{}\">{}</a>",
                escape(&html::anchor(&f.file)),
                escape(&f.file)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "<p>Figures: {}. Cells: <a href=\"#cells\">every cell's report</a>.</p>",
        figure_list.join(", ")
    );
    out.push_str("<h2 id=\"tables\">Tables</h2>\n");
    for t in c.tables() {
        let _ = writeln!(out, "<h3>{}</h3>\n<table>", escape(&t.title));
        out.push_str("<tr>");
        for h in &t.header {
            let _ = write!(out, "<th>{}</th>", escape(h));
        }
        out.push_str("</tr>\n");
        for r in &t.rows {
            out.push_str("<tr>");
            for (i, v) in r.iter().enumerate() {
                if i == 0 {
                    let _ = write!(out, "<th>{}</th>", escape(v));
                } else {
                    let _ = write!(out, "<td class=\"num\">{}</td>", escape(v));
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2 id=\"figures\">Figures</h2>\n");
    for (k, f) in figures.iter().enumerate() {
        html::figure(&mut out, k + 1, &f.file, &f.svg, &f.caption);
    }
    out.push_str("<h2 id=\"cells\">Cells</h2>\n<table>\n<tr><th>cell</th><th>status</th><th>rounds</th><th>final loss</th><th>expelled (Byzantine / honest)</th></tr>\n");
    for (cell, r) in c.layout.cells.iter().zip(&c.results) {
        let n = escape(&cell.name);
        let _ = writeln!(
            out,
            "<tr><td><a href=\"cells/{n}/report.html\">{n}</a></td><td><span class=\"status {s}\">{s}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} / {}</td></tr>",
            super::table::readable(r.rounds),
            html::num(r.final_loss, 5),
            super::table::readable(r.expelled_byzantine),
            super::table::readable(r.expelled_honest),
            s = escape(&r.status),
        );
    }
    out.push_str("</table>\n");
    html::page_end(&mut out);
    out
}
