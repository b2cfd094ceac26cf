import AOHTTP
import AOStoreLMDB
import AOTransportUV

/// Renders the node's counters in the Prometheus text format for `GET /metrics`.
final class NodeMetricsSource: @unchecked Sendable {
    let runtime: NodeRuntime
    let store: LMDBContentStore
    let transport: UVTransport
    let http: HTTPCounters

    init(runtime: NodeRuntime, store: LMDBContentStore, transport: UVTransport, http: HTTPCounters) {
        self.runtime = runtime; self.store = store; self.transport = transport; self.http = http
    }

    func text() async -> String {
        let (c, g, s, pending) = await runtime.snapshotCounters()
        let peers = await runtime.connectedPeers().count
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: Int) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        metric("aonode_peers_connected", "gauge", "Authenticated peer connections.", peers)
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
        if let st = try? store.statistics() {
            metric("aonode_store_items", "gauge", "Data items in the store.", st.itemCount)
            metric("aonode_store_item_bytes", "gauge", "Bytes of data items in the store.", st.itemBytes)
            metric("aonode_store_map_used_bytes", "gauge", "LMDB map bytes in use.", st.mapBytesUsed)
        }
        return out
    }
}
