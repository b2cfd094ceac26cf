import Foundation
import Testing
@testable import AOCore

/// Replays every input saved under FuzzTesting/FailCases/FuzzDataItem (crashes found by `scripts/fuzz DataItem`) plus
/// hostile shapes written by hand: each is refused with a typed error or round-trips exactly, and none traps.
@Suite struct FuzzRegressionTests {
    static let failCases = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("FuzzTesting/FailCases/FuzzDataItem")

    static func check(_ bytes: [UInt8]) {
        if let item = try? DataItem(parsing: bytes) {
            #expect(item.serialized() == bytes)
            #expect((try? DataItem(parsing: item.serialized())) == item)
            _ = item.isSignatureValid
        }
        if let bundle = try? ANS104Bundle(parsing: bytes) { #expect(bundle.serialized() == bytes) }
    }

    @Test func failCasesReplay() throws {
        #expect(FileManager.default.fileExists(atPath: Self.failCases.path), "FailCases folder missing")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: Self.failCases.path)) ?? []
        for name in files where !name.hasPrefix(".") {
            Self.check([UInt8](try Data(contentsOf: Self.failCases.appendingPathComponent(name))))
        }
    }

    @Test func hostileShapes() throws {
        let item = try TestKeys.fullItem().serialized()
        var shapes: [[UInt8]] = [[], [2], [2, 0], [1, 0] + [UInt8](repeating: 0, count: 1100), [6, 0] + [UInt8](repeating: 1, count: 4000)]
        // Huge counts and lengths everywhere they can appear.
        for offset in [Ed25519Layout.tagCount, Ed25519Layout.tagBytes] {
            var m = item; m.replaceSubrange(offset..<offset + 8, with: [UInt8](repeating: 0xff, count: 8)); shapes.append(m)
        }
        shapes.append([UInt8](repeating: 0xff, count: 32) + [UInt8](repeating: 0, count: 64))  // bundle count 2^256-1
        shapes.append(le64(1) + [UInt8](repeating: 0, count: 24) + [UInt8](repeating: 0xff, count: 8) + [UInt8](repeating: 0, count: 56))
        for s in shapes { Self.check(s) }
        #expect(throws: DataItemError.self) { try DataItem(parsing: shapes[0]) }
    }
}
