import CSodium

/// An ANS-104 signed data item: every AO message, process, module and assignment is one.
///
/// Binary layout (all integers little-endian):
///
///     signature type   2 bytes      (SignatureType)
///     signature        n bytes      (fixed by the type: 512 RSA, 64 ed25519, 65 Ethereum, ...)
///     owner            m bytes      (fixed by the type: 512 RSA modulus, 32 ed25519 key, ...)
///     target flag      1 byte       0 = absent, 1 = 32-byte target follows
///     target           0 or 32
///     anchor flag      1 byte       0 = absent, 1 = 32-byte anchor follows
///     anchor           0 or 32
///     tag count        8 bytes
///     tag byte length  8 bytes
///     tags             Avro array of {name: bytes, value: bytes} (`AvroTags`)
///     data             the rest
///
/// The signature covers the deep hash of `["dataitem", "1", type, owner, target, anchor, tags, data]` (`DeepHash`),
/// and the id is base64url(SHA-256(signature)). Fields outside the signed list (the presence bytes, the tag count and
/// byte length) are checked strictly here, so no two encodings of one signed content both parse.
///
/// Parsing never traps on any input: every malformed case throws its own `DataItemError`. Parsing does not verify;
/// call `verify()` (or `isSignatureValid`) before trusting the item.
public struct DataItem: Sendable, Hashable {
    public let signatureType: SignatureType
    public let signature: [UInt8]
    /// The signer's public key (RSA modulus for type 1, ed25519 key for type 2).
    public let owner: [UInt8]
    public let target: ID32?
    /// The anchor: exactly 32 bytes when present (aoconnect writes 32 UTF-8 characters, the SU 32 raw bytes).
    public let anchor: [UInt8]?
    public let tags: [Tag]
    /// The Avro tag block exactly as signed (empty when there are no tags and the item was written by arbundles).
    public let rawTagBytes: [UInt8]
    public let data: [UInt8]
    /// base64url(SHA-256(signature)).
    public let id: MessageID

    /// Parses one complete data item: `bytes` must hold exactly one item (its data runs to the end).
    public init(parsing bytes: [UInt8]) throws(DataItemError) {
        self = try bytes.withUnsafeBufferPointer { (p) throws(DataItemError) -> DataItem in try DataItem(parsing: p) }
    }

    /// Parses one complete data item from a slice (e.g. an item inside a bundle).
    public init(parsing bytes: ArraySlice<UInt8>) throws(DataItemError) {
        self = try bytes.withUnsafeBufferPointer { (p) throws(DataItemError) -> DataItem in try DataItem(parsing: p) }
    }

    /// Parses one complete data item from raw memory (the buffer is copied; nothing keeps a reference to it).
    public init(parsing p: UnsafeBufferPointer<UInt8>) throws(DataItemError) {
        var r = ByteReader(p)
        guard let typeRaw = r.u16() else { throw .truncatedSignatureType }
        guard let type = SignatureType(rawValue: typeRaw) else { throw DataItemError.unknownSignatureType.with("\(typeRaw)") }
        guard let sig = r.take(type.signatureBytes) else { throw .truncatedSignature }
        guard let owner = r.take(type.ownerBytes) else { throw .truncatedOwner }
        guard let targetFlag = r.u8() else { throw .truncatedTargetFlag }
        var target: ID32? = nil
        switch targetFlag {
        case 0: break
        case 1:
            guard let t = r.take(ANS104Limits.targetBytes) else { throw .truncatedTarget }
            target = ID32(bytes: t)
        default: throw DataItemError.badTargetFlag.with("\(targetFlag)")
        }
        guard let anchorFlag = r.u8() else { throw .truncatedAnchorFlag }
        var anchor: [UInt8]? = nil
        switch anchorFlag {
        case 0: break
        case 1:
            guard let a = r.take(ANS104Limits.anchorBytes) else { throw .truncatedAnchor }
            anchor = Array(a)
        default: throw DataItemError.badAnchorFlag.with("\(anchorFlag)")
        }
        guard let tagCount = r.u64() else { throw .truncatedTagCount }
        guard let tagBytesLength = r.u64() else { throw .truncatedTagByteLength }
        guard tagBytesLength <= UInt64(r.remaining), let tagBlock = r.take(Int(tagBytesLength)) else { throw .truncatedTags }
        let tags = try AvroTags.decode(tagBlock)
        guard UInt64(tags.count) == tagCount else {
            throw DataItemError.tagCountMismatch.with("header says \(tagCount), block holds \(tags.count)")
        }
        let data = r.rest()
        self.init(type: type, signature: Array(sig), owner: Array(owner), target: target, anchor: anchor,
                  tags: tags, rawTagBytes: Array(tagBlock), data: Array(data))
    }

