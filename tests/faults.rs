//! Faulty machines: NaN or infinite vectors, vectors of the wrong length, silence, double
//! answers, a panicking actor and one that never answers. The run goes on, records every fault
//! (summary.json `faults`, faults.csv, a reason in expulsions.csv), and the model stays finite.
//!
//! Each fault mode runs through the binary under `mean` and `safeguard`, with the machines on one
//! and on two arbiter threads. The last tests plug a custom actix actor in as a Byzantine machine
//! through the public actor API ([`Coordinator`] driven by [`RunRound`]).

mod common;
use common::*;
use serde_json::json;
use std::path::Path;

const HONEST: usize = 5;
const FAULTY: usize = 2;
const ROUNDS: u64 = 100;
const FROM_ROUND: u64 = 10;

/// 5 honest + 2 faulty machines on a 5-dimensional quadratic.
fn scenario(name: &str, mode: &str, aggregator: &str, reply_timeout_ms: u64) -> serde_json::Value {
    let aggregator = match aggregator {
        "mean" => json!({"kind": "mean"}),
        "safeguard" => json!({
            "kind": "safeguard", "variant": "double", "window_long": 40, "window_short": 10,
            "threshold": {"mode": "calibrate", "factor": 1.5}
        }),
        other => panic!("unknown aggregator {other}"),
    };
    json!({
        "name": name,
        "seed": 11,
        "rounds": ROUNDS,
        "workers": {"honest": HONEST, "byzantine": FAULTY, "reply_timeout_ms": reply_timeout_ms},
        "problem": {"kind": "quadratic", "dim": 5},
        "optimizer": {"lr": 0.05, "perturbation": 0.1},
        "aggregator": aggregator,
        "attack": {"kind": "faulty", "mode": mode, "from_round": FROM_ROUND}
    })
}

/// The fault kind a mode must produce.
fn expected_kind(mode: &str) -> &'static str {
    match mode {
        "nan" | "inf" => "non_finite",
        "wrong_length" => "wrong_length",
        "silent" => "silent",
        "twice" => "duplicate_reply",
        "panic" => "crashed",
        "hang" => "timeout",
        other => panic!("unknown mode {other}"),
    }
}

