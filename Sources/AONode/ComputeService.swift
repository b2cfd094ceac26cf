import AOCore
import AOStoreLMDB
import Logging

/// Evaluation of processes on this node: results by (process, slot) from the store's process logs, checkpoints,
/// attestations, and cranking (pushing outboxes) when this node leads the sending process's group.
/// (Stub: being built.)
public final class ComputeService: @unchecked Sendable {
    let store: LMDBContentStore
    let key: Ed25519PrivateKey
    let configuration: NodeConfiguration
    let logger: Logger

    init(store: LMDBContentStore, key: Ed25519PrivateKey, configuration: NodeConfiguration, logger: Logger) {
        self.store = store; self.key = key; self.configuration = configuration; self.logger = logger
    }

    /// Installs the runtime hooks (assignments stored, leadership changes).
    func attach(runtime: NodeRuntime) async {}

    /// Checkpoints live processes; called once on graceful shutdown.
    func shutdown() {}
}
