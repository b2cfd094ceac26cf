// swift-tools-version:6.1
// Fuzzers for aonode's decoders of untrusted bytes (CONVENTIONS.md C8). Built with libFuzzer by the scripts in
// ../scripts (e.g. scripts/fuzz-transport), which pass -sanitize=fuzzer to every module so the decoders are
// instrumented too. Crash inputs go into FailCases/<Fuzzer>/ and become regression tests in the main package.
import PackageDescription

let package = Package(
    name: "FuzzTesting",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "aonode", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzFrameCodec",
            dependencies: [.product(name: "AOTransport", package: "aonode"), .product(name: "AOCore", package: "aonode")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v5]
)
