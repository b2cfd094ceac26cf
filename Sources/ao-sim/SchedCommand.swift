import AOSimulation
import ArgumentParser
import Foundation

/// `ao-sim sched`: the scheduling simulator (issue #7). Prints SEED and every fault parameter; the same flags replay
/// the run bit for bit. Exits 1 on the first invariant violation.
struct SchedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sched",
        abstract: "Simulate elected schedulers under crashes, partitions, loss and reordering; check the invariants.")

    @Option(help: "Seed of the run (replays it bit for bit).") var seed: UInt64 = 1
    @Option(help: "Seeds to run one after another, starting at --seed; stops at the first failure.") var count: UInt64 = 1
    @Option(help: "Scheduler nodes.") var nodes = 5
    @Option(help: "Processes (one group each).") var processes = 12
    @Option(help: "Scheduler-Replicas of every process.") var replicas = 3
    @Option(help: "Ticks with faults and traffic (then a settle phase).") var ticks: UInt64 = 2000
    @Option(help: "Per-mille chance per tick of a new client message.") var submit: UInt64 = 300
    @Option(help: "Percent of packets lost.") var loss: UInt64 = 5
    @Option(help: "Percent of packets duplicated.") var dup: UInt64 = 3
    @Option(help: "Maximum packet delay in ticks (reordering).") var delay: UInt64 = 3
    @Option(help: "Per-mille chance per tick that a node crashes.") var crash: UInt64 = 3
    @Option(help: "A crashed node restarts after a random 1...N ticks.") var restartTicks: UInt64 = 80
    @Option(help: "Per-mille chance that a node crashes after persisting a batch and before sending it.") var crashAfterPersist: UInt64 = 1
    @Option(help: "Per-mille chance per tick that a partition forms.") var partition: UInt64 = 3
    @Flag(help: "Print every node's view of groups whose leader crashed, each tick until a new leader commits.") var traceFailovers = false
    @Flag(help: "Print only failures and a one-line summary per seed.") var quiet = false

    func run() throws {
        var failures = 0
        for s in seed..<(seed + count) {
            var c = SchedSimConfig()
            c.seed = s; c.nodes = nodes; c.processes = processes; c.replicas = replicas; c.ticks = ticks
            c.submitPerMille = submit; c.lossPercent = loss; c.duplicatePercent = dup; c.delayTicksMax = delay
            c.crashPerMille = crash; c.restartTicksMax = restartTicks; c.crashAfterPersistPerMille = crashAfterPersist; c.partitionPerMille = partition
            let sim = SchedulingSimulation(config: c)
            sim.traceFailovers = traceFailovers
            let report = sim.run()
            if report.violations.isEmpty {
                if quiet {
                    print("SEED=\(s) ok acked=\(report.messagesAcknowledged) slots=\(report.slotsCommitted) crashes=\(report.crashes) failoverMedianTicks=\(report.failoverMedianTicks.map(String.init) ?? "-") failoverMaxTicks=\(report.failoverTicks.max().map(String.init) ?? "-") failoverSamples=\(report.failoverTicks.map(String.init).joined(separator: ","))")
                } else {
                    print(report)
                }
            } else {
                failures += 1
                print(report)
                print("FAILED SEED=\(s); replay: ao-sim sched --seed \(s) --nodes \(nodes) --processes \(processes) --replicas \(replicas) --ticks \(ticks) --submit \(submit) --loss \(loss) --dup \(dup) --delay \(delay) --crash \(crash) --restart-ticks \(restartTicks) --crash-after-persist \(crashAfterPersist) --partition \(partition)")
                break
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
