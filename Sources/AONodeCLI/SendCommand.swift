import AOClient
import AOCore
import ArgumentParser
import Foundation

/// `aonode send --node URL --key K --process ID [--action A] [--tag N=V ...] [--data ...] [--wait SECONDS]`
public struct SendCommand: AsyncOutputCommand {
    public static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send a signed message to a process through a node, and print the message id.",
        discussion: """
            The Message item is built as aoconnect's message builds it: Action (when given), your tags, \
            Content-Type=text/plain when no --data is given (the data is then one space), SDK=aonode, \
            Data-Protocol=ao, Variant=ao.TN.1, Type=Message; its target is the process. With --wait, the command \
            then polls the node for the message's result and prints it as JSON on a second line.
            """)

    @OptionGroup var target: NodeOption

    @Option(name: .long, help: ArgumentHelp("The JWK key file to sign with.", valueName: "file"))
    var key: String

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The process id.", valueName: "id"))
    var process: String

    @Option(name: .long, help: ArgumentHelp("The Action tag (e.g. Eval, Balance).", valueName: "action"))
    var action: String?

    @OptionGroup var content: MessageContentOptions

    @Option(name: .long, help: ArgumentHelp("Wait up to this many seconds for the result and print it.", valueName: "seconds"))
    var wait: Int?

    public init() {}

    public func validate() throws {
        _ = try parseID(process, "--process")
        if let wait, wait < 0 { throw ValidationError("--wait must not be negative") }
    }

    public func run() async throws { try await runStandardAsync(execute) }

    func execute(_ io: CommandOutput) async throws {
        let k = try loadKey(key)
        let pid = ProcessID(raw: try parseID(process, "--process"))
        let data = try content.dataBytes()
        let tags = AOItemBuilder.messageTags(action: action, userTags: content.parsedTags, hasData: data != nil)
        let item = try AOItemBuilder.sign(k, target: pid.raw, anchor: AOItemBuilder.randomAnchor(), tags: tags,
                                          data: data ?? AOItemBuilder.defaultData)
        let client = target.client
        let receipt = try await client.submit(item.serialized())
        io.out(receipt.id.base64URL)
        if let wait {
            let body = try await client.waitForResult(message: receipt.id, process: pid, timeout: .seconds(wait))
            io.out(resultLine(body))
        }
    }
}
