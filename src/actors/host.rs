//! Machine hosts: one actor per arbiter thread, holding the machines placed there.
//!
//! The coordinator sends one `HostRequest` per host and phase (honest, then Byzantine); the host
//! forwards the request to each of its machines that is still good, as an ordinary actix message
//! on its own thread, collects their replies on a channel made for the round, and sends them back
//! in one `Batch`. A round therefore costs two cross-thread messages per host and phase,
//! whatever the number of machines: the cost of a round's messages does not grow with the
//! machines placed on other threads.
//!
//! What the coordinator sees is what it saw when every machine answered it directly: each reply
//! is stamped by the machine's [`ReplyTo`] handle (its id, its round), a handle dropped during a
//! panic marks a crash, and a machine that keeps its handle is cut off by the reply timeout,
//! which the host applies to its own machines (the coordinator keeps a later backstop, in case a
//! host's thread is blocked).

use super::spin;
use super::{ByzantineRequest, GradientRequest, Reply, ReplyBody, ReplyTo};
use crate::attack::RoundView;
use crate::linalg::Vector;
use actix::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// The machines one host holds, on one arbiter (see [`crate::actors::Coordinator::grouped`]).
pub struct MachineGroup {
    /// The arbiter the host runs on: `None` for the coordinator's own arbiter. The machines
    /// should live there too (a message to a machine on another thread still works, but costs a
    /// cross-thread hop).
    pub arbiter: Option<ArbiterHandle>,
    /// Its honest machines, by id.
    pub honest: Vec<(usize, Recipient<GradientRequest>)>,
    /// Its Byzantine machines, by id.
    pub byzantine: Vec<(usize, Recipient<ByzantineRequest>)>,
}

/// What a phase asks of the machines.
pub(crate) enum Phase {
    /// Honest machines: a gradient at these parameters.
    Honest(Arc<Vector>),
    /// Byzantine machines: their vector, given the round's view.
    Byzantine(Arc<RoundView>),
}

/// One phase of one round, for one host.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct HostRequest {
    pub(crate) round: u64,
    pub(crate) phase: Phase,
    /// The good set, by machine id: only good machines are asked.
    pub(crate) good: Arc<[bool]>,
    /// How long the machines get to answer (`None`: until every handle is dropped).
    pub(crate) timeout: Option<Duration>,
    /// Where the batch goes.
    pub(crate) reply: UnboundedSender<Batch>,
}

/// How a machine's handle was dropped without a reply, or during a panic.
#[derive(Debug, Clone, Default)]
pub(crate) struct Release {
    /// Dropped while its thread unwound from a panic: the machine crashed.
    pub(crate) panicking: bool,
    /// The panic's message and location, when the quiet panic hook recorded it.
    pub(crate) message: Option<String>,
}

/// What one machine did in one phase.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    /// Its first reply (the one that counts).
    pub(crate) first: Option<Vector>,
    /// Replies after the first (a `duplicate_reply` fault); they are not kept.
    pub(crate) extra: usize,
    /// Its handle was dropped before it replied, or during a panic.
    pub(crate) released: Option<Release>,
}

/// A host's answers for one phase.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// `(machine id, answer)` for every machine the host asked.
    pub(crate) answers: Vec<(usize, Answer)>,
    /// The reply timeout fired before every handle was dropped.
    pub(crate) timed_out: bool,
}

/// The actor that runs one group's phases (see the module docs).
pub(crate) struct MachineHost {
    honest: Vec<(usize, Recipient<GradientRequest>)>,
    byzantine: Vec<(usize, Recipient<ByzantineRequest>)>,
    /// A host on another thread than the coordinator's keeps its thread awake for
    /// [`spin::SPIN_BUDGET`] after each batch, waiting for the next request (see [`spin`]).
    remote: bool,
    /// Requests handled so far (ends the spin that waits for the next one).
    requests: Arc<AtomicU64>,
}

impl MachineHost {
    pub(crate) fn new(
        honest: Vec<(usize, Recipient<GradientRequest>)>,
        byzantine: Vec<(usize, Recipient<ByzantineRequest>)>,
        remote: bool,
    ) -> Self {
        MachineHost {
            honest,
            byzantine,
            remote,
            requests: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Actor for MachineHost {
    type Context = Context<Self>;
}

impl Handler<HostRequest> for MachineHost {
    type Result = ();
    fn handle(&mut self, req: HostRequest, _: &mut Context<Self>) {
        let HostRequest {
            round,
            phase,
            good,
            timeout,
            reply,
        } = req;
        // Only this host's thread touches the counter: `Relaxed` is enough.
        let seen = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = unbounded_channel();
        let mut asked = Vec::new();
        let mut stamp = |id: usize| {
            let slot = asked.len();
            asked.push(id);
            ReplyTo::new(id, round, slot, tx.clone())
        };
        let is_good = |id: usize| good.get(id).copied().unwrap_or(false);
        match phase {
            Phase::Honest(params) => {
                for (id, r) in self.honest.iter().filter(|(id, _)| is_good(*id)) {
                    r.do_send(GradientRequest {
                        round,
                        params: params.clone(),
                        reply: stamp(*id),
                    });
                }
            }
            Phase::Byzantine(view) => {
                for (id, r) in self.byzantine.iter().filter(|(id, _)| is_good(*id)) {
                    r.do_send(ByzantineRequest {
                        view: view.clone(),
                        reply: stamp(*id),
                    });
                }
            }
        }
        // The host keeps neither the sender (the channel closes once every machine's handle is
        // dropped) nor the round's view (the coordinator takes its vectors back afterwards).
        drop(tx);
        let (remote, requests) = (self.remote, self.requests.clone());
        actix::spawn(async move {
            let batch = collect(rx, asked, timeout).await;
            // Fails only when the coordinator gave up on the phase (its backstop).
            let _ = reply.send(batch);
            if remote {
                // The next request (the next phase or round) usually follows within the
                // coordinator's serial part: wait for it awake.
                spin::until(spin::SPIN_BUDGET, || {
                    requests.load(Ordering::Relaxed) != seen
                })
                .await;
            }
        });
    }
}

/// Collect the replies of the machines `asked` (slot `k` is machine `asked[k]`), until every
/// handle is dropped or the timeout fires.
async fn collect(
    mut rx: UnboundedReceiver<Reply>,
    asked: Vec<usize>,
    timeout: Option<Duration>,
) -> Batch {
    let mut answers: Vec<(usize, Answer)> = asked
        .into_iter()
        .map(|id| (id, Answer::default()))
        .collect();
    let receive = async {
        // Ends when every handle of the round has been dropped.
        while let Some(r) = rx.recv().await {
            let Some((_, a)) = answers.get_mut(r.slot) else {
                continue;
            };
            match r.body {
                ReplyBody::Gradient(g) => {
                    if a.first.is_none() {
                        a.first = Some(g);
                    } else {
                        a.extra += 1;
                    }
                }
                ReplyBody::Dropped { panicking, message } => {
                    let e = a.released.get_or_insert_with(Release::default);
                    e.panicking |= panicking;
                    if e.message.is_none() {
                        e.message = message;
                    }
                }
            }
        }
    };
    let timed_out = match timeout {
        Some(t) => tokio::time::timeout(t, receive).await.is_err(),
        None => {
            receive.await;
            false
        }
    };
    Batch { answers, timed_out }
}
