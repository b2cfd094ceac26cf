import AOCore
import Foundation
import Testing
@testable import AOTransport

/// Replays every saved fuzz input (crashes found by scripts/fuzz-transport, and hand-made edge cases) through the
/// same harness the fuzzer runs, plus a few thousand seeded random inputs. Passing = no crash, no hang.
@Suite struct FuzzRegressionTests {
    static let failCases = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FailCases")

    static var savedInputs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: failCases.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    @Test func savedInputsDoNotCrash() throws {
        let names = Self.savedInputs
        #expect(!names.isEmpty, "FailCases/ holds at least the hand-made edge cases")
        for name in names {
            let bytes = try [UInt8](Data(contentsOf: Self.failCases.appendingPathComponent(name)))
            TransportFuzzing.run(bytes)
        }
    }

    @Test func seededRandomInputsDoNotCrash() {
        var rng = Xoshiro256(seed: 2024)
        for i in 0..<3000 {
            let n = Int.random(in: 0...600, using: &rng)
            var bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !bytes.isEmpty { bytes[0] = UInt8(i % 5) }
            TransportFuzzing.run(bytes)
        }
    }
}
