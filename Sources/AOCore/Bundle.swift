/// An ANS-104 bundle: a list of data items in one binary blob (the data of an Arweave transaction or, nested, of a
/// data item tagged `Bundle-Format: binary`, `Bundle-Version: 2.0.0`; AO's SU stores `[assignment, message]` so).
///
/// Layout: item count (32 bytes, little-endian), then per item its byte size (32 bytes LE) and its id (32 raw bytes),
/// then the items back to back. Parsing is strict: every 256-bit number must fit in 64 bits, the items must fill the
/// rest exactly, each must parse, and each header id must equal the item's id. Parsing does not verify signatures.
public struct ANS104Bundle: Sendable, Hashable {
    public let items: [DataItem]

    public init(items: [DataItem]) { self.items = items }

    /// Tags that mark a data item whose data is a bundle.
    public static let formatTags = [Tag("Bundle-Format", "binary"), Tag("Bundle-Version", "2.0.0")]

    public init(parsing bytes: [UInt8]) throws(BundleError) {
        self = try bytes.withUnsafeBufferPointer { (p) throws(BundleError) -> ANS104Bundle in try ANS104Bundle(parsing: p) }
    }

    public init(parsing p: UnsafeBufferPointer<UInt8>) throws(BundleError) {
        var r = ByteReader(p)
        guard let countField = r.take(32) else { throw .truncatedHeader }
        guard let count = ANS104Bundle.u256(countField) else { throw .numberTooLarge }
        guard count <= UInt64(ANS104Limits.bundleItemCountMax) else { throw BundleError.tooManyItems.with("\(count)") }
        guard count * 64 <= UInt64(r.remaining) else { throw .truncatedHeader }
        var entries: [(size: Int, id: [UInt8])] = []
        entries.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let sizeField = r.take(32), let id = r.take(32) else { throw .truncatedHeader }
            guard let size = ANS104Bundle.u256(sizeField), size <= UInt64(p.count) else { throw .numberTooLarge }
            entries.append((Int(size), Array(id)))
        }
        var items = [DataItem]()
        items.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            guard let body = r.take(entry.size) else { throw BundleError.truncatedItems.with("item \(index)") }
            let item: DataItem
            do { item = try DataItem(parsing: body) } catch { throw BundleError.badItem.with("item \(index): \(error)") }
            guard item.id.bytes == entry.id else { throw BundleError.idMismatch.with("item \(index)") }
            items.append(item)
        }
        guard r.remaining == 0 else { throw BundleError.trailingBytes.with("\(r.remaining) bytes") }
        self.items = items
    }

    /// The binary bundle of `items`, in order.
    public static func serialize(_ items: [DataItem]) -> [UInt8] {
        let bodies = items.map { $0.serialized() }
        var out = [UInt8]()
        out.reserveCapacity(32 + 64 * items.count + bodies.reduce(0) { $0 + $1.count })
        appendU256(UInt64(items.count), to: &out)
        for (item, body) in zip(items, bodies) {
            appendU256(UInt64(body.count), to: &out)
            out.append(contentsOf: item.id.bytes)
        }
        for body in bodies { out.append(contentsOf: body) }
        return out
    }

    public func serialized() -> [UInt8] { ANS104Bundle.serialize(items) }

    static func u256(_ p: UnsafeBufferPointer<UInt8>) -> UInt64? {
        for i in 8..<32 where p[i] != 0 { return nil }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(p[i]) << (8 * UInt64(i)) }
        return v
    }

    static func appendU256(_ v: UInt64, to out: inout [UInt8]) {
        appendLE(v, to: &out)
        out.append(contentsOf: repeatElement(0, count: 24))
    }
}

extension DataItem {
    /// Whether the tags mark the data as a binary ANS-104 bundle (`Bundle-Format: binary`).
    public var carriesBundle: Bool { tag("Bundle-Format") == "binary" }

    /// The bundle inside this item's data, when its tags say it holds one; nil otherwise.
    public func nestedBundle() throws(BundleError) -> ANS104Bundle? {
        guard carriesBundle else { return nil }
        return try ANS104Bundle(parsing: data)
    }

    /// Signs an item whose data is the bundle of `items`, tagged `Bundle-Format: binary`, `Bundle-Version: 2.0.0`
    /// (followed by `tags`), as AO's SU writes its `[assignment, message]` bundles.
    public static func createBundle(signer: some DataItemSigner, items: [DataItem], target: ID32? = nil,
                                    anchor: [UInt8]? = nil, tags: [Tag] = []) throws(DataItemError) -> DataItem {
        try create(signer: signer, target: target, anchor: anchor, tags: ANS104Bundle.formatTags + tags,
                   data: ANS104Bundle.serialize(items))
    }
}

/// Why a bundle was refused. Equality compares the case only.
public struct BundleError: Error, Hashable, Sendable, CustomStringConvertible {
    enum Kind: String, Sendable { case truncatedHeader, numberTooLarge, tooManyItems, truncatedItems, badItem, idMismatch, trailingBytes }
    let kind: Kind
    public let detail: String
    init(_ kind: Kind, _ detail: String = "") { self.kind = kind; self.detail = detail }
    func with(_ detail: String) -> BundleError { BundleError(kind, detail) }
    public static func == (l: BundleError, r: BundleError) -> Bool { l.kind == r.kind }
    public func hash(into h: inout Hasher) { h.combine(kind) }
    public var code: String { kind.rawValue }

    /// The input ends inside the item count or the (size, id) header entries.
    public static let truncatedHeader = BundleError(.truncatedHeader)
    /// A 256-bit count or size does not fit in 64 bits, or a size exceeds the whole input.
    public static let numberTooLarge = BundleError(.numberTooLarge)
    /// More items than `ANS104Limits.bundleItemCountMax`.
    public static let tooManyItems = BundleError(.tooManyItems)
    /// An item's declared size runs past the end of the input.
    public static let truncatedItems = BundleError(.truncatedItems)
    /// An item does not parse (the detail holds its `DataItemError`).
    public static let badItem = BundleError(.badItem)
    /// A header id differs from the id of the item it describes.
    public static let idMismatch = BundleError(.idMismatch)
    /// Bytes remain after the last item.
    public static let trailingBytes = BundleError(.trailingBytes)

    public var description: String {
        let base: String
        switch kind {
        case .truncatedHeader: base = "truncated bundle header"
        case .numberTooLarge: base = "a bundle count or size is too large"
        case .tooManyItems: base = "too many items in the bundle"
        case .truncatedItems: base = "a bundled item runs past the end of the bundle"
        case .badItem: base = "a bundled item is malformed"
        case .idMismatch: base = "a bundle header id differs from its item's id"
        case .trailingBytes: base = "bytes remain after the last bundled item"
        }
        return detail.isEmpty ? base : "\(base) (\(detail))"
    }
}
