/// Another name for `Tag`, for files that also import Swift Testing (whose `Testing.Tag` makes a bare `Tag` in a
/// type position ambiguous there).
public typealias DataItemTag = Tag

/// One ANS-104 tag. Names and values are raw bytes (ANS-104 does not require UTF-8; AO always writes UTF-8 text).
public struct Tag: Hashable, Sendable, CustomStringConvertible {
    public var name: [UInt8]
    public var value: [UInt8]

    public init(_ name: String, _ value: String) { self.name = Array(name.utf8); self.value = Array(value.utf8) }
    public init(name: [UInt8], value: [UInt8]) { self.name = name; self.value = value }

    /// The name as text (invalid UTF-8 is replaced by U+FFFD).
    public var nameString: String { String(decoding: name, as: UTF8.self) }
    /// The value as text (invalid UTF-8 is replaced by U+FFFD).
    public var valueString: String { String(decoding: value, as: UTF8.self) }
    public var description: String { "\(nameString)=\(valueString)" }
}

/// The Avro encoding of a tag list, as ANS-104 specifies it: an Avro `array` of records `{name: bytes, value: bytes}`.
///
/// Encoding writes one block (`count`, the tags, then the `0` terminator), and zero tags as *zero bytes*, as arbundles
/// writes it. Decoding accepts any valid Avro array: several blocks, negative block counts (the form followed by a
/// block byte size, seen in HyperBEAM's Ethereum item), and the one-byte `0x00` empty array (pyarweave, HyperBEAM).
public enum AvroTags {
    /// Encodes `tags`, checking the ANS-104 per-tag limits (not the 4096-byte creation limit: `DataItem.create` checks it).
    public static func encode(_ tags: [Tag]) throws(DataItemError) -> [UInt8] {
        try checkLimits(tags)
        if tags.isEmpty { return [] }
        var out = [UInt8]()
        out.reserveCapacity(tags.reduce(4) { $0 + $1.name.count + $1.value.count + 4 })
        writeLong(Int64(tags.count), to: &out)
        for tag in tags {
            writeLong(Int64(tag.name.count), to: &out); out.append(contentsOf: tag.name)
            writeLong(Int64(tag.value.count), to: &out); out.append(contentsOf: tag.value)
        }
        out.append(0)
        return out
    }

    /// Checks the ANS-104 limits: count, empty or long names, long values.
    public static func checkLimits(_ tags: [Tag]) throws(DataItemError) {
        guard tags.count <= ANS104Limits.tagCountMax else { throw .tooManyTags }
        for tag in tags {
            guard !tag.name.isEmpty else { throw .emptyTagName }
            guard tag.name.count <= ANS104Limits.tagNameBytesMax else { throw .tagNameTooLong }
            guard tag.value.count <= ANS104Limits.tagValueBytesMax else { throw .tagValueTooLong }
        }
    }

    /// Decodes a complete tag block. The block must be consumed exactly; the limits are checked while reading, so
    /// a hostile count never allocates more than 128 tags.
    public static func decode(_ bytes: [UInt8]) throws(DataItemError) -> [Tag] {
        try bytes.withUnsafeBufferPointer { (p) throws(DataItemError) -> [Tag] in try decode(p) }
    }

    static func decode(_ p: UnsafeBufferPointer<UInt8>) throws(DataItemError) -> [Tag] {
        if p.isEmpty { return [] }
        var reader = AvroReader(bytes: p)
        var tags = [Tag]()
        while true {
            // The block must end with its 0 terminator inside the declared length.
            guard reader.offset < p.count else { throw .tagByteLengthMismatch }
            var count = try reader.readLong()
            if count == 0 { break }
            if count < 0 {
                // A negative count is followed by the block's size in bytes (Avro spec, "Complex Types: Arrays").
                guard count != Int64.min else { throw .malformedTagBlock }
                count = -count
                let size = try reader.readLong()
                guard size >= 0 else { throw .malformedTagBlock }
            }
            guard count <= Int64(ANS104Limits.tagCountMax - tags.count) else { throw .tooManyTags }
            if tags.isEmpty { tags.reserveCapacity(Int(count)) }
            for _ in 0..<count {
                let name = try reader.readBytes(max: ANS104Limits.tagNameBytesMax, tooLong: .tagNameTooLong)
                guard !name.isEmpty else { throw .emptyTagName }
                let value = try reader.readBytes(max: ANS104Limits.tagValueBytesMax, tooLong: .tagValueTooLong)
                tags.append(Tag(name: Array(name), value: Array(value)))
            }
        }
        guard reader.offset == p.count else { throw .tagByteLengthMismatch }
        return tags
    }

    static func writeLong(_ v: Int64, to out: inout [UInt8]) {
        var z = UInt64(bitPattern: (v << 1) ^ (v >> 63))  // zigzag
        while z >= 0x80 { out.append(UInt8(truncatingIfNeeded: z) | 0x80); z >>= 7 }
        out.append(UInt8(z))
    }
}

/// Reads Avro zigzag varints and length-prefixed byte strings from a buffer, never past its end.
struct AvroReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var offset = 0

    /// An Avro long is at most 10 varint bytes.
    mutating func readLong() throws(DataItemError) -> Int64 {
        var z: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard offset < bytes.count else { throw .tagByteLengthMismatch }  // runs past the declared block
            let b = bytes[offset]; offset += 1
            guard shift < 64, !(shift == 63 && b > 1) else { throw .malformedTagBlock }
            z |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { break }
            shift += 7
        }
        return Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1)
    }

    mutating func readBytes(max: Int, tooLong: DataItemError) throws(DataItemError) -> UnsafeBufferPointer<UInt8> {
        let n = try readLong()
        guard n >= 0 else { throw .malformedTagBlock }
        guard n <= Int64(max) else { throw tooLong }
        guard Int(n) <= bytes.count - offset else { throw .tagByteLengthMismatch }  // runs past the declared block
        let slice = UnsafeBufferPointer(rebasing: bytes[offset..<offset + Int(n)])
        offset += Int(n)
        return slice
    }
}
