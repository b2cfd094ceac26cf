import AOSimulation
import ArgumentParser

/// The deterministic simulator's command line. Subcommands are added as the simulated protocols land.
struct AOSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ao-sim",
        abstract: "Run many aonode protocol cores in one thread over a simulated network; replay any run from its seed.",
        subcommands: [GossipCommand.self, SchedCommand.self]
    )
}

AOSim.main()
