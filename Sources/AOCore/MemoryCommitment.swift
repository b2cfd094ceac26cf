import COpenSSL
import Foundation

/// The memory hash of a result attestation (format 2): a two-level SHA-256 tree over a process's linear memory, so
/// that a node can keep it current per slot at the cost of the bytes a message changed, not of the whole memory.
///
/// Definition (memory of `n` bytes; WASM memory is whole 64 KiB pages, so `n` is a multiple of 65,536):
/// - chunk `i` = bytes `[4096·i, 4096·(i+1))`; `chunkHash(i)` = SHA-256(chunk `i`);
/// - page `j` = chunks `16j ..< 16j+16`; `pageHash(j)` = SHA-256(chunkHash(16j) ‖ … ‖ chunkHash(16j+15));
/// - memoryHash = SHA-256(`"aonode/memory/v2"` ‖ page count as u64 big-endian ‖ pageHash(0) ‖ … ‖ pageHash(p-1)).
///
/// Why not SHA-256 of the whole memory (format 1): that costs the whole memory per slot. The Lua process's 6 MiB
/// took 3.3 ms of SHA-256 (1.8 GB/s with SHA extensions) per message on every evaluating node, 45% of a node's CPU in
/// the end-to-end benchmark. With the tree, `IncrementalMemoryHasher` compares the memory with its copy of the
/// previous state (memcmp runs at tens of GB/s) and rehashes only the chunks that differ. The comparison is exact,
/// so the incremental hash always equals this definition, whatever the module did to its memory.
public enum MemoryCommitment {
    public static let chunkBytes = 4096
    public static let pageBytes = 65536
    public static let chunksPerPage = pageBytes / chunkBytes
    /// Starts the root's input: a memory hash can never equal a SHA-256 of plain memory (format 1).
    public static let domain: [UInt8] = Array("aonode/memory/v2".utf8)

    /// The memory hash of `memory`, computed from scratch: the definition, written plainly (the incremental hasher is
    /// tested against it).
    public static func hash(memory: UnsafeRawBufferPointer) -> [UInt8] {
        let n = memory.count
        var root = domain
        withUnsafeBytes(of: UInt64((n + pageBytes - 1) / pageBytes).bigEndian) { root += $0 }
        var pageStart = 0
        while pageStart < n {
            var chunkHashes: [UInt8] = []
            var at = pageStart
            while at < min(n, pageStart + pageBytes) {
                chunkHashes += SHA2.sha256(UnsafeRawBufferPointer(rebasing: memory[at..<min(n, at + chunkBytes)]), then: [])
                at += chunkBytes
            }
            root += SHA2.sha256(chunkHashes)
            pageStart += pageBytes
        }
        return SHA2.sha256(root)
    }

    /// The memory hash of `memory`, computed from scratch.
    public static func hash(memory: [UInt8]) -> [UInt8] {
        memory.withUnsafeBytes { hash(memory: $0) }
    }
}

/// Keeps `MemoryCommitment`'s hash of one memory across calls: a copy of the memory as last hashed, the chunk hashes
/// and the page hashes. Each `hash(_:)` compares every page with the copy (a page that compares equal costs a memcmp),
/// rehashes the differing chunks and their pages, then the root. Memory that grew is hashed in full; memory that is
/// smaller than the copy (a different instance) starts over. Not thread-safe: one per process runner.
public struct IncrementalMemoryHasher {
    private var copy: [UInt8] = []
    private var chunkHashes: [UInt8] = []
    private var pageHashes: [UInt8] = []

    public init() {}

    /// Bytes held besides the memory itself (the copy and the hashes), for accounting.
    public var retainedBytes: Int { copy.count + chunkHashes.count + pageHashes.count }

    /// Chunks rehashed by the last call (for tests and metrics).
    public private(set) var lastRehashedChunks = 0

    /// The memory hash of `memory` (its current bytes).
    public mutating func hash(_ memory: UnsafeRawBufferPointer) -> [UInt8] {
        let chunkSize = MemoryCommitment.chunkBytes, pageSize = MemoryCommitment.pageBytes
        let n = memory.count
        if n < copy.count { copy = []; chunkHashes = []; pageHashes = [] }
        let known = copy.count
        let chunks = (n + chunkSize - 1) / chunkSize
        let pages = (n + pageSize - 1) / pageSize
        if known < n {
            copy.append(contentsOf: repeatElement(0, count: n - known))
            chunkHashes.append(contentsOf: repeatElement(0, count: chunks * 32 - chunkHashes.count))
            pageHashes.append(contentsOf: repeatElement(0, count: pages * 32 - pageHashes.count))
        }
        var rehashed = 0
        guard let src = memory.baseAddress else { return root(pages: 0) }
        copy.withUnsafeMutableBytes { copyBytes in
            chunkHashes.withUnsafeMutableBytes { chunkOut in
                pageHashes.withUnsafeMutableBytes { pageOut in
                    let dst = copyBytes.baseAddress!
                    for page in 0..<pages {
                        let pageStart = page * pageSize
                        let pageLength = min(pageSize, n - pageStart)
                        // Pages beyond what was hashed before are new; the rest compare first as a whole.
                        let isNew = pageStart + pageLength > known
                        if !isNew && memcmp(src + pageStart, dst + pageStart, pageLength) == 0 { continue }
                        var chunk = pageStart / chunkSize
                        let chunkEnd = (pageStart + pageLength + chunkSize - 1) / chunkSize
                        while chunk < chunkEnd {
                            let at = chunk * chunkSize
                            let length = min(chunkSize, n - at)
                            if isNew || memcmp(src + at, dst + at, length) != 0 {
                                memcpy(dst + at, src + at, length)
                                aonode_sha256(src + at, length, chunkOut.baseAddress!.assumingMemoryBound(to: UInt8.self) + chunk * 32)
                                rehashed += 1
                            }
                            chunk += 1
                        }
                        let first = pageStart / chunkSize
                        aonode_sha256(chunkOut.baseAddress! + first * 32, (chunkEnd - first) * 32,
                                      pageOut.baseAddress!.assumingMemoryBound(to: UInt8.self) + page * 32)
                    }
                }
            }
        }
        lastRehashedChunks = rehashed
        return root(pages: pages)
    }

    /// SHA-256(domain ‖ page count ‖ page hashes).
    private func root(pages: Int) -> [UInt8] {
        var head = MemoryCommitment.domain
        withUnsafeBytes(of: UInt64(pages).bigEndian) { head += $0 }
        return [UInt8](unsafeUninitializedCapacity: 32) { out, count in
            head.withUnsafeBytes { h in
                pageHashes.withUnsafeBytes { p in
                    aonode_sha256_2(h.baseAddress, h.count, p.baseAddress, pages * 32, out.baseAddress)
                }
            }
            count = 32
        }
    }
}
