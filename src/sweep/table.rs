//! The comparison of a sweep's cells: `comparison.csv` (one row per cell, then the mean and
//! standard deviation over seeds of each group of cells that differ only in their seed) and
//! `comparison.md` (the paper's table form: defenses as rows, attacks as columns).
//!
//! Everything here is read back from the cells' files (`summary.json`, `rounds.csv`) in grid
//! order, so the comparison depends only on the cells' results: not on `--jobs`, on an
//! interruption and `--resume`, or on sharding and `merge`. Numbers in the CSV are at full
//! round-trip precision; the markdown rounds them for reading.

use super::{Layout, Target};
use crate::error::Error;
use crate::record::fmt_f64;
use serde_json::Value;
use std::path::Path;

/// What one cell's run ended with.
#[derive(Debug, Clone, PartialEq)]
pub struct CellResult {
    /// `completed`, `diverged` or `interrupted`.
    pub status: String,
    /// Rounds run.
    pub rounds: f64,
    /// The loss of the last row of rounds.csv (the last round run; may be infinite).
    pub final_loss: f64,
    /// The smallest loss of rounds.csv.
    pub best_loss: f64,
    /// The last test accuracy of rounds.csv, for problems that report one.
    pub final_accuracy: Option<f64>,
    /// The best test accuracy of rounds.csv (the paper's Table 1 metric).
    pub best_accuracy: Option<f64>,
    /// Byzantine machines expelled.
    pub expelled_byzantine: f64,
    /// Honest machines expelled.
    pub expelled_honest: f64,
    /// The problem's known minimum (summary.json's `known_min_loss`), when it has one.
    pub known_min: Option<f64>,
    /// The machines of the cell's scenario: `(honest, byzantine)` (scenario.json's `workers`).
    pub workers: Option<(u64, u64)>,
    /// With a sweep target: the round the cell reached it (None: not reached, or no target).
    pub rounds_to_target: Option<f64>,
    /// With a sweep target: 1 when the cell reached it, 0 when not (None without a target).
    pub target_reached: Option<f64>,
}

/// A sweep's results, cell by cell in grid order.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The sweep's keys and cells.
    pub layout: Layout,
    /// One result per cell of `layout`, same order.
    pub results: Vec<CellResult>,
}

/// One metric of the comparison: its CSV column and how to read it from a cell.
struct Metric {
    column: &'static str,
    title: &'static str,
    get: fn(&CellResult) -> Option<f64>,
    /// Test accuracy (shown only when the problem reports one), as a percentage in tables.
    percent: bool,
    /// Shown only when the sweep has a target.
    target: bool,
    /// In tables, only when it is worth a table of its own (the 0/1 `target_reached` is said in
    /// the entries of `rounds_to_target`).
    table: bool,
}

const METRICS: [Metric; 8] = [
    Metric {
        column: "final_loss",
        title: "final loss",
        get: |r| Some(r.final_loss),
        percent: false,
        target: false,
        table: true,
    },
    Metric {
        column: "best_loss",
        title: "best loss",
        get: |r| Some(r.best_loss),
        percent: false,
        target: false,
        table: true,
    },
    Metric {
        column: "final_accuracy",
        title: "final test accuracy (%)",
        get: |r| r.final_accuracy,
        percent: true,
        target: false,
        table: true,
    },
    Metric {
        column: "best_accuracy",
        title: "best test accuracy (%)",
        get: |r| r.best_accuracy,
        percent: true,
        target: false,
        table: true,
    },
    Metric {
        column: "expelled_byzantine",
        title: "Byzantine machines expelled",
        get: |r| Some(r.expelled_byzantine),
        percent: false,
        target: false,
        table: true,
    },
    Metric {
        column: "expelled_honest",
        title: "honest machines expelled",
        get: |r| Some(r.expelled_honest),
        percent: false,
        target: false,
        table: true,
    },
    Metric {
        column: "rounds_to_target",
        title: "rounds to reach the target",
        get: |r| r.rounds_to_target,
        percent: false,
        target: true,
        table: true,
    },
    Metric {
        column: "target_reached",
        title: "target reached",
        get: |r| r.target_reached,
        percent: false,
        target: true,
        table: false,
    },
];

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::Plot(crate::plot::PlotError::Json {
        path: path.to_path_buf(),
        message: message.into(),
    })
}

