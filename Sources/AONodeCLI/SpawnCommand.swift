import AOClient
import AOCore
import ArgumentParser
import Foundation

/// `aonode spawn --node URL --key K --module ID [--tag N=V ...] [--data TEXT|@FILE] [--replicas N]`
public struct SpawnCommand: AsyncOutputCommand {
    public static let configuration = CommandConfiguration(
        commandName: "spawn",
        abstract: "Create an AO process from a published module on a node, and print the process id.",
        discussion: """
            The Process item is built as aoconnect's spawn builds it: your tags first, Content-Type=text/plain when \
            no --data is given (the data is then one space), SDK=aonode, Data-Protocol=ao, Variant=ao.TN.1, \
            Type=Process, Module, and Scheduler = the node's scheduler address (read from GET /). --replicas adds \
            aonode's Scheduler-Replicas tag: how many nodes schedule the process (default 3).
            """)

    @OptionGroup var target: NodeOption

    @Option(name: .long, help: ArgumentHelp("The JWK key file to sign with (the process owner).", valueName: "file"))
    var key: String

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The module id (from `aonode module publish`).", valueName: "id"))
    var module: String

    @OptionGroup var content: MessageContentOptions

    @Option(name: .long, help: ArgumentHelp("Scheduler-Replicas: the size of the process's scheduler group (1...64).",
                                           valueName: "n"))
    var replicas: Int?

    public init() {}

    public func validate() throws {
        _ = try parseID(module, "--module")
        if let replicas, !(1...64).contains(replicas) { throw ValidationError("--replicas must be 1...64, got \(replicas)") }
    }

    public func run() async throws { try await runStandardAsync(execute) }

    func execute(_ io: CommandOutput) async throws {
        let k = try loadKey(key)
        let data = try content.dataBytes()
        let client = target.client
        let scheduler = try await client.schedulerInfo().address
        let tags = AOItemBuilder.processTags(module: MessageID(raw: try parseID(module, "--module")), scheduler: scheduler,
                                             userTags: content.parsedTags, hasData: data != nil, replicas: replicas)
        let item = try AOItemBuilder.sign(k, anchor: AOItemBuilder.randomAnchor(), tags: tags,
                                          data: data ?? AOItemBuilder.defaultData)
        let receipt = try await client.submit(item.serialized())
        io.out(receipt.id.base64URL)
    }
}
