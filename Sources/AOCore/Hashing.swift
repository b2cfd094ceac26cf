import COpenSSL

/// SHA-2 through OpenSSL's low-level digests (hardware-accelerated where the CPU has SHA extensions; see the note in
/// `COpenSSL/shim.h` on why not the 3.0 one-shots).
public enum SHA2 {
    public static func sha256<Bytes: RawBytesConvertible>(_ data: Bytes) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { out, n in
            data.withUnsafeBytes { p in aonode_sha256(p.baseAddress, p.count, out.baseAddress) }
            n = 32
        }
    }

    /// SHA-256 of `head` followed by `tail`, without copying `head` (a process's whole linear memory).
    public static func sha256(_ head: UnsafeRawBufferPointer, then tail: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { out, n in
            tail.withUnsafeBytes { t in aonode_sha256_2(head.baseAddress, head.count, t.baseAddress, t.count, out.baseAddress) }
            n = 32
        }
    }

    public static func sha384<Bytes: RawBytesConvertible>(_ data: Bytes) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 48) { out, n in
            data.withUnsafeBytes { p in aonode_sha384(p.baseAddress, p.count, out.baseAddress) }
            n = 48
        }
    }
}

/// The minimal byte-buffer protocol the hashing helpers accept (Array, ArraySlice, ContiguousArray, Data).
public protocol RawBytesConvertible { func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R }
extension Array: RawBytesConvertible where Element == UInt8 {}
extension ArraySlice: RawBytesConvertible where Element == UInt8 {}
extension ContiguousArray: RawBytesConvertible where Element == UInt8 {}