/// Read one cell's result from its run directory; with `target`, the round it reached it.
pub fn read_cell(dir: &Path, target: Option<&Target>) -> Result<CellResult, Error> {
    let summary_path = dir.join("summary.json");
    let text = std::fs::read_to_string(&summary_path).map_err(|e| Error::io(&summary_path, e))?;
    let summary: Value =
        serde_json::from_str(&text).map_err(|e| bad(&summary_path, e.to_string()))?;
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let rounds_path = dir.join("rounds.csv");
    let csv = std::fs::read_to_string(&rounds_path).map_err(|e| Error::io(&rounds_path, e))?;
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (loss_col, acc_col) = (col("loss"), col("accuracy"));
    let (mut final_loss, mut best_loss) = (f64::NAN, f64::INFINITY);
    let (mut final_acc, mut best_acc) = (None, None::<f64>);
    let mut losses: Vec<(i64, f64)> = Vec::new();
    let round_col = col("round");
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let value = |c: Option<usize>| -> Result<Option<f64>, Error> {
            match c.and_then(|c| fields.get(c)) {
                None | Some(&"") => Ok(None),
                Some(s) => s.parse::<f64>().map(Some).map_err(|_| {
                    bad(
                        &rounds_path,
                        format!("line {}: `{s}` is not a number", i + 2),
                    )
                }),
            }
        };
        if let Some(l) = value(loss_col)? {
            if target.is_some()
                && let Some(r) = value(round_col)?
            {
                losses.push((r as i64, l));
            }
            final_loss = l;
            if l < best_loss {
                best_loss = l;
            }
        }
        if let Some(a) = value(acc_col)? {
            final_acc = Some(a);
            best_acc = Some(best_acc.map_or(a, |b: f64| b.max(a)));
        }
    }
    let known_min = summary["known_min_loss"].as_f64();
    let scenario_path = dir.join("scenario.json");
    let workers = std::fs::read_to_string(&scenario_path)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|s| {
            let w = s.get("workers")?;
            Some((w.get("honest")?.as_u64()?, w.get("byzantine")?.as_u64()?))
        });
    let reached = target.map(|t| {
        t.threshold(known_min)
            .and_then(|thr| t.first_round(&losses, thr))
    });
    Ok(CellResult {
        known_min,
        workers,
        rounds_to_target: reached.flatten().map(|r| r as f64),
        target_reached: reached.map(|r| if r.is_some() { 1.0 } else { 0.0 }),
        status: summary["status"].as_str().unwrap_or("unknown").to_string(),
        rounds: num(&summary["rounds"]),
        final_loss,
        best_loss,
        final_accuracy: final_acc,
        best_accuracy: best_acc,
        expelled_byzantine: num(&summary["expelled"]["byzantine"]),
        expelled_honest: num(&summary["expelled"]["honest"]),
    })
}

/// Mean and sample standard deviation (None with fewer than two values).
pub(crate) fn mean_std(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, None);
    }
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, Some(var.sqrt()))
}

/// One table of the comparison: a title, a header row and body rows (the first column names the
/// row).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// What the entries are.
    pub title: String,
    /// The row key's name, then one label per column.
    pub header: Vec<String>,
    /// One row per value of the row key: its label, then the entries.
    pub rows: Vec<Vec<String>>,
}

/// A group of cells that differ only in their seed.
#[derive(Debug, Clone)]
pub struct Group {
    /// The cells' name without the seed's label (`all` when only the seed is swept).
    pub name: String,
    /// The choice of the group's cells, with the seed key's entry unset.
    pub choice: Vec<Option<usize>>,
    /// The cells, by grid index, in grid order.
    pub members: Vec<usize>,
}

