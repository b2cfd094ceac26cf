import ArgumentParser

/// The `aonode` command tree. The executable is a thin `@main` over this library so every verb is testable.
public struct AONodeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "aonode",
        abstract: "A peer-to-peer node for AO: signed messages, an LMDB replica, elected schedulers, WASM compute.",
        version: "0.1.0-dev",
        subcommands: [RunCommand.self, Keygen.self, AddressCommand.self, ItemCommand.self, StoreCommand.self, EvalCommand.self,
                      ModuleCommand.self, SpawnCommand.self, SendCommand.self, ResultCommand.self, DryRunCommand.self,
                      StatusCommand.self, TestnetCommand.self]
    )

    public init() {}
}
