import Foundation
import Metrics
import Testing
@testable import AONode

@Suite struct NodeMetricsTests {
    /// The value of the series `name` (a full series name with labels, e.g. `aonode_errors_total{kind="store"}`).
    static func value(_ exposition: String, _ series: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func countersGaugesAndHistogramsAppearInTheExposition() {
        let metrics = NodeMetrics.isolated()
        metrics.publishGauge("aonode_peers_connected", "Transport peers with a completed handshake.", 2)
        metrics.publishCounter("aonode_gossip_published_total", "Items this node published on gossip.", 1)
        metrics.publishCounter("aonode_gossip_delivered_total", "New valid items received by gossip.", 5)
        metrics.publishCounter("aonode_gossip_rejected_total", "Invalid items received by gossip.", 0)
        metrics.recordError("store")
        metrics.recordError("store")
        metrics.recordError("transport")
        metrics.recordEvaluation(duration: .milliseconds(3))
        metrics.recordEvaluation(duration: .milliseconds(700))
        var text = metrics.exposition()

        #expect(Self.value(text, "aonode_peers_connected") == 2)
        #expect(Self.value(text, "aonode_gossip_published_total") == 1)
        #expect(Self.value(text, "aonode_gossip_delivered_total") == 5)
        #expect(Self.value(text, "aonode_gossip_rejected_total") == 0)  // published as 0: present before the first event
        #expect(Self.value(text, #"aonode_errors_total{kind="store"}"#) == 2)
        #expect(Self.value(text, #"aonode_errors_total{kind="transport"}"#) == 1)
        #expect(Self.value(text, "aonode_compute_evaluations_total") == 2)
        #expect(Self.value(text, "aonode_compute_evaluation_duration_seconds_count") == 2)
        #expect(Self.value(text, #"aonode_compute_evaluation_duration_seconds_bucket{le="0.005"}"#) == 1)
        #expect(Self.value(text, #"aonode_compute_evaluation_duration_seconds_bucket{le="1.0"}"#) == 2)
        #expect(text.contains("# TYPE aonode_gossip_delivered_total counter"))
        #expect(text.contains("# HELP aonode_peers_connected Transport peers with a completed handshake."))
        #expect(text.contains("# TYPE aonode_peers_connected gauge"))

        // Publishing again moves a counter to the new value (by the difference), never backwards; a gauge follows.
        metrics.publishCounter("aonode_gossip_delivered_total", "New valid items received by gossip.", 12)
        metrics.publishCounter("aonode_gossip_published_total", "Items this node published on gossip.", 0)
        metrics.publishGauge("aonode_peers_connected", "Transport peers with a completed handshake.", 1)
        text = metrics.exposition()
        #expect(Self.value(text, "aonode_gossip_delivered_total") == 12)
        #expect(Self.value(text, "aonode_gossip_published_total") == 1)
        #expect(Self.value(text, "aonode_peers_connected") == 1)
        // Every series is an aonode_ one.
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.hasPrefix("aonode_"), "\(line)")
        }
    }

    @Test func isolatedRegistriesKeepNodesApartAndTheSharedOneIsShared() {
        let a = NodeMetrics.isolated(), b = NodeMetrics.isolated()
        a.publishCounter("aonode_leader_changes_total", "Leader changes.", 1)
        b.publishCounter("aonode_leader_changes_total", "Leader changes.", 0)
        #expect(Self.value(a.exposition(), "aonode_leader_changes_total") == 1)
        #expect(Self.value(b.exposition(), "aonode_leader_changes_total") == 0)

        // Two NodeMetrics on the process registry see the same series (stable names, no crash on re-creation).
        let p1 = NodeMetrics(), p2 = NodeMetrics()
        let before = Self.value(p1.exposition(), "aonode_compute_evaluations_total") ?? -1
        p2.recordEvaluation(duration: .milliseconds(1))
        #expect(Self.value(p1.exposition(), "aonode_compute_evaluations_total") == before + 1)
    }

    @Test func bootstrapIsIdempotentAndRoutesSwiftMetricsToTheProcessRegistry() {
        let r1 = NodeMetrics.bootstrapMetricsSystem()
        let r2 = NodeMetrics.bootstrapMetricsSystem()
        #expect(r1 === r2 && r1 === NodeMetrics.processRegistry)
        Counter(label: "aonode_test_library_events_total").increment(by: 4)
        #expect(Self.value(NodeMetrics().exposition(), "aonode_test_library_events_total") == 4)
    }
}
