// swift-tools-version:6.1
// Benchmarks for aonode (a separate package, as swift-nio does, so `swift build` of the main package never builds
// them). Run through the wrappers in scripts/bench/, which build in release.
import PackageDescription

let package = Package(
    name: "Benchmarks",
    dependencies: [.package(name: "aonode", path: "..")],
    targets: [
        // libsodium for the raw-verify baseline (the main package's CSodium is not a product).
        .systemLibrary(name: "CSodiumBench", path: "Sources/CSodiumBench", pkgConfig: "libsodium",
                       providers: [.apt(["libsodium-dev"])]),
        .executableTarget(name: "ANS104Bench", dependencies: ["CSodiumBench", .product(name: "AOCore", package: "aonode")]),
    ],
    swiftLanguageModes: [.v5]
)
