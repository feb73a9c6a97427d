import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTLayers

/// The `ImageBindModel(...)` constructor arguments the vision, audio and text branches read, with the
/// class defaults of `imagebind_model.py` for keys the stored config leaves out. The converter
/// stores them as `<component>.config` (the `config.json` beside the checkpoint, or huge's).
public struct ImageBindConfig: Sendable, Equatable {
    public var outEmbedDim = 768
    public var videoFrames = 2
    /// Conv3d kernel and stride of the vision stem, [t, h, w].
    public var kernelSize = [2, 14, 14]
    public var visionEmbedDim = 1024
    public var visionNumBlocks = 24
    public var visionNumHeads = 16
    public var audioEmbedDim = 768
    public var audioNumBlocks = 12
    public var audioNumHeads = 12
    public var audioKernelSize = 16
    public var audioStride = 10
    public var audioNumMelBins = 128
    public var audioTargetLen = 204
    public var textEmbedDim = 768
    public var textNumBlocks = 12
    public var textNumHeads = 12
    /// `RGBDTPreprocessor(img_size=[3, video_frames, 224, 224])`: fixed in upstream's code.
    public var imageSize = 224

    public init() {}

    public init(json: [String: Any], path: String) throws {
        func int(_ key: String, _ value: inout Int) throws {
            guard let raw = json[key], !(raw is NSNull) else { return }
            guard let number = raw as? NSNumber, number.doubleValue == number.doubleValue.rounded(), number.intValue > 0 else {
                throw FormatError(path, "\(key) must be a positive integer, got \(raw)")
            }
            value = number.intValue
        }
        try int("out_embed_dim", &outEmbedDim)
        try int("video_frames", &videoFrames)
        try int("vision_embed_dim", &visionEmbedDim)
        try int("vision_num_blocks", &visionNumBlocks)
        try int("vision_num_heads", &visionNumHeads)
        try int("audio_embed_dim", &audioEmbedDim)
        try int("audio_num_blocks", &audioNumBlocks)
        try int("audio_num_heads", &audioNumHeads)
        try int("audio_kernel_size", &audioKernelSize)
        try int("audio_stride", &audioStride)
        try int("audio_num_mel_bins", &audioNumMelBins)
        try int("audio_target_len", &audioTargetLen)
        try int("text_embed_dim", &textEmbedDim)
        try int("text_num_blocks", &textNumBlocks)
        try int("text_num_heads", &textNumHeads)
        if let raw = json["kernel_size"], !(raw is NSNull) {
            guard let sizes = raw as? [NSNumber], sizes.count == 3, sizes.allSatisfy({ $0.intValue > 0 }) else {
                throw FormatError(path, "kernel_size must be three positive integers [t, h, w], got \(raw)")
            }
            kernelSize = sizes.map(\.intValue)
        }
        for (name, dim, heads) in [("vision", visionEmbedDim, visionNumHeads), ("audio", audioEmbedDim, audioNumHeads),
                                 ("text", textEmbedDim, textNumHeads)]
        where dim % heads != 0 {
            throw FormatError(path, "\(name)_embed_dim \(dim) is not a multiple of \(name)_num_heads \(heads)")
        }
    }

    /// The config stored for `component` (`<component>.config`) in an opened container.
    public static func load(_ model: ModelFile, component: String) throws -> ImageBindConfig {
        let stored = try model.storedConfig(of: component, kind: "ImageBind")
        return try ImageBindConfig(json: stored.json, path: stored.origin)
    }
}
