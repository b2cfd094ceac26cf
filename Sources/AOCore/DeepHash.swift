import COpenSSL

/// The Arweave "deep hash" (arweave-js `deepHash`, arbundles `deepHash`), SHA-384 throughout:
///
///     deepHash(blob b)  = SHA384( SHA384("blob" ++ decimal(len b)) ++ SHA384(b) )
///     deepHash(list xs) = fold xs from SHA384("list" ++ decimal(count xs)) with acc' = SHA384(acc ++ deepHash(x))
///
/// An ANS-104 data item signs `deepHash(["dataitem", "1", "<signature type>", owner, target, anchor, tags, data])`
/// (target and anchor are empty blobs when absent; tags are the raw Avro bytes). The first three elements and the
/// list header depend only on the signature type, so `DataItem` folds from a precomputed accumulator
/// (`DeepHash.dataItemPrefix`), which saves 10 of the ~25 SHA-384 calls a small item costs.
public enum DeepHash {
    /// A chunk of a deep-hash input: a byte string or a nested list.
    public indirect enum Chunk: Hashable, Sendable {
        case blob([UInt8])
        case list([Chunk])
    }

    /// The 48-byte deep hash of a chunk (the general, recursive form; the data-item path below is the fast one).
    public static func hash(_ chunk: Chunk) -> [UInt8] {
        var out = Digest48()
        hash(chunk, into: &out)
        return out.bytes
    }

    static func hash(_ chunk: Chunk, into out: inout Digest48) {
        switch chunk {
        case .blob(let b): b.withUnsafeBytes { blob($0, into: &out) }
        case .list(let xs):
            var acc = tagHash("list", xs.count)
            for x in xs {
                var h = Digest48()
                hash(x, into: &h)
                acc = pair(acc, h)
            }
            out = acc
        }
    }

    /// SHA-384 of the text `prefix ++ decimal(n)` ("blob1024", "list8").
    static func tagHash(_ prefix: StaticString, _ n: Int) -> Digest48 {
        if n == 32, prefix.utf8Start[0] == UInt8(ascii: "b") { return blob32Tag }
        var buf: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes: 4 prefix + at most 20 digits
        return withUnsafeMutableBytes(of: &buf) { b -> Digest48 in
            var len = prefix.utf8CodeUnitCount
            b.baseAddress!.copyMemory(from: prefix.utf8Start, byteCount: len)
            var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
            let count = withUnsafeMutableBytes(of: &digits) { d -> Int in
                var v = UInt(n), i = 0
                repeat { d[i] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10; i += 1 } while v > 0
                return i
            }
            withUnsafeBytes(of: &digits) { d in for i in 0..<count { b[len + i] = d[count - 1 - i] } }
            len += count
            var out = Digest48()
            out.withMutablePointer { aonode_sha384(b.baseAddress, len, $0) }
            return out
        }
    }

    /// SHA-384 of `"blob32"`: owners of types 2/4/5 and 32-byte targets and anchors hit it on every item.
    static let blob32Tag: Digest48 = {
        var out = Digest48()
        let t: [UInt8] = Array("blob32".utf8)
        out.withMutablePointer { aonode_sha384(t, t.count, $0) }
        return out
    }()

    /// The deep hash of the empty blob (absent target and anchor).
    static let emptyBlob: Digest48 = {
        var out = Digest48()
        [UInt8]().withUnsafeBytes { blob($0, into: &out) }
        return out
    }()

    static func blob(_ data: UnsafeRawBufferPointer, into out: inout Digest48) {
        var both = (tagHash("blob", data.count), Digest48())
        both.1.withMutablePointer { aonode_sha384(data.baseAddress, data.count, $0) }
        withUnsafeBytes(of: &both) { b in out.withMutablePointer { aonode_sha384(b.baseAddress, 96, $0) } }
    }

    /// acc' = SHA384(acc ++ h)
    @inline(__always)
    static func pair(_ acc: Digest48, _ h: Digest48) -> Digest48 {
        var both = (acc, h)
        var out = Digest48()
        withUnsafeBytes(of: &both) { b in out.withMutablePointer { aonode_sha384(b.baseAddress, 96, $0) } }
        return out
    }

    /// Folds one blob into a list accumulator.
    @inline(__always)
    static func fold(_ acc: inout Digest48, _ data: UnsafeRawBufferPointer) {
        var h = Digest48()
        blob(data, into: &h)
        acc = pair(acc, h)
    }

    /// The accumulator of the data-item list after `"dataitem"`, `"1"` and the signature type, per type value.
    static func dataItemPrefix(_ type: UInt16) -> Digest48 {
        if Int(type) < prefixes.count, let p = prefixes[Int(type)] { return p }
        return computePrefix(type)
    }

    private static let prefixes: [Digest48?] = {
        (0...7).map { t in SignatureType(rawValue: UInt16(t)) == nil ? nil : computePrefix(UInt16(t)) }
    }()

    private static func computePrefix(_ type: UInt16) -> Digest48 {
        var acc = tagHash("list", 8)
        for field in ["dataitem", "1", String(type)] { Array(field.utf8).withUnsafeBytes { fold(&acc, $0) } }
        return acc
    }
}

/// A 48-byte SHA-384 digest held inline (no heap allocation on the hot path).
struct Digest48: Equatable {
    var w: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)

    @inline(__always)
    mutating func withMutablePointer<R>(_ body: (UnsafeMutablePointer<UInt8>) -> R) -> R {
        withUnsafeMutableBytes(of: &w) { body($0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
    }

    var bytes: [UInt8] { withUnsafeBytes(of: w) { Array($0) } }

    static func == (l: Digest48, r: Digest48) -> Bool { l.bytes == r.bytes }
}
