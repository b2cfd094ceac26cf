import AOCore
import ArgumentParser
import Foundation

/// `aonode item create|inspect`: make and check ANS-104 signed data items.
public struct ItemCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "item",
        abstract: "Create and inspect ANS-104 signed data items.",
        subcommands: [ItemCreate.self, ItemInspect.self])

    public init() {}
}

/// `aonode item create --key FILE [--target ID] [--anchor TEXT] [--tag NAME=VALUE ...] [--data TEXT | --data-file FILE] --out FILE`
public struct ItemCreate: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Sign a data item with a key file, write it in binary, and print its id.",
        discussion: """
            The item is signed with the key's type (ed25519: type 2; Arweave RSA: type 1, RSA-PSS salt 478). Tags keep \
            the order given; --tag splits at the first '='. An empty value is allowed, an empty name is not. At most \
            128 tags, names up to 1024 bytes, values up to 3072 bytes, and the tag block at most 4096 bytes.
            """)

    @Option(name: .long, help: "The JWK key file to sign with.")
    public var key: String

    @Option(name: .long, parsing: .unconditional, help: "Target: a 43-character base64url id (e.g. a process id).")
    public var target: String?

    @Option(name: .long, help: ArgumentHelp(
        "Anchor: a 32-byte UTF-8 text, or base64url of 32 raw bytes.",
        discussion: "A 32-character text is used as is (the aoconnect convention); otherwise it must decode to 32 bytes."))
    public var anchor: String?

    @Option(name: .customLong("tag"), help: ArgumentHelp("A tag NAME=VALUE (repeatable; order is kept).", valueName: "name=value"))
    public var tags: [String] = []

    @Option(name: .long, help: "The data as text (UTF-8).")
    public var data: String?

    @Option(name: .long, help: "A file whose bytes are the data.")
    public var dataFile: String?

    @Option(name: .long, help: "Where to write the binary item (must not exist).")
    public var out: String

    public init() {}

    public func validate() throws {
        if data != nil && dataFile != nil { throw ValidationError("give --data or --data-file, not both") }
        if let target, ID32(base64URL: target) == nil { throw ValidationError("--target must be a 43-character base64url id (32 bytes)") }
        if let anchor, ItemCreate.anchorBytes(anchor) == nil {
            throw ValidationError("--anchor must be a 32-byte text or base64url of 32 bytes")
        }
        for t in tags where ItemCreate.parseTag(t) == nil { throw ValidationError("--tag must be NAME=VALUE with a non-empty name: \(t)") }
    }

    static func anchorBytes(_ text: String) -> [UInt8]? {
        if text.utf8.count == 32 { return Array(text.utf8) }
        if let raw = Base64URL.decode(text), raw.count == 32 { return raw }
        return nil
    }

    static func parseTag(_ text: String) -> Tag? {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else { return nil }
        return Tag(String(text[..<eq]), String(text[text.index(after: eq)...]))
    }

    public func run() throws { try runStandard(execute) }

    public func execute(_ io: CommandOutput) throws {
        let k: KeyFile
        do { k = try KeyFile.load(path: key) } catch { throw CommandFailure("\(error)", exitCode: 2) }
        let payload: [UInt8]
        if let dataFile { payload = try readFile(dataFile, what: "data file") } else { payload = Array((data ?? "").utf8) }
        let item: DataItem
        do {
            item = try DataItem.create(signer: k.signer, target: target.flatMap { ID32(base64URL: $0) },
                                       anchor: anchor.flatMap(ItemCreate.anchorBytes), tags: tags.compactMap(ItemCreate.parseTag),
                                       data: payload)
        } catch { throw CommandFailure("cannot create the item: \(error)", exitCode: 2) }
        try writeNewFile(out, item.serialized())
        io.out(item.id.base64URL)
    }
}

/// `aonode item inspect FILE [--json]`
public struct ItemInspect: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Parse and verify a binary data item; print its fields.",
        discussion: """
            Prints id, signature type, owner, address, target, anchor, tags and data size, then the verdict. Exit \
            status: 0 when the item is well-formed and its signature verifies; 1 when the signature does not verify \
            or its type cannot be verified (Ethereum and other non-Arweave, non-ed25519 types); 2 when the file cannot \
            be read or is not a well-formed ANS-104 item. The reason goes to standard error.
            """)

    @Argument(help: "The binary data item file.")
    public var file: String

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    public var json = false

    public init() {}

    public func run() throws { try runStandard(execute) }

    public func execute(_ io: CommandOutput) throws {
        let bytes = try readFile(file, what: "item")
        let item: DataItem
        do { item = try DataItem(parsing: bytes) } catch {
            if json { io.out(ItemInspect.jsonText(["valid": false, "error": error.code, "reason": error.description])) }
            throw CommandFailure("malformed data item: \(error)", exitCode: 2)
        }
        var verdict: DataItemError? = nil
        do { try item.verify() } catch { verdict = error }
        if json {
            io.out(ItemInspect.jsonText(ItemInspect.report(item, verdict: verdict)))
        } else {
            for line in ItemInspect.textLines(item, verdict: verdict) { io.out(line) }
        }
        if let verdict { throw CommandFailure("\(verdict)", exitCode: 1) }
    }

    static func report(_ item: DataItem, verdict: DataItemError?) -> [String: Any] {
        var r: [String: Any] = [
            "id": item.id.base64URL,
            "signatureType": Int(item.signatureType.rawValue),
            "signatureTypeName": item.signatureType.description,
            "owner": Base64URL.encode(item.owner),
            "address": item.ownerAddress.base64URL,
            "target": item.target?.base64URL ?? NSNull(),
            "anchor": item.anchor.map { Base64URL.encode($0) } ?? NSNull(),
            "tags": item.tags.map { ["name": $0.nameString, "value": $0.valueString] },
            "dataSize": item.data.count,
            "deepHash": item.signingMessage().hexString,
            "valid": verdict == nil,
        ]
        if let a = item.anchor, let text = String(validating: a, as: UTF8.self) { r["anchorText"] = text }
        if let verdict { r["error"] = verdict.code; r["reason"] = verdict.description }
        return r
    }

    static func textLines(_ item: DataItem, verdict: DataItemError?) -> [String] {
        var lines = [
            "id:             \(item.id.base64URL)",
            "signature type: \(item.signatureType.rawValue) (\(item.signatureType))",
            "owner:          \(Base64URL.encode(item.owner))",
            "address:        \(item.ownerAddress.base64URL)",
            "target:         \(item.target?.base64URL ?? "none")",
        ]
        if let a = item.anchor {
            let text = String(validating: a, as: UTF8.self).map { " (text \"\($0)\")" } ?? ""
            lines.append("anchor:         \(Base64URL.encode(a))\(text)")
        } else {
            lines.append("anchor:         none")
        }
        lines.append("tags:           \(item.tags.count)")
        for t in item.tags { lines.append("  \(t.nameString): \(t.valueString)") }
        lines.append("data:           \(item.data.count) bytes")
        lines.append("signature:      \(verdict.map { "INVALID: \($0)" } ?? "valid")")
        return lines
    }

    static func jsonText(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
