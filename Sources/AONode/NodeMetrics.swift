import Foundation
import Metrics
import Prometheus

/// The node's metrics (CONVENTIONS.md C14: libraries log, the shell owns metrics), exposed as Prometheus text at
/// `GET /metrics` through `exposition()`. The shell updates them; the cores never see them.
///
/// Every metric, with its unit last in the name (Prometheus conventions: `_total` for counters, `_bytes`, `_seconds`):
///
/// | metric | type | what |
/// |---|---|---|
/// | `aonode_peers_connected` | gauge | transport peers with a completed handshake, now |
/// | `aonode_gossip_published_total` | counter | items this node published (originated) on gossip |
/// | `aonode_gossip_delivered_total` | counter | new valid items received by gossip |
/// | `aonode_gossip_rejected_total` | counter | gossiped items that failed validation (bad signature, limits) |
/// | `aonode_gossip_duplicates_total` | counter | copies of already seen items received |
/// | `aonode_transport_sent_bytes_total` | counter | bytes written to peers (frames, after encryption) |
/// | `aonode_transport_received_bytes_total` | counter | bytes read from peers |
/// | `aonode_bad_frames_total` | counter | undecodable peer frames |
/// | `aonode_slots_assigned_total` | counter | slots this node assigned as a group leader |
/// | `aonode_slots_committed_total` | counter | assignments committed by the groups this node is in |
/// | `aonode_leader_changes_total` | counter | leader changes seen in the groups this node is in |
/// | `aonode_equivocations_total` | counter | equivocation proofs detected |
/// | `aonode_scheduling_envelopes_refused_total` | counter | undecodable scheduling envelopes |
/// | `aonode_scheduler_groups` | gauge | scheduling groups this node is a member of |
/// | `aonode_scheduler_groups_led` | gauge | of those, the groups this node leads |
/// | `aonode_submissions_accepted_total` | counter | items accepted by `POST /` (durable, 202) |
/// | `aonode_submissions_refused_total` | counter | items refused by `POST /` (invalid, too large, unknown process) |
/// | `aonode_submissions_pending` | gauge | accepted messages not yet known assigned |
/// | `aonode_compute_evaluations_total` | counter | messages evaluated (replays included, dry-runs included) |
/// | `aonode_compute_evaluation_duration_seconds` | histogram | wall time of one evaluation |
/// | `aonode_store_items` | gauge | data items in the store |
/// | `aonode_store_item_bytes` | gauge | bytes of data items in the store |
/// | `aonode_store_map_used_bytes` | gauge | LMDB map bytes in use |
/// | `aonode_store_errors_total` | counter | store writes that failed |
/// | `aonode_errors_total{kind}` | counter | other operating errors by kind (a short stable code: `transport`, `compute`, ...) |
///
/// The names are those of the shell's first `/metrics` (NodeMetricsSource), so moving to this type changes no series.
/// HTTP requests are counted by the HTTP layer itself (`aonode_http_responses_total{route,status}`,
/// `aonode_http_errors_total{code}`, docs/HTTP-API.md), which appends them after this exposition; they are not
/// repeated here.
///
/// **Registries.** Metrics live in a `PrometheusCollectorRegistry`. `NodeMetrics()` uses the process-wide
/// `NodeMetrics.processRegistry`, the one `bootstrapMetricsSystem()` also hands to swift-metrics, so a library that
/// reports through the swift-metrics API (`Counter(label:)`) shows up in the same `/metrics`. Names are fixed, so a
/// second `NodeMetrics()` in the same process gets the same series (the registry returns the existing one): harmless,
/// but the numbers are then the sum of both nodes. Tests that run several nodes in one process and want each node's own
/// numbers give each a private registry: `NodeMetrics.isolated()`.
public final class NodeMetrics: Sendable {
    /// The process-wide registry (swift-metrics is bootstrapped with it once, see `bootstrapMetricsSystem()`).
    public static let processRegistry = PrometheusCollectorRegistry()

