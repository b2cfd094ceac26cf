import AOCore
import AOTransport
import Foundation
import Logging

/// Where a started node can be reached, printed by `aonode run` and written by `aonode testnet up`.
public struct NodeEndpoints: Sendable, Equatable {
    public var nodeID: NodeID
    /// base64url ed25519 public key (what the network configuration lists).
    public var publicKey: String
    public var transport: Endpoint
    public var http: Endpoint
    public init(nodeID: NodeID, publicKey: String, transport: Endpoint, http: Endpoint) {
        self.nodeID = nodeID; self.publicKey = publicKey; self.transport = transport; self.http = http
    }
}

/// One aonode: store, transport, gossip, scheduling, compute and the HTTP API, started together.
public final class Node: @unchecked Sendable {
    public let configuration: NodeConfiguration
    let logger: Logger

    public init(configuration: NodeConfiguration, logger: Logger) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
    }

    /// Opens the store, binds the transport and HTTP listeners (port 0 picks one), dials the bootstrap peers.
    public func start() async throws -> NodeEndpoints {
        throw ConfigurationError("run", "is not implemented yet")
    }

    /// Suspends until SIGINT or SIGTERM, then shuts down gracefully.
    public func runUntilSignalled() async {}

    /// Graceful shutdown: stop accepting, flush the transport, checkpoint live processes, close the store.
    public func shutdown() async {}
}
