// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets for every parser of the main package, kept in their own package so the
// sanitizer flags never reach the main build. Build (from this folder):
//
//     swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//
// or simply tools/fuzz/run.sh TARGET SECONDS, which builds, seeds and runs one target.
// Each executable exports LLVMFuzzerTestOneInput, and its entry point (SwiftPM names it
// `<module>_main`) runs libFuzzer's driver through LLVMFuzzerRunDriver.
// Each target's body is `FuzzTarget.<name>.run` in the main package (Sources/NextGPTFuzzTargets),
// which the normal test suite also runs over the seed corpus (FuzzSeedCorpusTests).
let parsers = [
    "safetensors", "zip", "pickle", "legacy-torch", "gguf", "json-config", "sentencepiece", "bpe", "png", "wav",
    "reference-bundle", "server", "jpeg", "mp4",
]

let package = Package(
    name: "NextGPTFuzz",
    dependencies: [.package(name: "NextGPT", path: "..")],
    targets: [
        .target(name: "CFuzzDriver"),
    ] + parsers.map {
        .executableTarget(name: "fuzz-\($0)", dependencies: ["CFuzzDriver", .product(name: "NextGPTFuzzTargets", package: "NextGPT")],
                          path: "Targets/\($0)")
    }
)
