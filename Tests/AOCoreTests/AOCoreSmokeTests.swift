import Foundation
import Testing
@testable import AOCore

@Suite struct IdentifierAndKeyTests {
    @Test func base64URLRoundTripsAndRejectsGarbage() {
        let bytes: [UInt8] = Array(0..<32)
        let text = Base64URL.encode(bytes)
        #expect(text.count == 43)
        #expect(Base64URL.decode(text) == bytes)
        #expect(ID32(base64URL: text)?.bytes == bytes)
        #expect(ID32(base64URL: "not an id") == nil)
        #expect(ID32(base64URL: String(text.dropLast())) == nil)
    }

    /// The direct decoder agrees with Foundation's base64 (the route it replaced) on every URL-alphabet string, with
    /// and without padding, and refuses what is not base64url.
    @Test func base64URLDecodeAgreesWithFoundation() {
        var rng = Xoshiro256(seed: 12)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for round in 0..<5_000 {
            let length = Int.random(in: 0...90, using: &rng)
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &rng)! })
            var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            if standard.count % 4 == 2 { standard += "==" } else if standard.count % 4 == 3 { standard += "=" }
            let reference = length % 4 == 1 ? nil : Data(base64Encoded: standard).map { [UInt8]($0) }
            #expect(Base64URL.decode(text) == reference, "\(text)")
            if round % 10 == 0, length % 4 != 1 { #expect(Base64URL.decode(standard.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")) == reference) }
        }
        for bad in ["A", "AAAAA", "AB+C", "AB/C", "AB=C", "ABC\u{e9}", "AB C", "AB\nC"] { #expect(Base64URL.decode(bad) == nil, "\(bad)") }
        #expect(Base64URL.decode("") == [])
        #expect(Base64URL.decode("QUJD") == Array("ABC".utf8))
    }

    @Test func idBytesRoundTripAndOrderMatchesLexicographicBytes() {
        var rng = Xoshiro256(seed: 7)
        let samples = (0..<200).map { _ in (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        for bytes in samples { #expect(ID32(bytes: bytes)?.bytes == bytes) }
        for (x, y) in zip(samples, samples.dropFirst()) {
            #expect((ID32(bytes: x)! < ID32(bytes: y)!) == x.lexicographicallyPrecedes(y))
        }
        #expect(ID32(bytes: [UInt8](repeating: 1, count: 31)) == nil)
        #expect(ID32(bytes: [UInt8](repeating: 1, count: 33)) == nil)
        #expect(ID32(bytes: ArraySlice([UInt8](0..<40))[4..<36])?.bytes == Array(4..<36))
    }

    @Test func idOrderIsByteOrder() {
        var lo = [UInt8](repeating: 0, count: 32), hi = lo
        lo[31] = 0xff; hi[0] = 1
        #expect(ID32(bytes: lo)! < ID32(bytes: hi)!)
    }

    @Test func ed25519KnownAnswerFromArbundles() {
        // known-answer-vectors.json (arbundles curve25519.spec.ts): seed -> public key
        let key = Ed25519PrivateKey(seed: [UInt8](hex: "389d91f729532f0d39ec48ac94e1e10f54bfc39f53bf59a1ff768892c9d4f1c8")!)!
        #expect(key.publicKey.hexString == "040b99ae55a3d3384943f638ed5f8eb1f4556feb86e6d082e658f8085b410f6a")
        let sig = key.sign([UInt8]("hello".utf8))
        #expect(Ed25519.verify(signature: sig, message: [UInt8]("hello".utf8), publicKey: key.publicKey))
        var bad = sig; bad[0] ^= 1
        #expect(!Ed25519.verify(signature: bad, message: [UInt8]("hello".utf8), publicKey: key.publicKey))
    }

    @Test func sha384KnownAnswer() {
        #expect(SHA2.sha384([UInt8]()).hexString.hasPrefix("38b060a751ac9638"))
        #expect(SHA2.sha256([UInt8]("abc".utf8)).hexString == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}

@Suite struct RandomnessTests {
    @Test func seededGeneratorsAreReproducible() {
        var a = Xoshiro256(seed: 42), b = Xoshiro256(seed: 42), c = Xoshiro256(seed: 43)
        let xs = (0..<8).map { _ in a.next() }
        #expect(xs == (0..<8).map { _ in b.next() })
        #expect(xs != (0..<8).map { _ in c.next() })
        // SplitMix64 reference output for seed 0 (Vigna's splitmix64.c)
        var s = SplitMix64(seed: 0)
        #expect(s.next() == 0xE220_A839_7B1D_CDAF)
    }
}
