import AOCore
import CZlib

/// A saved process state: memory image plus host state, the slot it is the state *after*, and hashes and timing.
///
/// Encoding (all integers little-endian), version 1:
/// ```
/// "AOCK" u32 version | i64 slot | 32 module hash | 32 memory state hash | u64 memory bytes
/// | u64 compute nanoseconds spent to reach it (informational) | i64 last message timestamp | blob host state
/// | u64 page count | page bitmap (1 bit per 64 KiB page: 1 = non-zero) | u32 CRC-32 of everything before it
/// | blob zlib(non-zero pages)
/// ```
/// Zero pages are elided before compression (most of an AO process's memory is untouched heap), and zlib runs at
/// level 1: checkpoints are written often and restored rarely, both must be fast.
public struct Checkpoint: Sendable, Equatable {
    public static let formatVersion: UInt32 = 1
    static let magic: [UInt8] = Array("AOCK".utf8)
    static let pageBytes = 65536

    /// The slot whose result this state follows (-1: the state after start-up, before any message).
    public var slot: Int64
    /// SHA-256 of the module binary; a checkpoint is only restored into the same module.
    public var moduleHash: [UInt8]
    public var memoryHash: [UInt8]
    public var computeNanoseconds: UInt64
    /// Timestamp (ms) of the message at `slot`: where cron generation resumes.
    public var lastTimestamp: Int64 = 0
    public var image: MemoryImage

    public init(slot: Int64, moduleHash: [UInt8], image: MemoryImage, computeNanoseconds: UInt64) {
        self.slot = slot
        self.moduleHash = moduleHash
        self.image = image
        self.memoryHash = image.stateHash()
        self.computeNanoseconds = computeNanoseconds
    }

