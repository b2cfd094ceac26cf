import Testing
@testable import AOCore

/// One test per typed error: every malformed input is refused with its own `DataItemError`, and tampering with any
/// signed byte makes verification fail.
@Suite struct MalformedInputTests {
    typealias L = Ed25519Layout

    @Test func fullItemRoundTrips() throws {
        let item = try TestKeys.fullItem()
        let bytes = item.serialized()
        #expect(bytes.count == L.tags + item.rawTagBytes.count + 5)
        let parsed = try DataItem(parsing: bytes)
        #expect(parsed == item)
        #expect(parsed.serialized() == bytes)
        #expect(parsed.tag("Empty") == "")
        #expect(parsed.tag("Missing") == nil)
        try parsed.verify()
    }

    static let truncations: [(Int, DataItemError)] = [
        (0, DataItemError.truncatedSignatureType), (1, .truncatedSignatureType),
        (L.signature, .truncatedSignature), (L.signature + 63, .truncatedSignature),
        (L.owner, .truncatedOwner), (L.owner + 31, .truncatedOwner),
        (L.targetFlag, .truncatedTargetFlag),
        (L.target, .truncatedTarget), (L.target + 31, .truncatedTarget),
        (L.anchorFlag, .truncatedAnchorFlag),
        (L.anchor, .truncatedAnchor), (L.anchor + 31, .truncatedAnchor),
        (L.tagCount, .truncatedTagCount), (L.tagCount + 7, .truncatedTagCount),
        (L.tagBytes, .truncatedTagByteLength), (L.tagBytes + 7, .truncatedTagByteLength),
        (L.tags, .truncatedTags), (L.tags + 10, .truncatedTags),
    ]

    @Test(arguments: truncations)
    func truncationAtEachField(length: Int, expected: DataItemError) throws {
        let bytes = try TestKeys.fullItem().serialized()
        #expect(throws: expected) { try DataItem(parsing: Array(bytes[..<length])) }
    }

    @Test func truncatedDataParsesButFailsVerification() throws {
        let bytes = try TestKeys.fullItem().serialized()
        let item = try DataItem(parsing: Array(bytes.dropLast()))
        #expect(item.data == Array("hell".utf8))
        #expect(throws: DataItemError.invalidSignature) { try item.verify() }
    }

    @Test(arguments: [0, 8, 99, 0xffff])
    func unknownSignatureType(type: Int) throws {
        var bytes = try TestKeys.fullItem().serialized()
        bytes[0] = UInt8(type & 0xff); bytes[1] = UInt8(type >> 8)
        #expect(throws: DataItemError.unknownSignatureType) { try DataItem(parsing: bytes) }
    }

    @Test func presenceFlagsOtherThanZeroOrOneAreRefused() throws {
        var bytes = try TestKeys.fullItem().serialized()
        bytes[L.targetFlag] = 2
        #expect(throws: DataItemError.badTargetFlag) { try DataItem(parsing: bytes) }
        bytes = try TestKeys.fullItem().serialized()
        bytes[L.anchorFlag] = 0xff
        #expect(throws: DataItemError.badAnchorFlag) { try DataItem(parsing: bytes) }
    }

