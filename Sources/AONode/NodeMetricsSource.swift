import AOHTTP
import AOStoreLMDB
import AOTransportUV

/// `GET /metrics`: publishes the counters the node's parts keep (runtime, gossip, scheduler, transport, replication,
/// store) into the node's `NodeMetrics` registry at scrape time, then renders the registry in the Prometheus text
/// format.
final class NodeMetricsSource: @unchecked Sendable {
    let metrics: NodeMetrics
    let runtime: NodeRuntime
    let store: LMDBContentStore
    let transport: UVTransport
    let http: HTTPCounters
    let replication: Replication?

    init(metrics: NodeMetrics, runtime: NodeRuntime, store: LMDBContentStore, transport: UVTransport, http: HTTPCounters,
         replication: Replication? = nil) {
        self.metrics = metrics
        self.runtime = runtime; self.store = store; self.transport = transport; self.http = http
        self.replication = replication
    }

    func text() async -> String {
        let (c, g, s, pending) = await runtime.snapshotCounters()
        let peers = await runtime.connectedPeers().count
        let metrics = self.metrics
        func metric(_ name: String, _ type: String, _ help: String, _ value: Int) {
            if type == "counter" { metrics.publishCounter(name, help, value) } else { metrics.publishGauge(name, help, value) }
        }
        metric("aonode_peers_connected", "gauge", "Authenticated peer connections.", peers)
        metric("aonode_peer_connections_replaced_total", "counter",
               "Peer connections replaced by another to the same peer (simultaneous dials); the link is kept.", c.connectionsReplaced)
        metric("aonode_gossip_published_total", "counter", "Items this node published on gossip.", c.gossipPublished)
        metric("aonode_gossip_delivered_total", "counter", "New valid items received by gossip.", c.gossipDelivered)
        metric("aonode_gossip_rejected_total", "counter", "Invalid items received by gossip.", c.gossipRejected)
        metric("aonode_gossip_duplicates_total", "counter", "Copies of already seen items received.", g.duplicates)
        metric("aonode_submissions_accepted_total", "counter", "Messages accepted (durable, 202).", c.submissionsAccepted)
        metric("aonode_submissions_pending", "gauge", "Accepted messages not yet known assigned.", pending)
        metric("aonode_slots_committed_total", "counter", "Assignments committed by groups this node is in.", c.slotsCommitted)
        metric("aonode_leader_changes_total", "counter", "Leader changes seen in this node's groups.", c.leaderChanges)
        metric("aonode_equivocations_total", "counter", "Equivocation proofs detected.", c.equivocations)
        metric("aonode_conflicting_assignments_total", "counter", "Gossiped assignments that differ from the logged one for a slot.",
               c.conflictingAssignments)
        metric("aonode_scheduling_envelopes_refused_total", "counter", "Undecodable scheduling envelopes.", s.envelopesRefused)
        metric("aonode_bad_frames_total", "counter", "Undecodable peer frames.", c.badFrames)
        metric("aonode_store_errors_total", "counter", "Store writes that failed.", c.storeErrors)
        metric("aonode_gossip_payloads_received_total", "counter", "Gossip payload copies received (new and duplicate).", g.payloadsReceived)
        metric("aonode_gossip_payloads_sent_total", "counter", "Gossip payload copies sent.", g.payloadsSent)
        metric("aonode_gossip_accepted_total", "counter", "Gossip items validated and delivered.", g.accepted)
        metric("aonode_gossip_iwant_sent_total", "counter", "IWANT requests sent.", g.iwantSent)
        metric("aonode_gossip_dropped_validation_backlog_total", "counter", "Items dropped because the validation backlog was full.",
               g.droppedValidationBacklog)
        metric("aonode_gossip_broken_promises_total", "counter", "IWANT requests not answered in time.", g.brokenPromises)
        metric("aonode_transport_read_pauses_total", "counter", "Times reading paused because events were not consumed fast enough.",
               transport.counters.readPauses)
        let t = transport.counters
        metric("aonode_transport_bytes_sent_total", "counter", "Bytes written to peer connections (encrypted).", t.bytesSent)
        metric("aonode_transport_bytes_received_total", "counter", "Bytes read from peer connections (encrypted).", t.bytesReceived)
        metric("aonode_transport_frames_sent_total", "counter", "Frames sent to peers.", t.framesSent)
        if let r = replication?.snapshot {
            metric("aonode_replication_sync_requests_sent_total", "counter", "Process log sync requests sent.", r.syncRequestsSent)
            metric("aonode_replication_sync_requests_served_total", "counter", "Process log sync requests answered.", r.syncRequestsServed)
            metric("aonode_replication_wants_sent_total", "counter", "Fetch-by-id requests sent.", r.wantsSent)
            metric("aonode_replication_items_ingested_total", "counter", "Fetched items validated and delivered.", r.itemsIngested)
            metric("aonode_replication_items_refused_total", "counter", "Fetched items refused (invalid or not asked for).", r.itemsRefused)
            metric("aonode_replication_items_served_total", "counter", "Items sent to peers by replication.", r.itemsServed)
            metric("aonode_replication_summaries_received_total", "counter", "Anti-entropy summaries received.", r.summariesReceived)
            metric("aonode_replication_bad_messages_total", "counter", "Undecodable replication messages.", r.badMessages)
            metric("aonode_replication_tip_mismatches_total", "counter", "Equal slot counts with different tips (diverging logs).", r.tipMismatches)
            metric("aonode_replication_missing_bodies_total", "counter", "Log entries found without their message.", r.missingBodies)
            metric("aonode_replication_timeouts_total", "counter", "Replication requests that timed out.", r.timeouts)
        }
        if let st = try? store.statistics() {
            metric("aonode_store_items", "gauge", "Data items in the store.", st.itemCount)
            metric("aonode_store_item_bytes", "gauge", "Bytes of data items in the store.", st.itemBytes)
            metric("aonode_store_map_used_bytes", "gauge", "LMDB map bytes in use.", st.mapBytesUsed)
        }
        return metrics.exposition()
    }
}
