// sched-node-bench: three real `aonode` processes on loopback (scripts/bench/sched-node).
// 1. committed assignments per second for one process (3-node group; signed assignments and quorum certificates
//    included), submissions from many concurrent HTTP clients through all three nodes' POST /, measured from the
//    first POST to the last slot committed at the leader;
// 2. the same across 100 processes;
// 3. failover: SIGKILL of the leader -> the first slot committed by the new leader, over N trials, under a light
//    steady load.
import AOCore
import AOTestSupport
import AONode
import AOScheduling
import Foundation

#if canImport(Glibc)
import Glibc
#endif

func option(_ name: String, _ fallback: Int) -> Int {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: "--\(name)"), i + 1 < a.count, let v = Int(a[i + 1]) { return v }
    return fallback
}
func flag(_ name: String) -> Bool { CommandLine.arguments.contains("--\(name)") }

func fmt(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private(set) var errors = 0
    func take() -> Int { lock.withLock { defer { next += 1 }; return next } }
    func error() { lock.withLock { errors += 1 } }
}

@main
struct SchedNodeBench {
    static func main() async throws {
        let messagesOne = option("messages", 10_000)
        let messagesMany = option("messages-many", 10_000)
        let processCount = option("processes", 100)
        let clients = option("clients", 64)
        let trials = option("trials", 20)
        let skipThroughput = flag("failover-only")
        let skipFailover = flag("throughput-only")

        guard let binary = LocalCluster.findBinary() else {
            FileHandle.standardError.write(Data("sched-node-bench: build aonode first: swift build -c release --product aonode\n".utf8))
            exit(2)
        }
        print("sched-node-bench: binary \(binary)")
        print(MachineGauge.summary { DispatchTime.now().uptimeNanoseconds })
        let cluster = try LocalCluster(binary: binary, count: 3, name: "bench")
        cluster.environment["AONODE_SUBMIT_RATE_LIMIT"] = "off"
        cluster.logLevel = "notice"
        for i in 0..<3 { try cluster.start(i) }
        for i in 0..<3 { try await cluster.waitHealthy(i) }
        let items = ClientItems()
        let module = try items.module()
        guard try await cluster.post(0, module) == 202 else { fatalError("module refused") }

        func spawn(_ n: Int) async throws -> [ProcessID] {
            var out: [ProcessID] = []
            for i in 0..<n {
                let item = try items.process(module: module.id, replicas: 3)
                let status = try await cluster.post(i % 3, item)
                guard status == 202 else { throw ClusterFailure("spawn refused: \(status)") }
                out.append(ProcessID(item.id))
            }
            return out
        }

        /// The leader of each process as node 0 sees it, once every process has one and slot 0 is committed there.
        func leaders(_ ps: [ProcessID]) async throws -> [ProcessID: Int] {
            var out: [ProcessID: Int] = [:]
            let deadline = Date().addingTimeInterval(120)
            while out.count < ps.count {
                guard Date() < deadline else { throw ClusterFailure("no leader for \(ps.count - out.count) processes") }
                for p in ps where out[p] == nil {
                    if let g = try? await cluster.group(0, p), let l = g.leader, let i = cluster.index(of: l),
                       let lg = try? await cluster.group(i, p), lg.leader == l, lg.lastSlot != nil {
                        out[p] = i
                    }
                }
                if out.count < ps.count { try await Task.sleep(for: .milliseconds(100)) }
            }
            return out
        }

        /// Submits `count` messages spread over `ps` (and over the three nodes) from `clients` concurrent clients; returns
        /// seconds from the first POST until every process's leader has committed them all.
        func throughput(_ ps: [ProcessID], count: Int) async throws -> (seconds: Double, accepted: Int, errors: Int) {
            let leaderOf = try await leaders(ps)
            var base: [ProcessID: UInt64] = [:]
            for p in ps { base[p] = try await cluster.group(leaderOf[p]!, p).lastSlot ?? 0 }
            var signed: [[UInt8]] = []
            var target: [ProcessID: UInt64] = [:]
            signed.reserveCapacity(count)
            for i in 0..<count {
                let p = ps[i % ps.count]
                signed.append(try items.message(to: p, sequence: i).serialized())
                target[p, default: base[p]!] += 1
            }
            let work = signed
            let counter = Counter()
            let started = Date()
            let senders = (0..<clients).map { c in
                Task {
                    var accepted = 0
                    while true {
                        let i = counter.take()
                        guard i < work.count else { break }
                        var tries = 0
                        while tries < 20 {
                            tries += 1
                            if let r = try? await cluster.request((i + c) % 3, "POST", "/", body: work[i], timeout: 30), r.status == 202 {
                                accepted += 1; break
                            }
                            counter.error()
                            try? await Task.sleep(for: .milliseconds(50))
                        }
                    }
                    return accepted
                }
            }
            var remaining = Set(ps)
            var finished = started
            while !remaining.isEmpty {
                for p in remaining.sorted() {
                    if let g = try? await cluster.group(leaderOf[p]!, p), (g.lastSlot ?? 0) >= target[p]! {
                        remaining.remove(p)
                    }
                }
                finished = Date()
                if !remaining.isEmpty { try await Task.sleep(for: .milliseconds(ps.count == 1 ? 10 : 50)) }
                if Date().timeIntervalSince(started) > 600 { throw ClusterFailure("throughput run did not finish in 600 s") }
                if let (i, tail) = cluster.crashedMember() { throw ClusterFailure("node\(i) exited during the run; its log ends:\n\(tail)") }
            }
            var accepted = 0
            for s in senders { accepted += await s.value }
            return (finished.timeIntervalSince(started), accepted, counter.errors)
        }

        var oneProcess: ProcessID?
        if !skipThroughput {
            let ps = try await spawn(1)
            oneProcess = ps[0]
            // Warm-up (connections, first elections): not measured.
            _ = try await throughput(ps, count: 200)
            let r1 = try await throughput(ps, count: messagesOne)
            print("one process, 3-node group: \(messagesOne) messages from \(clients) clients in \(fmt(r1.seconds)) s = "
                  + "\(fmt(Double(messagesOne) / r1.seconds, 0)) committed assignments/s (accepted \(r1.accepted), retried \(r1.errors)), load \(MachineGauge.loadAverage())")
            let many = try await spawn(processCount)
            let r2 = try await throughput(many, count: messagesMany)
            print("\(processCount) processes, 3-node groups: \(messagesMany) messages from \(clients) clients in \(fmt(r2.seconds)) s = "
                  + "\(fmt(Double(messagesMany) / r2.seconds, 0)) committed assignments/s (accepted \(r2.accepted), retried \(r2.errors)), load \(MachineGauge.loadAverage())")
        }

        if !skipFailover {
            let p: ProcessID
            if let oneProcess { p = oneProcess } else { p = try await spawn(1)[0] }
            _ = try await leaders([p])
            // A light steady load (one message every 20 ms to a live node) so that "the next committed slot" exists.
            let stop = Counter()
            let down = NSLockedSet()
            let load = Task {
                var n = 0
                while stop.errors == 0 {
                    n += 1
                    let node = n % 3
                    if !down.contains(node), let m = try? items.message(to: p, sequence: 10_000_000 + n) {
                        _ = try? await cluster.request(node, "POST", "/", body: m.serialized(), timeout: 5)
                    }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            var times: [Double] = []
            for trial in 1...trials {
                let leader = try await leaders([p])[p]!
                let leaderAddress = cluster.members[leader].nodeID.base64URL
                let survivors = (0..<3).filter { $0 != leader }
                try await Task.sleep(for: .milliseconds(500))
                let before = try await cluster.group(survivors[0], p).lastSlot ?? 0
                down.insert(leader)
                let killed = Date()
                cluster.kill(leader)
                var elapsed: Double?
                while elapsed == nil {
                    for s in survivors {
                        if let log = try? await cluster.processLog(s, p, after: Int64(before)),
                           log.contains(where: { $0.signer != nil && $0.signer != leaderAddress }) {
                            elapsed = Date().timeIntervalSince(killed); break
                        }
                    }
                    if elapsed == nil { try await Task.sleep(for: .milliseconds(10)) }
                    if Date().timeIntervalSince(killed) > 60 { throw ClusterFailure("trial \(trial): no new leader slot in 60 s") }
                }
                times.append(elapsed!)
                print("failover trial \(trial): \(fmt(elapsed! * 1000, 0)) ms")
                try cluster.start(leader)
                try await cluster.waitHealthy(leader)
                down.remove(leader)
                // Caught up before the next trial.
                let deadline = Date().addingTimeInterval(60)
                while Date() < deadline {
                    let a = try? await cluster.group(leader, p).lastSlot, b = try? await cluster.group(survivors[0], p).lastSlot
                    if let a, let b, a + 5 >= b { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await Task.sleep(for: .seconds(1))
            }
            stop.error()
            await load.value
            let sorted = times.sorted()
            let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            print("failover over \(trials) trials (tick 50 ms): median \(fmt(median, 3)) s, max \(fmt(sorted.last!, 3)) s, "
                  + "min \(fmt(sorted.first!, 3)) s, load \(MachineGauge.loadAverage())")
        }
        await cluster.shutdown()

    }
}

final class NSLockedSet: @unchecked Sendable {
    private let lock = NSLock()
    private var set = Set<Int>()
    func insert(_ i: Int) { lock.withLock { _ = set.insert(i) } }
    func remove(_ i: Int) { lock.withLock { _ = set.remove(i) } }
    func contains(_ i: Int) -> Bool { lock.withLock { set.contains(i) } }
}
