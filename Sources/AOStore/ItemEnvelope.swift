import AOCore

/// The facts the store needs to address and index an ANS-104 data item, read from the item's own bytes.
///
/// The store never trusts an id or an owner given by a caller: `parse` recomputes the id as SHA-256 of the signature
/// bytes and the owner address as SHA-256 of the owner bytes. It checks the ANS-104 layout and limits but not the
/// signature; `verifySignature` does that (ed25519, signature type 2, only).
///
/// This is a deliberately small, allocation-light reader so ingest stays fast. The full `DataItem` type of AOCore
/// (foundation branch) is the general API; once it lands, `ContentStore` users should convert with `DataItem(parsing:)`
/// and the local signer/verifier here (`signEd25519`, `verifySignature`) should delegate to it.
///
/// ANS-104 layout: sigType u16 LE | signature | owner | target flag (+32) | anchor flag (+32) |
/// tag count u64 LE | tag bytes u64 LE | Avro tags | data.
public struct ItemEnvelope: Sendable, Equatable {
    /// One tag, as raw bytes (ANS-104 tags are byte strings; AO puts UTF-8 text in them).
    public struct Tag: Sendable, Hashable {
        public let name: [UInt8]
        public let value: [UInt8]
        public init(name: [UInt8], value: [UInt8]) { self.name = name; self.value = value }
        public init(_ name: String, _ value: String) { self.name = Array(name.utf8); self.value = Array(value.utf8) }
        public var nameString: String { String(decoding: name, as: UTF8.self) }
        public var valueString: String { String(decoding: value, as: UTF8.self) }
    }

    public let id: MessageID
    public let signatureType: UInt16
    public let ownerAddress: Address
    public let target: ID32?
    public let anchor: [UInt8]?
    public let tags: [Tag]
    /// Byte ranges inside the item, for verification and for reading the data without copying the header.
    public let signatureRange: Range<Int>
    public let ownerRange: Range<Int>
    public let tagBytesRange: Range<Int>
    public let dataRange: Range<Int>
    public var byteCount: Int { dataRange.upperBound }

    /// (signature bytes, owner bytes) per ANS-104 signature type.
    static func lengths(signatureType: UInt16) -> (signature: Int, owner: Int)? {
        switch signatureType {
        case 1: return (512, 512)      // Arweave RSA-PSS 4096
        case 2: return (64, 32)        // ed25519
        case 3: return (65, 65)        // Ethereum secp256k1
        case 4: return (64, 32)        // Solana
        case 5: return (64, 32)        // injected Aptos
        case 6: return (64 * 32 + 4, 32 * 32 + 1)  // multi Aptos
        case 7: return (65, 42)        // typed Ethereum
        default: return nil
        }
    }

    /// Parses the layout of `bytes` (one whole item). Throws `malformedItem` on any inconsistency or broken limit.
    public static func parse(_ bytes: [UInt8]) throws(StoreError) -> ItemEnvelope {
        guard bytes.count <= StoreLimits.itemBytesMax else {
            throw .limitExceeded("item of \(bytes.count) bytes exceeds itemBytesMax \(StoreLimits.itemBytesMax)")
        }
        var r = ByteReader(bytes)
        guard let sigType = r.u16LE() else { throw .malformedItem("shorter than the signature type") }
        guard let (sigLen, ownerLen) = lengths(signatureType: sigType) else {
            throw .malformedItem("unknown signature type \(sigType)")
        }
        guard let sigRange = r.skip(sigLen) else { throw .malformedItem("truncated signature") }
        guard let ownerRange = r.skip(ownerLen) else { throw .malformedItem("truncated owner") }
        var target: ID32? = nil
        switch r.u8() {
        case 0: break
        case 1:
            guard let t = r.skip(32) else { throw .malformedItem("truncated target") }
            target = ID32(bytes: bytes[t])
        default: throw .malformedItem("bad target presence byte")
        }
        var anchor: [UInt8]? = nil
        switch r.u8() {
        case 0: break
        case 1:
            guard let a = r.skip(32) else { throw .malformedItem("truncated anchor") }
            anchor = Array(bytes[a])
        default: throw .malformedItem("bad anchor presence byte")
        }
        guard let tagCount = r.u64LE(), let tagBytes = r.u64LE() else { throw .malformedItem("truncated tag header") }
        guard tagCount <= UInt64(StoreLimits.itemTagCountMax) else {
            throw .malformedItem("\(tagCount) tags exceed ANS-104's \(StoreLimits.itemTagCountMax)")
        }
        guard tagBytes <= UInt64(bytes.count), let tagRange = r.skip(Int(tagBytes)) else {
            throw .malformedItem("tag bytes run past the end")
        }
        let tags = try AvroTags.decode(bytes, tagRange)
        guard tags.count == Int(tagCount) else {
            throw .malformedItem("tag count \(tagCount) disagrees with \(tags.count) decoded tags")
        }
        let id = MessageID(bytes: SHA2.sha256(bytes[sigRange]))!
        let owner = Address(bytes: SHA2.sha256(bytes[ownerRange]))!
        return ItemEnvelope(id: id, signatureType: sigType, ownerAddress: owner, target: target, anchor: anchor,
                            tags: tags, signatureRange: sigRange, ownerRange: ownerRange, tagBytesRange: tagRange,
                            dataRange: r.offset..<bytes.count)
    }