/// How tables and figures lay out the keys (see [`Comparison::axes`]).
#[derive(Debug, Clone)]
pub struct Axes {
    /// The row key: the aggregator when it is swept, else the first key that is not the seed.
    pub row: Option<usize>,
    /// The column key: the attack when it is swept, else the next key.
    pub col: Option<usize>,
    /// The row key's values (`[None]` without a row key).
    pub rows: Vec<Option<usize>>,
    /// The column key's values (`[None]` without a column key).
    pub cols: Vec<Option<usize>>,
    /// The other keys, but the seed.
    pub rest: Vec<usize>,
    /// Every combination of the values of `rest`, in grid order (one empty combination when
    /// there are no other keys).
    pub combos: Vec<Vec<usize>>,
}

impl Comparison {
    /// Read every cell of `layout` from `dir/cells/`.
    pub fn read(dir: &Path, layout: &Layout) -> Result<Comparison, Error> {
        let results = layout
            .cells
            .iter()
            .map(|c| read_cell(&dir.join("cells").join(&c.name), layout.target.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Comparison {
            layout: layout.clone(),
            results,
        })
    }

    fn has_accuracy(&self) -> bool {
        self.results.iter().any(|r| r.best_accuracy.is_some())
    }

    fn metrics(&self) -> Vec<&'static Metric> {
        let acc = self.has_accuracy();
        let target = self.layout.target.is_some();
        METRICS
            .iter()
            .filter(|m| (acc || !m.percent) && (target || !m.target))
            .collect()
    }

    /// The groups of cells that differ only in their seed, in grid order of their first cell.
    pub fn groups(&self) -> Vec<Group> {
        let seed = self.layout.seed_key();
        let mut groups: Vec<Group> = Vec::new();
        for (i, cell) in self.layout.cells.iter().enumerate() {
            let choice: Vec<Option<usize>> = cell
                .choice
                .iter()
                .enumerate()
                .map(|(k, &c)| (Some(k) != seed).then_some(c))
                .collect();
            match groups.iter_mut().find(|g| g.choice == choice) {
                Some(g) => g.members.push(i),
                None => {
                    let name = self
                        .layout
                        .keys
                        .iter()
                        .zip(&choice)
                        .filter_map(|(k, c)| c.map(|c| k.labels[c].as_str()))
                        .collect::<Vec<_>>()
                        .join("__");
                    groups.push(Group {
                        name: if name.is_empty() { "all".into() } else { name },
                        choice,
                        members: vec![i],
                    });
                }
            }
        }
        groups
    }

    /// `comparison.csv`: a `row` column (`cell`, `mean` or `std`), the cell or group name, one
    /// column per sweep key (the value's label; empty for the seed in group rows), the status
    /// (for groups: how many cells ended how), rounds and the metrics.
    pub fn csv(&self) -> String {
        let metrics = self.metrics();
        let mut out = String::from("row,cell");
        for k in &self.layout.keys {
            out.push(',');
            out.push_str(&k.path);
        }
        out.push_str(",status,rounds");
        for m in &metrics {
            out.push(',');
            out.push_str(m.column);
        }
        out.push('\n');
        let value = |v: Option<f64>| v.map(fmt_f64).unwrap_or_default();
        for (cell, r) in self.layout.cells.iter().zip(&self.results) {
            out.push_str(&format!("cell,{}", cell.name));
            for (k, &c) in self.layout.keys.iter().zip(&cell.choice) {
                out.push_str(&format!(",{}", k.labels[c]));
            }
            out.push_str(&format!(",{},{}", r.status, fmt_f64(r.rounds)));
            for m in &metrics {
                out.push_str(&format!(",{}", value((m.get)(r))));
            }
            out.push('\n');
        }
        for g in self.groups() {
            let members: Vec<&CellResult> = g.members.iter().map(|&i| &self.results[i]).collect();
            let mut statuses: Vec<(String, usize)> = Vec::new();
            for r in &members {
                match statuses.iter_mut().find(|(s, _)| *s == r.status) {
                    Some((_, n)) => *n += 1,
                    None => statuses.push((r.status.clone(), 1)),
                }
            }
            let status = statuses
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(" ");
            let rounds = mean_std(&members.iter().map(|r| r.rounds).collect::<Vec<_>>());
            for (row, pick) in [("mean", 0), ("std", 1)] {
                out.push_str(&format!("{row},{}", g.name));
                for (k, c) in self.layout.keys.iter().zip(&g.choice) {
                    out.push_str(&format!(
                        ",{}",
                        c.map(|c| k.labels[c].as_str()).unwrap_or("")
                    ));
                }
                let pick_of = |(m, s): (f64, Option<f64>)| if pick == 0 { Some(m) } else { s };
                out.push_str(&format!(",{status},{}", value(pick_of(rounds))));
                for m in &metrics {
                    let vals: Vec<f64> = members.iter().filter_map(|r| (m.get)(r)).collect();
                    let cell = if vals.is_empty() {
                        None
                    } else {
                        pick_of(mean_std(&vals))
                    };
                    out.push_str(&format!(",{}", value(cell)));
                }
                out.push('\n');
            }
        }
        out
    }

