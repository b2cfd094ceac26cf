import Foundation
import Testing

@testable import AOCore

/// Result attestations: signing, the exact signed layout, tamper detection, and the JSON form under hostile input.
@Suite struct AttestationTests {
    static let process = ProcessID(raw: ID32(bytes: SHA2.sha256([1]))!)
    static let message = MessageID(raw: ID32(bytes: SHA2.sha256([2]))!)
    static let handleOutput = Array(#"{"ok":true,"response":{"Output":"hi","Messages":[]}}"#.utf8)

    static func signed(key: Ed25519PrivateKey = TestKeys.ed25519, slot: UInt64 = 7) -> ResultAttestation {
        ResultAttestation.sign(key: key, process: process, slot: slot, message: message,
                               resultHash: ResultAttestation.resultHash(of: handleOutput),
                               memoryHash: ResultAttestation.memoryHash(memory: [UInt8](repeating: 0, count: 65536)))
    }

    @Test func signedAttestationVerifiesAndNamesItsSigner() {
        let a = Self.signed()
        #expect(a.verify())
        #expect(a.signer == TestKeys.ed25519.publicKey)
        #expect(a.signerNodeID == TestKeys.ed25519.nodeID)
        #expect(a.resultHash == SHA2.sha256(Self.handleOutput))
    }

    @Test func signedBytesLayoutIsTheDocumentedOne() {
        let a = Self.signed(slot: 0x0102_0304_0506_0708)
        let b = a.signedBytes
        #expect(b.count == ResultAttestation.signedBytesCount)
        #expect(Array(b[0..<21]) == Array("aonode-attestation-v2".utf8))
        #expect(Array(b[21..<53]) == Self.process.bytes)
        #expect(Array(b[53..<61]) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(Array(b[61..<93]) == Self.message.bytes)
        #expect(Array(b[93..<125]) == a.resultHash)
        #expect(Array(b[125..<157]) == a.memoryHash)
        #expect(Ed25519.verify(signature: a.signature, message: b, publicKey: a.signer))
    }

    static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    /// Known answers computed with Python's hashlib from the written definition (docs/COMPUTE.md): page 0 holds
    /// `i % 251`, page 1 zeros; and one zero page.
    @Test func memoryHashIsTheDocumentedTreeKnownAnswers() {
        let twoPages = (0..<65536).map { UInt8($0 % 251) } + [UInt8](repeating: 0, count: 65536)
        #expect(Self.hex(ResultAttestation.memoryHash(memory: twoPages))
                == "bda7c22ceb81d0c2ebdc2e0bd33ddedf3eb84d1d3e32244346816d5af07ba7bf")
        #expect(Self.hex(ResultAttestation.memoryHash(memory: [UInt8](repeating: 0, count: 65536)))
                == "36468cb1c6bf6e4a5d9d82a50418c5e36ec6ec9d7848f3b2dc97368bdaeca5b2")
    }

    @Test func memoryHashIsTheTreeOverChunksAndPages() {
        let memory = [UInt8](repeating: 0xAA, count: 2 * 65536)
        let chunk = SHA2.sha256([UInt8](repeating: 0xAA, count: 4096))
        let page = SHA2.sha256(Array([[UInt8]](repeating: chunk, count: 16).joined()))
        let expected = SHA2.sha256(Array("aonode/memory/v2".utf8) + [0, 0, 0, 0, 0, 0, 0, 2] + page + page)
        #expect(ResultAttestation.memoryHash(memory: memory) == expected)
        // Not the format-1 flat hash, and the page count is part of it.
        #expect(ResultAttestation.memoryHash(memory: memory) != SHA2.sha256(memory + [0, 0, 0, 0, 0, 0, 0, 2]))
        #expect(ResultAttestation.memoryHash(memory: Array(memory[0..<65536])) != expected)
    }

    /// The incremental hasher equals the definition after every kind of change: one byte, scattered bytes, a whole
    /// page, growth, a change back to an earlier state, and a smaller memory (a different instance).
    @Test func incrementalHasherAlwaysEqualsTheDefinition() {
        var rng = SystemRandomNumberGenerator()
        var memory = [UInt8](repeating: 0, count: 4 * 65536)
        var hasher = IncrementalMemoryHasher()
        func check(_ why: String, rehashed: Int? = nil) {
            let incremental = memory.withUnsafeBytes { hasher.hash($0) }
            #expect(incremental == MemoryCommitment.hash(memory: memory), "\(why)")
            if let rehashed { #expect(hasher.lastRehashedChunks == rehashed, "\(why): chunks rehashed") }
        }
        check("first call hashes everything", rehashed: 64)
        check("nothing changed", rehashed: 0)
        memory[70_000] ^= 1
        check("one byte", rehashed: 1)
        let original = memory
        for _ in 0..<50 { memory[Int.random(in: 0..<memory.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
        check("scattered bytes")
        for i in 65536..<131072 { memory[i] = UInt8(truncatingIfNeeded: i) }
        check("a whole page")
        memory += [UInt8](repeating: 7, count: 2 * 65536)
        check("growth by two pages")
        memory = original
        check("back to an earlier, smaller state (a different instance)")
        memory[memory.count - 1] = 9
        check("the very last byte", rehashed: 1)
    }

    /// Every field change breaks the signature.
    @Test(arguments: ["process", "slot", "message", "resultHash", "memoryHash", "signer", "signature"])
    func tamperingAnyFieldFailsVerification(field: String) throws {
        let a = Self.signed()
        var p = a.process, s = a.slot, m = a.message, r = a.resultHash, mh = a.memoryHash, k = a.signer, sig = a.signature
        switch field {
        case "process": p = ProcessID(raw: ID32(bytes: SHA2.sha256([9]))!)
        case "slot": s += 1
        case "message": m = MessageID(raw: ID32(bytes: SHA2.sha256([9]))!)
        case "resultHash": r[0] ^= 1
        case "memoryHash": mh[31] ^= 0x80
        case "signer": k = Ed25519PrivateKey.generate().publicKey
        case "signature": sig[10] ^= 4
        default: Issue.record("unknown field")
        }
        let t = try ResultAttestation(process: p, slot: s, message: m, resultHash: r, memoryHash: mh, signer: k, signature: sig)
        #expect(!t.verify())
    }

    @Test func aSignatureFromAnotherKeyDoesNotVerify() throws {
        let a = Self.signed()
        let other = Self.signed(key: Ed25519PrivateKey.generate())
        let forged = try ResultAttestation(process: a.process, slot: a.slot, message: a.message, resultHash: a.resultHash,
                                           memoryHash: a.memoryHash, signer: a.signer, signature: other.signature)
        #expect(!forged.verify())
    }

    @Test func jsonRoundTripsThroughJSONSerialization() throws {
        let a = Self.signed(slot: 42)
        let text = try JSONSerialization.data(withJSONObject: a.jsonObject)
        let back = try ResultAttestation(jsonBytes: [UInt8](text))
        #expect(back == a)
        #expect(back.verify())
        let object = try #require(try JSONSerialization.jsonObject(with: text) as? [String: Any])
        #expect(object["slot"] as? Int == 42)
        #expect(object["signer"] as? String == Base64URL.encode(TestKeys.ed25519.publicKey))
    }

    /// Hostile JSON: wrong types, lengths, encodings, and numbers are typed errors, never a trap.
    @Test(arguments: [
        ("slot", "\"7\"" as String), ("slot", "-1"), ("slot", "1.5"), ("slot", "true"), ("slot", "1e300"),
        ("slot", "null"), ("process", "\"short\""), ("process", "12"), ("message", "\"***\""),
        ("resultHash", "\"AAAA\""), ("memoryHash", "\"not base64!\""), ("signer", "\"\""),
        ("signature", "\"" + String(repeating: "A", count: 200) + "\""), ("signature", "[]"), ("signer", "{}"),
    ])
    func hostileFieldsThrow(field: String, json: String) throws {
        let a = Self.signed()
        var object = a.jsonObject
        object[field] = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
        #expect(throws: AttestationError.self) { try ResultAttestation(json: object) }
    }

    @Test(arguments: ["", "[]", "null", "{}", "{\"process\":1}", "nonsense", "[{}]"])
    func nonObjectsThrow(text: String) {
        #expect(throws: AttestationError.self) { try ResultAttestation(jsonBytes: Array(text.utf8)) }
    }

    @Test func missingFieldsThrow() throws {
        for key in Self.signed().jsonObject.keys {
            var object = Self.signed().jsonObject
            object[key] = nil
            #expect(throws: AttestationError.self) { try ResultAttestation(json: object) }
        }
    }
}
