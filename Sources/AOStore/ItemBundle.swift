import AOCore

/// ANS-104 binary bundles: a 32-byte LE item count, then (32-byte LE size, 32-byte id) per item, then the items.
///
/// Used by `aonode store import` and `export`. (AOCore has no bundle type yet; when it gains one, this should
/// delegate to it.)
public enum ItemBundle {
    /// True when `bytes` is laid out as a bundle (header consistent with the total length). A single data item never
    /// is: its leading signature type and signature bytes make an absurd 256-bit item count.
    public static func looksLikeBundle(_ bytes: [UInt8]) -> Bool { (try? header(bytes)) != nil }

    /// The items of a bundle, each parsed and checked against the id in the header.
    public static func parse(_ bytes: [UInt8]) throws(StoreError) -> [DataItem] {
        let entries = try header(bytes)
        var out: [DataItem] = []
        var offset = 32 + 64 * entries.count
        for (size, id) in entries {
            let item = try parseItem(bytes[offset..<offset + size])
            offset += size
            guard item.id.bytes == id else {
                throw .idMismatch("bundle header names \(Base64URL.encode(id)), its item hashes to \(item.id)")
            }
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

    /// Serialises items into a bundle, in the given order.
    public static func serialize(_ items: [DataItem]) -> [UInt8] {
        var out = le256(items.count)
        var body: [UInt8] = []
        for item in items {
            let bytes = item.serialized()
            out += le256(bytes.count) + item.id.bytes
            body += bytes
        }
        return out + body
    }

    static func le256(_ v: Int) -> [UInt8] { (0..<32).map { $0 < 8 ? UInt8(truncatingIfNeeded: UInt64(v) >> (8 * UInt64($0))) : 0 } }
}

/// Parses one data item, translating AOCore's error into the store's.
public func parseItem<C: Collection>(_ bytes: C) throws(StoreError) -> DataItem where C.Element == UInt8 {
    guard bytes.count <= StoreLimits.itemBytesMax else {
        throw .limitExceeded("item of \(bytes.count) bytes exceeds itemBytesMax \(StoreLimits.itemBytesMax)")
    }
    do { return try DataItem(parsing: Array(bytes)) } catch { throw .malformedItem("\(error)") }
}
