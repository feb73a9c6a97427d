import Foundation
import NextGPTCore
import NextGPTKernels
import NextGPTLayers

/// The layers the 3-D blocks (`unet_3d_blocks.py`) add to the 2-D ones: a `TemporalConvLayer`
/// (`temp_convs`) after every resnet and a `TransformerTemporalModel` (`temp_attentions`) after
/// every spatial transformer. Empty in the 2-D blocks.
struct TemporalLayers: Sendable {
    let convs: [TemporalConvLayer]
    let attentions: [TransformerTemporalModel]

    static let none = TemporalLayers(convs: [], attentions: [])

    init(convs: [TemporalConvLayer], attentions: [TransformerTemporalModel]) {
        self.convs = convs
        self.attentions = attentions
    }

    /// For a block of `resnets` resnets of `channels` outputs and `attentions` spatial transformers.
    init(_ w: Weights, resnets: Int, attentions: Int, channels: Int, block: UNetBlockSettings,
         attention: UNetAttentionSettings?) throws {
        convs = try (0..<resnets).map {
            try TemporalConvLayer(w.pp("temp_convs").pp($0), inDim: channels, groups: block.groups)
        }
        self.attentions = try attention.map { settings in
            try (0..<attentions).map { try settings.temporalTransformer(w.pp("temp_attentions").pp($0), channels: channels, block: block) }
        } ?? []
    }

    func afterResnet(_ i: Int, _ x: Tensor, numFrames: Int, _ context: ExecutionContext) -> Tensor {
        convs.isEmpty ? x : convs[i](x, numFrames: numFrames, context)
    }

    func afterAttention(_ i: Int, _ x: Tensor, numFrames: Int, _ context: ExecutionContext) -> Tensor {
        attentions.isEmpty ? x : attentions[i](x, numFrames: numFrames, context)
    }
}
