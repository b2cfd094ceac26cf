/// 32 raw bytes shown as 43 base64url characters: the shape of every Arweave/AO id and address.
///
/// The typed wrappers below (`MessageID`, `ProcessID`, `NodeID`, `Address`) keep an id of one kind from being passed
/// where another is meant (CONVENTIONS.md C10); they convert explicitly through `raw`.
public struct ID32: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let a: UInt64, b: UInt64, c: UInt64, d: UInt64  // big-endian words: comparison = byte-wise order

    /// One word into the hasher instead of four: ids are SHA-256 outputs (or hashes of keys), so the XOR of the words
    /// is as uniform as the id, and Hasher's per-word rounds were a tenth of a busy scheduler's CPU (dictionaries keyed
    /// by ids and pairs of ids). The hasher stays seeded per process, so colliding buckets cannot be aimed at without
    /// a 64-bit collision of SHA-256 words. Equality (synthesized) still compares all 32 bytes.
    @inlinable public func hash(into hasher: inout Hasher) { hasher.combine(a ^ b ^ c ^ d) }

    @inlinable
    public init?<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        guard bytes.count == 32 else { return nil }
        // Hot in store keys, wire decoding and gossip ids: read the words without allocating. Contiguous bytes (arrays
        // and their slices) are read eight at a time; other collections byte by byte.
        if let words = bytes.withContiguousStorageIfAvailable({ buffer -> (UInt64, UInt64, UInt64, UInt64) in
            func word(_ at: Int) -> UInt64 {
                var w: UInt64 = 0
                for i in at..<at + 8 { w = w << 8 | UInt64(buffer[i]) }
                return w
            }
            return (word(0), word(8), word(16), word(24))
        }) {
            (a, b, c, d) = words
            return
        }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var index = 0
        for byte in bytes {
            switch index >> 3 {
            case 0: words.0 = words.0 << 8 | UInt64(byte)
            case 1: words.1 = words.1 << 8 | UInt64(byte)
            case 2: words.2 = words.2 << 8 | UInt64(byte)
            default: words.3 = words.3 << 8 | UInt64(byte)
            }
            index += 1
        }
        (a, b, c, d) = words
    }

    /// Parses 43 base64url characters (32 bytes); nil otherwise.
    public init?(base64URL text: String) {
        guard text.utf8.count == 43, let bytes = Base64URL.decode(text) else { return nil }
        self.init(bytes: bytes)
    }

    public var bytes: [UInt8] {
        // One allocation, no intermediate arrays: this is on every store lookup's key path.
        [UInt8](unsafeUninitializedCapacity: 32) { buffer, count in
            var big = (a.bigEndian, b.bigEndian, c.bigEndian, d.bigEndian)
            withUnsafeBytes(of: &big) { raw in _ = buffer.initialize(from: raw) }
            count = 32
        }
    }

    public var base64URL: String { Base64URL.encode(bytes) }
    public var description: String { base64URL }

    public static func < (l: ID32, r: ID32) -> Bool { (l.a, l.b, l.c, l.d) < (r.a, r.b, r.c, r.d) }
}

/// Declares a distinct id type over `ID32`.
public protocol TypedID32: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    var raw: ID32 { get }
    init(raw: ID32)
}

extension TypedID32 {
    public init?(base64URL text: String) { guard let r = ID32(base64URL: text) else { return nil }; self.init(raw: r) }
    public init?<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        guard let r = ID32(bytes: bytes) else { return nil }; self.init(raw: r)
    }
    public var base64URL: String { raw.base64URL }
    public var bytes: [UInt8] { raw.bytes }
    public var description: String { raw.base64URL }
    public static func < (l: Self, r: Self) -> Bool { l.raw < r.raw }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let r = ID32(base64URL: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a 43-character base64url id: \(text)"))
        }
        self.init(raw: r)
    }
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(raw.base64URL) }
}

/// The id of a data item: base64url(SHA-256(signature)). Every message, process, module and assignment has one.
public struct MessageID: TypedID32 { public let raw: ID32; public init(raw: ID32) { self.raw = raw } }
/// A process is named by the id of the data item that spawned it.
public struct ProcessID: TypedID32 { public let raw: ID32; public init(raw: ID32) { self.raw = raw } }
/// A node is named by the address of its ed25519 node key (SHA-256 of the public key).
public struct NodeID: TypedID32 { public let raw: ID32; public init(raw: ID32) { self.raw = raw } }
/// An Arweave address: base64url(SHA-256(owner public key bytes)).
public struct Address: TypedID32 { public let raw: ID32; public init(raw: ID32) { self.raw = raw } }

extension ProcessID { public init(_ message: MessageID) { self.init(raw: message.raw) } }
extension MessageID { public init(_ process: ProcessID) { self.init(raw: process.raw) } }
