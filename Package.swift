// swift-tools-version:6.1
// aonode: a peer-to-peer AO node. Target layout and the import rules are in docs/LAYOUT.md:
// pure cores (AOCore, AOStore, AOTransport, AOGossip, AOScheduling) never import the I/O shells
// (AOStoreLMDB, AOTransportUV, AOCompute); only AONode and AOSimulation put the pieces together.
import PackageDescription

/// Swift 5 language mode for now: the libuv and LMDB shells are C callback code where the Swift 6 checker
/// adds noise without adding safety (the event loop is one thread by construction). Revisit per target.
let languageModes: [SwiftLanguageMode] = [.v5]

let package = Package(
    name: "aonode",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "aonode", targets: ["aonode"]),
        .executable(name: "ao-sim", targets: ["ao-sim"]),
        .library(name: "AOCore", targets: ["AOCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swiftwasm/WasmKit", exact: "0.4.2"),
    ],
    targets: [
        // MARK: C libraries (system packages via pkg-config; ./bootstrap installs them)
        .systemLibrary(name: "CSodium", path: "Sources/CSodium", pkgConfig: "libsodium",
                       providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLibUV", path: "Sources/CLibUV", pkgConfig: "libuv",
                       providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "CLMDB", path: "Sources/CLMDB", pkgConfig: "lmdb",
                       providers: [.apt(["liblmdb-dev"])]),

        // MARK: pure layers
        .target(name: "AOCore", dependencies: ["CSodium", "COpenSSL"], swiftSettings: settings),
        .target(name: "AOStore", dependencies: ["AOCore"], swiftSettings: settings),
        .target(name: "AOTransport", dependencies: ["AOCore", "CSodium"], swiftSettings: settings),
        .target(name: "AOGossip", dependencies: ["AOCore"], swiftSettings: settings),
        .target(name: "AOScheduling", dependencies: ["AOCore"], swiftSettings: settings),

        // MARK: I/O shells (each the only importer of its C library / engine)
        .target(name: "AOStoreLMDB", dependencies: ["AOStore", "AOCore", "CLMDB"], swiftSettings: settings),
        .target(name: "AOTransportUV", dependencies: ["AOTransport", "AOCore", "CLibUV",
                                                      .product(name: "Logging", package: "swift-log")],
                swiftSettings: settings),
        .target(name: "AOCompute", dependencies: ["AOCore", "AOStore",
                                                  .product(name: "WasmKit", package: "WasmKit"),
                                                  .product(name: "WAT", package: "WasmKit"),
                                                  .product(name: "Logging", package: "swift-log")],
                swiftSettings: settings),

        // MARK: composition
        .target(name: "AOSimulation", dependencies: ["AOCore", "AOStore", "AOTransport", "AOGossip", "AOScheduling"],
                swiftSettings: settings),
        .target(name: "AONode", dependencies: ["AOCore", "AOStore", "AOStoreLMDB", "AOTransport", "AOTransportUV",
                                               "AOGossip", "AOScheduling", "AOCompute",
                                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: settings),
        .target(name: "AONodeCLI", dependencies: ["AONode", "AOCore", "AOStore", "AOStoreLMDB", "AOCompute",
                                                  .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                                  .product(name: "Logging", package: "swift-log")],
                swiftSettings: settings),
        .executableTarget(name: "aonode", dependencies: ["AONodeCLI"], swiftSettings: settings),
        .executableTarget(name: "ao-sim", dependencies: ["AOSimulation",
                                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: settings),

        // MARK: tests (one test target per source target)
        .testTarget(name: "AOCoreTests", dependencies: ["AOCore"], swiftSettings: settings),
        .testTarget(name: "AOStoreTests", dependencies: ["AOStore", "AOStoreLMDB", "AOCore"], swiftSettings: settings),
        .testTarget(name: "AOTransportTests", dependencies: ["AOTransport", "AOCore"], swiftSettings: settings),
        .testTarget(name: "AOTransportUVTests", dependencies: ["AOTransportUV", "AOTransport", "AOCore"],
                    swiftSettings: settings),
        .testTarget(name: "AOGossipTests", dependencies: ["AOGossip", "AOCore"],
                    resources: [.copy("testdata")], swiftSettings: settings),
        .testTarget(name: "AOSchedulingTests", dependencies: ["AOScheduling", "AOCore"],
                    resources: [.copy("testdata")], swiftSettings: settings),
        .testTarget(name: "AOComputeTests", dependencies: ["AOCompute", "AOCore", "AOStore"], swiftSettings: settings),
        .testTarget(name: "AOSimulationTests", dependencies: ["AOSimulation"], swiftSettings: settings),
        .testTarget(name: "AONodeCLITests", dependencies: ["AONodeCLI", "AOCore"], swiftSettings: settings),
    ],
    swiftLanguageModes: languageModes
)

/// Shared compiler settings. CI adds -warnings-as-errors on the command line, not here, so a new
/// compiler's new warning cannot break a user's build.
var settings: [SwiftSetting] { [] }