    /// The first value of the tag named `name`, if any.
    public func tag(_ name: String) -> [UInt8]? { let n = Array(name.utf8); return tags.first { $0.name == n }?.value }

    /// Verifies the item's signature over the ANS-104 deep hash. Ed25519 (type 2) only in this local reader;
    /// other types throw `unsupportedSignatureType` (AOCore's DataItem will cover RSA).
    public func verifySignature(in bytes: [UInt8]) throws(StoreError) -> Bool {
        guard signatureType == 2 else {
            throw .unsupportedSignatureType("signature type \(signatureType) cannot be verified by the store's local reader")
        }
        let message = ItemEnvelope.signatureMessage(signatureType: signatureType, owner: bytes[ownerRange],
                                                    target: target?.bytes ?? [], anchor: anchor ?? [],
                                                    tagBytes: bytes[tagBytesRange], data: bytes[dataRange])
        return Ed25519.verify(signature: Array(bytes[signatureRange]), message: message, publicKey: Array(bytes[ownerRange]))
    }

    /// The ANS-104 signature message: deepHash(["dataitem", "1", sigType, owner, target, anchor, tags, data]).
    static func signatureMessage(signatureType: UInt16, owner: ArraySlice<UInt8>, target: [UInt8], anchor: [UInt8],
                                 tagBytes: ArraySlice<UInt8>, data: ArraySlice<UInt8>) -> [UInt8] {
        var acc = SHA2.sha384(Array("list8".utf8))
        func blob(_ b: ArraySlice<UInt8>) -> [UInt8] {
            SHA2.sha384(SHA2.sha384(Array("blob\(b.count)".utf8)) + SHA2.sha384(b))
        }
        for part in [ArraySlice("dataitem".utf8), ArraySlice("1".utf8), ArraySlice(String(signatureType).utf8),
                     owner, target[...], anchor[...], tagBytes, data] {
            acc = SHA2.sha384(acc + blob(part))
        }
        return acc
    }

    /// Builds and signs an ed25519 (type 2) data item. Used by tests, benchmarks and the crash helper until AOCore's
    /// DataItem signer lands. Throws `malformedItem` when a tag breaks an ANS-104 limit.
    public static func signEd25519(key: Ed25519PrivateKey, target: ID32? = nil, anchor: [UInt8]? = nil,
                                   tags: [Tag], data: [UInt8]) throws(StoreError) -> [UInt8] {
        if let anchor, anchor.count != 32 { throw .malformedItem("anchor must be 32 bytes") }
        let tagBytes = try AvroTags.encode(tags)
        let message = signatureMessage(signatureType: 2, owner: key.publicKey[...], target: target?.bytes ?? [],
                                       anchor: anchor ?? [], tagBytes: tagBytes[...], data: data[...])
        let signature = key.sign(message)
        var out = [UInt8](); out.reserveCapacity(2 + 64 + 32 + 34 + 34 + 16 + tagBytes.count + data.count)
        out += [2, 0]; out += signature; out += key.publicKey
        if let target { out.append(1); out += target.bytes } else { out.append(0) }
        if let anchor { out.append(1); out += anchor } else { out.append(0) }
        out += ByteReader.le64(UInt64(tags.count)); out += ByteReader.le64(UInt64(tagBytes.count))
        out += tagBytes; out += data
        return out
    }
}

/// Avro array-of-records encoding of ANS-104 tags (zigzag varint lengths, blocks ended by a zero count).
enum AvroTags {
    static func encode(_ tags: [ItemEnvelope.Tag]) throws(StoreError) -> [UInt8] {
        guard tags.count <= StoreLimits.itemTagCountMax else { throw .malformedItem("more than 128 tags") }
        if tags.isEmpty { return [] }
        var out = [UInt8]()
        zigzag(Int64(tags.count), &out)
        for t in tags {
            guard (1...StoreLimits.tagNameBytesMax).contains(t.name.count), t.value.count <= StoreLimits.tagValueBytesMax else {
                throw .malformedItem("tag name must be 1...1024 bytes and value at most 3072 bytes")
            }
            zigzag(Int64(t.name.count), &out); out += t.name
            zigzag(Int64(t.value.count), &out); out += t.value
        }
        out.append(0)
        return out
    }

    static func zigzag(_ v: Int64, _ out: inout [UInt8]) {
        var z = UInt64(bitPattern: (v << 1) ^ (v >> 63))
        while z >= 0x80 { out.append(UInt8(z & 0x7f) | 0x80); z >>= 7 }
        out.append(UInt8(z))
    }

