import COpenSSL

/// SHA-2 through OpenSSL's one-shot functions (hardware-accelerated where the CPU has SHA extensions).
public enum SHA2 {
    public static func sha256<Bytes: RawBytesConvertible>(_ data: Bytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBytes { p in _ = SHA256(p.baseAddress?.assumingMemoryBound(to: UInt8.self), p.count, &out) }
        return out
    }

    public static func sha384<Bytes: RawBytesConvertible>(_ data: Bytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 48)
        data.withUnsafeBytes { p in _ = SHA384(p.baseAddress?.assumingMemoryBound(to: UInt8.self), p.count, &out) }
        return out
    }
}

/// The minimal byte-buffer protocol the hashing helpers accept (Array, ArraySlice, ContiguousArray, Data).
public protocol RawBytesConvertible { func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R }
extension Array: RawBytesConvertible where Element == UInt8 {}
extension ArraySlice: RawBytesConvertible where Element == UInt8 {}
extension ContiguousArray: RawBytesConvertible where Element == UInt8 {}