/// Whether the aggregator expels the faulty machines, and with which reason.
fn expected_expulsion(mode: &str, aggregator: &str) -> Option<&'static str> {
    match (mode, aggregator) {
        // Dead machines are expelled by the coordinator, whatever the rule.
        ("panic", _) => Some("crashed"),
        ("hang", _) => Some("timeout"),
        // The first reply is the honest gradient: nothing to expel.
        ("twice", _) => None,
        // The safeguard expels a good machine that sends nothing valid; the mean never expels.
        (_, "safeguard") => Some("no_valid_gradient"),
        (_, _) => None,
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Run one fault mode under one aggregator and check everything; returns the run directory.
fn check(tmp: &Path, mode: &str, aggregator: &str, threads: &str) -> std::path::PathBuf {
    // A never-answering machine gets a short timeout; the others the default (a crash or a
    // silence is seen at once, without waiting for it).
    let timeout = if mode == "hang" { 200 } else { 2000 };
    let name = format!("{mode}-{aggregator}-t{threads}");
    let (out, run) = run_json(
        tmp,
        &scenario(&name, mode, aggregator, timeout),
        // `spread`: the machines really run on the threads asked for, however cheap they are.
        &["--threads", threads, "--placement", "spread"],
    );
    assert_code(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A panicking adversary prints no trace: its message goes to faults.csv and summary.json.
    assert!(!stderr.contains("panicked"), "{stderr}");
    if mode == "panic" {
        let faults = read(&run.join("faults.csv"));
        assert!(
            faults.contains(",crashed,faulty machine")
                && faults.contains("deliberate panic in round"),
            "{faults}"
        );
        assert!(
            summary(&run)["faults"]["first"][0]["detail"]
                .as_str()
                .is_some_and(|d| d.contains("src/attack/faulty.rs"))
        );
    }

    // Every output is there and whole.
    for f in [
        "scenario.json",
        "workers.csv",
        "rounds.csv",
        "expulsions.csv",
        "faults.csv",
        "summary.json",
    ] {
        let text = read(&run.join(f));
        assert!(
            text.ends_with('\n'),
            "{name}: {f} does not end with a newline"
        );
    }
    let s = summary(&run);
    let ctx = format!("{name}: {s}");
    assert_eq!(s["status"], "completed", "{ctx}");
    assert_eq!(s["rounds"], ROUNDS, "{ctx}");
    assert_eq!(s["expelled"]["honest"], 0, "{ctx}");
    let loss = s["final"]["loss"]
        .as_f64()
        .unwrap_or_else(|| panic!("final loss not finite: {ctx}"));
    assert!(loss.is_finite() && loss < 1.0, "{ctx}");
    assert!(s["final"]["grad_norm"].as_f64().is_some(), "{ctx}");

    // rounds.csv: row 0 then one row per round, every loss finite, no fault before from_round.
    let rounds = csv_rows(&run.join("rounds.csv"));
    assert_eq!(rounds.len() as u64, ROUNDS + 1, "{name}");
    for (i, r) in rounds.iter().enumerate() {
        assert_eq!(r[0], i.to_string(), "{name}");
        let l: f64 = r[1].parse().unwrap();
        assert!(l.is_finite(), "{name}: round {i} loss {l}");
        let faults: u64 = r[7].parse().unwrap();
        if (i as u64) < FROM_ROUND {
            assert_eq!(faults, 0, "{name}: fault in round {i} before from_round");
        }
    }
    let faults_in_rounds: u64 = rounds.iter().map(|r| r[7].parse::<u64>().unwrap()).sum();

    // The faults: one kind, only the faulty machines, from from_round on.
    let kind = expected_kind(mode);
    let expelled_reason = expected_expulsion(mode, aggregator);
    let total = s["faults"]["total"].as_u64().unwrap();
    let by_kind = s["faults"]["by_kind"].as_object().unwrap();
    assert_eq!(by_kind.len(), 1, "{ctx}");
    assert_eq!(by_kind[kind].as_u64(), Some(total), "{ctx}");
    assert_eq!(faults_in_rounds, total, "{ctx}");
    // An expelled machine faults once; one kept in the good set faults every round.
    let per_machine = if expelled_reason.is_some() {
        1
    } else {
        ROUNDS - FROM_ROUND + 1
    };
    assert_eq!(total, FAULTY as u64 * per_machine, "{ctx}");

    let rows = csv_rows(&run.join("faults.csv"));
    assert!(read(&run.join("faults.csv")).starts_with("round,worker,role,kind,detail\n"));
    assert_eq!(rows.len() as u64, total, "{name}");
    let first_round = rows
        .iter()
        .map(|r| r[0].parse::<u64>().unwrap())
        .min()
        .unwrap();
    assert_eq!(first_round, FROM_ROUND, "{name}: from_round not honoured");
    for r in &rows {
        assert!(r[0].parse::<u64>().unwrap() >= FROM_ROUND, "{name}: {r:?}");
        let w: usize = r[1].parse().unwrap();
        assert!((HONEST..HONEST + FAULTY).contains(&w), "{name}: {r:?}");
        assert_eq!(r[2], "byzantine", "{name}: {r:?}");
        assert_eq!(r[3], kind, "{name}: {r:?}");
    }
    // summary.json lists the first faults, as in faults.csv.
    let first = s["faults"]["first"].as_array().unwrap();
    assert_eq!(first.len() as u64, total.min(100), "{ctx}");
    for (f, r) in first.iter().zip(&rows) {
        assert_eq!(f["round"].to_string(), r[0]);
        assert_eq!(f["worker"].to_string(), r[1]);
        assert_eq!(f["role"], r[2].as_str());
        assert_eq!(f["kind"], r[3].as_str());
    }

    // Expulsions: the faulty machines with the right reason, in from_round; never an honest one.
    let exp = csv_rows(&run.join("expulsions.csv"));
    match expelled_reason {
        Some(reason) => {
            let mut ids: Vec<usize> = exp.iter().map(|r| r[1].parse().unwrap()).collect();
            ids.sort();
            assert_eq!(
                ids,
                (HONEST..HONEST + FAULTY).collect::<Vec<_>>(),
                "{name}: {exp:?}"
            );
            for r in &exp {
                assert_eq!(r[0], FROM_ROUND.to_string(), "{name}: {r:?}");
                assert_eq!(r[2], "byzantine", "{name}: {r:?}");
                assert_eq!(r[3], reason, "{name}: {r:?}");
            }
            assert_eq!(s["expelled"]["byzantine"], FAULTY, "{ctx}");
            let last = rounds.last().unwrap();
            assert_eq!(last[3], HONEST.to_string(), "{name}: good set at the end");
            assert_eq!(last[4], "0", "{name}: byzantine_in_good at the end");
        }
        None => {
            assert!(exp.is_empty(), "{name}: unexpected expulsions {exp:?}");
            assert_eq!(s["expelled"]["byzantine"], 0, "{ctx}");
        }
    }
    run
}

/// Runs a mode under both thread counts; for the deterministic modes rounds.csv, faults.csv and
/// expulsions.csv must be byte-identical.
fn check_both_thread_counts(mode: &str, aggregator: &str, deterministic: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let one = check(tmp.path(), mode, aggregator, "1");
    let two = check(tmp.path(), mode, aggregator, "2");
    if deterministic {
        for f in ["rounds.csv", "faults.csv", "expulsions.csv"] {
            assert_eq!(
                read(&one.join(f)),
                read(&two.join(f)),
                "{mode}/{aggregator}: {f} differs between 1 and 2 threads"
            );
        }
    }
}

macro_rules! fault_tests {
    ($($name:ident: $mode:literal, $aggregator:literal, $deterministic:literal;)*) => {
        $(
            #[test]
            fn $name() {
                check_both_thread_counts($mode, $aggregator, $deterministic);
            }
        )*
    };
}

fault_tests! {
    nan_under_mean: "nan", "mean", true;
    nan_under_safeguard: "nan", "safeguard", true;
    inf_under_mean: "inf", "mean", true;
    inf_under_safeguard: "inf", "safeguard", true;
    wrong_length_under_mean: "wrong_length", "mean", true;
    wrong_length_under_safeguard: "wrong_length", "safeguard", true;
    silent_under_mean: "silent", "mean", true;
    silent_under_safeguard: "silent", "safeguard", true;
    twice_under_mean: "twice", "mean", true;
    twice_under_safeguard: "twice", "safeguard", true;
    panic_under_mean: "panic", "mean", true;
    panic_under_safeguard: "panic", "safeguard", true;
    // Wall-clock timeouts: checked, but not compared byte for byte.
    hang_under_mean: "hang", "mean", false;
    hang_under_safeguard: "hang", "safeguard", false;
}

#[test]
fn a_hanging_machine_costs_one_timeout_not_one_per_round() {
    // 300 rounds with a 200 ms timeout: if the timeout fired every round the run would take
    // a minute; the machines are expelled at the first one.
    let tmp = tempfile::tempdir().unwrap();
    let mut s = scenario("hang-long", "hang", "mean", 200);
    s["rounds"] = json!(300);
    let (out, run) = run_json(tmp.path(), &s, &[]);
    assert_code(&out, 0);
    let sum = summary(&run);
    assert_eq!(sum["status"], "completed");
    assert_eq!(sum["rounds"], 300);
    assert_eq!(
        sum["faults"]["by_kind"],
        json!({"timeout": FAULTY}),
        "{sum}"
    );
    // Both machines hang in the same round: one timeout for both.
    let rows = csv_rows(&run.join("faults.csv"));
    assert!(
        rows.iter().all(|r| r[0] == FROM_ROUND.to_string()),
        "{rows:?}"
    );
    // (The counts above show the timeout fired once, in one round: the hung machines were
    // expelled and never asked again. No wall-clock assertion: timings belong in benches.)
}

#[test]
fn faults_from_the_first_round_even_from_a_faulty_majority() {
    // from_round 1; under mean the faulty machines are the majority (nothing valid comes from
    // them in any round, the run completes on the single honest machine); the safeguard needs an
    // honest majority, so it gets 3 honest + 2 faulty.
    let tmp = tempfile::tempdir().unwrap();
    for (mode, aggregator) in [
        ("nan", "mean"),
        ("silent", "safeguard"),
        ("panic", "mean"),
        ("wrong_length", "mean"),
    ] {
        let mut s = scenario(
            &format!("majority-{mode}-{aggregator}"),
            mode,
            aggregator,
            2000,
        );
        let (honest, faulty) = if aggregator == "mean" { (1, 4) } else { (3, 2) };
        s["workers"] = json!({"honest": honest, "byzantine": faulty});
        s["attack"]["from_round"] = json!(1);
        s["rounds"] = json!(60);
        let (out, run) = run_json(tmp.path(), &s, &["--threads", "2"]);
        assert_code(&out, 0);
        let sum = summary(&run);
        assert_eq!(sum["status"], "completed", "{sum}");
        assert_eq!(sum["rounds"], 60);
        assert_eq!(sum["expelled"]["honest"], 0, "{sum}");
        assert!(sum["final"]["loss"].as_f64().unwrap() < 1.0, "{sum}");
        let rows = csv_rows(&run.join("faults.csv"));
        assert_eq!(
            rows.iter().map(|r| r[0].as_str()).min(),
            Some("1"),
            "{mode}"
        );
        assert!(rows.iter().all(|r| r[3] == expected_kind(mode)), "{rows:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// A custom actix actor as a Byzantine machine.
//
// `run_blocking` builds its Byzantine actors from the scenario (the built-in attack kinds), so a
// custom actor cannot be passed to it. The public lower-level path: build a `Coordinator` with
// any `Recipient<ByzantineRequest>` and drive it with `RunRound` messages inside an actix
// System. The tests below use that path.

use actix::prelude::*;
use safeguard_sim::actors::{
    ByzantineRequest, Coordinator, CoordinatorConfig, GradientRequest, HonestWorker, ReplyTo, Role,
    RoundEvent, RunRound,
};
use safeguard_sim::aggregate::{Aggregator, Mean};
use safeguard_sim::linalg::Vector;
use safeguard_sim::rng::{stream, streams};
use safeguard_sim::scenario::Scenario;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A stateful adversary: sends the negated honest mean, stays silent in round 3, answers late
/// (from a timer, within the timeout) in round 4 and, depending on `keep_handle`, either keeps
/// round 5's handle and sends through it again in round 6, or panics in its handler in round 7.
struct Scripted {
    keep_handle: bool,
    old: Option<ReplyTo>,
    stale_send_accepted: Arc<AtomicBool>,
}

impl Actor for Scripted {
    type Context = Context<Self>;
}

impl Handler<ByzantineRequest> for Scripted {
    type Result = ();
    fn handle(&mut self, msg: ByzantineRequest, ctx: &mut Context<Self>) {
        let view = &msg.view;
        let dim = view.params.len();
        let mut honest_mean = Vector::zeros(dim);
        for (_, g) in view.honest.iter() {
            honest_mean += g;
        }
        honest_mean /= view.honest.len().max(1) as f64;
        match view.round {
            // Silent: drop the handle.
            3 => {}
            // Answer later, from a timer, well within the reply timeout.
            4 => {
                let reply = msg.reply;
                ctx.run_later(Duration::from_millis(20), move |_, _| {
                    reply.send(-honest_mean);
                });
            }
            // Answer now, and keep this round's handle: the round then ends at the reply
            // timeout (the coordinator waits for every handle), with the reply counted.
            5 if self.keep_handle => {
                msg.reply.send(-honest_mean);
                self.old = Some(msg.reply);
            }
            // Answer this round, and also through round 5's handle: that round is over, the
            // stale 1e9 vector must not arrive anywhere.
            6 if self.keep_handle => {
                if let Some(old) = self.old.take()
                    && old.send(Vector::from_elem(dim, 1e9))
                {
                    self.stale_send_accepted.store(true, Ordering::SeqCst);
                }
                msg.reply.send(-honest_mean);
            }
            7 if !self.keep_handle => panic!("scripted adversary: deliberate panic in round 7"),
            _ => {
                msg.reply.send(-honest_mean);
            }
        }
    }
}

fn quadratic(dim: usize) -> Scenario {
    let text = format!(
        r#"{{"name":"custom","seed":5,"rounds":10,"workers":{{"honest":4,"byzantine":1}},
        "problem":{{"kind":"quadratic","dim":{dim}}},"optimizer":{{"lr":0.05}},"aggregator":{{"kind":"mean"}}}}"#
    );
    Scenario::from_json_str(&text, "custom.json").unwrap()
}

/// Runs 12 rounds with 4 honest machines and the `Scripted` machine (id 4), started on the
/// System arbiter or on an Arbiter thread; returns the events and whether a stale send went
/// through.
fn run_scripted(
    on_own_arbiter: bool,
    keep_handle: bool,
    reply_timeout: Duration,
) -> (Vec<RoundEvent>, bool) {
    let scenario = quadratic(3);
    let problem = scenario.problem();
    let initial = problem.initial_point(&mut stream(5, streams::INIT));
    let stale = Arc::new(AtomicBool::new(false));
    let stale_send_accepted = stale.clone();
    let system = System::new();
    let events = system.block_on(async move {
        let arbiter = Arbiter::new();
        let mut honest: Vec<(usize, Recipient<GradientRequest>)> = Vec::new();
        for id in 0..4 {
            let addr = HonestWorker::new(id, problem.clone(), stream(5, id as u64)).start();
            honest.push((id, addr.recipient()));
        }
        let scripted = Scripted {
            keep_handle,
            old: None,
            stale_send_accepted,
        };
        let byz: Recipient<ByzantineRequest> = if on_own_arbiter {
            Scripted::start_in_arbiter(&arbiter.handle(), move |_| scripted).recipient()
        } else {
            scripted.start().recipient()
        };
        let roles = vec![
            Role::Honest,
            Role::Honest,
            Role::Honest,
            Role::Honest,
            Role::Byzantine,
        ];
        let aggregator: Box<dyn Aggregator> = Box::new(Mean);
        let config = CoordinatorConfig {
            lr: 0.05,
            perturbation: 0.0,
            divergence_norm: 1e6,
            reply_timeout,
            schedule: Default::default(),
            server_momentum: Default::default(),
            evaluation: safeguard_sim::evaluation::EvaluationPlan::every_round(12),
            stop: None,
        };
        let coordinator = Coordinator::new(
            problem.clone(),
            aggregator,
            config,
            initial,
            roles,
            honest,
            vec![(4, byz)],
            stream(5, streams::PERTURBATION),
        )
        .start();
        let mut events = Vec::new();
        for _ in 0..12 {
            events.push(
                coordinator
                    .send(RunRound)
                    .await
                    .expect("the coordinator answers"),
            );
        }
        arbiter.stop();
        events
    });
    (events, stale.load(Ordering::SeqCst))
}

fn faults(events: &[RoundEvent]) -> Vec<(u64, &'static str)> {
    for f in events.iter().flat_map(|e| &e.faults) {
        assert_eq!((f.worker, f.role), (4, Role::Byzantine));
    }
    events
        .iter()
        .flat_map(|e| e.faults.iter().map(|f| (f.round, f.kind)))
        .collect()
}

fn expulsions(events: &[RoundEvent]) -> Vec<(u64, usize, &str)> {
    events
        .iter()
        .flat_map(|e| {
            e.expulsions
                .iter()
                .map(move |x| (e.round, x.worker, x.reason.as_str()))
        })
        .collect()
}

fn check_crashing_custom_actor(on_own_arbiter: bool) {
    // A generous timeout: a crash is seen at once (the reply handle is dropped during the
    // unwinding); only a panic hook slower than the timeout (a backtrace printed under heavy
    // load) would make it a `timeout` instead.
    let (events, _) = run_scripted(on_own_arbiter, false, Duration::from_secs(5));
    assert_eq!(events.len(), 12);
    // Round 3's silence is a fault; round 4's late reply arrived; the crash expels the machine.
    assert_eq!(
        faults(&events),
        vec![(3, "silent"), (7, "crashed")],
        "{events:#?}"
    );
    assert_eq!(expulsions(&events), vec![(7, 4, "crashed")]);
    for e in &events {
        let expected = if e.round < 7 { 1 } else { 0 };
        assert_eq!(e.byzantine_in_good, expected, "round {}", e.round);
        assert_eq!(e.good, 4 + expected);
        assert!(e.loss.is_finite() && e.params.iter().all(|x| x.is_finite()));
        assert!(!e.diverged);
    }
}

#[test]
fn custom_actor_on_the_system_arbiter_can_be_a_byzantine_machine_and_crash() {
    check_crashing_custom_actor(false);
}

#[test]
fn custom_actor_on_its_own_arbiter_thread_behaves_the_same() {
    check_crashing_custom_actor(true);
}

#[test]
fn a_reply_through_a_finished_rounds_handle_goes_nowhere() {
    for on_own_arbiter in [false, true] {
        let (events, stale_accepted) =
            run_scripted(on_own_arbiter, true, Duration::from_millis(200));
        assert!(
            !stale_accepted,
            "a reply through a finished round's handle was accepted"
        );
        // Round 5 ended at the timeout, but the machine had answered: no fault, no expulsion.
        assert_eq!(faults(&events), vec![(3, "silent")], "{events:#?}");
        assert!(expulsions(&events).is_empty());
        assert!(
            events
                .iter()
                .all(|e| e.byzantine_in_good == 1 && e.loss.is_finite())
        );
        // Round 6's stale 1e9 vector did not reach the update: the step stayed small.
        let (before, after) = (&events[4].params, &events[5].params);
        let step: f64 = before
            .iter()
            .zip(after.iter())
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(step < 10.0, "step {step}");
    }
}
