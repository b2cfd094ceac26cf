// swift-tools-version:6.1
// Fuzz targets for aonode's decoders of untrusted bytes (CONVENTIONS.md C8). Each target is an executable with a
// libFuzzer entry point, built with `-sanitize=fuzzer,address`; `scripts/fuzz NAME SECONDS` builds and runs one.
// To add a target: add `.executableTarget(name: "FuzzX", dependencies: ["CFuzzerDriver", ...])` below, a
// Sources/FuzzX/main.swift whose top level calls `LLVMFuzzerRunDriver` with its callback (see FuzzDataItem), and a
// FailCases/FuzzX/ folder for crash inputs (the regression tests replay every file there).
import PackageDescription

let package = Package(
    name: "FuzzTesting",
    dependencies: [.package(name: "aonode", path: "..")],
    targets: [
        .target(name: "CFuzzerDriver"),
        .executableTarget(name: "FuzzDataItem", dependencies: ["CFuzzerDriver", .product(name: "AOCore", package: "aonode")]),
    ],
    swiftLanguageModes: [.v5]
)
