import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

// transformers' `modeling_speecht5.py` HiFi-GAN vocoder (AudioLDM's `vocoder/`). Modules follow
// the checkpoint keys: `audioldm.vocoder.resblocks.4.convs1.2.weight` is
// `SpeechT5HifiGan.resblocks[4].convs1[2]`.

/// `HifiGanResidualBlock`: per dilation, x += conv2(lrelu(conv1(lrelu(x)))), conv1 dilated.
public final class HifiGanResidualBlock: Sendable {
    public let convs1: [Conv1d]
    public let convs2: [Conv1d]
    let leakyReluSlope: Float

    init(_ w: Weights, channels: Int, kernelSize: Int, dilation: [Int], leakyReluSlope: Float) throws {
        // `get_padding`: (k·d − d) / 2 keeps the length
        convs1 = try dilation.enumerated().map { i, d in
            try w.pp("convs1").conv1d(String(i), in: channels, out: channels, kernel: kernelSize, padding: (kernelSize * d - d) / 2, dilation: d)
        }
        convs2 = try dilation.indices.map { i in
            try w.pp("convs2").conv1d(String(i), in: channels, out: channels, kernel: kernelSize, padding: (kernelSize - 1) / 2)
        }
        self.leakyReluSlope = leakyReluSlope
    }

    func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        var hidden = x
        for (conv1, conv2) in zip(convs1, convs2) {
            var h = conv1(Activations.leakyReLU(hidden, negativeSlope: leakyReluSlope, context: context), context)
            h = conv2(Activations.leakyReLU(h, negativeSlope: leakyReluSlope, context: context), context)
            Elementwise.addInPlace(&h, hidden)
            hidden = h
        }
        return hidden
    }
}

/// transformers' `SpeechT5HifiGan`: mel spectrogram [B, frames, bins] → waveform [B, samples].
public final class SpeechT5HifiGan: Sendable {
    public let config: SpeechT5HifiGanConfig
    public let convPre: Conv1d
    public let upsampler: [ConvTranspose1d]
    public let resblocks: [HifiGanResidualBlock]
    public let convPost: Conv1d
    /// `normalize_before` statistics over the mel bins (`(x − mean) / scale`).
    public let mean: Tensor
    public let scale: Tensor
    public let component: String

    /// The vocoder `component` (e.g. `audioldm.vocoder`) of an opened container.
    public convenience init(_ file: ModelFile, component: String, options: LoadOptions = LoadOptions()) throws {
        try self.init(try Weights.component(file, component, options: options), config: try SpeechT5HifiGanConfig.load(file, component: component))
    }

    init(_ w: Weights, config c: SpeechT5HifiGanConfig) throws {
        config = c
        component = w.prefix
        convPre = try w.conv1d("conv_pre", in: c.modelInDim, out: c.upsampleInitialChannel, kernel: 7, padding: 3)
        upsampler = try zip(c.upsampleRates, c.upsampleKernelSizes).enumerated().map { i, level in
            let (rate, kernel) = level
            return try w.pp("upsampler").convTranspose1d(String(i), in: c.upsampleInitialChannel >> i, out: c.channels(afterLevel: i),
                                                         kernel: kernel, stride: rate, padding: (kernel - rate) / 2)
        }
        var blocks: [HifiGanResidualBlock] = []
        for i in upsampler.indices {
            for (kernel, dilation) in zip(c.resblockKernelSizes, c.resblockDilationSizes) {
                blocks.append(try HifiGanResidualBlock(w.pp("resblocks").pp(blocks.count), channels: c.channels(afterLevel: i),
                                                       kernelSize: kernel, dilation: dilation, leakyReluSlope: c.leakyReluSlope))
            }
        }
        resblocks = blocks
        convPost = try w.conv1d("conv_post", in: c.channels(afterLevel: c.upsampleRates.count - 1), out: 1, kernel: 7, padding: 3)
        mean = try w.tensor("mean", shape: [c.modelInDim])
        scale = try w.tensor("scale", shape: [c.modelInDim])
        try w.finish()
    }

    public struct InputError: Error, CustomStringConvertible {
        public let description: String
    }

    /// mel [B, frames, bins] or [frames, bins] → waveform [B, samples] or [samples].
    public func callAsFunction(_ spectrogram: Tensor, context: ExecutionContext) throws -> Tensor {
        try context.withActivationArena("vocoder") { try forward(spectrogram, context: context) }
    }

    func forward(_ spectrogram: Tensor, context: ExecutionContext) throws -> Tensor {
        let batched = spectrogram.rank == 3
        guard spectrogram.rank == 2 || batched, spectrogram.shape.last == config.modelInDim, spectrogram.count > 0 else {
            throw InputError(description: "vocoder: the mel spectrogram must be [B, frames, \(config.modelInDim)] or [frames, \(config.modelInDim)], got \(spectrogram.shape)")
        }
        let mel = batched ? spectrogram : spectrogram.reshaped([1] + spectrogram.shape)
        let (b, frames, bins) = (mel.shape[0], mel.shape[1], mel.shape[2])
        var normalized = mel
        if config.normalizeBefore {
            let (m, s) = (mean.values, scale.values)
            normalized = Tensor(shape: mel.shape, values: mel.values.enumerated().map { i, v in (v - m[i % bins]) / s[i % bins] })
        }
        var hidden = convPre(Shape.transpose(normalized, 1, 2, context: context), context)
        let kernels = config.kernelsPerLevel
        for (i, up) in upsampler.enumerated() {
            hidden = up(Activations.leakyReLU(hidden, negativeSlope: config.leakyReluSlope, context: context), context)
            var sum = resblocks[i * kernels](hidden, context)
            for j in 1..<kernels { Elementwise.addInPlace(&sum, resblocks[i * kernels + j](hidden, context)) }
            hidden = Tensor(shape: sum.shape, values: sum.values.map { $0 / Float(kernels) })  // torch divides
        }
        hidden = convPost(Activations.leakyReLU(hidden, negativeSlope: 0.01, context: context), context)
        let waveform = Activations.tanh(hidden, context: context)
        let samples = waveform.shape[2]
        precondition(samples == config.samples(frames: frames), "vocoder: \(samples) samples, the config implies \(config.samples(frames: frames))")
        return waveform.reshaped(batched ? [b, samples] : [samples])
    }
}