    init(slot: Int64, moduleHash: [UInt8], memoryHash: [UInt8], image: MemoryImage, computeNanoseconds: UInt64) {
        self.slot = slot
        self.moduleHash = moduleHash
        self.memoryHash = memoryHash
        self.image = image
        self.computeNanoseconds = computeNanoseconds
    }

    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(CZlib.crc32(0, $0.baseAddress, uInt($0.count))) }
    }

    /// SHA-256 of `bytes` followed by `suffix` (one pass: `bytes` is copied only when it lacks spare capacity).
    static func sha256(_ bytes: [UInt8], suffix: [UInt8]) -> [UInt8] {
        if suffix.isEmpty { return SHA2.sha256(bytes) }
        var joined = [UInt8]()
        joined.reserveCapacity(bytes.count + suffix.count)
        joined += bytes
        joined += suffix
        return SHA2.sha256(joined)
    }

    public func encoded() throws(ComputeError) -> [UInt8] {
        var w = ByteWriter()
        w.bytes += Checkpoint.magic
        w.u32(Checkpoint.formatVersion)
        w.u64(UInt64(bitPattern: slot))
        w.bytes += moduleHash
        w.bytes += memoryHash
        w.u64(UInt64(image.bytes.count))
        w.u64(computeNanoseconds)
        w.u64(UInt64(bitPattern: lastTimestamp))
        w.blob(image.host.encoded())
        let (bitmap, pages) = Checkpoint.elideZeroPages(image.bytes)
        w.u64(UInt64((image.bytes.count + Checkpoint.pageBytes - 1) / Checkpoint.pageBytes))
        w.bytes += bitmap
        w.u32(Checkpoint.crc32(w.bytes[...]))
        w.blob(try Checkpoint.deflate(pages))
        return w.bytes
    }

    public static func decode(_ data: [UInt8]) throws(ComputeError) -> Checkpoint {
        var r = ByteReader(data)
        guard Array(try r.take(4)) == magic else { throw .invalidCheckpoint("bad magic") }
        let version = try r.u32()
        guard version == formatVersion else { throw .invalidCheckpoint("format version \(version), expected \(formatVersion)") }
        let slot = Int64(bitPattern: try r.u64())
        let moduleHash = Array(try r.take(32))
        let memoryHash = Array(try r.take(32))
        let byteCount = try r.u64()
        guard byteCount <= ComputeLimits.memoryLimitMaxBytes else { throw .invalidCheckpoint("memory of \(byteCount) bytes") }
        let nanos = try r.u64()
        let lastTimestamp = Int64(bitPattern: try r.u64())
        let host = try HostState.decode(try r.blob())
        let pageCount = Int(try r.u64())
        guard pageCount == (Int(byteCount) + pageBytes - 1) / pageBytes else { throw .invalidCheckpoint("page count mismatch") }
        let bitmap = Array(try r.take((pageCount + 7) / 8))
        let crcEnd = r.offset
        let crc = try r.u32()
        // Check the header before trusting its sizes for allocations.
        guard crc == Checkpoint.crc32(data[0..<crcEnd]) else { throw .invalidCheckpoint("header checksum mismatch") }
        let compressed = try r.blob()
        var bytes = [UInt8](repeating: 0, count: Int(byteCount))
        let present = bitmap.reduce(0) { $0 + $1.nonzeroBitCount }
        let packed = try inflate(compressed, expected: present * pageBytes)
        var src = 0
        bytes.withUnsafeMutableBytes { dst in
            packed.withUnsafeBytes { s in
                for page in 0..<pageCount where bitmap[page / 8] & (1 << (page % 8)) != 0 {
                    let off = page * pageBytes
                    let n = min(pageBytes, Int(byteCount) - off)
                    (dst.baseAddress! + off).copyMemory(from: s.baseAddress! + src, byteCount: n)
                    src += pageBytes
                }
            }
        }
        // The pages are covered by zlib's adler32; the header and bitmap by the CRC above. Recomputing the SHA-256
        // of the whole memory here would double the restore time, so the stored memory hash is trusted.
        var cp = Checkpoint(slot: slot, moduleHash: moduleHash, memoryHash: memoryHash,
                            image: MemoryImage(bytes: bytes, host: host), computeNanoseconds: nanos)
        cp.lastTimestamp = lastTimestamp
        return cp
    }

    /// A bitmap of non-zero pages and those pages packed (each padded to a full page).
    static func elideZeroPages(_ bytes: [UInt8]) -> ([UInt8], [UInt8]) {
        let pageCount = (bytes.count + pageBytes - 1) / pageBytes
        var bitmap = [UInt8](repeating: 0, count: (pageCount + 7) / 8)
        var packed: [UInt8] = []
        bytes.withUnsafeBytes { raw in
            var nonZero: [Int] = []
            for page in 0..<pageCount {
                let off = page * pageBytes
                let n = min(pageBytes, bytes.count - off)
                let words = UnsafeRawBufferPointer(rebasing: raw[off..<off + n])
                var any = false
                var k = 0
                while k + 8 <= n { if words.loadUnaligned(fromByteOffset: k, as: UInt64.self) != 0 { any = true; break }; k += 8 }
                if !any { while k < n { if words[k] != 0 { any = true; break }; k += 1 } }
                if any { nonZero.append(page); bitmap[page / 8] |= 1 << (page % 8) }
            }
            packed = [UInt8](repeating: 0, count: nonZero.count * pageBytes)
            packed.withUnsafeMutableBytes { dst in
                for (i, page) in nonZero.enumerated() {
                    let off = page * pageBytes
                    let n = min(pageBytes, bytes.count - off)
                    (dst.baseAddress! + i * pageBytes).copyMemory(from: raw.baseAddress! + off, byteCount: n)
                }
            }
        }
        return (bitmap, packed)
    }

    static func deflate(_ input: [UInt8]) throws(ComputeError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(compressBound(uLong(input.count))))
        var outLen = uLong(out.count)
        let rc = input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                compress2(dst.baseAddress, &outLen, src.baseAddress, uLong(src.count), 1)
            }
        }
        guard rc == Z_OK else { throw .invalidCheckpoint("zlib compress failed (\(rc))") }
        out.removeLast(out.count - Int(outLen))
        return out
    }

    static func inflate(_ input: [UInt8], expected: Int) throws(ComputeError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: expected)
        var outLen = uLong(expected)
        if expected == 0 { return [] }
        let rc = input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                uncompress(dst.baseAddress, &outLen, src.baseAddress, uLong(src.count))
            }
        }
        guard rc == Z_OK, Int(outLen) == expected else { throw .invalidCheckpoint("zlib inflate failed (\(rc))") }
        return out
    }
}
