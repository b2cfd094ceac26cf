import Foundation
import Synchronization
import Metrics
import Prometheus

/// The node's metrics (CONVENTIONS.md C14: libraries log, the shell owns metrics), kept in a swift-prometheus
/// registry and exposed as Prometheus text at `GET /metrics` through `exposition()`. The cores never see them.
///
/// Two kinds of series:
/// - **recorded as they happen** by the shell: `aonode_compute_evaluations_total` and the histogram
///   `aonode_compute_evaluation_duration_seconds` (ComputeService, per evaluated message), and
///   `aonode_errors_total{kind}`;
/// - **published at scrape time** from the counters the shell's actors keep anyway (`NodeMetricsSource` reads the
///   runtime, gossip, scheduler, transport, replication and store snapshots and calls `publishCounter` /
///   `publishGauge`): the runtime's counters stay plain integers on its hot paths, and the registry gets the values
///   when someone asks. docs/CONFIGURATION.md (Metrics) lists every series.
///
/// HTTP requests are counted by the HTTP layer itself (`aonode_http_responses_total{route,status}`,
/// `aonode_http_errors_total{code}`, docs/HTTP-API.md), which appends them after this exposition.
///
/// **Registries.** `NodeMetrics()` uses the process-wide `NodeMetrics.processRegistry`, the one
/// `bootstrapMetricsSystem()` also hands to swift-metrics, so a library that reports through the swift-metrics API
/// (`Counter(label:)`) shows up in the same `/metrics`; `aonode run` uses it. Names are fixed, so a second
/// `NodeMetrics()` in the same process gets the same series. Several nodes in one process (tests) each take
/// `NodeMetrics.isolated()`, the default of `Node.init`.
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
    public let evaluations: Prometheus.Counter
    public let evaluationDuration: DurationHistogram
    /// The value each published counter had at the last scrape: a counter only moves forward, by the difference.
    private let published = Mutex<[String: Int]>([:])

    /// Buckets of `aonode_compute_evaluation_duration_seconds`: a cached Lua handler takes under a millisecond, a
    /// replay from a checkpoint seconds.
    public static let evaluationDurationBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]

    public init(registry: PrometheusCollectorRegistry = NodeMetrics.processRegistry) {
        self.registry = registry
        evaluations = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "aonode", subsystem: "compute", metricName: "evaluations", unitName: "total",
            helpText: "Scheduled messages evaluated (replays included; dry-runs are not)."))
        evaluationDuration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(namespace: "aonode", subsystem: "compute", metricName: "evaluation_duration",
                                             unitName: "seconds", helpText: "Wall time of one evaluation."),
            buckets: Self.evaluationDurationBuckets)
    }

    /// Sets the counter `name` (a `_total` name) to `value`, which the caller read from a counter that only grows.
    /// A value below the last one (impossible for one node; a shared registry with two nodes) moves nothing.
    public func publishCounter(_ name: String, _ help: String, _ value: Int) {
        let counter = registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help))
        let delta = published.withLock { last -> Int in
            let before = last[name] ?? 0
            guard value > before else { return 0 }
            last[name] = value
            return value - before
        }
        if delta > 0 { counter.increment(by: Int64(delta)) }
    }

    /// Sets the gauge `name` to `value`.
    public func publishGauge(_ name: String, _ help: String, _ value: Int) {
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help)).set(to: Double(value))
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