    private static let bootstrapOnce: Void = {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: processRegistry))
    }()

    /// Points swift-metrics (`MetricsSystem`) at `processRegistry`. Idempotent: the first call bootstraps, later calls
    /// do nothing (swift-metrics allows one bootstrap per process). Returns the registry.
    @discardableResult
    public static func bootstrapMetricsSystem() -> PrometheusCollectorRegistry {
        _ = bootstrapOnce
        return processRegistry
    }

    public let registry: PrometheusCollectorRegistry

    public let peersConnected: Prometheus.Gauge
    public let gossipPublished: Prometheus.Counter
    public let gossipDelivered: Prometheus.Counter
    public let gossipRejected: Prometheus.Counter
    public let gossipDuplicates: Prometheus.Counter
    public let transportSentBytes: Prometheus.Counter
    public let transportReceivedBytes: Prometheus.Counter
    public let badFrames: Prometheus.Counter
    public let slotsAssigned: Prometheus.Counter
    public let slotsCommitted: Prometheus.Counter
    public let leaderChanges: Prometheus.Counter
    public let equivocations: Prometheus.Counter
    public let schedulingEnvelopesRefused: Prometheus.Counter
    public let schedulerGroups: Prometheus.Gauge
    public let schedulerGroupsLed: Prometheus.Gauge
    public let submissionsAccepted: Prometheus.Counter
    public let submissionsRefused: Prometheus.Counter
    public let submissionsPending: Prometheus.Gauge
    public let evaluations: Prometheus.Counter
    public let evaluationDuration: DurationHistogram
    public let storeItems: Prometheus.Gauge
    public let storeItemBytes: Prometheus.Gauge
    public let storeMapUsedBytes: Prometheus.Gauge
    public let storeErrors: Prometheus.Counter

    /// Buckets of `aonode_compute_evaluation_duration_seconds`: a cached Lua handler takes about a millisecond, a
    /// replay from a checkpoint seconds.
    public static let evaluationDurationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]

    public init(registry: PrometheusCollectorRegistry = NodeMetrics.processRegistry) {
        self.registry = registry
        func counter(_ subsystem: String?, _ name: String, _ unit: String, _ help: String) -> Prometheus.Counter {
            registry.makeCounter(descriptor: MetricNameDescriptor(
                namespace: "aonode", subsystem: subsystem, metricName: name, unitName: unit, helpText: help))
        }
        func gauge(_ subsystem: String?, _ name: String, _ help: String) -> Prometheus.Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(
                namespace: "aonode", subsystem: subsystem, metricName: name, unitName: "", helpText: help))
        }
        peersConnected = gauge("peers", "connected", "Transport peers with a completed handshake.")
        gossipPublished = counter("gossip", "published", "total", "Items this node published on gossip.")
        gossipDelivered = counter("gossip", "delivered", "total", "New valid items received by gossip.")
        gossipRejected = counter("gossip", "rejected", "total", "Invalid items received by gossip.")
        gossipDuplicates = counter("gossip", "duplicates", "total", "Copies of already seen items received.")
        transportSentBytes = counter("transport", "sent_bytes", "total", "Bytes written to peers.")
        transportReceivedBytes = counter("transport", "received_bytes", "total", "Bytes read from peers.")
        badFrames = counter(nil, "bad_frames", "total", "Undecodable peer frames.")
        slotsAssigned = counter(nil, "slots_assigned", "total", "Slots this node assigned as a group leader.")
        slotsCommitted = counter(nil, "slots_committed", "total", "Assignments committed by groups this node is in.")
        leaderChanges = counter(nil, "leader_changes", "total", "Leader changes seen in this node's groups.")
        equivocations = counter(nil, "equivocations", "total", "Equivocation proofs detected.")
        schedulingEnvelopesRefused = counter("scheduling", "envelopes_refused", "total", "Undecodable scheduling envelopes.")
        schedulerGroups = gauge("scheduler", "groups", "Scheduling groups this node is a member of.")
        schedulerGroupsLed = gauge("scheduler", "groups_led", "Scheduling groups this node leads.")
        submissionsAccepted = counter("submissions", "accepted", "total", "Messages accepted (durable, 202).")
        submissionsRefused = counter("submissions", "refused", "total", "Items refused by POST /.")
        submissionsPending = gauge("submissions", "pending", "Accepted messages not yet known assigned.")
        evaluations = counter("compute", "evaluations", "total", "Messages evaluated (replays and dry-runs included).")
        evaluationDuration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(namespace: "aonode", subsystem: "compute", metricName: "evaluation_duration",
                                             unitName: "seconds", helpText: "Wall time of one evaluation."),
            buckets: Self.evaluationDurationBuckets)
        storeItems = gauge("store", "items", "Data items in the store.")
        storeItemBytes = gauge("store", "item_bytes", "Bytes of data items in the store.")
        storeMapUsedBytes = gauge("store", "map_used_bytes", "LMDB map bytes in use.")
        storeErrors = counter("store", "errors", "total", "Store writes that failed.")
    }

    /// Metrics in a registry of their own (not the process one): for several nodes in one process, each with its
    /// own numbers in its own `/metrics`.
    public static func isolated() -> NodeMetrics { NodeMetrics(registry: PrometheusCollectorRegistry()) }

    private static let errorsDescriptor = MetricNameDescriptor(
        namespace: "aonode", metricName: "errors", unitName: "total", helpText: "Operating errors by kind.")

    /// The `aonode_errors_total{kind="…"}` counter. `kind` is a short stable code (`store`, `transport`,
    /// `gossip_invalid`, `compute`, ...): a bounded set, never an id or a message.
    public func errors(_ kind: String) -> Prometheus.Counter {
        registry.makeCounter(descriptor: Self.errorsDescriptor, labels: [("kind", kind)])
    }

    /// Counts one operating error of `kind`.
    public func recordError(_ kind: String) { errors(kind).increment() }

    /// Counts one evaluation and records how long it took.
    public func recordEvaluation(duration: Duration) {
        evaluations.increment()
        evaluationDuration.record(duration)
    }

    /// The registry in the Prometheus text exposition format (version 0.0.4), for `GET /metrics`.
    public func exposition() -> String { registry.emitToString() }
}
