import AOCore

/// ANS-104 binary bundles for `aonode store import` / `export`: a thin layer over AOCore's `ANS104Bundle` that
/// answers in `StoreError` and tells a bundle from a single item.
public enum ItemBundle {
    /// True when `bytes` is laid out as a bundle (header consistent with the total length). A single data item never
    /// is: its leading signature type and signature bytes make an absurd 256-bit item count.
    public static func looksLikeBundle(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 32, let count = le64(bytes, 0), count <= UInt64(StoreLimits.bundleItemCountMax),
              UInt64(bytes.count) >= 32 + 64 * count else { return false }
        var total = 32 + 64 * count
        for k in 0..<Int(count) {
            guard let size = le64(bytes, 32 + 64 * k), size <= UInt64(bytes.count) else { return false }
            total += size
        }
        return total == UInt64(bytes.count)
    }

    /// The items of a bundle, each parsed and checked against the id in the header (signatures not verified).
    public static func parse(_ bytes: [UInt8]) throws(StoreError) -> [DataItem] {
        do { return try ANS104Bundle(parsing: bytes).items } catch { throw .malformedItem("bundle: \(error)") }
    }

    /// Serialises items into a bundle, in the given order.
    public static func serialize(_ items: [DataItem]) -> [UInt8] { ANS104Bundle.serialize(items) }

    /// A 256-bit little-endian number at `at` when it fits in 64 bits.
    static func le64(_ b: [UInt8], _ at: Int) -> UInt64? {
        guard at + 32 <= b.count, b[at + 8..<at + 32].allSatisfy({ $0 == 0 }) else { return nil }
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) }
    }
}

/// Parses one data item, translating AOCore's error into the store's.
public func parseItem<C: Collection>(_ bytes: C) throws(StoreError) -> DataItem where C.Element == UInt8 {
    guard bytes.count <= StoreLimits.itemBytesMax else {
        throw .limitExceeded("item of \(bytes.count) bytes exceeds itemBytesMax \(StoreLimits.itemBytesMax)")
    }
    do { return try DataItem(parsing: Array(bytes)) } catch { throw .malformedItem("\(error)") }
}
