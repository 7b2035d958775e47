//! Sweeps: one scenario file, a grid of runs. A `sweep` block lists, for each key, the values to
//! try; the runs ("cells") are the grid product, in the order the keys are written (the last key
//! varies fastest):
//!
//! ```json
//! "sweep": {
//!   "aggregator": [{"kind": "mean"}, {"kind": "safeguard", "window_short": 100,
//!                                     "threshold": {"mode": "calibrate"}}],
//!   "attack": [{"kind": "sign_flip"}, {"kind": "zero"}],
//!   "seed": [1, 2, 3],
//!   "optimizer.lr": [0.01, 0.02]
//! }
//! ```
//!
//! A key is a field of the scenario, or a dotted path into it (`optimizer.lr`,
//! `problem.noise.radius`) whose parent is in the scenario; each value replaces what the scenario
//! says there. Every cell is checked before anything runs, and an error in a swept value points at
//! that value in the `sweep` block (`sweep.aggregator[1].window_short`, with its line:column).
//!
//! A key may also join several paths with `+`: its values are then arrays with one entry per
//! path, taken together (zipped), not crossed. `"optimizer.lr+aggregator.window_short": [[0.01,
//! 200], [0.02, 100]]` gives two values, each setting both fields: the way to tie one setting to
//! another (a window to the step size, as Theorem 2.3 of the SafeguardSGD paper does).
//!
//! Cells get readable names made of one label per key, joined by `__`: a kind object is labelled
//! by its kind (with the parameters that tell apart two values of the same kind, e.g. `krum-f3`),
//! another object by the fields that differ between the values (`workers-honest9-byzantine1`),
//! anything else by the key's last segment and the value (`seed-2`, `lr-0.01`). A zipped value is
//! labelled by its first path whose values are all different, else by every path's label. The
//! key `seed` is the replicate: the comparison reports the mean and standard deviation over seeds
//! of every group of cells that differ only in their seed.
//!
//! Beside the `sweep` block, a sweep file may give a `target` for the comparison (see
//! [`target::Target`]): the loss to reach, and comparison.csv gets the rounds each cell took.

pub mod exec;
pub mod figures;
pub mod report;
pub mod table;
pub mod target;

use crate::error::ScenarioError;
use crate::registry::Registry;
use crate::scenario::Scenario;
use crate::scenario::errors::{check_syntax, printable};
use crate::scenario::locate::{self, Segment};
use serde_json::{Map, Value};

pub use exec::{SweepConfig, SweepOutcome, merge, run_sweep};
pub use table::Comparison;
pub use target::Target;

/// At most this many cells in one sweep.
pub const MAX_CELLS: usize = 100_000;

/// Top-level fields a sweep key may start with.
const SWEEPABLE: [&str; 9] = [
    "seed",
    "rounds",
    "workers",
    "problem",
    "optimizer",
    "aggregator",
    "attack",
    "eval_every",
    "evaluation",
];

/// One key of the `sweep` block and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepKey {
    /// The key as written (`aggregator`, `optimizer.lr`, `optimizer.lr+rounds`).
    pub path: String,
    /// The scenario paths the key sets: the key itself, or its `+`-joined parts (zipped).
    pub paths: Vec<String>,
    /// The values, as written (for a zipped key, arrays with one entry per path).
    pub values: Vec<Value>,
    /// A readable label per value (unique within the key).
    pub labels: Vec<String>,
}

/// One cell of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct CellName {
    /// Position in the grid (0-based; the order of the grid product).
    pub index: usize,
    /// The cell's name: its directory under `cells/` and its scenario's `name`.
    pub name: String,
    /// For each key, the index of the value this cell takes.
    pub choice: Vec<usize>,
}

/// The shape of a sweep, known from its JSON alone (no kinds resolved): the keys, their labels
/// and the cells. A sweep's `sweep.json` gives it back, so that merging and comparing need no
/// registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The sweep's name (the scenario's `name`): its output directory is `output/<name>/`.
    pub name: String,
    /// The keys, in the order written.
    pub keys: Vec<SweepKey>,
    /// Every cell, in grid order.
    pub cells: Vec<CellName>,
    /// The loss target of the comparison, when the file gives one.
    pub target: Option<Target>,
    /// The scenario without its `sweep` block.
    base: Map<String, Value>,
    /// The sweep file as normalised JSON (what `sweep.json` holds).
    pub json: String,
}

