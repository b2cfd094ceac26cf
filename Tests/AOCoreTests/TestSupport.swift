@testable import AOCore

/// Deterministic keys and items for tests (public test keys: never use them for anything real).
enum TestKeys {
    /// arbundles' curve25519.spec.ts seed.
    static let ed25519 = Ed25519PrivateKey(seed: [UInt8](hex: "389d91f729532f0d39ec48ac94e1e10f54bfc39f53bf59a1ff768892c9d4f1c8")!)!
    static let target = ID32(base64URL: "Krim6GbXWi6x1eP1eEvEqX6z1Pnl0uGqr0ULKhErNVQ")!
    static let anchor = Array("00000000000000000000000001755708".utf8)
    static let tags = [Tag("Data-Protocol", "ao"), Tag("Type", "Message"), Tag("Action", "Eval"), Tag("Empty", "")]

    /// An ed25519 item with every optional field: target, anchor, 4 tags, 5 bytes of data.
    static func fullItem() throws -> DataItem {
        try DataItem.create(signer: ed25519, target: target, anchor: anchor, tags: tags, data: Array("hello".utf8))
    }

    /// Signs an item with an arbitrary raw tag block (for layouts `create` never writes).
    static func signedRaw(tags: [DataItemTag], rawTagBytes: [UInt8], data: [UInt8] = []) -> DataItem {
        let digest = DataItem.deepHash(type: .ed25519, owner: ed25519.publicKey, target: nil, anchor: nil,
                                       rawTags: rawTagBytes, data: data)
        return DataItem(type: .ed25519, signature: ed25519.sign(digest.bytes), owner: ed25519.publicKey, target: nil,
                        anchor: nil, tags: tags, rawTagBytes: rawTagBytes, data: data)
    }
}

/// Offsets of the fields of an ed25519 item with target and anchor (see DataItem's layout comment).
enum Ed25519Layout {
    static let signature = 2, owner = 66, targetFlag = 98, target = 99, anchorFlag = 131, anchor = 132
    static let tagCount = 164, tagBytes = 172, tags = 180
}

func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
