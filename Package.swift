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
        .library(name: "NextGPTFormats", targets: ["NextGPTFormats"]),
        .library(name: "NextGPTConvert", targets: ["NextGPTConvert"]),
        .library(name: "NextGPTKernels", targets: ["NextGPTKernels"]),
        .library(name: "NextGPTRuntime", targets: ["NextGPTRuntime"]),
        .library(name: "NextGPTMedia", targets: ["NextGPTMedia"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CSndfile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(
            name: "CFFmpeg", pkgConfig: "libavcodec libavformat libavutil libswscale libswresample",
            providers: [.apt(["libavcodec-dev", "libavformat-dev", "libavutil-dev", "libswscale-dev", "libswresample-dev"])]),

        // SIMD kernels: plain C, AVX2/FMA/F16C bodies behind __attribute__((target)) and runtime dispatch.
        .target(name: "CNextGPTKernels"),

        // Tensor core: dtypes, files, lazily read source tensors, errors.
        .target(name: "NextGPTCore", dependencies: ["CNextGPTKernels"]),

        // Readers of every upstream checkpoint layout, the GGUF container, ggml block quantizers.
        .target(
            name: "NextGPTFormats",
            dependencies: ["NextGPTCore", "CNextGPTKernels", .product(name: "Crypto", package: "swift-crypto")]),

        // Conversion: components, quantization policy, LoRA merge, streaming writer.
        .target(name: "NextGPTConvert", dependencies: ["NextGPTFormats", "NextGPTCore", "NextGPTKernels", "COpenBLAS", .product(name: "Crypto", package: "swift-crypto")]),

        // Kernel layer: matrix products for every weight type, thread pool, BLAS; knows no model.
        .target(
            name: "NextGPTKernels",
            dependencies: ["CNextGPTKernels", "COpenBLAS", "NextGPTCore", "NextGPTFormats"]),

        // Runtime: mapped containers, activation tensors, the ops every component needs, verify bundles.
        .target(
            name: "NextGPTRuntime",
            dependencies: ["NextGPTKernels", "NextGPTFormats", "NextGPTCore", "CNextGPTKernels", "COpenBLAS"]),

        // libpng calls whose longjmp error path must stay in C.
        .target(name: "CImageShims", dependencies: ["CPNG"]),

        // Image files: PNG (libpng) and everything else through FFmpeg; VAE tensor conversions.
        .target(name: "NextGPTMedia", dependencies: ["NextGPTRuntime", "CImageShims", "CPNG", "CFFmpeg"]),

        // Kernel benchmarks (not tests): GB/s and GFLOP/s beside measured bandwidth and OpenBLAS.
        .executableTarget(
            name: "nextgpt-bench",
            dependencies: ["NextGPTKernels", "NextGPTRuntime", "NextGPTFormats", "NextGPTCore", "COpenBLAS"]),

        .executableTarget(
            name: "nextgpt",
            dependencies: [
                "NextGPTConvert", "NextGPTFormats", "NextGPTCore", "NextGPTKernels", "NextGPTRuntime", "NextGPTMedia",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(
            name: "NextGPTFormatsTests", dependencies: ["NextGPTFormats", "NextGPTCore"],
            resources: []),
        .testTarget(name: "NextGPTConvertTests", dependencies: ["NextGPTConvert", "NextGPTFormats", "NextGPTCore"]),
        .testTarget(name: "NextGPTKernelsTests", dependencies: ["NextGPTKernels", "NextGPTFormats", "NextGPTCore", "CNextGPTKernels"]),
        .testTarget(name: "NextGPTModelsTests", dependencies: ["NextGPTRuntime", "NextGPTKernels", "NextGPTConvert", "NextGPTFormats", "NextGPTCore"]),
        .testTarget(name: "NextGPTMediaTests", dependencies: ["NextGPTMedia", "NextGPTRuntime", "CImageShims"]),
        .testTarget(name: "NextGPTRuntimeTests", dependencies: ["NextGPTRuntime", "NextGPTKernels", "NextGPTFormats", "NextGPTCore"]),
    ],
    swiftLanguageModes: [.v5]
)
