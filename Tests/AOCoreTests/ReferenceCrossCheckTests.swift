import Foundation
import Testing
@testable import AOCore

/// Items made by the independent Python reference (shared/tools/ans104; see Fixtures/README.md) parse, verify and
/// give the values the reference reported; aonode re-signs the same content with the same ed25519 key byte for byte.
@Suite struct ReferenceCrossCheckTests {
    @Test func referenceItemsVerifyInAonode() throws {
        let manifestURL = try FixtureKeys.url("reference-items.json")
        let manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
        let items = try #require(manifest["items"] as? [[String: Any]])
        #expect(items.count == 3)
        for e in items {
            let file = try #require(e["file"] as? String)
            let bytes = [UInt8](try Data(contentsOf: try FixtureKeys.url(file)))
            let item = try DataItem(parsing: bytes)
            try item.verify()
            #expect(item.serialized() == bytes)
            #expect(item.id.base64URL == e["id"] as? String, "\(file)")
            #expect(Int(item.signatureType.rawValue) == e["signatureType"] as? Int)
            #expect(Base64URL.encode(item.owner) == e["owner"] as? String)
            #expect(item.target?.base64URL == e["target"] as? String)
            #expect(item.anchor.map { Base64URL.encode($0) } == e["anchor"] as? String)
            #expect(item.data.count == e["dataSize"] as? Int)
            #expect(item.signingMessage().hexString == e["deepHash"] as? String)
            let tags = try #require(e["tags"] as? [[String: String]]).map { Tag($0["name"]!, $0["value"]!) }
            #expect(item.tags == tags)
            if let salt = e["rsaPssSaltLength"] as? Int { #expect(item.rsaPSSSaltLength() == salt) }
        }
    }

    @Test func aonodeReSignsTheReferenceEd25519ItemByteForByte() throws {
        let key = try KeyFile.load(path: try FixtureKeys.url("ed25519-test-key.json").path)
        let reference = try DataItem(parsing: [UInt8](try Data(contentsOf: try FixtureKeys.url("ref-ed25519-item.bin"))))
        let mine = try DataItem.create(signer: key.signer, target: reference.target, anchor: reference.anchor,
                                       tags: reference.tags, data: reference.data)
        #expect(mine.serialized() == reference.serialized())
    }

    @Test func rsaFixtureKeyMatchesTheReferenceOwner() throws {
        let key = try FixtureKeys.rsa()
        let reference = try DataItem(parsing: [UInt8](try Data(contentsOf: try FixtureKeys.url("ref-rsa-minimal.bin"))))
        #expect(reference.owner == key.owner)
    }
}