    /// Assembles an item from fields already checked by the caller (parser or `create`).
    init(type: SignatureType, signature: [UInt8], owner: [UInt8], target: ID32?, anchor: [UInt8]?, tags: [Tag],
         rawTagBytes: [UInt8], data: [UInt8]) {
        self.signatureType = type
        self.signature = signature
        self.owner = owner
        self.target = target
        self.anchor = anchor
        self.tags = tags
        self.rawTagBytes = rawTagBytes
        self.data = data
        self.id = MessageID(raw: ID32(bytes: SHA2.sha256(signature))!)
    }

    /// Signs a new item. Tags are written as one Avro block (zero tags as zero bytes, as arbundles does).
    /// Throws for an anchor that is not 32 bytes, tags over the ANS-104 limits or a tag block over 4096 bytes,
    /// a signer whose owner or signature has the wrong length, or a failing signer.
    public static func create(signer: some DataItemSigner, target: ID32? = nil, anchor: [UInt8]? = nil,
                              tags: [Tag] = [], data: [UInt8] = []) throws(DataItemError) -> DataItem {
        let type = signer.signatureType
        let owner = signer.owner
        guard owner.count == type.ownerBytes else { throw .badOwnerSize }
        if let anchor, anchor.count != ANS104Limits.anchorBytes { throw DataItemError.badAnchorSize.with("\(anchor.count) bytes") }
        let raw = try AvroTags.encode(tags)
        guard raw.count <= ANS104Limits.tagBlockBytesCreateMax else {
            throw DataItemError.tagBlockTooLarge.with("\(raw.count) bytes")
        }
        let message = DataItem.deepHash(type: type, owner: owner, target: target, anchor: anchor, rawTags: raw,
                                        data: data).bytes
        let signature: [UInt8]
        do { signature = try signer.sign(message) } catch let e as DataItemError { throw e } catch {
            throw DataItemError.signingFailed.with("\(error)")
        }
        guard signature.count == type.signatureBytes else { throw .badSignatureSize }
        return DataItem(type: type, signature: signature, owner: owner, target: target, anchor: anchor, tags: tags,
                        rawTagBytes: raw, data: data)
    }

    /// The binary ANS-104 encoding (byte-identical to the parsed input for every item that parses).
    public func serialized() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(serializedByteCount)
        out.append(UInt8(truncatingIfNeeded: signatureType.rawValue))
        out.append(UInt8(truncatingIfNeeded: signatureType.rawValue >> 8))
        out.append(contentsOf: signature)
        out.append(contentsOf: owner)
        if let target { out.append(1); out.append(contentsOf: target.bytes) } else { out.append(0) }
        if let anchor { out.append(1); out.append(contentsOf: anchor) } else { out.append(0) }
        appendLE(UInt64(tags.count), to: &out)
        appendLE(UInt64(rawTagBytes.count), to: &out)
        out.append(contentsOf: rawTagBytes)
        out.append(contentsOf: data)
        return out
    }

    /// The length of `serialized()`.
    public var serializedByteCount: Int {
        2 + signature.count + owner.count + 1 + (target == nil ? 0 : 32) + 1 + (anchor?.count ?? 0) + 16
            + rawTagBytes.count + data.count
    }

    /// The 48-byte deep hash that the signature covers.
    public func signingMessage() -> [UInt8] { deepHashDigest().bytes }

    func deepHashDigest() -> Digest48 {
        DataItem.deepHash(type: signatureType, owner: owner, target: target, anchor: anchor, rawTags: rawTagBytes,
                          data: data)
    }

    static func deepHash(type: SignatureType, owner: [UInt8], target: ID32?, anchor: [UInt8]?, rawTags: [UInt8],
                         data: [UInt8]) -> Digest48 {
        var acc = DeepHash.dataItemPrefix(type.rawValue)
        owner.withUnsafeBytes { DeepHash.fold(&acc, $0) }
        if let target {
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buf in
                target.write(to: buf.baseAddress!)  // big-endian words -> bytes, on the stack
                DeepHash.fold(&acc, UnsafeRawBufferPointer(buf))
            }
        } else {
            acc = DeepHash.pair(acc, DeepHash.emptyBlob)
        }
        if let anchor { anchor.withUnsafeBytes { DeepHash.fold(&acc, $0) } } else { acc = DeepHash.pair(acc, DeepHash.emptyBlob) }
        rawTags.withUnsafeBytes { DeepHash.fold(&acc, $0) }
        data.withUnsafeBytes { DeepHash.fold(&acc, $0) }
        return acc
    }

    /// Verifies the signature over the deep hash. Throws `.invalidSignature` when it does not verify and
    /// `.unsupportedSignatureType` for types aonode cannot check (Ethereum and the other non-Arweave types).
    public func verify() throws(DataItemError) {
        switch signatureType {
        case .ed25519:
            precondition(sodiumReady, "libsodium failed to initialise")
            var digest = deepHashDigest()
            let ok = signature.withUnsafeBufferPointer { s in
                owner.withUnsafeBufferPointer { o in
                    digest.withMutablePointer { m in crypto_sign_verify_detached(s.baseAddress!, m, 48, o.baseAddress!) == 0 }
                }
            }
            guard ok else { throw .invalidSignature }
        case .arweave:
            let message = signingMessage()
            guard RSAPSS.verify(modulus: owner, message: message, signature: signature, saltLength: nil) else {
                throw .invalidSignature
            }
        default:
            throw DataItemError.unsupportedSignatureType.with("type \(signatureType.rawValue) (\(signatureType))")
        }
    }

    /// True when `verify()` succeeds.
    public var isSignatureValid: Bool { (try? verify()) != nil }

    /// For type 1: the RSA-PSS salt length the signature was made with, among the ones real items use (478, 32, 0,
    /// and the digest-adjacent 20, 48, 64); nil when the item is not RSA or no tried length verifies.
    public func rsaPSSSaltLength() -> Int? {
        guard signatureType == .arweave else { return nil }
        let message = signingMessage()
        for salt in [478, 32, 0, 20, 48, 64] where RSAPSS.verify(modulus: owner, message: message, signature: signature, saltLength: salt) {
            return salt
        }
        return nil
    }

    /// base64url(SHA-256(owner)): the Arweave address of the signer.
    public var ownerAddress: Address { Address(raw: ID32(bytes: SHA2.sha256(owner))!) }

    /// The value of the first tag named exactly `name`, as text.
    public func tag(_ name: String) -> String? {
        let n = Array(name.utf8)
        return tags.first { $0.name == n }?.valueString
    }

    /// The value of the first tag whose name matches `name` ignoring ASCII case (AO tools match `Type`/`type`).
    public func tag(caseInsensitive name: String) -> String? {
        let n = Array(name.lowercased().utf8)
        return tags.first { $0.name.count == n.count && Array($0.nameString.lowercased().utf8) == n }?.valueString
    }

    /// Every value of the tags named exactly `name`, in order.
    public func tagValues(_ name: String) -> [String] {
        let n = Array(name.utf8)
        return tags.filter { $0.name == n }.map(\.valueString)
    }

    public static func == (l: DataItem, r: DataItem) -> Bool {
        l.signatureType == r.signatureType && l.signature == r.signature && l.owner == r.owner && l.target == r.target
            && l.anchor == r.anchor && l.tags.count == r.tags.count && l.rawTagBytes == r.rawTagBytes && l.data == r.data
    }

    public func hash(into h: inout Hasher) { h.combine(id) }
}

