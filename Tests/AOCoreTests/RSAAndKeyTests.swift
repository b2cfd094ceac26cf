import Foundation
import Testing
@testable import AOCore

/// RSA-PSS (type 1) signing and verification through OpenSSL, and JWK key files.
@Suite struct RSAAndKeyTests {
    /// arbundles' public RSA-4096 test key (shared fixtures), or nil where they are absent.
    static func arbundlesKey() throws -> (KeyFile, String)? {
        guard SharedFixtures.available else { return nil }
        let manifest = try SharedFixtures.json("MANIFEST.json")
        let keys = try #require(manifest["keys"] as? [[String: Any]])
        let entry = try #require(keys.first)
        let key = try KeyFile.parse(jwk: try SharedFixtures.bytes(try #require(entry["file"] as? String)))
        return (key, try #require(entry["ownerSha256"] as? String))
    }

    @Test func rsaTestKeyLoadsWithTheRecordedAddress() throws {
        guard let (key, address) = try Self.arbundlesKey() else { return }
        #expect(key.signatureType == .arweave)
        #expect(key.address.base64URL == address)
        #expect(key.signer.owner.count == 512)
    }

    @Test func rsaSignsWithSalt478AndVerifies() throws {
        let key = try FixtureKeys.rsa()
        let item = try DataItem.create(signer: key, target: TestKeys.target, anchor: TestKeys.anchor, tags: TestKeys.tags,
                                       data: Array("rsa".utf8))
        #expect(item.signatureType == .arweave && item.signature.count == 512 && item.owner == key.owner)
        let parsed = try DataItem(parsing: item.serialized())
        try parsed.verify()
        #expect(parsed.rsaPSSSaltLength() == 478)
        #expect(parsed.ownerAddress == key.address)
        var bad = item.serialized()
        bad[bad.count - 1] ^= 1
        #expect(throws: DataItemError.invalidSignature) { try DataItem(parsing: bad).verify() }
        bad = item.serialized()
        bad[100] ^= 0x80
        #expect(throws: DataItemError.invalidSignature) { try DataItem(parsing: bad).verify() }
    }

    @Test(arguments: [0, 32, 478])
    func rsaVerifiesAnySaltLength(salt: Int) throws {
        let key = try FixtureKeys.rsa()
        struct SaltSigner: DataItemSigner {
            let key: ArweaveRSAKey; let salt: Int
            var signatureType: SignatureType { .arweave }
            var owner: [UInt8] { key.owner }
            func sign(_ m: [UInt8]) throws -> [UInt8] { try key.sign(m, saltLength: salt) }
        }
        let item = try DataItem.create(signer: SaltSigner(key: key, salt: salt), tags: [Tag("Salt", "\(salt)")])
        try item.verify()
        #expect(item.rsaPSSSaltLength() == salt)
    }

    @Test func rsaRejectsMalformedKeys() {
        #expect(!RSAPSS.verify(modulus: [1, 2, 3], message: [0], signature: [0], saltLength: nil))
        #expect(throws: DataItemError.badKey) {
            try ArweaveRSAKey(n: [0xc3], e: [1, 0, 1], d: [1], p: [1], q: [1], dp: [1], dq: [1], qi: [1])
        }
    }

    @Test func ed25519JWKRoundTripWritesMode0600AndNeverOverwrites() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aonode-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ed.json").path
        let key = KeyFile.ed25519(TestKeys.ed25519)
        try key.write(path: path)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: String])
        #expect(object["kty"] == "OKP" && object["crv"] == "Ed25519")
        #expect(object["d"] == Base64URL.encode(TestKeys.ed25519.seed))
        #expect(object["x"] == Base64URL.encode(TestKeys.ed25519.publicKey))
        let loaded = try KeyFile.load(path: path)
        #expect(loaded.address == TestKeys.ed25519.address)
        #expect(loaded.signer.owner == TestKeys.ed25519.publicKey)
        #expect(throws: KeyError.exists) { try key.write(path: path) }
    }

    @Test func rsaJWKRoundTrip() throws {
        let key = try FixtureKeys.rsa()
        let jwk = KeyFile.arweave(key).jwk()
        let again = try KeyFile.parse(jwk: jwk)
        #expect(again.signer.owner == key.owner)
        #expect(again.jwk() == jwk)
        let item = try DataItem.create(signer: again.signer, data: [1])
        try item.verify()
    }

    @Test func badJWKsAreTypedErrors() {
        #expect(throws: KeyError.notJSON) { try KeyFile.parse(jwk: Array("nope".utf8)) }
        #expect(throws: KeyError.unsupportedKeyType) { try KeyFile.parse(jwk: Array(#"{"kty":"EC"}"#.utf8)) }
        #expect(throws: KeyError.unsupportedKeyType) { try KeyFile.parse(jwk: Array(#"{"kty":"OKP","crv":"X25519","d":"AA"}"#.utf8)) }
        #expect(throws: KeyError.badParameter) { try KeyFile.parse(jwk: Array(#"{"kty":"OKP","crv":"Ed25519","d":"AAAA"}"#.utf8)) }
        let seed = Base64URL.encode([UInt8](repeating: 7, count: 32)), wrongX = Base64URL.encode([UInt8](repeating: 8, count: 32))
        #expect(throws: KeyError.badParameter) {
            try KeyFile.parse(jwk: Array(#"{"kty":"OKP","crv":"Ed25519","d":"\#(seed)","x":"\#(wrongX)"}"#.utf8))
        }
        #expect(throws: KeyError.badParameter) { try KeyFile.parse(jwk: Array(#"{"kty":"RSA","n":"AQAB"}"#.utf8)) }
        #expect(throws: KeyError.unreadable) { try KeyFile.load(path: "/nonexistent/key.json") }
    }
}

/// Keys committed under Tests/AOCoreTests/Fixtures (see its README).
enum FixtureKeys {
    static func url(_ name: String) throws -> URL {
        try #require(Foundation.Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil))
    }
    static func rsa() throws -> ArweaveRSAKey {
        guard case .arweave(let k) = try KeyFile.load(path: try url("rsa-test-key.json").path) else {
            throw DataItemError.badKey
        }
        return k
    }
}
