import AOCore
import AOStoreLMDB
import Logging

/// Replication: fetch any item by id from peers that have it, sync a process log from slot N, anti-entropy on
/// reconnect and periodically. (Stub: being built.)
final class Replication: @unchecked Sendable {
    let runtime: NodeRuntime
    let store: LMDBContentStore
    let logger: Logger

    init(runtime: NodeRuntime, store: LMDBContentStore, logger: Logger) {
        self.runtime = runtime; self.store = store; self.logger = logger
    }

    /// Installs the replication channel handler and the reconnect hook.
    func attach() async {}
}
