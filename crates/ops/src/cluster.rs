//! Cluster membership (SPEC §10): this node's identity, its heartbeat in the store, and what
//! the store says about the other nodes and which node holds which agent. A node on sled is a
//! cluster of one: the store has no membership rows and the listing is this node alone.

use argus_fsm::wire::NodeLoad;

use crate::membership::{live_node_loads, worth_telling, Heartbeat, HEARTBEAT_EVERY, LOADS_RETOLD_AFTER};
use crate::store::StoreError;

/// Writes this node's heartbeat every [`HEARTBEAT_EVERY`] (shared stores only). A failed write
/// is logged; the node keeps serving what it can and the others see it dead after 10 s.
pub async fn heartbeat_driver(ops: std::sync::Arc<crate::state::Ops>, beat: Heartbeat) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (store, beat) = (ops.store.clone(), beat.clone());
        let unreleased = std::mem::take(&mut *ops.unreleased.lock().expect("unreleased lock"));
        let retry = ops.clone();
        let written = tokio::task::spawn_blocking(move || {
            let Some(cluster) = store.cluster() else { return Ok(Vec::new()) };
            for (agent, epoch) in unreleased {
                if cluster.release_presence(&agent, epoch).is_err() {
                    retry.unreleased.lock().expect("unreleased lock").push((agent, epoch));
                }
            }
            cluster.heartbeat(&beat)?;
            cluster.nodes()
        });
        match written.await {
            Ok(Ok(nodes)) => tell_agents_of_nodes(&ops, live_node_loads(nodes)),
            Ok(Err(error)) => tracing::warn!(%error, "heartbeat not written"),
            Err(error) => tracing::warn!(%error, "heartbeat task failed"),
        }
    }
}

/// Tells every agent this node holds where the other nodes are and what they hold, when the
/// set changed, or when the loads moved and the last telling is old enough.
fn tell_agents_of_nodes(ops: &crate::state::Ops, nodes: Vec<NodeLoad>) {
    let mut told = ops.live_nodes.lock().expect("live nodes lock");
    let recently = told.at.is_some_and(|at| at.elapsed() < LOADS_RETOLD_AFTER);
    if !worth_telling(&told.nodes, &nodes, recently) {
        return;
    }
    told.nodes = nodes.clone();
    told.at = Some(std::time::Instant::now());
    drop(told);
    let message = argus_fsm::wire::ServerMessage::Nodes { nodes };
    ops.reach.tell_all(&message);
}

/// Keeps this node's view current with what other nodes write: reads again the keys each
/// announcement names (or everything, after a lost listening connection), and acts on what
/// concerns the links it holds — a revoked agent is cut off, an ended session is told to its
/// agent.
pub async fn follow_changes(
    ops: std::sync::Arc<crate::state::Ops>,
    mut changes: tokio::sync::mpsc::UnboundedReceiver<crate::store::Changes>,
) {
    while let Some(first) = changes.recv().await {
        // Everything queued meanwhile is handled as one batch.
        let mut merged = first;
        while let Ok(more) = changes.try_recv() {
            merged.merge(more);
        }
        let result = if merged.everything { reload_everything(&ops).await } else { apply(&ops, merged).await };
        if let Err(error) = result {
            // The store is away: reload everything once it answers again.
            tracing::warn!(%error, "could not read other nodes' changes; the view reloads when the store is back");
            ops.writer.stale();
        }
    }
}

/// Reads these tenants and agents from the store now (a node about to decide on a record
/// another node may have just written). A store that cannot answer leaves the view as it is.
pub async fn refresh(ops: &crate::state::Ops, tenants: Vec<String>, agents: Vec<String>) {
    let changes = crate::store::Changes { tenants, agents, ..Default::default() };
    if let Err(error) = apply(ops, changes).await {
        tracing::warn!(%error, "could not read records from the store; deciding from this node's view");
    }
}

pub(crate) async fn apply(ops: &crate::state::Ops, changes: crate::store::Changes) -> Result<(), StoreError> {
    // Read under the registry lock, so no write of this node interleaves between the read and
    // its use; and what this node wrote but has not flushed yet is newer than what the store
    // answers, so it is kept — except a revocation or an end, which are final wherever made.
    let Some(cluster) = ops.store.cluster() else { return Ok(()) };
    let mut registry = ops.registry.write().await;
    let reread = cluster.reread(&changes)?;
    let mine = ops.writer.unflushed();
    for tenant in reread.tenants {
        if !mine.tenants.contains(&tenant.id) {
            registry.tenants.insert(tenant.id.clone(), tenant);
        }
    }
    for pat in reread.pats {
        if pat.revoked_at.is_some() || !mine.pats.contains(&hex::encode(pat.hash)) {
            registry.pats.insert(pat.hash, pat);
        }
    }
    for agent in reread.agents {
        let rule = crate::decide::follow::agent(&agent, mine.agents.contains(&agent.agent_id));
        if rule.disconnect {
            ops.reach.disconnect(&agent.agent_id, "agent_revoked");
        }
        if rule.keep {
            registry.agents.insert(agent.agent_id.clone(), agent);
        }
    }
    for session in reread.sessions {
        let rule = crate::decide::follow::session(
            registry.sessions.get(&session.id),
            &session,
            mine.sessions.contains(&session.id),
        );
        if let Some(reason) = rule.tell_end {
            drop(ops.reach.end_here(&session.agent_id, &session.id, reason));
        }
        if rule.keep {
            registry.remember_session(session);
        }
    }
    for request in reread.requests {
        // What this node changed and has not flushed is newer, unless the store holds a later
        // stage already (the store never lets a decision be undone).
        let held = registry.requests.get(&request.request_id).map(|r| request_stage(&r.state));
        if !mine.requests.contains(&request.request_id) || held.is_none_or(|h| request_stage(&request.state) > h) {
            registry.requests.insert(request.request_id.clone(), request);
        }
    }
    // A tenant disarmed elsewhere: its sessions here end in the expiry driver's next sweep
    // (`decide::end::orphaned`), and a command on one ends it at once.
    Ok(())
}

/// How far along an access request is: pending, approved, then final (denied, expired, used).
fn request_stage(state: &argus_fsm::access::RequestState) -> u8 {
    use argus_fsm::access::RequestState;
    match state {
        RequestState::Pending => 0,
        RequestState::Approved { .. } => 1,
        RequestState::Denied { .. } | RequestState::Expired { .. } | RequestState::Used { .. } => 2,
    }
}

/// Replaces this node's view with the store's, then cuts off links of agents revoked meanwhile.
async fn reload_everything(ops: &crate::state::Ops) -> Result<(), StoreError> {
    let mut registry = ops.registry.write().await;
    ops.reload_locked(&mut registry).await
}

/// Notes the time every [`crate::wake::TICK`] (cluster nodes only: a node alone on its store
/// has nobody else's changes to miss).
pub async fn wake_ticker(ops: std::sync::Arc<crate::state::Ops>) {
    let mut tick = tokio::time::interval(crate::wake::TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        ops.wakefulness.tick();
    }
}
