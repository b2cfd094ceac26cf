import AOCore
import AOHTTP

/// The CU routes. (Stub: being built.)
extension NodeAPI {
    public func result(message: MessageID, process: ProcessID) async throws -> EvaluationResult {
        throw NodeQueryError.unavailable("Evaluation is not available on this node yet.")
    }
    public func results(_ query: ResultsQuery) async throws -> ResultsPage {
        throw NodeQueryError.unavailable("Evaluation is not available on this node yet.")
    }
    public func cronResults(_ query: ResultsQuery) async throws -> ResultsPage {
        throw NodeQueryError.unavailable("Evaluation is not available on this node yet.")
    }
    public func dryRun(_ request: DryRunRequest) async throws -> EvaluationResult {
        throw NodeQueryError.unavailable("Evaluation is not available on this node yet.")
    }
    public func state(process: ProcessID, to timestamp: UInt64?) async throws -> ProcessStateSnapshot {
        throw NodeQueryError.unavailable("Evaluation is not available on this node yet.")
    }
}
