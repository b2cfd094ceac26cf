import Foundation
import Testing
@testable import AOCore

/// Every real item and bundle in shared/fixtures/ans104 parses, verifies and gives MANIFEST.json's expected values;
/// the generated ed25519 vectors are reproduced byte for byte; the known-answer vectors are reproduced.
@Suite struct ConformanceTests {
    @Test func manifestItemsParseVerifyAndMatch() throws {
        guard SharedFixtures.available else { return }
        let manifest = try SharedFixtures.json("MANIFEST.json")
        let items = try #require(manifest["items"] as? [[String: Any]])
        #expect(items.count >= 10)
        for entry in items {
            let file = try #require(entry["file"] as? String)
            let expect = try #require(entry["expect"] as? [String: Any])
            let bytes = try SharedFixtures.bytes(file)
            let item = try DataItem(parsing: bytes)
            #expect(item.serialized() == bytes, "\(file) re-serializes byte for byte")
            #expect(item.id.base64URL == expect["id"] as? String, "\(file) id")
            #expect(Int(item.signatureType.rawValue) == expect["signatureType"] as? Int, "\(file) type")
            #expect(item.tags.count == expect["numberOfTags"] as? Int, "\(file) tag count")
            #expect(item.data.count == expect["dataSize"] as? Int, "\(file) data size")
            #expect(item.target?.base64URL == expect["target"] as? String, "\(file) target")
            #expect(item.anchor.map { Base64URL.encode($0) } == expect["anchor"] as? String, "\(file) anchor")
            #expect(item.signingMessage().hexString == expect["deepHash"] as? String, "\(file) deep hash")
            if item.signatureType == .ethereum {
                #expect(throws: DataItemError.unsupportedSignatureType) { try item.verify() }
                #expect(!item.isSignatureValid)
            } else {
                #expect(expect["valid"] as? Bool == true)
                #expect(throws: Never.self, "\(file) verifies") { try item.verify() }
                if let salt = expect["rsaPssSaltLength"] as? Int {
                    #expect(item.rsaPSSSaltLength() == salt, "\(file) salt length")
                }
            }
        }
    }

    @Test func ethereumItemGivesItsIdAndIsUnsupported() throws {
        guard SharedFixtures.available else { return }
        let item = try DataItem(parsing: SharedFixtures.bytes("items/hyperbeam-ethereum-sfuxzQEEIFo5w6swrIPNjqUXCkaRm1BiuP5E3tmuNeU.bin"))
        #expect(item.id.base64URL == "sfuxzQEEIFo5w6swrIPNjqUXCkaRm1BiuP5E3tmuNeU")
        #expect(item.signatureType == .ethereum)
        #expect(item.owner.count == 65)
        do { try item.verify(); Issue.record("Ethereum verify must not succeed") } catch {
            #expect(error == .unsupportedSignatureType)
            #expect(error.description.contains("unsupported signature type"))
        }
    }

    @Test func generatedEd25519VectorsReproduceByteForByte() throws {
        guard SharedFixtures.available else { return }
        let doc = try SharedFixtures.json("generated/vectors.json")
        let vectors = try #require(doc["vectors"] as? [[String: Any]])
        #expect(vectors.count == 4)
        for v in vectors {
            let file = try #require(v["file"] as? String)
            let seedHex = try #require(v["seedHex"] as? String)
            let key = try #require(Ed25519PrivateKey(seed: [UInt8](hex: seedHex) ?? []))
            let target = (v["target"] as? String).flatMap { ID32(base64URL: $0) }
            var anchor: [UInt8]? = nil
            if let a = v["anchor"] as? [String: String] {
                if let text = a["text"] { anchor = Array(text.utf8) } else if let b = a["b64url"] { anchor = Base64URL.decode(b) }
            }
            let tags = try #require(v["tags"] as? [[String: String]]).map { Tag($0["name"]!, $0["value"]!) }
            let data: [UInt8]
            if let hex = v["dataHex"] as? String { data = try #require([UInt8](hex: hex)) } else { data = Array((v["data"] as? String ?? "").utf8) }
            let item = try DataItem.create(signer: key, target: target, anchor: anchor, tags: tags, data: data)
            let expected = try SharedFixtures.bytes("generated/\(file)")
            #expect(item.serialized() == expected, "\(file) byte for byte")
            let parsed = try DataItem(parsing: expected)
            #expect(parsed == item)
            #expect(parsed.isSignatureValid)
        }
    }

    @Test func knownAnswerVectors() throws {
        guard SharedFixtures.available else { return }
        let doc = try SharedFixtures.json("known-answer-vectors.json")
        for v in try #require(doc["deepHash"] as? [[String: Any]]) {
            let input = try #require(v["input"] as? [String: Any])
            let chunk: DeepHash.Chunk
            if let blob = input["blob"] as? String {
                chunk = .blob(try #require([UInt8](hex: blob)))
            } else {
                chunk = .list(try #require(input["list"] as? [String]).map { .blob([UInt8](hex: $0)!) })
            }
            #expect(DeepHash.hash(chunk).hexString == v["sha384DeepHash"] as? String)
        }
        for v in try #require(doc["avroTags"] as? [[String: Any]]) {
            let tags = try #require(v["tags"] as? [[String: String]]).map { Tag($0["name"]!, $0["value"]!) }
            let hex = try #require(v["encodedHex"] as? String)
            #expect(try AvroTags.encode(tags).hexString == hex)
            #expect(try AvroTags.decode([UInt8](hex: hex)!) == tags)
        }
        for v in try #require(doc["ed25519Keys"] as? [[String: String]]) {
            let key = try #require(Ed25519PrivateKey(seed: [UInt8](hex: v["seedHex"]!)!))
            #expect(key.publicKey.hexString == v["publicKeyHex"])
        }
    }
}
