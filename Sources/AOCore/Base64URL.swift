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

    /// Decodes base64url (padding optional). Returns nil on any character outside the alphabet or a bad length.
    public static func decode(_ text: String) -> [UInt8]? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        if s.contains("=") { s = s.replacingOccurrences(of: "=", with: "") }
        switch s.utf8.count % 4 {
        case 0: break
        case 2: s += "=="
        case 3: s += "="
        default: return nil
        }
        guard let data = Data(base64Encoded: s) else { return nil }
        return [UInt8](data)
    }
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