    /// How the tables and figures lay the keys out: rows, columns, and the other keys (one
    /// table, heatmap panel or overlay per combination of their values).
    pub fn axes(&self) -> Axes {
        let keys = &self.layout.keys;
        let seed = self.layout.seed_key();
        let others: Vec<usize> = (0..keys.len()).filter(|&k| Some(k) != seed).collect();
        let find = |name: &str| others.iter().copied().find(|&k| keys[k].path == name);
        let row = find("aggregator").or_else(|| others.first().copied());
        let col = find("attack").or_else(|| others.iter().copied().find(|&k| Some(k) != row));
        let rest: Vec<usize> = others
            .iter()
            .copied()
            .filter(|&k| Some(k) != row && Some(k) != col)
            .collect();
        // Every combination of the other keys, in grid order.
        let mut combos: Vec<Vec<usize>> = vec![Vec::new()];
        for &k in &rest {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    (0..keys[k].values.len()).map(move |v| {
                        let mut c = c.clone();
                        c.push(v);
                        c
                    })
                })
                .collect();
        }
        let values_of = |key: Option<usize>| -> Vec<Option<usize>> {
            match key {
                Some(k) => (0..keys[k].values.len()).map(Some).collect(),
                None => vec![None],
            }
        };
        Axes {
            row,
            col,
            rows: values_of(row),
            cols: values_of(col),
            rest,
            combos,
        }
    }

    /// The label of value `v` of key `k` (`all` when the key is not swept).
    pub fn label(&self, k: Option<usize>, v: Option<usize>) -> String {
        match (k, v) {
            (Some(k), Some(v)) => self.layout.keys[k].labels[v].clone(),
            _ => "all".into(),
        }
    }

    /// The labels of the values of `combo` (a combination of `axes.rest`).
    pub fn combo_labels(&self, axes: &Axes, combo: &[usize]) -> Vec<String> {
        axes.rest
            .iter()
            .zip(combo)
            .map(|(&k, &v)| self.layout.keys[k].labels[v].clone())
            .collect()
    }

    /// The group at row value `r`, column value `c` and combination `combo` of the other keys.
    pub fn group_at<'g>(
        groups: &'g [Group],
        axes: &Axes,
        r: Option<usize>,
        c: Option<usize>,
        combo: &[usize],
    ) -> Option<&'g Group> {
        groups.iter().find(|g| {
            axes.row.is_none_or(|k| g.choice[k] == r)
                && axes.col.is_none_or(|k| g.choice[k] == c)
                && axes
                    .rest
                    .iter()
                    .zip(combo)
                    .all(|(&k, &v)| g.choice[k] == Some(v))
        })
    }

    /// The tables of `comparison.md` and of the report: for each metric, the values of the row
    /// key (the aggregator when it is swept) as rows and those of the column key (the attack when
    /// it is swept) as columns, each entry the mean ± standard deviation over seeds; one table
    /// per combination of the other swept keys.
    pub fn tables(&self) -> Vec<Table> {
        let axes = self.axes();
        let groups = self.groups();
        let mut tables = Vec::new();
        let metric = |column: &str| METRICS.iter().find(|m| m.column == column);
        if let (true, Some(best), Some(last)) = (
            self.has_accuracy(),
            metric("best_accuracy"),
            metric("final_accuracy"),
        ) {
            // Best and final side by side: a late collapse hides behind the best.
            for combo in &axes.combos {
                tables.push(self.grid_table(
                    "best / final test accuracy (%), means over seeds",
                    &axes,
                    &groups,
                    combo,
                    |g| self.pair(g, best, last),
                ));
            }
        }
        for m in self.metrics().into_iter().filter(|m| m.table) {
            for combo in &axes.combos {
                tables.push(self.grid_table(m.title, &axes, &groups, combo, |g| self.entry(g, m)));
            }
        }
        tables
    }

    /// One table: the row key's values as rows, the column key's as columns, at combination
    /// `combo` of the other keys (named in the title), each entry `entry` of its group.
    fn grid_table(
        &self,
        title: &str,
        axes: &Axes,
        groups: &[Group],
        combo: &[usize],
        entry: impl Fn(&Group) -> String,
    ) -> Table {
        let keys = &self.layout.keys;
        let suffix = self.combo_labels(axes, combo);
        let title = if suffix.is_empty() {
            title.to_string()
        } else {
            format!("{title} ({})", suffix.join(", "))
        };
        let mut header = vec![axes.row.map(|k| keys[k].path.clone()).unwrap_or_default()];
        header.extend(axes.cols.iter().map(|&c| self.label(axes.col, c)));
        let rows = axes
            .rows
            .iter()
            .map(|&r| {
                let mut line = vec![self.label(axes.row, r)];
                line.extend(axes.cols.iter().map(|&c| {
                    Self::group_at(groups, axes, r, c, combo)
                        .map(&entry)
                        .unwrap_or_default()
                }));
                line
            })
            .collect();
        Table {
            title,
            header,
            rows,
        }
    }

    /// How many seeds each entry averages.
    pub fn seeds(&self) -> usize {
        self.layout
            .seed_key()
            .map(|s| self.layout.keys[s].values.len())
            .unwrap_or(1)
    }

    /// `comparison.md`: the [`Comparison::tables`] in markdown.
    pub fn markdown(&self) -> String {
        let n = self.seeds();
        let mut out = format!(
            "# {}\n\n{} cells; entries are the mean ± standard deviation over {n} seed{} (full precision in comparison.csv).\n",
            self.layout.name,
            self.layout.cells.len(),
            if n == 1 { "" } else { "s" }
        );
        if let Some(t) = &self.layout.target {
            out.push_str(&format!(
                "\nRounds to reach the target: the {} (empty in comparison.csv when not reached).\n",
                t.describe()
            ));
        }
        for t in self.tables() {
            out.push_str(&format!(
                "\n## {}\n\n| {} |\n|",
                t.title,
                t.header.join(" | ")
            ));
            out.push_str(&"---|".repeat(t.header.len()));
            out.push('\n');
            for r in &t.rows {
                out.push_str(&format!("| {} |\n", r.join(" | ")));
            }
        }
        out
    }

    /// Two metrics' means over the group's seeds, `a / b`, with diverged cells counted.
    fn pair(&self, g: &Group, a: &Metric, b: &Metric) -> String {
        let mean_of = |m: &Metric| {
            let vals: Vec<f64> = g
                .members
                .iter()
                .filter_map(|&i| (m.get)(&self.results[i]))
                .map(|v| if m.percent { 100.0 * v } else { v })
                .collect();
            if vals.is_empty() {
                "n/a".to_string()
            } else {
                readable(mean_std(&vals).0)
            }
        };
        let mut text = format!("{} / {}", mean_of(a), mean_of(b));
        let diverged = g
            .members
            .iter()
            .filter(|&&i| self.results[i].status == "diverged")
            .count();
        if diverged > 0 {
            text.push_str(&format!(" ({diverged}/{} diverged)", g.members.len()));
        }
        text
    }

    /// One table entry: mean ± std for readers, with the cells that did not complete counted.
    fn entry(&self, g: &Group, m: &Metric) -> String {
        let members: Vec<&CellResult> = g.members.iter().map(|&i| &self.results[i]).collect();
        let vals: Vec<f64> = members
            .iter()
            .filter_map(|r| (m.get)(r))
            .map(|v| if m.percent { 100.0 * v } else { v })
            .collect();
        if vals.is_empty() {
            return if m.target {
                format!("not reached (0/{})", members.len())
            } else {
                "n/a".into()
            };
        }
        let (mean, std) = mean_std(&vals);
        let mut text = match std {
            Some(s) => format!("{} ± {}", readable(mean), readable(s)),
            None => readable(mean),
        };
        let diverged = members.iter().filter(|r| r.status == "diverged").count();
        if diverged > 0 {
            text.push_str(&format!(" ({diverged}/{} diverged)", members.len()));
        }
        if m.target && vals.len() < members.len() {
            text.push_str(&format!(" ({}/{} reached)", vals.len(), members.len()));
        }
        text
    }
}

