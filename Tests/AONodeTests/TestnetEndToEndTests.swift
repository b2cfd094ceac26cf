import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `aonode testnet up --nodes 3`, `status`, `down` with the built `aonode` binary: three real node processes on
/// loopback, checked over HTTP, and none left running afterwards.
@Suite(.serialized) struct TestnetEndToEndTests {
    /// The `aonode` executable built with the tests: next to the test bundle, else in .build/{release,debug}.
    static func aonodeBinary() -> String? {
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = (exe as NSString).deletingLastPathComponent
            // The bundle may be a directory (…/aonodePackageTests.xctest/…) on some platforms.
            while dir.count > 1 {
                candidates.append((dir as NSString).appendingPathComponent("aonode"))
                if !dir.contains(".xctest") { break }
                dir = (dir as NSString).deletingLastPathComponent
            }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates += ["release", "debug"].map { root.appendingPathComponent(".build/\($0)/aonode").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    struct Run { var status: Int32; var out: String; var err: String }

    /// Runs the binary to completion (at most `timeoutSeconds`), capturing its output.
    static func run(_ binary: String, _ arguments: [String], timeoutSeconds: Double = 120) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("aonode-e2e-\(UUID().uuidString).out")
        let errFile = outFile.appendingPathExtension("err")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outFile); try? FileManager.default.removeItem(at: errFile) }
        // Files, not pipes: the detached nodes inherit nothing from us that could keep a pipe open.
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        try process.run()
        // Reaped here with waitpid: Foundation's own reaping did not notice these children's exits in the test runner.
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        var status: Int32 = 0
        var exitStatus: Int32 = -1
        while true {
            let r = waitpid(process.processIdentifier, &status, WNOHANG)
            if r == process.processIdentifier { exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f); break }
            if r < 0 { exitStatus = process.isRunning ? -1 : process.terminationStatus; break }
            if Date() > deadline { kill(process.processIdentifier, SIGKILL) }
            usleep(50_000)
        }
        return Run(status: exitStatus, out: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
                   err: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "")
    }

    /// Whether `pid` is a live, non-zombie process.
    static func alive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    static func get(_ url: String) async throws -> (status: UInt, json: Any?) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)))
    }

    @Test func runRejectsABadValueWithOneLineAndStatus2() throws {
        let binary = try #require(Self.aonodeBinary(), "build the aonode executable first (swift build -c release)")
        let run = try Self.run(binary, ["run", "--listen", "127.0.0.1", "--data-dir", "/nonexistent/never-created"], timeoutSeconds: 30)
        #expect(run.status == 2)
        #expect(run.err == "error: invalid configuration: --listen (flag): \"127.0.0.1\" is not HOST:PORT (or [IPv6]:PORT)\n")
        #expect(run.out.isEmpty)
    }

    @Test(.timeLimit(.minutes(5))) func threeNodesUpStatusDown() async throws {
        let binary = try #require(Self.aonodeBinary(), "build the aonode executable first (swift build -c release)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aonode-e2e-testnet-\(UUID().uuidString)").path
        var pids: [Int32] = []
        defer {
            // Whatever happened, leave no node behind.
            _ = try? Self.run(binary, ["testnet", "down", "--dir", dir], timeoutSeconds: 30)
            for pid in pids where Self.alive(pid) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
        }

        let up = try Self.run(binary, ["testnet", "up", "--nodes", "3", "--dir", dir, "--seed", "42"])
        let stateData = FileManager.default.contents(atPath: dir + "/testnet.json")
        let state = try #require(stateData.flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [String: Any])
        let nodes = try #require(state["nodes"] as? [[String: Any]])
        pids = nodes.compactMap { ($0["pid"] as? NSNumber)?.int32Value }
        #expect(up.status == 0, "testnet up failed:\n\(up.out)\n\(up.err)")
        #expect(up.out.contains("node 3/3 up"))
        #expect(nodes.count == 3 && pids.count == 3)
        #expect(pids.allSatisfy(Self.alive))

        // The CLI has exited; the nodes answer on their own.
        let urls = nodes.compactMap { $0["http"] as? String }
        #expect(urls.count == 3)
        for url in urls {
            let health = try await Self.get(url + "/health")
            #expect(health.status == 200, "\(url)/health")
            #expect((health.json as? [String: Any])?["status"] as? String == "ok")
        }
        // Each node connects to the two others (given as --peer); allow the dials a few seconds.
        let deadline = Date().addingTimeInterval(20)
        var connected: [Int] = []
        repeat {
            connected = []
            for url in urls {
                let peers = try await Self.get(url + "/peers")
                let list = (peers.json as? [String: Any])?["peers"] as? [[String: Any]] ?? []
                connected.append(list.filter { $0["connected"] as? Bool ?? false }.count)
            }
            if connected.allSatisfy({ $0 >= 2 }) { break }
            try await Task.sleep(for: .milliseconds(200))
        } while Date() < deadline
        #expect(connected == [2, 2, 2], "connected peers per node: \(connected)")

        let status = try Self.run(binary, ["testnet", "status", "--dir", dir])
        #expect(status.status == 0, "status:\n\(status.out)\n\(status.err)")
        let rows = status.out.split(separator: "\n").filter { $0.hasPrefix("node-") }
        #expect(rows.count == 3)
        #expect(rows.allSatisfy { $0.contains("running") && $0.contains("ok") && $0.contains("2/2") }, "\(status.out)")

        let down = try Self.run(binary, ["testnet", "down", "--dir", dir], timeoutSeconds: 60)
        #expect(down.status == 0, "down:\n\(down.out)\n\(down.err)")
        #expect(down.out.split(separator: "\n").filter { $0.contains(": stopped (pid") }.count == 3, "\(down.out)")
        #expect(!pids.contains(where: Self.alive), "a node process is left")
        #expect(!FileManager.default.fileExists(atPath: dir + "/node-1/node.pid"))
        #expect(FileManager.default.fileExists(atPath: dir + "/node-1/data/node-key.json"))  // data kept

        // Stopped: status says so and fails.
        let after = try Self.run(binary, ["testnet", "status", "--dir", dir])
        #expect(after.status == 1)
        #expect(after.out.components(separatedBy: "DEAD").count == 4)
    }
}