/// Something that can sign a data item's 48-byte deep hash.
public protocol DataItemSigner {
    var signatureType: SignatureType { get }
    /// The public key written as the item's owner (`signatureType.ownerBytes` long).
    var owner: [UInt8] { get }
    /// Signs the 48-byte deep hash; returns `signatureType.signatureBytes` bytes.
    func sign(_ message: [UInt8]) throws -> [UInt8]
}

extension Ed25519PrivateKey: DataItemSigner {
    public var signatureType: SignatureType { .ed25519 }
    public var owner: [UInt8] { publicKey }
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: 64)
        _ = crypto_sign_detached(&sig, nil, message, UInt64(message.count), secretKey)
        return sig
    }
}

extension ID32 {
    /// Writes the 32 bytes (big-endian words) to `p`.
    func write(to p: UnsafeMutablePointer<UInt8>) {
        var words = (a.bigEndian, b.bigEndian, c.bigEndian, d.bigEndian)
        withUnsafeBytes(of: &words) { p.update(from: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 32) }
    }
}

@inline(__always) func appendLE(_ v: UInt64, to out: inout [UInt8]) {
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
}

/// A bounds-checked little-endian reader over a buffer: every read returns nil instead of running past the end.
struct ByteReader {
    let p: UnsafeBufferPointer<UInt8>
    var offset = 0
    init(_ p: UnsafeBufferPointer<UInt8>) { self.p = p }

    var remaining: Int { p.count - offset }

    mutating func u8() -> UInt8? { guard remaining >= 1 else { return nil }; defer { offset += 1 }; return p[offset] }
    mutating func u16() -> UInt16? {
        guard remaining >= 2 else { return nil }
        defer { offset += 2 }
        return UInt16(p[offset]) | UInt16(p[offset + 1]) << 8
    }
    mutating func u64() -> UInt64? {
        guard remaining >= 8 else { return nil }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(p[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return v
    }
    mutating func take(_ n: Int) -> UnsafeBufferPointer<UInt8>? {
        guard n >= 0, remaining >= n else { return nil }
        defer { offset += n }
        return UnsafeBufferPointer(rebasing: p[offset..<offset + n])
    }
    mutating func rest() -> UnsafeBufferPointer<UInt8> { take(remaining)! }
}
