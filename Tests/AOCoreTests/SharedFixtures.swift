import Foundation
import Testing

/// Locates the shared fixture folder: env `AONODE_SHARED_DIR`, else `<package root>/../shared`.
/// Tests that need it skip with a message where it is absent, except under `CI=true`, where they fail.
enum SharedFixtures {
    static let directory: URL? = {
        let env = ProcessInfo.processInfo.environment
        let url: URL
        if let dir = env["AONODE_SHARED_DIR"], !dir.isEmpty {
            url = URL(fileURLWithPath: dir)
        } else {
            // #filePath = <root>/Tests/AOCoreTests/SharedFixtures.swift
            url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared")
        }
        let manifest = url.appendingPathComponent("fixtures/ans104/MANIFEST.json")
        return FileManager.default.fileExists(atPath: manifest.path) ? url : nil
    }()

    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Whether the shared folder exists; otherwise a message (or, under CI, a failure) is recorded.
    static var available: Bool {
        if directory != nil { return true }
        if isCI {
            Issue.record("shared fixtures not found (set AONODE_SHARED_DIR or place shared/ beside the package); CI=true requires them")
        } else {
            print("SKIP: shared ANS-104 fixtures not found (set AONODE_SHARED_DIR or place shared/ beside the package)")
        }
        return false
    }

    static var ans104: URL { directory!.appendingPathComponent("fixtures/ans104") }

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: ans104.appendingPathComponent(relative)))
    }

    static func json(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: ans104.appendingPathComponent(relative))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}
