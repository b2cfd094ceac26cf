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
        .library(name: "AOTransport", targets: ["AOTransport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swiftwasm/WasmKit", exact: "0.4.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),  // NIOCore for AOHTTP (already under Hummingbird)
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.30.0"),  // AOClient, tests
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
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
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

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
        .target(name: "AOCompute", dependencies: ["AOCore", "AOStore", "CZlib",
                                                  .product(name: "WasmKit", package: "WasmKit"),
                                                  .product(name: "WAT", package: "WasmKit"),
                                                  .product(name: "WasmParser", package: "WasmKit"),
                                                  .product(name: "Logging", package: "swift-log")],
                swiftSettings: settings),

        // MARK: composition
        .target(name: "AOSimulation", dependencies: ["AOCore", "AOStore", "AOTransport", "AOGossip", "AOScheduling"],
                swiftSettings: settings),
        .target(name: "AONode", dependencies: ["AOCore", "AOStore", "AOStoreLMDB", "AOTransport", "AOTransportUV",
                                               "AOGossip", "AOScheduling", "AOCompute", "AOHTTP",
                                               .product(name: "Logging", package: "swift-log"),
                                               .product(name: "Metrics", package: "swift-metrics"),
                                               .product(name: "Prometheus", package: "swift-prometheus")],
                swiftSettings: settings),
        // Light client: HTTP calls to nodes and verification of what they answer (attestations, signatures).
        .target(name: "AOClient", dependencies: ["AOCore",
                                                 .product(name: "AsyncHTTPClient", package: "async-http-client")],
                swiftSettings: settings),
        .target(name: "AONodeCLI", dependencies: ["AONode", "AOClient", "AOHTTP", "AOCore", "AOStore", "AOStoreLMDB",
                                                  "AOCompute",
                                                  .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                                  .product(name: "Logging", package: "swift-log")],
                swiftSettings: settings),
        // MARK: HTTP API (AO MU/SU/CU-compatible routes over the NodeQueries protocol; see docs/HTTP-API.md)
        .target(name: "AOHTTP", dependencies: ["AOCore",
                                               .product(name: "Hummingbird", package: "hummingbird"),
                                               .product(name: "HummingbirdCore", package: "hummingbird"),
                                               .product(name: "NIOCore", package: "swift-nio"),
                                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: settings),
        .executableTarget(name: "aonode", dependencies: ["AONodeCLI"], swiftSettings: settings),
        // The store's crash-test child and benchmark (scripts/bench/store); built by `swift test` for the crash test.
        .executableTarget(name: "aonode-store-tool", dependencies: ["AOStore", "AOStoreLMDB", "AOCore", "AOTestSupport"],
                          swiftSettings: settings),
        .executableTarget(name: "ao-sim", dependencies: ["AOSimulation",
                                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: settings),

        // Shared by tests and benchmarks: the multi-process cluster harness and the machine gauge benchmarks print.
        .target(name: "AOTestSupport", dependencies: ["AOCore", "AOHTTP", "AONode", "AOScheduling",
                                                      .product(name: "AsyncHTTPClient", package: "async-http-client"),
                                                      .product(name: "NIOCore", package: "swift-nio")],
                swiftSettings: settings),

        // MARK: tests (one test target per source target)
        .testTarget(name: "AOCoreTests", dependencies: ["AOCore"], resources: [.copy("Fixtures")], swiftSettings: settings),
        .testTarget(name: "AOStoreTests", dependencies: ["AOStore", "AOStoreLMDB", "AOCore"], swiftSettings: settings),
        .testTarget(name: "AOTransportTests", dependencies: ["AOTransport", "AOCore"],
                    exclude: ["FailCases"],  // fuzz inputs, read from the source tree by FuzzRegressionTests
                    swiftSettings: settings),
        .testTarget(name: "AOTransportUVTests", dependencies: ["AOTransportUV", "AOTransport", "AOCore",
                                                               .product(name: "Logging", package: "swift-log")],
                    swiftSettings: settings),
        // Transport benchmark (scripts/bench/transport): two processes over loopback.
        .executableTarget(name: "transport-bench", dependencies: ["AOTransportUV", "AOTransport", "AOCore",
                                                                  .product(name: "Logging", package: "swift-log")],
                          path: "Benchmarks/TransportBench", swiftSettings: settings),
        // End-to-end node benchmark (scripts/bench/node): POST at one node, results read at another.
        .executableTarget(name: "node-bench", dependencies: ["AOCore", "AOTestSupport",
                                                             .product(name: "AsyncHTTPClient", package: "async-http-client"),
                                                             .product(name: "NIOCore", package: "swift-nio")],
                          path: "Benchmarks/NodeBench", swiftSettings: settings),
        // Gossip over real nodes (scripts/bench/gossip-nodes): drives N `aonode` child processes over loopback.
        .executableTarget(name: "gossip-nodes-bench", dependencies: ["AOCore", "AOTestSupport",
                                                                     .product(name: "AsyncHTTPClient", package: "async-http-client")],
                          path: "Benchmarks/GossipNodesBench", swiftSettings: settings),
        // Scheduling benchmark on real nodes (scripts/bench/sched-node): drives three `aonode` child processes.
        .executableTarget(name: "sched-node-bench", dependencies: ["AOTestSupport", "AONode", "AOCore", "AOScheduling", "AOHTTP",
                                                                   .product(name: "AsyncHTTPClient", package: "async-http-client")],
                          path: "Benchmarks/SchedNodeBench", swiftSettings: settings),
        .testTarget(name: "AOGossipTests", dependencies: ["AOGossip", "AOCore"],
                    resources: [.copy("testdata")], swiftSettings: settings),
        .testTarget(name: "AOSchedulingTests", dependencies: ["AOScheduling", "AOCore"],
                    resources: [.copy("testdata")], swiftSettings: settings),
        .testTarget(name: "AOComputeTests", dependencies: ["AOCompute", "AOCore", "AOStore",
                                                          .product(name: "WAT", package: "WasmKit")],
                    swiftSettings: settings),
        .testTarget(name: "AOSimulationTests", dependencies: ["AOSimulation"], swiftSettings: settings),
        .testTarget(name: "AOHTTPTests", dependencies: ["AOHTTP", "AOCore",
                                                        .product(name: "Hummingbird", package: "hummingbird"),
                                                        .product(name: "HummingbirdTesting", package: "hummingbird"),
                                                        .product(name: "AsyncHTTPClient", package: "async-http-client")],
                    swiftSettings: settings),
        .testTarget(name: "AONodeCLITests", dependencies: ["AONodeCLI", "AOCore"], swiftSettings: settings),
        .testTarget(name: "AONodeTests", dependencies: ["AOTestSupport", "AONode", "AOCore", "AOStore", "AOStoreLMDB", "AOScheduling",
                                                        "AOGossip", "AOTransport", "AOHTTP", "AOClient",
                                                        .product(name: "AsyncHTTPClient", package: "async-http-client")],
                    swiftSettings: settings),
        .testTarget(name: "AOTestSupportTests", dependencies: ["AOTestSupport"], swiftSettings: settings),
        .testTarget(name: "AOClientTests", dependencies: ["AOClient", "AOCore"], swiftSettings: settings),
    ],
    swiftLanguageModes: languageModes
)

/// Shared compiler settings. CI adds -warnings-as-errors on the command line, not here, so a new
/// compiler's new warning cannot break a user's build.
var settings: [SwiftSetting] { [] }
