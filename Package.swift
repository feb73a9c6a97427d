// swift-tools-version:6.1
import PackageDescription

// System libraries come from Debian's -dev packages through pkg-config; each is linked
// only by the targets that import it. No unsafe compiler flags anywhere, so other packages can
// depend on these products.
let package = Package(
    name: "NextGPT",
    products: [
        .executable(name: "nextgpt", targets: ["nextgpt"]),
        .library(name: "NextGPTCore", targets: ["NextGPTCore"]),
        .library(name: "NextGPTKernels", targets: ["NextGPTKernels"]),
        .library(name: "NextGPTFormats", targets: ["NextGPTFormats"]),
        .library(name: "NextGPTConvert", targets: ["NextGPTConvert"]),
        .library(name: "NextGPTLayers", targets: ["NextGPTLayers"]),
        .library(name: "NextGPTTokenizers", targets: ["NextGPTTokenizers"]),
        .library(name: "NextGPTLlama", targets: ["NextGPTLlama"]),
        .library(name: "NextGPTDiffusion", targets: ["NextGPTDiffusion"]),
        .library(name: "NextGPTImageBind", targets: ["NextGPTImageBind"]),
        .library(name: "NextGPTAnyToAny", targets: ["NextGPTAnyToAny"]),
        .library(name: "NextGPTSessions", targets: ["NextGPTSessions"]),
        .library(name: "NextGPTVerify", targets: ["NextGPTVerify"]),
        .library(name: "NextGPTMedia", targets: ["NextGPTMedia"]),
        .library(name: "NextGPTServer", targets: ["NextGPTServer"]),
        // The parsers' fuzz bodies, for the fuzz package (fuzz/) and the seed-corpus test.
        .library(name: "NextGPTFuzzTargets", targets: ["NextGPTFuzzTargets"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        // No traits: the server needs neither swift-configuration nor Foundation's URL-encoded forms.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0", traits: []),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CSndfile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(
            name: "CFFmpeg", pkgConfig: "libavcodec libavformat libavutil libswscale libswresample",
            providers: [.apt(["libavcodec-dev", "libavformat-dev", "libavutil-dev", "libswscale-dev", "libswresample-dev"])]),

        // SIMD kernels: plain C, AVX2/FMA/F16C bodies behind __attribute__((target)) and runtime dispatch.
        .target(name: "CNextGPTKernels"),

        // Tensor core: dtypes, files, lazily read source tensors, errors, progress.
        .target(name: "NextGPTCore", dependencies: ["CNextGPTKernels"]),

        // Kernel layer: ggml types and their per-type table, activation tensors, matrix products for
        // every weight type, the thread pool and execution context, the ops; knows no model or file format.
        .target(name: "NextGPTKernels", dependencies: ["CNextGPTKernels", "COpenBLAS", "NextGPTCore"]),

        // Readers of every upstream checkpoint layout, the GGUF container, tokenizer files.
        .target(
            name: "NextGPTFormats",
            dependencies: ["NextGPTKernels", "NextGPTCore", "CNextGPTKernels", "CZlib"]),

        // Conversion: components, quantization policy, LoRA merge, streaming writer.
        .target(
            name: "NextGPTConvert",
            dependencies: ["NextGPTFormats", "NextGPTTokenizers", "NextGPTKernels", "NextGPTCore", "COpenBLAS", .product(name: "Crypto", package: "swift-crypto")]),

        // Mapped containers, the weight-path loader and the layers every model shares.
        .target(name: "NextGPTLayers", dependencies: ["NextGPTKernels", "NextGPTFormats", "NextGPTCore"]),

        // SentencePiece and CLIP BPE tokenizers from the container's metadata.
        .target(name: "NextGPTTokenizers", dependencies: ["NextGPTFormats", "NextGPTCore"]),

        // Model families, each reading like its PyTorch twin.
        .target(name: "NextGPTLlama", dependencies: ["NextGPTLayers", "NextGPTTokenizers", "NextGPTKernels", "NextGPTFormats", "NextGPTCore"]),
        .target(name: "NextGPTDiffusion", dependencies: ["NextGPTLayers", "NextGPTTokenizers", "NextGPTKernels", "NextGPTFormats", "NextGPTCore"]),
        .target(name: "NextGPTImageBind", dependencies: ["NextGPTLayers", "NextGPTKernels", "NextGPTFormats", "NextGPTCore"]),
        // NExT-GPT's own modules (anyToImageVideoAudio.py): input and output projections, prompt assembly, signal tokens.
        .target(name: "NextGPTAnyToAny", dependencies: ["NextGPTLlama", "NextGPTTokenizers", "NextGPTLayers", "NextGPTKernels", "NextGPTFormats", "NextGPTCore"]),

        // Sessions (load order, generation, stop strings) and the class-name → loader registry.
        .target(
            name: "NextGPTSessions",
            dependencies: ["NextGPTConvert", "NextGPTAnyToAny", "NextGPTLlama", "NextGPTDiffusion", "NextGPTImageBind", "NextGPTMedia", "NextGPTLayers", "NextGPTTokenizers", "NextGPTKernels", "NextGPTFormats", "NextGPTCore"]),

        // Reference bundles replayed against the runtime, one call per component.
        .target(
            name: "NextGPTVerify",
            dependencies: ["NextGPTAnyToAny", "NextGPTLlama", "NextGPTDiffusion", "NextGPTImageBind", "NextGPTMedia", "NextGPTLayers", "NextGPTTokenizers", "NextGPTKernels", "NextGPTFormats", "NextGPTCore"]),

        // libpng calls whose longjmp error path must stay in C.
        .target(name: "CImageShims", dependencies: ["CPNG"]),

        // Image files: PNG (libpng) and everything else through FFmpeg; audio files (libsndfile, FFmpeg) and WAV writing; video files; VAE tensor conversions.
        .target(name: "NextGPTMedia", dependencies: ["NextGPTKernels", "CImageShims", "CPNG", "CFFmpeg", "CSndfile"]),

        // Kernel benchmarks (not tests): GB/s and GFLOP/s beside measured bandwidth and OpenBLAS.
        .executableTarget(
            name: "nextgpt-bench",
            dependencies: ["NextGPTKernels", "NextGPTLayers", "NextGPTDiffusion", "NextGPTImageBind", "NextGPTFormats", "NextGPTCore",
                           "COpenBLAS"]),

        // The server's request decoding and checks, free of the HTTP framework (so the fuzz package can build it).
        .target(
            name: "NextGPTServerAPI",
            dependencies: ["NextGPTSessions", "NextGPTAnyToAny", "NextGPTDiffusion", "NextGPTLlama", "NextGPTMedia", "NextGPTLayers", "NextGPTTokenizers",
                           "NextGPTFormats", "NextGPTCore"]),

        // `nextgpt serve`: OpenAI-style HTTP endpoints and the web page; parses requests, calls sessions, serialises results.
        .target(
            name: "NextGPTServer",
            dependencies: ["NextGPTServerAPI", "NextGPTSessions", "NextGPTDiffusion", "NextGPTLlama", "NextGPTMedia", "NextGPTLayers", "NextGPTKernels", "NextGPTFormats", "NextGPTCore",
                           .product(name: "Hummingbird", package: "hummingbird")]),

        .executableTarget(
            name: "nextgpt",
            dependencies: [
                "NextGPTServer", "NextGPTConvert", "NextGPTFormats", "NextGPTCore", "NextGPTKernels", "NextGPTLayers", "NextGPTTokenizers",
                "NextGPTLlama", "NextGPTDiffusion", "NextGPTImageBind", "NextGPTSessions", "NextGPTVerify", "NextGPTMedia",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // One function per parser that the libFuzzer executables (fuzz/) and FuzzSeedCorpusTests both call.
        .target(
            name: "NextGPTFuzzTargets",
            dependencies: ["NextGPTServerAPI", "NextGPTVerify", "NextGPTMedia", "NextGPTTokenizers", "NextGPTFormats", "NextGPTCore"]),

        // What every test target shares: fixture paths, seeded random values, error measures.
        .target(name: "NextGPTTestSupport", dependencies: ["NextGPTKernels"], path: "Tests/NextGPTTestSupport"),

        .testTarget(name: "NextGPTFormatsTests", dependencies: ["NextGPTFormats", "NextGPTKernels", "NextGPTCore", "NextGPTTestSupport"]),
        .testTarget(name: "NextGPTConvertTests", dependencies: ["NextGPTConvert", "NextGPTFormats", "NextGPTKernels", "NextGPTCore", "NextGPTTestSupport"]),
        .testTarget(name: "NextGPTKernelsTests", dependencies: ["NextGPTKernels", "NextGPTCore", "NextGPTFormats", "CNextGPTKernels", "NextGPTTestSupport"]),
        .testTarget(
            name: "NextGPTModelsTests",
            dependencies: ["NextGPTAnyToAny", "NextGPTLlama", "NextGPTDiffusion", "NextGPTImageBind", "NextGPTMedia", "NextGPTSessions", "NextGPTVerify", "NextGPTLayers", "NextGPTTokenizers",
                           "NextGPTKernels", "NextGPTConvert", "NextGPTFormats", "NextGPTCore", "NextGPTTestSupport"]),
        .testTarget(
            name: "NextGPTServerTests",
            dependencies: ["NextGPTServer", "NextGPTSessions", "NextGPTDiffusion", "NextGPTConvert", "NextGPTMedia", "NextGPTLayers", "NextGPTKernels", "NextGPTFormats",
                           "NextGPTCore", "NextGPTTestSupport"]),
        .testTarget(name: "NextGPTMediaTests", dependencies: ["NextGPTMedia", "NextGPTKernels", "NextGPTFormats", "CImageShims", "CSndfile", "CFFmpeg", "NextGPTTestSupport"]),
        .testTarget(
            name: "NextGPTRuntimeTests",
            dependencies: ["NextGPTVerify", "NextGPTFuzzTargets", "NextGPTSessions", "NextGPTDiffusion", "NextGPTLlama", "NextGPTLayers", "NextGPTTokenizers", "NextGPTKernels",
                           "NextGPTFormats", "NextGPTCore", "NextGPTTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
