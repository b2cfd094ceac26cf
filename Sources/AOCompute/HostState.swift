/// The glue's JavaScript-side state that is not in linear memory (ao-loader-abi.md section 4), kept per instance and
/// saved with every memory image so that a restored process continues exactly where it was.
///
/// AO's CU loses this state when it restores memory into a new instance (MEMFS, the TIME counter); aonode keeps it,
/// because replaying from a checkpoint must give the same bytes as an uninterrupted run on every node.
struct HostState: Equatable, Sendable {
    /// em3/em4/wasm64: the glue's `deterministicNow` counter, in ms; every `emscripten_date_now` returns it and adds 1.
    var timeCounterMs: Double = 10_000
    /// legacy/em2 `getTempRet0`/`setTempRet0` register (the high word of i64 returns).
    var tempRet0: UInt32 = 0
    /// em2's `_tzset_js` runs once per instance (it mallocs the zone names).
    var tzsetDone: Bool = false
    /// State of the deterministic `/dev/urandom` stream.
    var randomState: UInt64 = 0x243F_6A88_85A3_08D3
    /// The in-memory file system (MEMFS stand-in).
    var fileSystem = MemoryFileSystem()

    /// Binary encoding for checkpoints (little-endian, versioned by the checkpoint header).
    func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.u64(timeCounterMs.bitPattern)
        w.u32(tempRet0)
        w.u8(tzsetDone ? 1 : 0)
        w.u64(randomState)
        fileSystem.encode(into: &w)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(ComputeError) -> HostState {
        var r = ByteReader(bytes)
        var s = HostState()
        s.timeCounterMs = Double(bitPattern: try r.u64())
        s.tempRet0 = try r.u32()
        s.tzsetDone = try r.u8() != 0
        s.randomState = try r.u64()
        s.fileSystem = try MemoryFileSystem.decode(from: &r)
        return s
    }

    /// Next bytes of the deterministic random device stream (SplitMix64).
    mutating func nextRandomByte() -> UInt8 {
        randomState &+= 0x9E37_79B9_7F4A_7C15
        var z = randomState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return UInt8(truncatingIfNeeded: z ^ (z >> 31))
    }
}

/// A minimal MEMFS: regular files in a flat map of absolute paths, a fixed set of directories and devices.
/// Enough for Lua's `io` library and `require` probes; not a POSIX file system.
struct MemoryFileSystem: Equatable, Sendable {
    struct OpenFile: Equatable, Sendable {
        var path: String
        var position: Int
        var flags: Int32
    }
    var files: [String: [UInt8]] = [:]
    var openFiles: [Int32: OpenFile] = [:]
    var nextDescriptor: Int32 = 3

    static let directories: Set<String> = ["/", "/tmp", "/home", "/home/web_user", "/dev", "/proc", "/proc/self", "/proc/self/fd", "/data"]
    static let devices: Set<String> = ["/dev/null", "/dev/tty", "/dev/tty1", "/dev/random", "/dev/urandom"]

    var totalBytes: Int { files.values.reduce(0) { $0 + $1.count } }

    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for p in path.split(separator: "/", omittingEmptySubsequences: true) {
            if p == "." { continue }
            if p == ".." { _ = parts.popLast(); continue }
            parts.append(p)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func parent(of path: String) -> String {
        guard let i = path.lastIndex(of: "/"), i != path.startIndex else { return "/" }
        return String(path[..<i])
    }

    func isDirectory(_ path: String) -> Bool { Self.directories.contains(path) }

    func encode(into w: inout ByteWriter) {
        let paths = files.keys.sorted()
        w.u32(UInt32(paths.count))
        for p in paths { w.string(p); w.blob(files[p]!) }
        let fds = openFiles.keys.sorted()
        w.u32(UInt32(fds.count))
        for fd in fds {
            let f = openFiles[fd]!
            w.u32(UInt32(bitPattern: fd)); w.string(f.path); w.u64(UInt64(f.position)); w.u32(UInt32(bitPattern: f.flags))
        }
        w.u32(UInt32(bitPattern: nextDescriptor))
    }

    static func decode(from r: inout ByteReader) throws(ComputeError) -> MemoryFileSystem {
        var fs = MemoryFileSystem()
        let n = try r.u32()
        for _ in 0..<n { let p = try r.string(); fs.files[p] = try r.blob() }
        let m = try r.u32()
        for _ in 0..<m {
            let fd = Int32(bitPattern: try r.u32())
            let p = try r.string()
            let pos = Int(try r.u64())
            let fl = Int32(bitPattern: try r.u32())
            fs.openFiles[fd] = OpenFile(path: p, position: pos, flags: fl)
        }
        fs.nextDescriptor = Int32(bitPattern: try r.u32())
        return fs
    }
}

/// Little-endian writer for the checkpoint format.
struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func blob(_ b: [UInt8]) { u64(UInt64(b.count)); bytes.append(contentsOf: b) }
    mutating func string(_ s: String) { blob(Array(s.utf8)) }
}

/// Little-endian reader for the checkpoint format; every read is bounds-checked.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var remaining: Int { bytes.count - offset }
    mutating func take(_ n: Int) throws(ComputeError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw .invalidCheckpoint("truncated at byte \(offset)") }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }
    mutating func u8() throws(ComputeError) -> UInt8 { try take(1).first! }
    mutating func u32() throws(ComputeError) -> UInt32 {
        let s = try take(4); var v: UInt32 = 0
        for (i, b) in s.enumerated() { v |= UInt32(b) << (8 * UInt32(i)) }
        return v
    }
    mutating func u64() throws(ComputeError) -> UInt64 {
        let s = try take(8); var v: UInt64 = 0
        for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }
    mutating func blob() throws(ComputeError) -> [UInt8] {
        let n = try u64()
        guard n <= UInt64(remaining) else { throw .invalidCheckpoint("blob length \(n) past the end") }
        return Array(try take(Int(n)))
    }
    mutating func string() throws(ComputeError) -> String { String(decoding: try blob(), as: UTF8.self) }
}
