//! One attack object on its own (as in a scenario's `attack`), for `safeguard-sim attack`:
//! resolved with the registry exactly as in a scenario, so errors name the field (relative to the
//! object), its line:column, and a did-you-mean.

use super::errors::{check_syntax, located};
use super::{Chosen, check_kind, from_round_of, resolve};
use crate::attack::DynAttack;
use crate::error::ScenarioError;
use crate::problem::ProblemInfo;
use crate::registry::{CheckContext, Registry, Section, Setting};
use serde_json::Value;

/// A checked attack object: its kind and parameters (every default filled in), and
/// `from_round`.
pub struct AttackObject {
    /// The kind with its checked parameters.
    pub attack: Chosen<dyn DynAttack>,
    /// `from_round` (default 1).
    pub from_round: u64,
}

/// Parse and check an attack object from JSON text (`source_name` labels errors), for the
/// scenario-level facts `setting` and a problem of dimension `dim`.
pub fn parse_attack_object(
    text: &str,
    source_name: &str,
    registry: &Registry,
    setting: Setting,
    dim: usize,
) -> Result<AttackObject, ScenarioError> {
    let fail = |path: &str, message: &str| located(text, source_name, path, message);
    if !text.trim_start().starts_with('{') {
        return Err(fail(
            "",
            "expected a JSON object with a `kind` field (an attack, as in a scenario's `attack`)",
        ));
    }
    check_syntax(text, source_name)?;
    let object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => m,
        Ok(_) | Err(_) => return Err(fail("", "expected a JSON object with a `kind` field")),
    };
    let mut attack = resolve(
        &registry.attacks,
        Section::Attack,
        "",
        &object,
        Section::Attack.common_keys(),
    )
    .map_err(|(p, m)| fail(&p, &m))?;
    let from_round = from_round_of(&object, "").map_err(|(p, m)| fail(&p, &m))?;
    let info = ProblemInfo {
        dim,
        ..ProblemInfo::default()
    };
    let ctx = CheckContext {
        setting,
        problem: Some(&info),
        aggregator: None,
        aggregator_windows: false,
        inputs: setting.machines(),
    };
    check_kind(&mut attack, "", &ctx).map_err(|(p, m)| fail(&p, &m))?;
    Ok(AttackObject { attack, from_round })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting() -> Setting {
        Setting {
            seed: 0,
            rounds: 1,
            honest: 3,
            byzantine: 1,
            lr: 1.0,
            perturbation: 0.0,
            optimizer: Default::default(),
        }
    }

    fn parse(text: &str) -> Result<AttackObject, ScenarioError> {
        parse_attack_object(text, "ATTACK", &Registry::builtin(), setting(), 3)
    }

    #[test]
    fn resolves_like_a_scenario_attack() {
        let a = parse(r#"{"kind": "alie", "z": 1.5, "from_round": 3}"#).unwrap();
        assert_eq!(a.attack.kind, "alie");
        assert_eq!(a.from_round, 3);
        // Defaults filled from the setting: n = 4 machines, f = 1.
        let json = a.attack.params.to_json();
        assert_eq!((json["n"].as_u64(), json["f"].as_u64()), (Some(4), Some(1)));
    }

    #[test]
    fn errors_name_the_field_position_and_suggest() {
        let e = parse("{\"kind\": \"sign_flp\"}").err().unwrap();
        assert_eq!((e.path.as_str(), e.line, e.column), ("kind", 1, 10));
        assert!(
            e.message.contains("did you mean `sign_flip`"),
            "{}",
            e.message
        );
        let e = parse("{\"kind\": \"ipm\",\n \"epss\": 2}").err().unwrap();
        assert_eq!((e.path.as_str(), e.line), ("epss", 2));
        assert!(e.message.contains("did you mean `eps`"), "{}", e.message);
        let e = parse(r#"{"kind": "ipm", "eps": -1}"#).err().unwrap();
        assert_eq!(e.path, "eps");
        let e = parse(r#"{"kind": "ipm", "from_round": 0}"#).err().unwrap();
        assert_eq!(e.path, "from_round");
        let e = parse("[1, 2]").err().unwrap();
        assert!(
            e.message.contains("expected a JSON object"),
            "{}",
            e.message
        );
        let e = parse("{\"kind\": ").err().unwrap();
        assert!(e.message.starts_with("invalid JSON"), "{}", e.message);
        let e = parse(r#"{"z": 1}"#).err().unwrap();
        assert!(e.message.contains("missing field `kind`"), "{}", e.message);
    }
}