    @Test func targetOrAnchorOfTheWrongSizeIsRefused() throws {
        // A 31-byte target shifts every later field: the anchor flag then reads a target byte.
        var bytes = try TestKeys.fullItem().serialized()
        bytes.remove(at: L.target)
        #expect(throws: DataItemError.badAnchorFlag) { try DataItem(parsing: bytes) }
        // A 31-byte anchor shifts the counts: the tag count swallows a length byte and disagrees with the block.
        bytes = try TestKeys.fullItem().serialized()
        bytes.remove(at: L.anchor)
        #expect(throws: (any Error).self) { try DataItem(parsing: bytes).verify() }
        // create refuses anchors that are not 32 bytes.
        #expect(throws: DataItemError.badAnchorSize) {
            try DataItem.create(signer: TestKeys.ed25519, anchor: Array("short".utf8))
        }
        #expect(throws: DataItemError.badAnchorSize) {
            try DataItem.create(signer: TestKeys.ed25519, anchor: [UInt8](repeating: 1, count: 33))
        }
    }

    @Test func tagCountDisagreeingWithTheAvroBlock() throws {
        let item = try TestKeys.fullItem()
        for count in [0, 3, 5, 128, Int(UInt32.max)] {
            var bytes = item.serialized()
            bytes.replaceSubrange(L.tagCount..<L.tagCount + 8, with: le64(UInt64(count)))
            #expect(throws: DataItemError.tagCountMismatch) { try DataItem(parsing: bytes) }
        }
    }

    @Test func tagByteLengthDisagreeingWithTheAvroBlock() throws {
        let item = try TestKeys.fullItem()
        let n = UInt64(item.rawTagBytes.count)
        for length in [n - 1, n + 1, 1] {
            var bytes = item.serialized()
            bytes.replaceSubrange(L.tagBytes..<L.tagBytes + 8, with: le64(length))
            #expect(throws: DataItemError.tagByteLengthMismatch) { try DataItem(parsing: bytes) }
        }
        var bytes = item.serialized()
        bytes.replaceSubrange(L.tagBytes..<L.tagBytes + 8, with: le64(0))
        #expect(throws: DataItemError.tagCountMismatch) { try DataItem(parsing: bytes) }
        bytes.replaceSubrange(L.tagBytes..<L.tagBytes + 8, with: le64(UInt64.max))
        #expect(throws: DataItemError.truncatedTags) { try DataItem(parsing: bytes) }
    }

    @Test func malformedAvroBlock() throws {
        // A negative byte length, an over-long varint, a negative block size, Int64.min as a count.
        for block: [UInt8] in [[0x02, 0x01], [0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
                               [0x01, 0x01], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]] {
            #expect(throws: DataItemError.malformedTagBlock) { try AvroTags.decode(block) }
        }
        // A name running past the block, a block without its terminator.
        for block: [UInt8] in [[0x02, 0x7e], [0x02, 0x02, 0x61, 0x00]] {
            #expect(throws: DataItemError.tagByteLengthMismatch) { try AvroTags.decode(block) }
        }
    }

    @Test func tagLimitsOnCreate() throws {
        let key = TestKeys.ed25519
        let many = (0...ANS104Limits.tagCountMax).map { Tag("t\($0)", "") }
        #expect(throws: DataItemError.tooManyTags) { try DataItem.create(signer: key, tags: many) }
        #expect(throws: Never.self) { try DataItem.create(signer: key, tags: Array(many.dropLast())) }
        let longName = String(repeating: "n", count: ANS104Limits.tagNameBytesMax + 1)
        #expect(throws: DataItemError.tagNameTooLong) { try DataItem.create(signer: key, tags: [Tag(longName, "v")]) }
        let longValue = String(repeating: "v", count: ANS104Limits.tagValueBytesMax + 1)
        #expect(throws: DataItemError.tagValueTooLong) { try DataItem.create(signer: key, tags: [Tag("n", longValue)]) }
        #expect(throws: DataItemError.emptyTagName) { try DataItem.create(signer: key, tags: [Tag("", "value")]) }
        // An empty value is valid; the longest name and value are valid alone.
        let ok = try DataItem.create(signer: key, tags: [Tag("n", ""), Tag(String(longName.dropLast()), "")])
        #expect(try DataItem(parsing: ok.serialized()).tags == ok.tags)
        #expect(throws: Never.self) { try DataItem.create(signer: key, tags: [Tag("n", String(longValue.dropLast()))]) }
        // Two 3000-byte values: each within limits, the block over 4096 bytes.
        let big = String(repeating: "x", count: 3000)
        #expect(throws: DataItemError.tagBlockTooLarge) { try DataItem.create(signer: key, tags: [Tag("a", big), Tag("b", big)]) }
    }

    @Test func tagLimitsOnParse() throws {
        func item(_ tags: [DataItemTag]) -> [UInt8] {
            var block = [UInt8]()
            AvroTags.writeLong(Int64(tags.count), to: &block)
            for t in tags {
                AvroTags.writeLong(Int64(t.name.count), to: &block); block += t.name
                AvroTags.writeLong(Int64(t.value.count), to: &block); block += t.value
            }
            block.append(0)
            return TestKeys.signedRaw(tags: tags, rawTagBytes: block).serialized()
        }
        #expect(throws: DataItemError.tooManyTags) { try DataItem(parsing: item((0...128).map { Tag("t\($0)", "") })) }
        #expect(throws: DataItemError.emptyTagName) { try DataItem(parsing: item([Tag("", "v")])) }
        #expect(throws: DataItemError.tagNameTooLong) { try DataItem(parsing: item([Tag(String(repeating: "n", count: 1025), "")])) }
        #expect(throws: DataItemError.tagValueTooLong) { try DataItem(parsing: item([Tag("n", String(repeating: "v", count: 3073))])) }
        // Parsing accepts a block over 4096 bytes when each tag is within limits (only creation refuses it).
        let big = String(repeating: "x", count: 3000)
        let parsed = try DataItem(parsing: item([Tag("a", big), Tag("b", big)]))
        #expect(parsed.rawTagBytes.count > ANS104Limits.tagBlockBytesCreateMax)
        try parsed.verify()
        // Empty value is fine.
        #expect(try DataItem(parsing: item([Tag("n", "")])).tags == [Tag("n", "")])
    }

    @Test func zeroTagsAsZeroBytesOrOneZeroByte() throws {
        let zeroBytes = try DataItem.create(signer: TestKeys.ed25519)
        #expect(zeroBytes.rawTagBytes.isEmpty)
        let oneByte = TestKeys.signedRaw(tags: [], rawTagBytes: [0])
        let parsed = try DataItem(parsing: oneByte.serialized())
        #expect(parsed.tags.isEmpty && parsed.rawTagBytes == [0])
        #expect(parsed.serialized() == oneByte.serialized())
        try parsed.verify()
        // The two forms sign different bytes: the raw block is what is signed.
        #expect(parsed.signingMessage() != zeroBytes.signingMessage())
    }

    @Test func negativeAvroBlockCountAndSeveralBlocks() throws {
        // count -2 (zigzag 3), block size 14, two tags, then a block of 1, then the terminator.
        let block: [UInt8] = [0x03, 0x1c, 0x02] + Array("a".utf8) + [0x02] + Array("1".utf8)
            + [0x02] + Array("b".utf8) + [0x00] + [0x02, 0x02] + Array("c".utf8) + [0x02] + Array("3".utf8) + [0x00]
        let tags = try AvroTags.decode(block)
        #expect(tags == [Tag("a", "1"), Tag("b", ""), Tag("c", "3")])
        let item = TestKeys.signedRaw(tags: tags, rawTagBytes: block, data: [1, 2, 3])
        let parsed = try DataItem(parsing: item.serialized())
        #expect(parsed.tags == tags)
        #expect(parsed.serialized() == item.serialized())
        try parsed.verify()
    }

    @Test func flippedBitInSignatureTagOrDataFailsVerification() throws {
        let item = try TestKeys.fullItem()
        let bytes = item.serialized()
        let tagsStart = L.tags
        let positions = [
            ("signature", L.signature + 10), ("owner", L.owner + 3), ("target", L.target + 5), ("anchor", L.anchor + 7),
            ("tag name", tagsStart + 2), ("tag value", tagsStart + 2 + 13 + 1 + 1), ("data", bytes.count - 1),
        ]
        for (what, offset) in positions {
            for bit in [0, 7] {
                var mutated = bytes
                mutated[offset] ^= UInt8(1 << bit)
                let parsed = try DataItem(parsing: mutated)
                #expect(throws: DataItemError.invalidSignature, "flip in \(what)") { try parsed.verify() }
            }
        }
    }

    @Test func noSingleBitFlipAnywhereVerifies() throws {
        let bytes = try TestKeys.fullItem().serialized()
        var accepted = [Int]()
        for i in 0..<bytes.count * 8 {
            var m = bytes
            m[i / 8] ^= UInt8(1 << (i % 8))
            if let item = try? DataItem(parsing: m), item.isSignatureValid { accepted.append(i) }
        }
        #expect(accepted.isEmpty, "bit flips that still verify: \(accepted)")
    }

    @Test func errorsHaveCodesAndSentences() {
        #expect(DataItemError.truncatedOwner.code == "truncatedOwner")
        #expect(DataItemError.unsupportedSignatureType.description == "unsupported signature type")
        #expect(DataItemError.unknownSignatureType.with("9") == .unknownSignatureType)
        #expect(DataItemError.unknownSignatureType.with("9").description.contains("(9)"))
    }
}
