import AOClient
import AOCompute
import AOCore
import ArgumentParser
import Foundation

/// `aonode module publish`: upload a WASM module as an AO Module data item.
public struct ModuleCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "module",
        abstract: "Publish AO process modules (WASM) to a node.",
        subcommands: [ModulePublish.self])

    public init() {}
}

/// `aonode module publish --node URL --key K --file F.wasm [--format F] [--memory-limit M] [--compute-limit C]`
public struct ModulePublish: AsyncOutputCommand {
    public static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Sign a WASM file as an AO Module item, submit it to a node, and print the module id.",
        discussion: """
            The item carries the tags AO's dev-cli writes: Data-Protocol=ao, Type=Module, Module-Format, \
            Input-Encoding=JSON-1, Output-Encoding=JSON-1, Variant=ao.TN.1, Content-Type=application/wasm, \
            Memory-Limit and Compute-Limit (processes may override the last two). Spawn processes from it with \
            `aonode spawn --module <id>`.
            """)

    @OptionGroup var target: NodeOption

    @Option(name: .long, help: ArgumentHelp("The JWK key file to sign with.", valueName: "file"))
    var key: String

    @Option(name: .long, help: ArgumentHelp("The WASM module file.", valueName: "file.wasm"))
    var file: String

    @Option(name: .long, help: ArgumentHelp(
        "Module-Format, e.g. wasm32-unknown-emscripten2 (short names em2, em3, em4, wasm64 work too).",
        discussion: "Detected from the module's imports when omitted."))
    var format: String?

    @Option(name: .customLong("memory-limit"), help: ArgumentHelp(
        "Memory-Limit: bytes, or AO notation such as 1-gb or 524288000-b.", discussion: "Default: 1-gb, or the format's maximum if smaller."))
    var memoryLimit: String?

    @Option(name: .customLong("compute-limit"), help: "Compute-Limit per message (an integer). Default: 9000000000000, as AO's CU.")
    var computeLimit: UInt64?

    @Option(name: .customLong("tag"), help: ArgumentHelp("An extra tag NAME=VALUE, e.g. Extension=WeaveDrive (repeatable).",
                                                        valueName: "name=value"))
    var tags: [String] = []

    public init() {}

    public func validate() throws {
        if let format, ModuleFormat(tag: format) == nil {
            throw ValidationError("unknown --format \(format) (one of \(ModuleFormat.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let memoryLimit, ProcessLimits.parseBytes(memoryLimit) == nil {
            throw ValidationError("--memory-limit must be a byte count such as 1-gb or 524288000, got \(memoryLimit)")
        }
        for t in tags where ItemCreate.parseTag(t) == nil { throw ValidationError("--tag must be NAME=VALUE with a non-empty name: \(t)") }
    }

    public func run() async throws { try await runStandardAsync(execute) }

    func execute(_ io: CommandOutput) async throws {
        let k = try loadKey(key)
        let wasm = try readFile(file, what: "module file")
        guard wasm.count >= 8, Array(wasm.prefix(4)) == [0x00, 0x61, 0x73, 0x6D] else {
            throw CommandFailure("\(file) is not a WASM binary (no \\0asm header)", exitCode: ClientExit.badInput)
        }
        let fmt = format.flatMap { ModuleFormat(tag: $0) } ?? ModuleFormat.detect(wasm)
        let memory: String
        if let memoryLimit {
            memory = memoryLimit.allSatisfy(\.isNumber) ? "\(memoryLimit)-b" : memoryLimit
        } else {
            memory = fmt.isMemory64 || fmt == .emscripten3 || fmt == .emscripten4 ? "1-gb" : "524288000-b"
        }
        let tagList = AOItemBuilder.moduleTags(format: fmt.rawValue, memoryLimit: memory,
                                               computeLimit: String(computeLimit ?? ComputeLimits.computeLimitDefault),
                                               extra: tags.compactMap(ItemCreate.parseTag))
        let item = try AOItemBuilder.sign(k, tags: tagList, data: wasm)
        let receipt = try await target.client.submit(item.serialized())
        io.out(receipt.id.base64URL)
    }
}