/// A number rounded for reading: 4 significant digits, exponent form outside [1e-3, 1e6).
pub fn readable(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "∞".into()
        } else {
            "-∞".into()
        };
    }
    let a = x.abs();
    if x.fract() == 0.0 && a < 1e6 {
        format!("{x:.0}")
    } else if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_numbers() {
        assert_eq!(readable(-0.498878), "-0.4989");
        assert_eq!(readable(95.31), "95.31");
        assert_eq!(readable(1234.4), "1234");
        assert_eq!(readable(2.5e11), "2.500e11");
        assert_eq!(readable(f64::INFINITY), "∞");
        assert_eq!(readable(0.0), "0");
        assert_eq!(readable(4.0), "4");
    }

    #[test]
    fn best_and_final_accuracy_come_side_by_side_first() {
        let text = r#"{"name": "t", "seed": 1, "rounds": 10,
            "workers": {"honest": 3, "byzantine": 0},
            "problem": {"kind": "quadratic", "dim": 2},
            "optimizer": {"lr": 0.1}, "aggregator": {"kind": "mean"},
            "sweep": {"aggregator": [{"kind": "mean"}, {"kind": "median"}],
                      "attack": [{"kind": "none"}], "seed": [1, 2]}}"#;
        let layout = Layout::parse(text, "t.json").unwrap();
        let cell = |best: f64, last: f64, status: &str| CellResult {
            status: status.into(),
            rounds: 10.0,
            final_loss: 1.0,
            best_loss: 1.0,
            final_accuracy: Some(last),
            best_accuracy: Some(best),
            expelled_byzantine: 0.0,
            expelled_honest: 0.0,
            known_min: None,
            workers: None,
            rounds_to_target: None,
            target_reached: None,
        };
        let c = Comparison {
            layout,
            results: vec![
                cell(0.75, 0.5, "completed"),
                cell(0.25, 0.25, "completed"),
                cell(0.5, 0.125, "diverged"),
                cell(1.0, 0.375, "completed"),
            ],
        };
        let t = &c.tables()[0];
        assert_eq!(t.title, "best / final test accuracy (%), means over seeds");
        assert_eq!(t.header, ["aggregator", "none"]);
        assert_eq!(t.rows[0], ["mean", "50 / 37.50"]);
        assert_eq!(t.rows[1], ["median", "75 / 25 (1/2 diverged)"]);
        assert_eq!(c.tables()[1].title, "final loss");
    }

    #[test]
    fn mean_and_sample_std() {
        assert_eq!(mean_std(&[1.0, 2.0, 3.0]), (2.0, Some(1.0)));
        assert_eq!(mean_std(&[4.0]), (4.0, None));
    }
}
