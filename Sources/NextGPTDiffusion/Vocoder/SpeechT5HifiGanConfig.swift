import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTLayers

/// transformers' `SpeechT5HifiGanConfig` (defaults as transformers' when a key is absent).
public struct SpeechT5HifiGanConfig: Sendable, Equatable {
    public var modelInDim = 80
    public var samplingRate = 16000
    public var upsampleInitialChannel = 512
    public var upsampleRates = [4, 4, 4, 4]
    public var upsampleKernelSizes = [8, 8, 8, 8]
    public var resblockKernelSizes = [3, 7, 11]
    public var resblockDilationSizes = [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    public var leakyReluSlope: Float = 0.1
    public var normalizeBefore = true

    public init() {}

    public init(json: [String: Any], path: String) throws {
        func int(_ key: String, _ value: inout Int) throws {
            guard let raw = json[key], !(raw is NSNull) else { return }
            guard let number = raw as? NSNumber, number.doubleValue == number.doubleValue.rounded(), number.intValue > 0 else {
                throw FormatError(path, "\(key) must be a positive integer, got \(raw)")
            }
            value = number.intValue
        }
        func ints(_ raw: Any, _ key: String) throws -> [Int] {
            guard let items = raw as? [Any], !items.isEmpty else { throw FormatError(path, "\(key) must be a non-empty list of positive integers, got \(raw)") }
            return try items.map { item in
                guard let n = item as? NSNumber, n.doubleValue == n.doubleValue.rounded(), n.intValue > 0 else {
                    throw FormatError(path, "\(key) must hold positive integers, got \(item)")
                }
                return n.intValue
            }
        }
        try int("model_in_dim", &modelInDim)
        try int("sampling_rate", &samplingRate)
        try int("upsample_initial_channel", &upsampleInitialChannel)
        if let raw = json["upsample_rates"] { upsampleRates = try ints(raw, "upsample_rates") }
        if let raw = json["upsample_kernel_sizes"] { upsampleKernelSizes = try ints(raw, "upsample_kernel_sizes") }
        if let raw = json["resblock_kernel_sizes"] { resblockKernelSizes = try ints(raw, "resblock_kernel_sizes") }
        if let raw = json["resblock_dilation_sizes"] {
            guard let rows = raw as? [Any] else { throw FormatError(path, "resblock_dilation_sizes must be a list of lists, got \(raw)") }
            resblockDilationSizes = try rows.map { try ints($0, "resblock_dilation_sizes") }
        }
        if let slope = json["leaky_relu_slope"] as? NSNumber { leakyReluSlope = slope.floatValue }
        if let flag = json["normalize_before"] as? Bool { normalizeBefore = flag }
        guard upsampleRates.count == upsampleKernelSizes.count else {
            throw FormatError(path, "upsample_rates \(upsampleRates) and upsample_kernel_sizes \(upsampleKernelSizes) differ in length")
        }
        // zip() in the model: the shorter list decides how many residual blocks each level has
        let kernels = min(resblockKernelSizes.count, resblockDilationSizes.count)
        guard kernels > 0 else { throw FormatError(path, "no residual block kernels") }
        guard upsampleInitialChannel >> upsampleRates.count > 0 else {
            throw FormatError(path, "upsample_initial_channel \(upsampleInitialChannel) cannot halve \(upsampleRates.count) times")
        }
        for (rate, kernel) in zip(upsampleRates, upsampleKernelSizes) where kernel < rate {
            throw FormatError(path, "upsample kernel \(kernel) is smaller than its rate \(rate)")
        }
    }

    /// Residual blocks per upsampling level (`num_kernels`).
    public var kernelsPerLevel: Int { min(resblockKernelSizes.count, resblockDilationSizes.count) }

    /// Channels after upsampler `i`: `upsample_initial_channel // 2**(i+1)`.
    public func channels(afterLevel i: Int) -> Int { upsampleInitialChannel >> (i + 1) }

    /// Output samples for `frames` mel frames: each ConvTranspose1d gives (L − 1)·u − 2·((k − u) / 2) + k.
    public func samples(frames: Int) -> Int {
        zip(upsampleRates, upsampleKernelSizes).reduce(frames) { l, level in
            let (u, k) = level
            return (l - 1) * u - 2 * ((k - u) / 2) + k
        }
    }

    public static func load(_ model: ModelFile, component: String) throws -> SpeechT5HifiGanConfig {
        let stored = try model.storedConfig(of: component, kind: "a SpeechT5HifiGan vocoder")
        return try SpeechT5HifiGanConfig(json: stored.json, path: stored.origin)
    }
}
