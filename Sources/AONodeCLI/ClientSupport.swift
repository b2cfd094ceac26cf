import AOClient
import AOCore
import ArgumentParser
import Foundation

/// A leaf command that talks to nodes: like `OutputCommand`, but asynchronous.
protocol AsyncOutputCommand: AsyncParsableCommand {
    func execute(_ io: CommandOutput) async throws
}

/// Runs `body` with the standard streams: a `CommandFailure` or a `NodeClientError` becomes one line on stderr and a
/// non-zero exit status.
func runStandardAsync(_ body: (CommandOutput) async throws -> Void) async throws {
    do { try await body(.standard) } catch let f as CommandFailure {
        CommandOutput.standard.err("error: \(f.message)")
        throw ExitCode(f.exitCode)
    } catch let e as NodeClientError {
        CommandOutput.standard.err("error: \(e)")
        throw ExitCode(1)
    }
}

/// Exit statuses of the client verbs: 1 a node failed or refused, 2 bad local input (key, file), 3 the light
/// client's quorum was not met.
enum ClientExit {
    static let nodeFailed: Int32 = 1
    static let badInput: Int32 = 2
    static let quorumNotMet: Int32 = 3
}

/// `--node URL`: which node to talk to.
struct NodeOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The node's HTTP base URL, e.g. http://127.0.0.1:8734.", valueName: "url"))
    var node: String

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for each HTTP answer.", valueName: "seconds"))
    var timeout: Int = 30

    func validate() throws {
        try validateNodeURL(node)
        if timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
    }

    var client: NodeClient { NodeClient(baseURLString: node, timeout: .seconds(timeout)) }
}

func validateNodeURL(_ text: String) throws {
    guard let url = URL(string: text), let scheme = url.scheme, scheme == "http" || scheme == "https", url.host != nil else {
        throw ValidationError("--node must be an http(s) URL such as http://127.0.0.1:8734, got \(text)")
    }
}

/// `--tag NAME=VALUE ...` and `--data TEXT|@FILE`, shared by spawn, send and dry-run.
struct MessageContentOptions: ParsableArguments {
    @Option(name: .customLong("tag"), parsing: .unconditionalSingleValue, help: ArgumentHelp("A tag NAME=VALUE (repeatable; order is kept).", valueName: "name=value"))
    var tags: [String] = []

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The data: text, or @FILE for a file's bytes. Default: one space, as aoconnect sends.",
                                           valueName: "text|@file"))
    var data: String?

    func validate() throws {
        for t in tags where ItemCreate.parseTag(t) == nil { throw ValidationError("--tag must be NAME=VALUE with a non-empty name: \(t)") }
    }

    var parsedTags: [Tag] { tags.compactMap(ItemCreate.parseTag) }

    /// The data bytes, or nil when none was given.
    func dataBytes() throws -> [UInt8]? {
        guard let data else { return nil }
        if data.hasPrefix("@") { return try readFile(String(data.dropFirst()), what: "data file") }
        return Array(data.utf8)
    }
}

func loadKey(_ path: String) throws -> KeyFile {
    do { return try KeyFile.load(path: path) } catch { throw CommandFailure("\(error)", exitCode: ClientExit.badInput) }
}

func parseID(_ text: String, _ flag: String) throws -> ID32 {
    guard let id = ID32(base64URL: text) else { throw ValidationError("\(flag) must be a 43-character base64url id, got \(text)") }
    return id
}

/// Builds the AO data items the client verbs send, with tags in the order AO's own tools write them
/// (ao-protocol.md 1.2, 1.3, 1.5). Pure: the anchor is a parameter, so tests pin every byte that is not a signature.
public enum AOItemBuilder {
    public static let sdk = "aonode"
    public static let variant = "ao.TN.1"

    /// A Module (dev-cli's `publish`): `Data-Protocol, Type, Module-Format, Input-Encoding, Output-Encoding, Variant,
    /// Content-Type, Memory-Limit, Compute-Limit`, then the caller's extra tags. The data is the WASM binary.
    public static func moduleTags(format: String, memoryLimit: String, computeLimit: String, extra: [Tag] = []) -> [Tag] {
        [Tag("Data-Protocol", "ao"), Tag("Type", "Module"), Tag("Module-Format", format),
         Tag("Input-Encoding", "JSON-1"), Tag("Output-Encoding", "JSON-1"), Tag("Variant", variant),
         Tag("Content-Type", "application/wasm"), Tag("Memory-Limit", memoryLimit), Tag("Compute-Limit", computeLimit)]
            + extra
    }

    /// A Process (aoconnect's `spawn`): the caller's tags, `Content-Type: text/plain` when no data was given, `SDK`,
    /// then `Data-Protocol, Variant, Type, Module, Scheduler`, and aonode's `Scheduler-Replicas` when given.
    public static func processTags(module: MessageID, scheduler: Address, userTags: [Tag], hasData: Bool,
                                   replicas: Int? = nil) -> [Tag] {
        var tags = userTags
        if !hasData { tags.append(Tag("Content-Type", "text/plain")) }
        tags += [Tag("SDK", sdk), Tag("Data-Protocol", "ao"), Tag("Variant", variant), Tag("Type", "Process"),
                 Tag("Module", module.base64URL), Tag("Scheduler", scheduler.base64URL)]
        if let replicas { tags.append(Tag("Scheduler-Replicas", String(replicas))) }
        return tags
    }

    /// A Message (aoconnect's `message`): `Action` first when given, the caller's tags, `Content-Type: text/plain`
    /// when no data was given, `SDK`, then `Data-Protocol, Variant, Type`.
    public static func messageTags(action: String?, userTags: [Tag], hasData: Bool) -> [Tag] {
        var tags = action.map { [Tag("Action", $0)] } ?? []
        tags += userTags
        if !hasData { tags.append(Tag("Content-Type", "text/plain")) }
        tags += [Tag("SDK", sdk), Tag("Data-Protocol", "ao"), Tag("Variant", variant), Tag("Type", "Message")]
        return tags
    }

    /// aoconnect's data when none is given.
    public static let defaultData: [UInt8] = [0x20]

    /// A fresh 32-character anchor (ASCII letters and digits, so it shows as text in SU answers). ed25519
    /// signatures are deterministic: without it, sending the same message twice would give the same id.
    public static func randomAnchor() -> [UInt8] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] }
    }

    /// Signs an item, turning a data-item error into a one-line failure.
    static func sign(_ key: KeyFile, target: ID32? = nil, anchor: [UInt8]? = nil, tags: [Tag], data: [UInt8]) throws -> DataItem {
        do { return try DataItem.create(signer: key.signer, target: target, anchor: anchor, tags: tags, data: data) } catch {
            throw CommandFailure("cannot build the data item: \(error)", exitCode: ClientExit.badInput)
        }
    }
}

/// A result body as one JSON line with AO's keys in a fixed order: Output, Messages, Spawns, Assignments, Error,
/// GasUsed (the last two only when present). Falls back to the body as sent when it is not a JSON object.
func resultLine(_ body: JSONBody) -> String {
    guard let o = body.object else { return body.text }
    var parts: [String] = []
    for key in ["Output", "Messages", "Spawns", "Assignments", "Error", "GasUsed"] {
        guard let v = o[key] else { continue }
        guard let data = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
        else { continue }
        parts.append("\"\(key)\":" + String(decoding: data, as: UTF8.self))
    }
    return "{" + parts.joined(separator: ",") + "}"
}