    static func decode(_ bytes: [UInt8], _ range: Range<Int>) throws(StoreError) -> [ItemEnvelope.Tag] {
        if range.isEmpty { return [] }
        var i = range.lowerBound
        func long() throws(StoreError) -> Int64 {
            var z: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < range.upperBound, shift < 64 else { throw .malformedItem("bad Avro varint in tags") }
                let b = bytes[i]; i += 1
                z |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            return Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1)
        }
        func field(_ max: Int) throws(StoreError) -> [UInt8] {
            let n = try long()
            guard n >= 0, n <= Int64(max), i + Int(n) <= range.upperBound else { throw .malformedItem("bad tag field length") }
            defer { i += Int(n) }
            return Array(bytes[i..<i + Int(n)])
        }
        var tags: [ItemEnvelope.Tag] = []
        while true {
            var count = try long()
            if count == 0 { break }
            if count < 0 { count = -count; _ = try long() }  // a negative block count is followed by the block's size
            guard Int64(tags.count) + count <= Int64(StoreLimits.itemTagCountMax) else { throw .malformedItem("more than 128 tags") }
            for _ in 0..<count {
                let name = try field(StoreLimits.tagNameBytesMax)
                guard !name.isEmpty else { throw .malformedItem("empty tag name") }
                let value = try field(StoreLimits.tagValueBytesMax)
                tags.append(.init(name: name, value: value))
            }
        }
        guard i == range.upperBound else { throw .malformedItem("trailing bytes after the Avro tags") }
        return tags
    }
}

/// A bounds-checked little-endian reader over a byte array.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    mutating func skip(_ n: Int) -> Range<Int>? {
        guard n >= 0, bytes.count - offset >= n else { return nil }
        defer { offset += n }
        return offset..<offset + n
    }
    mutating func u8() -> UInt8? { skip(1).map { bytes[$0.lowerBound] } }
    mutating func u16LE() -> UInt16? { skip(2).map { UInt16(bytes[$0.lowerBound]) | UInt16(bytes[$0.lowerBound + 1]) << 8 } }
    mutating func u64LE() -> UInt64? {
        skip(8).map { r in (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[r.lowerBound + $1]) << (8 * UInt64($1)) } }
    }
    static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
}

/// ANS-104 binary bundles: a 32-byte LE item count, then (32-byte LE size, 32-byte id) per item, then the items.
public enum ItemBundle {
    /// True when `bytes` is laid out as a bundle (header consistent with the total length). A single data item never
    /// is: its leading signature type and signature make an absurd item count.
    public static func looksLikeBundle(_ bytes: [UInt8]) -> Bool { (try? header(bytes)) != nil }

    /// The items of a bundle, each checked against the id in the header. Throws `malformedItem` / `idMismatch`.
    public static func parse(_ bytes: [UInt8]) throws(StoreError) -> [[UInt8]] {
        let entries = try header(bytes)
        var out: [[UInt8]] = []
        var offset = 32 + 64 * entries.count
        for (size, id) in entries {
            let item = Array(bytes[offset..<offset + size]); offset += size
            let env = try ItemEnvelope.parse(item)
            guard env.id.bytes == id else { throw .idMismatch("bundle header names \(Base64URL.encode(id)), item is \(env.id)") }
            out.append(item)
        }
        return out
    }

    static func header(_ bytes: [UInt8]) throws(StoreError) -> [(Int, [UInt8])] {
        func le256(_ at: Int) -> Int? {
            guard bytes[at + 8..<at + 32].allSatisfy({ $0 == 0 }) else { return nil }
            let v = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
            return v <= UInt64(Int.max / 2) ? Int(v) : nil
        }
        guard bytes.count >= 32, let count = le256(0), count <= StoreLimits.bundleItemCountMax,
              bytes.count >= 32 + 64 * count else { throw .malformedItem("not an ANS-104 bundle header") }
        var entries: [(Int, [UInt8])] = []
        var total = 32 + 64 * count
        for k in 0..<count {
            let at = 32 + 64 * k
            guard let size = le256(at), size <= StoreLimits.itemBytesMax else { throw .malformedItem("bad item size in bundle") }
            total += size
            entries.append((size, Array(bytes[at + 32..<at + 64])))
        }
        guard total == bytes.count else { throw .malformedItem("bundle sizes (\(total)) disagree with its length \(bytes.count)") }
        return entries
    }

    /// Serialises items (already valid data items) into a bundle.
    public static func serialize(_ items: [[UInt8]]) throws(StoreError) -> [UInt8] {
        var out = ByteReader.le64(UInt64(items.count)) + [UInt8](repeating: 0, count: 24)
        var body: [UInt8] = []
        for item in items {
            let env = try ItemEnvelope.parse(item)
            out += ByteReader.le64(UInt64(item.count)) + [UInt8](repeating: 0, count: 24) + env.id.bytes
            body += item
        }
        return out + body
    }
}
