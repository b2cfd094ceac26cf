import AOClient
import AOCore
import ArgumentParser
import Foundation

/// `aonode status --node URL [--process ID]`
public struct StatusCommand: AsyncOutputCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a node's id, health and peers; with --process, the process's scheduler group.",
        discussion: """
            Prints one fact per line: node (its id, the SHA-256 of its key, which is also its scheduler address), \
            health (ok or unhealthy, with the node's checks), each peer (id, address, connected), and with \
            --process the scheduler group: members, leader, Raft term and last committed slot.
            """)

    @OptionGroup var target: NodeOption

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Also show this process's scheduler group.", valueName: "id"))
    var process: String?

    public init() {}

    public func validate() throws { if let process { _ = try parseID(process, "--process") } }

    public func run() async throws { try await runStandardAsync(execute) }

    func execute(_ io: CommandOutput) async throws {
        let client = target.client
        let info = try await client.schedulerInfo()
        io.out("node: \(info.nodeID.base64URL) at \(client.baseURL)")
        let health = try await client.health()
        let checks = health.checks.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        io.out("health: \(health.healthy ? "ok" : "unhealthy")\(checks.isEmpty ? "" : " (\(checks))")")
        let peers = try await client.peers()
        io.out("peers: \(peers.count)")
        for p in peers {
            io.out("  peer \(p.node?.base64URL ?? "?") \(p.address) \(p.connected ? "connected" : "not connected")")
        }
        if let process {
            let pid = ProcessID(raw: try parseID(process, "--process"))
            let g = try await client.schedulerGroup(pid)
            io.out("process: \(pid.base64URL)")
            io.out("  members: \(g.members.map(\.base64URL).joined(separator: ", "))")
            io.out("  leader: \(g.leader?.base64URL ?? "none")")
            io.out("  term: \(g.term)")
            io.out("  last slot: \(g.lastSlot.map(String.init) ?? "none")")
        }
    }
}
