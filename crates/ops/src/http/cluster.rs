//! `GET /support/cluster`: the nodes sharing this node's store (SPEC §10). On sled, the node
//! alone.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::gate::Need;
use crate::http::error::ApiError;
use crate::http::extract::Gated;
use crate::membership::NodeInfo;
use crate::state::Ops;
use crate::time_format::{now, rfc3339};

/// `GET /support/cluster`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ClusterView {
    nodes: Vec<NodeInfo>,
}

/// The cluster's nodes, alive or dead, with the agents each holds (admin, or remote_support not
/// bound to a tenant: the counts span every tenant).
#[utoipa::path(get, path = "/support/cluster", tag = "cluster",
    responses((status = 200, description = "The nodes", body = ClusterView)))]
pub(crate) async fn cluster(State(ops): State<Arc<Ops>>, gated: Gated) -> Result<Json<ClusterView>, ApiError> {
    gated.require(&ops, Need::FleetWide).await?;
    if ops.store.cluster().is_none() {
        let addresses = ops.addresses.get();
        let this = NodeInfo {
            node_id: ops.node_id.clone(),
            api: addresses.map(|a| a.api.clone()).unwrap_or_default(),
            agent: addresses.map(|a| a.agent.clone()).unwrap_or_default(),
            peer: addresses.and_then(|a| a.peer.clone()),
            alive: true,
            agents_online: ops.reach.online() as u64,
            last_heartbeat: rfc3339(now()),
        };
        return Ok(Json(ClusterView { nodes: vec![this] }));
    }
    let store = ops.store.clone();
    let nodes = tokio::task::spawn_blocking(move || store.cluster().map_or(Ok(Vec::new()), |c| c.nodes()))
        .await
        .map_err(|_| ApiError::from(argus_fsm::Code::Internal))?
        .map_err(|error| crate::http::error::store_error(&error))?;
    Ok(Json(ClusterView { nodes }))
}
