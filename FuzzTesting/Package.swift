// swift-tools-version:6.1
// Fuzz targets for aonode's decoders of untrusted bytes (CONVENTIONS.md C8). Each target is an executable with a
// libFuzzer entry point, built with `-sanitize=fuzzer,address`: `scripts/fuzz DataItem SECONDS` and
// `scripts/fuzz-transport SECONDS` build and run them. Crash inputs go into FailCases/<Fuzzer>/ and the main
// package's regression tests replay every file there.
// To add a target: add `.executableTarget(name: "FuzzX", dependencies: [...])` below, a Sources/FuzzX/ entry point
// that calls `LLVMFuzzerRunDriver` (see FuzzDataItem and FuzzFrameCodec), and a FailCases/FuzzX/ folder.
import PackageDescription

let package = Package(
    name: "FuzzTesting",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "aonode", path: "..")],
    targets: [
        .target(name: "CFuzzerDriver"),
        .executableTarget(name: "FuzzDataItem", dependencies: ["CFuzzerDriver", .product(name: "AOCore", package: "aonode")]),
        .executableTarget(
            name: "FuzzFrameCodec",
            dependencies: [.product(name: "AOTransport", package: "aonode"), .product(name: "AOCore", package: "aonode")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v5]
)
