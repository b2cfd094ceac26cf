import Foundation

/// base64url without padding (RFC 4648 section 5), as Arweave and AO write ids, owners and signatures.
public enum Base64URL {
    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        // Straight to UTF-8 (the Foundation route with three replacingOccurrences was a hot spot: ids are encoded
        // for every tag, JSON answer and log line).
        let input = Array(bytes)
        let alphabet = alphabet
        return String(unsafeUninitializedCapacity: (input.count * 4 + 2) / 3) { out in
            var o = 0, i = 0
            while i + 3 <= input.count {
                let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                out[o] = alphabet[Int(n >> 18 & 63)]; out[o + 1] = alphabet[Int(n >> 12 & 63)]
                out[o + 2] = alphabet[Int(n >> 6 & 63)]; out[o + 3] = alphabet[Int(n & 63)]
                o += 4; i += 3
            }
            switch input.count - i {
            case 1:
                let n = UInt32(input[i]) << 16
                out[o] = alphabet[Int(n >> 18 & 63)]; out[o + 1] = alphabet[Int(n >> 12 & 63)]
                o += 2
            case 2:
                let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
                out[o] = alphabet[Int(n >> 18 & 63)]; out[o + 1] = alphabet[Int(n >> 12 & 63)]; out[o + 2] = alphabet[Int(n >> 6 & 63)]
                o += 3
            default: break
            }
            return o
        }
    }

    /// RFC 4648 §5: the URL- and filename-safe alphabet.
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Decodes base64url (trailing `=` padding optional). Returns nil on any character outside the URL-safe alphabet
    /// (so also on `+` and `/`), on padding before the end, or on a bad length. Like Foundation's decoder it ignores
    /// the unused low bits of the last character. Straight over the UTF-8 bytes: the Foundation route (three
    /// `replacingOccurrences` and a `Data`) was 3% of a scheduler node's CPU, as every assignment's tags are decoded.
    public static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { decode(utf8: $0) }
    }

    static func decode(utf8: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var n = utf8.count
        while n > 0 && utf8[n - 1] == UInt8(ascii: "=") { n -= 1 }
        guard n % 4 != 1 else { return nil }
        let table = decodeTable
        let rest = n % 4
        var valid = true
        let bytes = [UInt8](unsafeUninitializedCapacity: n / 4 * 3 + max(rest - 1, 0)) { out, count in
            var o = 0, i = 0
            while i < n {
                let k = min(4, n - i)  // 4, or the 2 or 3 characters of the last group
                var v: UInt32 = 0, bits: UInt8 = 0
                for j in 0..<k {
                    let x = table[Int(utf8[i + j])]
                    bits |= x
                    v |= UInt32(x & 0x3F) << (18 - 6 * UInt32(j))
                }
                if bits & 0x80 != 0 { valid = false; break }
                out[o] = UInt8(truncatingIfNeeded: v >> 16)
                if k > 2 { out[o + 1] = UInt8(truncatingIfNeeded: v >> 8) }
                if k > 3 { out[o + 2] = UInt8(truncatingIfNeeded: v) }
                o += k - 1; i += k
            }
            count = valid ? o : 0
        }
        return valid ? bytes : nil
    }

    /// 6-bit values of the URL-safe alphabet by byte; 0xFF outside it.
    static let decodeTable: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()
}

extension Array where Element == UInt8 {
    /// Lower-case hex, for logs and test vectors.
    public var hexString: String { map { String(format: "%02x", $0) }.joined() }

    /// Parses lower- or upper-case hex; nil on odd length or a non-hex character.
    public init?(hex: String) {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8](); out.reserveCapacity(chars.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo); i += 2
        }
        self = out
    }
}
