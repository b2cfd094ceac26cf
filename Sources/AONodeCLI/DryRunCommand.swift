import AOClient
import AOCore
import ArgumentParser
import Foundation

/// `aonode dry-run --node URL --process ID [--action A] [--tag N=V ...] [--data ...] [--owner ADDRESS]`
public struct DryRunCommand: AsyncOutputCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dry-run",
        abstract: "Evaluate an unsigned message on a copy of a process's state and print the result; nothing is kept.",
        discussion: """
            Sends AO's dry-run body (as aoconnect's dryrun does) to POST /dry-run: your tags plus Data-Protocol=ao, \
            Type=Message, Variant=ao.TN.1. Use it for reads such as balances. Prints one JSON line: Output, \
            Messages, Spawns, Assignments, Error and GasUsed (the last two when present).
            """)

    @OptionGroup var target: NodeOption

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The process id.", valueName: "id"))
    var process: String

    @Option(name: .long, help: ArgumentHelp("The Action tag.", valueName: "action"))
    var action: String?

    @OptionGroup var content: MessageContentOptions

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The Owner (and From) the process sees: an address. Default: \"1234\", as aoconnect.",
                                           valueName: "address"))
    var owner: String?

    public init() {}

    public func validate() throws { _ = try parseID(process, "--process") }

    public func run() async throws { try await runStandardAsync(execute) }

    func execute(_ io: CommandOutput) async throws {
        let pid = ProcessID(raw: try parseID(process, "--process"))
        let data = try content.dataBytes().map { String(decoding: $0, as: UTF8.self) } ?? ""
        let tags = (action.map { [Tag("Action", $0)] } ?? []) + content.parsedTags
        let message = DryRunMessage(target: pid, owner: owner, tags: tags, data: data)
        io.out(resultLine(try await target.client.dryRun(process: pid, message: message)))
    }
}