/// A checked sweep: its layout, and every cell as a valid scenario.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The keys and cells.
    pub layout: Layout,
    /// The checked scenario of each cell, in grid order.
    pub scenarios: Vec<Scenario>,
}

impl Layout {
    /// The layout of a sweep file's JSON text; errors are positioned in `text`.
    pub fn parse(text: &str, source_name: &str) -> Result<Layout, ScenarioError> {
        check_syntax(text, source_name)?;
        let fail = |segments: &[Segment], path: String, message: String| {
            positioned(text, source_name, segments, path, message)
        };
        let root: Value = serde_json::from_str(text)
            .map_err(|e| fail(&[], String::new(), format!("invalid JSON: {e}")))?;
        let Value::Object(mut base) = root else {
            return Err(fail(&[], String::new(), "expected a JSON object".into()));
        };
        let sweep_at = [Segment::Key("sweep".into())];
        let Some(block) = base.remove("sweep") else {
            return Err(fail(&[], String::new(), "no `sweep` block".into()));
        };
        base.remove("$schema");
        let Value::Object(block) = block else {
            return Err(fail(
                &sweep_at,
                "sweep".into(),
                "expected an object: for each key, the array of values to try".into(),
            ));
        };
        if block.is_empty() {
            return Err(fail(
                &sweep_at,
                "sweep".into(),
                "an empty sweep: give at least one key and its values".into(),
            ));
        }
        let target = match base.remove("target") {
            None => None,
            Some(v) => Some(Target::parse(&v).map_err(|(field, message)| {
                let mut at = vec![Segment::Key("target".into())];
                let mut path = "target".to_string();
                if !field.is_empty() {
                    at.push(Segment::Key(field.clone()));
                    path = format!("target.{field}");
                }
                fail(&at, path, message)
            })?),
        };
        let mut keys: Vec<SweepKey> = Vec::new();
        let mut count: usize = 1;
        for (key, values) in &block {
            let at = [Segment::Key("sweep".into()), Segment::Key(key.clone())];
            let path = format!("sweep.{key}");
            let paths: Vec<String> = key.split('+').map(str::to_string).collect();
            for part in &paths {
                let first = part.split('.').next().unwrap_or("");
                if !SWEEPABLE.contains(&first) || part.split('.').any(str::is_empty) {
                    return Err(fail(
                        &at,
                        path,
                        format!(
                            "`{part}` cannot be swept: a key is a scenario field ({}) or a dotted path into one, or several of them joined by `+`",
                            SWEEPABLE.join(", ")
                        ),
                    ));
                }
                if let Some((parent, _)) = part.rsplit_once('.')
                    && !matches!(lookup(&base, parent), Some(Value::Object(_)))
                {
                    return Err(fail(
                        &at,
                        path,
                        format!(
                            "`{parent}` is not an object of the scenario: give it there before sweeping over its fields"
                        ),
                    ));
                }
                let twice = paths.iter().filter(|p| *p == part).count() > 1
                    || keys.iter().any(|k| k.paths.contains(part));
                if twice {
                    return Err(fail(
                        &at,
                        path,
                        format!("`{part}` is swept twice: give each field in one key only"),
                    ));
                }
            }
            let Value::Array(values) = values else {
                return Err(fail(
                    &at,
                    path,
                    "expected an array of the values to try".into(),
                ));
            };
            if values.is_empty() {
                return Err(fail(&at, path, "give at least one value".into()));
            }
            if paths.len() > 1 {
                for (i, v) in values.iter().enumerate() {
                    if !matches!(v, Value::Array(a) if a.len() == paths.len()) {
                        let mut at_value = at.to_vec();
                        at_value.push(Segment::Index(i));
                        return Err(fail(
                            &at_value,
                            format!("{path}[{i}]"),
                            format!(
                                "expected an array of {} values, one for each of {}",
                                paths.len(),
                                paths
                                    .iter()
                                    .map(|p| format!("`{p}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                }
            }
            count = count.saturating_mul(values.len());
            keys.push(SweepKey {
                labels: if paths.len() > 1 {
                    zipped_labels(&paths, values)
                } else {
                    labels(key, values)
                },
                path: key.clone(),
                paths,
                values: values.clone(),
            });
        }
        if count > MAX_CELLS {
            return Err(fail(
                &sweep_at,
                "sweep".into(),
                format!("{count} cells: at most {MAX_CELLS} are supported"),
            ));
        }
        let name = base
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        // The sweep's name must be a valid run name (it names the output directory).
        if let Err(message) = crate::scenario::check_run_name(&name) {
            return Err(fail(&[Segment::Key("name".into())], "name".into(), message));
        }
        let cells = (0..count)
            .map(|index| {
                let choice = grid_choice(index, &keys);
                let label: Vec<&str> = keys
                    .iter()
                    .zip(&choice)
                    .map(|(k, &c)| k.labels[c].as_str())
                    .collect();
                let mut name = label.join("__");
                if name.len() > crate::scenario::MAX_NAME_LEN {
                    // Too long for a directory name: the grid position, then what fits.
                    let prefix = format!("cell{index}-");
                    let keep = crate::scenario::MAX_NAME_LEN - prefix.len();
                    name = format!("{prefix}{}", &name[..keep]);
                }
                CellName {
                    index,
                    name,
                    choice,
                }
            })
            .collect();
        let mut resolved = base.clone();
        if let Some(t) = &target {
            resolved.insert("target".into(), t.to_json());
        }
        resolved.insert("sweep".into(), Value::Object(block));
        let mut json = serde_json::to_string_pretty(&Value::Object(resolved)).unwrap_or_default();
        json.push('\n');
        Ok(Layout {
            name,
            keys,
            cells,
            target,
            base,
            json,
        })
    }

    /// The scenario JSON of cell `cell` (the base with the cell's values and name).
    pub fn cell_json(&self, cell: &CellName) -> String {
        let mut c = self.base.clone();
        for (k, &i) in self.keys.iter().zip(&cell.choice) {
            match (k.values.get(i), k.paths.len()) {
                (Some(v), 1) => set(&mut c, &k.path, v.clone()),
                (Some(Value::Array(parts)), _) => {
                    for (p, v) in k.paths.iter().zip(parts) {
                        set(&mut c, p, v.clone());
                    }
                }
                _ => {}
            }
        }
        c.insert("name".into(), Value::String(cell.name.clone()));
        serde_json::to_string_pretty(&Value::Object(c)).unwrap_or_default()
    }

    /// The index of the key named `seed`, if the sweep has one.
    pub fn seed_key(&self) -> Option<usize> {
        self.keys.iter().position(|k| k.path == "seed")
    }
}

fn positioned(
    text: &str,
    source_name: &str,
    segments: &[Segment],
    path: String,
    message: String,
) -> ScenarioError {
    let (line, column) = locate::line_col(text, locate::locate(text, segments, false));
    ScenarioError {
        source_name: printable(source_name),
        path: printable(&path),
        line,
        column,
        message: printable(&message),
    }
}

impl Sweep {
    /// True when `text` is a scenario file with a `sweep` block (it may still be invalid).
    pub fn is_sweep(text: &str) -> bool {
        serde_json::from_str::<Value>(text)
            .ok()
            .is_some_and(|v| v.get("sweep").is_some())
    }

    /// Parse and check a sweep file: the block and every cell, with `registry`'s kinds.
    pub fn parse(
        text: &str,
        source_name: &str,
        registry: &Registry,
    ) -> Result<Sweep, ScenarioError> {
        let layout = Layout::parse(text, source_name)?;
        let scenarios = layout
            .cells
            .iter()
            .map(|cell| {
                registry
                    .parse(&layout.cell_json(cell), source_name)
                    .map_err(|e| {
                        remap(text, source_name, &layout.keys, &cell.choice, &cell.name, e)
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sweep { layout, scenarios })
    }

    /// Read and check a sweep file.
    pub fn load(path: &std::path::Path, registry: &Registry) -> Result<Sweep, ScenarioError> {
        let text = crate::scenario::read_scenario_file(path)?;
        Sweep::parse(&text, &printable(&path.display().to_string()), registry)
    }
}

/// The value indices of grid cell `index` (the last key varies fastest).
fn grid_choice(mut index: usize, keys: &[SweepKey]) -> Vec<usize> {
    let mut choice = vec![0; keys.len()];
    for (k, key) in keys.iter().enumerate().rev() {
        let n = key.values.len().max(1);
        choice[k] = index % n;
        index /= n;
    }
    choice
}

/// The value at dotted `path` of `root`.
fn lookup<'a>(root: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut v = root.get(parts.next()?)?;
    for p in parts {
        v = v.get(p)?;
    }
    Some(v)
}

/// Set dotted `path` of `root` to `value` (the parent exists: checked when parsing).
fn set(root: &mut Map<String, Value>, path: &str, value: Value) {
    let parts: Vec<&str> = path.split('.').collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    let mut map = root;
    for p in parents {
        match map.get_mut(*p) {
            Some(Value::Object(m)) => map = m,
            _ => return,
        }
    }
    map.insert((*last).to_string(), value);
}

/// Keep the characters a run name allows.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".into()),
        _ => None,
    }
}

/// A readable label for each value of key `key`, unique within the key.
fn labels(key: &str, values: &[Value]) -> Vec<String> {
    let last = key.rsplit('.').next().unwrap_or(key);
    let kind_of = |v: &Value| v.get("kind").and_then(Value::as_str).map(str::to_string);
    // For a kind object told apart by a parameter it gives: its label without the `-no_p`
    // parts (parameters only the others give), used when that alone is unique.
    let mut short: Vec<Option<String>> = vec![None; values.len()];
    let mut out: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| match (kind_of(v), scalar(v)) {
            (Some(kind), _) => {
                // Parameters that tell this value apart from the others of its kind.
                let same: Vec<&Map<String, Value>> = values
                    .iter()
                    .filter(|o| kind_of(o).as_deref() == Some(kind.as_str()))
                    .filter_map(Value::as_object)
                    .collect();
                let mut label = kind.clone();
                if same.len() > 1
                    && let Some(obj) = v.as_object()
                {
                    for (p, pv) in obj.iter().filter(|(p, _)| p.as_str() != "kind") {
                        if same.iter().any(|o| o.get(p) != Some(pv)) {
                            let text = scalar(pv).unwrap_or_else(|| format!("{i}"));
                            label.push_str(&format!("-{p}{text}"));
                        }
                    }
                    if label != kind {
                        short[i] = Some(sanitize(&label));
                    }
                    // Parameters given by the others only.
                    let given: std::collections::BTreeSet<&String> =
                        same.iter().flat_map(|o| o.keys()).collect();
                    for p in given {
                        if p != "kind" && !obj.contains_key(p.as_str()) {
                            label.push_str(&format!("-no_{p}"));
                        }
                    }
                }
                sanitize(&label)
            }
            (None, Some(s)) => sanitize(&format!("{last}-{s}")),
            (None, None) => match v.as_object() {
                // An object without a kind: the fields that differ between the values.
                Some(obj) => {
                    let mut label = last.to_string();
                    for (p, pv) in obj {
                        if values.iter().any(|o| o.get(p) != Some(pv)) {
                            let text = scalar(pv).unwrap_or_else(|| format!("{i}"));
                            label.push_str(&format!("-{p}{text}"));
                        }
                    }
                    sanitize(&label)
                }
                None => sanitize(&format!("{last}-{i}")),
            },
        })
        .collect();
    // `safeguard-variantsingle`, not `safeguard-variantsingle-no_window_long`, when no other
    // value's label is the same.
    let taken: Vec<String> = out
        .iter()
        .cloned()
        .chain(short.iter().flatten().cloned())
        .collect();
    for (i, s) in short.iter().enumerate() {
        if let Some(s) = s
            && *s != out[i]
            && taken.iter().filter(|t| *t == s).count() == 1
        {
            out[i] = s.clone();
        }
    }
    // Still equal (e.g. values that differ only inside nested objects): number them.
    for i in 0..out.len() {
        if out[..i].contains(&out[i]) || out[i + 1..].contains(&out[i]) {
            out[i] = format!("{}-{i}", out[i]);
        }
    }
    out
}

/// Labels of a zipped key's values (arrays with one entry per path): the labels of the first
/// path whose entries are all different, else every path's labels joined by `_`.
fn zipped_labels(paths: &[String], values: &[Value]) -> Vec<String> {
    let column = |j: usize| -> Vec<Value> {
        values
            .iter()
            .map(|v| v.get(j).cloned().unwrap_or(Value::Null))
            .collect()
    };
    // Each path's labels, computed over its distinct entries (no numbering of repeats).
    let per_path: Vec<Vec<String>> = (0..paths.len())
        .map(|j| {
            let col = column(j);
            let mut distinct: Vec<Value> = Vec::new();
            for v in &col {
                if !distinct.contains(v) {
                    distinct.push(v.clone());
                }
            }
            let names = labels(&paths[j], &distinct);
            col.iter()
                .map(|v| {
                    let k = distinct.iter().position(|d| d == v).unwrap_or(0);
                    names.get(k).cloned().unwrap_or_default()
                })
                .collect()
        })
        .collect();
    let unique = |l: &Vec<String>| (1..l.len()).all(|i| !l[..i].contains(&l[i]));
    if let Some(l) = per_path.iter().find(|l| unique(l)) {
        return l.clone();
    }
    let mut out: Vec<String> = (0..values.len())
        .map(|i| {
            per_path
                .iter()
                .map(|l| l[i].as_str())
                .collect::<Vec<_>>()
                .join("_")
        })
        .collect();
    for i in 0..out.len() {
        if out[..i].contains(&out[i]) || out[i + 1..].contains(&out[i]) {
            out[i] = format!("{}-{i}", out[i]);
        }
    }
    out
}

/// An error in a cell, pointed at the sweep value it comes from when it is inside one, or at the
/// same field of the file otherwise; the message names the cell.
fn remap(
    text: &str,
    source_name: &str,
    keys: &[SweepKey],
    choice: &[usize],
    cell: &str,
    e: ScenarioError,
) -> ScenarioError {
    let within = |key: &str| -> Option<String> {
        let rest = e.path.strip_prefix(key)?;
        (rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
            .then(|| rest.to_string())
    };
    // The swept path the error lies in (the longest one): its key, value and position in the key.
    let swept = keys
        .iter()
        .zip(choice)
        .flat_map(|(k, &c)| {
            k.paths
                .iter()
                .enumerate()
                .filter_map(move |(j, p)| within(p).map(|rest| (k, c, j, p.len(), rest)))
        })
        .max_by_key(|(_, _, _, len, _)| *len);
    let (segments, path) = match swept {
        Some((k, c, j, _, rest)) => {
            let mut segs = vec![
                Segment::Key("sweep".into()),
                Segment::Key(k.path.clone()),
                Segment::Index(c),
            ];
            let mut path = format!("sweep.{}[{c}]", k.path);
            if k.paths.len() > 1 {
                segs.push(Segment::Index(j));
                path.push_str(&format!("[{j}]"));
            }
            segs.extend(locate::parse_path(&rest));
            (segs, format!("{path}{rest}"))
        }
        None => (locate::parse_path(&e.path), e.path.clone()),
    };
    let (line, column) = locate::line_col(text, locate::locate(text, &segments, false));
    ScenarioError {
        source_name: printable(source_name),
        path: printable(&path),
        line,
        column,
        message: format!("in cell {cell}: {}", e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BASE: &str = r#"{
  "name": "grid",
  "seed": 1,
  "rounds": 20,
  "workers": {"honest": 6, "byzantine": 2},
  "problem": {"kind": "quadratic", "dim": 3},
  "optimizer": {"lr": 0.05},
  "aggregator": {"kind": "mean"},
  "sweep": {
    "aggregator": [{"kind": "mean"},
                   {"kind": "safeguard", "window_short": 5, "threshold": {"mode": "theory"}}],
    "attack": [{"kind": "sign_flip"}, {"kind": "zero"}],
    "seed": [1, 2, 3]
  }
}"#;

    fn parse(text: &str) -> Result<Sweep, ScenarioError> {
        Sweep::parse(text, "grid.json", &Registry::builtin())
    }

    #[test]
    fn the_grid_is_the_product_in_key_order() {
        let s = parse(BASE).unwrap();
        let cells = &s.layout.cells;
        assert_eq!(cells.len(), 12);
        assert_eq!(cells[0].name, "mean__sign_flip__seed-1");
        assert_eq!(cells[1].name, "mean__sign_flip__seed-2");
        assert_eq!(cells[3].name, "mean__zero__seed-1");
        assert_eq!(cells[11].name, "safeguard__zero__seed-3");
        assert_eq!(s.scenarios[11].spec().seed, 3);
        assert_eq!(s.scenarios[11].aggregator_kind(), "safeguard");
        assert_eq!(s.scenarios[11].name(), "safeguard__zero__seed-3");
        assert_eq!(s.layout.seed_key(), Some(2));
        // The layout comes back from sweep.json alone.
        assert_eq!(
            Layout::parse(&s.layout.json, "sweep.json").unwrap(),
            s.layout
        );
        assert!(Sweep::is_sweep(BASE));
    }

    #[test]
    fn labels_tell_apart_values_of_one_kind() {
        let l = labels(
            "aggregator",
            &[
                json!({"kind": "krum", "f": 3}),
                json!({"kind": "krum", "f": 4}),
                json!({"kind": "mean"}),
            ],
        );
        assert_eq!(l, ["krum-f3", "krum-f4", "mean"]);
        assert_eq!(
            labels("optimizer.lr", &[json!(0.01), json!(0.1)]),
            ["lr-0.01", "lr-0.1"]
        );
        let l = labels(
            "attack",
            &[json!({"kind": "alie", "z": 0.3}), json!({"kind": "alie"})],
        );
        assert_eq!(l, ["alie-z0.3", "alie-no_z"]);
        // A value told apart by a parameter of its own drops the `-no_p` parts.
        let l = labels(
            "aggregator",
            &[
                json!({"kind": "safeguard", "variant": "single", "window_short": 50}),
                json!({"kind": "safeguard", "window_long": 300, "window_short": 50}),
            ],
        );
        assert_eq!(l, ["safeguard-variantsingle", "safeguard-window_long300"]);
        assert_eq!(
            labels("problem", &[json!([1]), json!([2])]),
            ["problem-0", "problem-1"]
        );
    }

    #[test]
    fn errors_in_swept_values_point_into_the_sweep_block() {
        let bad = BASE.replace("\"window_short\": 5", "\"window_short\": 0");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.path, "sweep.aggregator[1].window_short");
        assert_eq!(e.line, 11);
        assert!(
            e.message
                .starts_with("in cell safeguard__sign_flip__seed-1: "),
            "{e}"
        );
        let bad = BASE.replace("\"seed\": [1, 2, 3]", "\"seed\": [1, -2]");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.path, "sweep.seed[1]");
        let bad = BASE.replace("\"seed\": [1, 2, 3]", "\"optimizer.momentum.x\": [1]");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.path, "sweep.optimizer.momentum.x");
        assert!(e.message.contains("not an object of the scenario"), "{e}");
        let bad = BASE.replace("\"seed\": [1, 2, 3]", "\"name\": [\"a\"]");
        assert!(parse(&bad).unwrap_err().message.contains("cannot be swept"));
        let bad = BASE.replace("\"seed\": [1, 2, 3]", "\"seed\": []");
        assert!(
            parse(&bad)
                .unwrap_err()
                .message
                .contains("at least one value")
        );
        // An error in the fixed part points at the file's own field.
        let bad = BASE.replace("\"lr\": 0.05", "\"lr\": -1");
        let e = parse(&bad).unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("optimizer.lr", 7));
    }

    #[test]
    fn zipped_keys_set_several_fields_together() {
        let text = BASE.replace(
            "\"seed\": [1, 2, 3]",
            "\"optimizer.lr+rounds\": [[0.01, 40], [0.02, 20]],\n    \"workers\": [{\"honest\": 6, \"byzantine\": 2}, {\"honest\": 9, \"byzantine\": 1}]",
        );
        let s = parse(&text).unwrap();
        // 2 x 2 x 2 (zipped values) x 2: not crossed.
        assert_eq!(s.layout.cells.len(), 16);
        let k = &s.layout.keys[2];
        assert_eq!(k.paths, ["optimizer.lr", "rounds"]);
        assert_eq!(k.labels, ["lr-0.01", "lr-0.02"]);
        assert_eq!(
            s.layout.keys[3].labels,
            ["workers-honest6-byzantine2", "workers-honest9-byzantine1"]
        );
        let last = &s.scenarios[15];
        assert_eq!(
            last.name(),
            "safeguard__zero__lr-0.02__workers-honest9-byzantine1"
        );
        assert_eq!((last.spec().optimizer.lr, last.spec().rounds), (0.02, 20));
        // Labels of zipped values with no path telling all apart: every path's label.
        assert_eq!(
            zipped_labels(
                &["a".into(), "b".into()],
                &[json!([1, 1]), json!([1, 2]), json!([2, 1])]
            ),
            ["a-1_b-1", "a-1_b-2", "a-2_b-1"]
        );
        // Errors point at the entry of the zipped value.
        let bad = text.replace("[0.02, 20]", "[0.02, -20]");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.path, "sweep.optimizer.lr+rounds[1][1]");
        assert!(
            e.message.contains("in cell mean__sign_flip__lr-0.02__"),
            "{e}"
        );
        let bad = text.replace("[0.02, 20]", "[0.02]");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.path, "sweep.optimizer.lr+rounds[1]");
        assert!(e.message.contains("an array of 2 values"), "{e}");
        let bad = text.replace("optimizer.lr+rounds", "optimizer.lr+aggregator");
        let e = parse(&bad).unwrap_err();
        assert!(e.message.contains("`aggregator` is swept twice"), "{e}");
    }

    #[test]
    fn a_target_is_read_and_kept_in_sweep_json() {
        let text = BASE.replace(
            "\"sweep\": {",
            "\"target\": {\"loss_gap\": 0.01, \"window\": 5},\n  \"sweep\": {",
        );
        let s = parse(&text).unwrap();
        let t = s.layout.target.clone().unwrap();
        assert_eq!((t.loss_gap, t.window), (Some(0.01), 5));
        // The cells never see it; sweep.json keeps it.
        assert!(!s.layout.cell_json(&s.layout.cells[0]).contains("target"));
        assert_eq!(
            Layout::parse(&s.layout.json, "sweep.json").unwrap(),
            s.layout
        );
        let bad = text.replace("\"window\": 5", "\"window\": 0");
        let e = parse(&bad).unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("target.window", 9));
    }

    #[test]
    fn dotted_keys_set_nested_fields() {
        let text = BASE.replace(
            "\"seed\": [1, 2, 3]",
            "\"optimizer.perturbation\": [0.0, 0.5], \"problem.dim\": [2, 4]",
        );
        let s = parse(&text).unwrap();
        assert_eq!(s.layout.cells.len(), 2 * 2 * 2 * 2);
        assert_eq!(
            s.layout.cells[15].name,
            "safeguard__zero__perturbation-0.5__dim-4"
        );
        let last = &s.scenarios[15];
        assert_eq!(last.spec().optimizer.perturbation, 0.5);
        assert_eq!(last.problem_info().dim, 4);
    }
}
