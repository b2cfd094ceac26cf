import AOCore
import Foundation
import Testing
@testable import AOScheduling

/// Data-driven transcript tests, as etcd-io/raft's testdata (CONVENTIONS.md C7). Each file under testdata/ is a
/// sequence of blocks:
///
///     command args
///     ----
///     expected output lines
///     (blank line)
///
/// Commands: add-nodes N, campaign K, run N (N × tick-all + stabilize), propose K msg=NAME [from=P ref=R], tick N [node=K], stabilize [verbose],
/// partition 1|2,3, heal, crash K, restart K, status, log K, check, transfer K TARGET, add-member K NEW,
/// remove-member K OLD, wake K, messages, settings election=E heartbeat=H.
/// `AO_REWRITE=1 swift test --filter TranscriptTests` rewrites the expected output; commit a rewritten file only if
/// you understand every changed line. The safety expectations (`check`, `log`, `status`) were written by hand.
@Suite struct TranscriptTests {
    static var directory: URL { Bundle.module.resourceURL!.appendingPathComponent("testdata") }
    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".txt") }.sorted()
    }

    @Test(arguments: files) func transcript(_ file: String) throws {
        let url = Self.directory.appendingPathComponent(file)
        let text = try String(contentsOf: url, encoding: .utf8)
        var cluster = GroupCluster()
        var rewritten: [String] = []
        var lines = text.components(separatedBy: "\n")[...]
        while let line = lines.first {
            lines = lines.dropFirst()
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { rewritten.append(line); continue }
            let command = line
            guard lines.first == "----" else { Issue.record("\(file): expected ---- after '\(command)'"); return }
            lines = lines.dropFirst()
            var expected: [String] = []
            while let l = lines.first, !l.isEmpty { expected.append(l); lines = lines.dropFirst() }
            let actual = Self.run(command, &cluster)
            #expect(actual == expected, "\(file): \(command)")
            rewritten.append(command); rewritten.append("----"); rewritten += actual; rewritten.append("")
            if lines.first == "" { lines = lines.dropFirst() }
        }
        if ProcessInfo.processInfo.environment["AO_REWRITE"] == "1" {
            // Write back to the source tree (the resource bundle is a copy).
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("testdata").appendingPathComponent(file)
            try rewritten.joined(separator: "\n").write(to: source, atomically: true, encoding: .utf8)
        }
    }

    static func run(_ command: String, _ c: inout GroupCluster) -> [String] {
        let words = command.split(separator: " ").map(String.init)
        var args: [String: String] = [:]
        var positional: [String] = []
        for w in words.dropFirst() {
            if let eq = w.firstIndex(of: "=") { args[String(w[..<eq])] = String(w[w.index(after: eq)...]) } else { positional.append(w) }
        }
        func int(_ i: Int) -> Int { Int(positional[i])! }
        switch words[0] {
        case "settings":
            c.settings = RaftSettings(electionTimeoutTicks: UInt64(args["election"] ?? "10")!, heartbeatIntervalTicks: UInt64(args["heartbeat"] ?? "2")!)
            return []
        case "add-nodes": c.addNodes(int(0)); c.processReady(); return []
        case "campaign":
            c.groups[int(0)]!.raft.campaignNow(rng: &c.rng); c.processReady(); return []
        case "propose":
            var key: OutboxKey?
            if let from = args["from"], let ref = args["ref"] {
                key = OutboxKey(fromProcess: ProcessID(bytes: SHA2.sha256(Array(from.utf8)))!, reference: ref)
            }
            return [c.propose(int(0), message: args["msg"], key: key)]
        case "tick":
            let node = args["node"].map { Int($0)! }
            for _ in 0..<int(0) { c.tick(node) }
            return []
        case "run":
            // N rounds of: tick every live node once, then deliver everything.
            for _ in 0..<int(0) { c.tick(nil); c.stabilize() }
            return []
        case "stabilize":
            let lines = c.stabilize()
            return positional.first == "verbose" ? lines : []
        case "messages":
            c.processReady()
            return c.mailbox.isEmpty ? ["no messages"] : c.mailbox.map(c.describe)
        case "partition":
            c.partition(positional[0].split(separator: "|").map { $0.split(separator: ",").map { Int($0)! } })
            return []
        case "heal": c.blocked = []; return []
        case "crash": c.crash(int(0)); return []
        case "restart": c.restart(int(0)); c.processReady(); return []
        case "wake": c.groups[int(0)]!.raft.wake(); c.processReady(); return []
        case "status": return c.status()
        case "log":
            guard let g = c.groups[int(0)] else { return ["down"] }
            let r = g.raft
            return r.log.map { e in c.describe(e) + (e.index <= r.commit ? "" : " (uncommitted)") }
        case "check": return [c.check()]
        case "transfer":
            c.groups[int(0)]!.raft.transferLeadership(to: GroupCluster.nodeID(int(1))); c.processReady(); return []
        case "add-member", "remove-member":
            var g = c.groups[int(0)]!
            let target = GroupCluster.nodeID(int(1))
            let new = words[0] == "add-member" ? g.raft.members + [target] : g.raft.members.filter { $0 != target }
            let ok = g.raft.proposeConfiguration(new)
            c.groups[int(0)] = g
            c.processReady()
            return [ok ? "proposed config[\(new.map(c.name).joined(separator: ","))]" : "refused"]
        default:
            return ["unknown command \(words[0])"]
        }
    }
}
