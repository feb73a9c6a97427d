import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

// `models/imagebind_model.py` as NExT-GPT's copy runs it (NEXTGPT.md §3): the vision branch
// (images and video clips) and the audio branch, each preprocessor → trunk → head →
// postprocessor. Modules follow the checkpoint keys: `imagebind.modality_trunks.audio.blocks.0.attn.bias_k`
// is `ImageBindModel.modalityTrunks.audio.blocks[0].attn.biasK`.

/// The modalities NExT-GPT feeds ImageBind (video goes through `vision`), and text.
public enum ImageBindModality: String, Sendable, CaseIterable {
    case vision, audio, text
}

/// `modality_heads[m]`: LayerNorm (eps 1e-6) → token 0 (`SelectElement(0)`) → Linear without bias.
public final class ImageBindHead: Sendable {
    public let norm: LayerNorm
    public let proj: LinearLayer

    init(_ w: Weights, dim: Int, out: Int) throws {
        norm = try w.layerNorm("0", dim: dim, eps: 1e-6)
        proj = try w.linear("2", out: out, in: dim, bias: false)
    }

    /// tokens [N·L, D] → [N, out] (the norm is per token, so only the CLS rows are normed).
    func callAsFunction(_ tokens: Tensor, length: Int, _ context: ExecutionContext) -> Tensor {
        let d = tokens.shape[1], n = tokens.shape[0] / length
        let cls = Shape.cat(Shape.split(tokens, splitSize: length, dim: 0).map { Shape.split($0, sizes: [1, length - 1], dim: 0)[0] },
                            dim: 0)
        precondition(cls.shape == [n, d])
        return proj(norm(cls, context), context)
    }
}

public struct ImageBindPreprocessors: Sendable {
    public let vision: RGBDTPreprocessor
    public let audio: AudioPreprocessor
    public let text: TextPreprocessor
}

public struct ImageBindTrunks: Sendable {
    public let vision: SimpleTransformer
    public let audio: SimpleTransformer
    public let text: SimpleTransformer
}

public struct ImageBindHeads: Sendable {
    public let vision: ImageBindHead
    public let audio: ImageBindHead
    public let text: SelectEOSAndProject
}

/// ImageBind-huge (or any `ImageBindModel(...)` configuration) for NExT-GPT's inputs.
public final class ImageBindModel: Sendable {
    public let config: ImageBindConfig
    public let component: String
    public let modalityPreprocessors: ImageBindPreprocessors
    public let modalityTrunks: ImageBindTrunks
    public let modalityHeads: ImageBindHeads
    /// `modality_postprocessors.audio.1.log_logit_scale`: upstream's fixed log 20 (NExT-GPT skips it).
    public let audioLogLogitScale: Float
    /// `modality_postprocessors.text.1.log_logit_scale` (learned; the scale is capped at 100).
    public let textLogLogitScale: Float
    /// Tensors of the component this model does not run: those of the depth, thermal and IMU
    /// branches, which NExT-GPT never calls. Anything else left unread refuses the load.
    public let unusedTensors: [String]

    /// The branches NExT-GPT does not run; their tensors stay in the container, unread.
    public static let unusedModalities = ["depth", "thermal", "imu"]

    /// The ImageBind `component` (e.g. `imagebind`) of an opened container.
    public init(_ file: ModelFile, component: String, options: LoadOptions = LoadOptions()) throws {
        let config = try ImageBindConfig.load(file, component: component)
        var allowing = options
        allowing.unusedTensors = .allow
        let w = try Weights.component(file, component, options: allowing)
        self.config = config
        self.component = component
        let pre = w.pp("modality_preprocessors"), trunks = w.pp("modality_trunks"), heads = w.pp("modality_heads")
        modalityPreprocessors = ImageBindPreprocessors(vision: try RGBDTPreprocessor(pre.pp("vision"), config: config),
                                                       audio: try AudioPreprocessor(pre.pp("audio"), config: config),
                                                       text: try TextPreprocessor(pre.pp("text"), config: config))
        modalityTrunks = ImageBindTrunks(
            vision: try SimpleTransformer(trunks.pp("vision"), dim: config.visionEmbedDim, blocks: config.visionNumBlocks,
                                          heads: config.visionNumHeads, preTransformerLN: true, addBiasKV: false),
            audio: try SimpleTransformer(trunks.pp("audio"), dim: config.audioEmbedDim, blocks: config.audioNumBlocks,
                                         heads: config.audioNumHeads, preTransformerLN: false, addBiasKV: true),
            text: try SimpleTransformer(trunks.pp("text"), dim: config.textEmbedDim, blocks: config.textNumBlocks,
                                        heads: config.textNumHeads, preTransformerLN: false, addBiasKV: false))
        modalityHeads = ImageBindHeads(vision: try ImageBindHead(heads.pp("vision"), dim: config.visionEmbedDim, out: config.outEmbedDim),
                                       audio: try ImageBindHead(heads.pp("audio"), dim: config.audioEmbedDim, out: config.outEmbedDim),
                                       text: try SelectEOSAndProject(heads.pp("text"), dim: config.textEmbedDim, out: config.outEmbedDim))
        audioLogLogitScale = try w.pp("modality_postprocessors").pp("audio").pp(1).weight("log_logit_scale", shape: [])
            .dequantized().values.first ?? Float(log(20.0))
        textLogLogitScale = try w.pp("modality_postprocessors").pp("text").pp(1).weight("log_logit_scale", shape: [])
            .dequantized().values.first ?? Float(log(1 / 0.07))
        let report = try w.finish()
        let branches = ["modality_preprocessors", "modality_trunks", "modality_heads", "modality_postprocessors"]
        let unusedPrefixes = branches.flatMap { branch in Self.unusedModalities.map { "\(component).\(branch).\($0)." } }
        if options.unusedTensors == .error, let stray = report.unused.first(where: { name in !unusedPrefixes.contains { name.hasPrefix($0) } }) {
            throw FormatError(file.container.file.path, tensor: stray,
                              "is in component '\(component)' but neither the vision/audio/text branches read it nor is it depth/thermal/IMU")
        }
        unusedTensors = report.unused
    }

    public enum InputError: Error, CustomStringConvertible {
        case shape(ImageBindModality, [Int], expected: String)
        /// A text token id that is not an integer in 0 ..< vocabulary; position is [row, column].
        case tokenId(Float, position: [Int], vocabulary: Int)

        public var description: String {
            switch self {
            case .shape(let modality, let shape, let expected):
                return "ImageBind \(modality.rawValue) input has shape \(shape); expected \(expected)"
                    + (modality == .text ? "" : " (inputs of rank ≥ 5 are [B, S, …] clips, averaged over S)")
            case .tokenId(let value, let position, let vocabulary):
                return "ImageBind text input has token id \(value) at \(position); expected integers in 0..<\(vocabulary)"
            }
        }
    }

    /// `ImageBindModel.forward({modality: x})[modality]`: one embedding [B, out_embed_dim] per
    /// input. Rank ≥ 5 inputs are [B, S, …] clips (video [B, S, 3, T, H, W], audio
    /// [B, S, 1, mel, frames]) whose embeddings are averaged over S, not re-normalized. Text is
    /// [B, 77] token ids (`ImageBindTokenizer`), scaled by its learned logit scale as upstream does.
    /// - `audioLogitScale`: false (NExT-GPT) leaves audio embeddings unit length; true multiplies
    ///   them by exp(log_logit_scale) capped at 100, as upstream ImageBind does.
    public func callAsFunction(_ x: Tensor, modality: ImageBindModality, audioLogitScale: Bool = false,
                               context: ExecutionContext) throws -> Tensor {
        try embeddings(x, modality: modality, audioLogitScale: audioLogitScale, context: context).embedding
    }

    /// The embedding as `callAsFunction` gives it, and `normalized`: the same before any logit scale.
    public func embeddings(_ x: Tensor, modality: ImageBindModality, audioLogitScale: Bool = false,
                           context: ExecutionContext) throws -> (embedding: Tensor, normalized: Tensor) {
        try context.withActivationArena("imagebind") {
            try forward(x, modality: modality, audioLogitScale: audioLogitScale, context: context)
        }
    }

    func forward(_ x: Tensor, modality: ImageBindModality, audioLogitScale: Bool,
                 context: ExecutionContext) throws -> (embedding: Tensor, normalized: Tensor) {
        var clips = x
        var groups: (batch: Int, clips: Int)?
        if x.rank >= 5 && modality != .text {
            guard x.shape[0] > 0, x.shape[1] > 0 else { throw InputError.shape(modality, x.shape, expected: "non-empty [B, S, …]") }
            groups = (x.shape[0], x.shape[1])
            clips = x.reshaped([x.shape[0] * x.shape[1]] + Array(x.shape[2...]))
        }
        guard clips.count > 0 else { throw InputError.shape(modality, x.shape, expected: "a non-empty batch") }
        var embeddings: Tensor
        var logLogitScale: Float?
        do {
            switch modality {
            case .vision:
                let (tokens, length) = try modalityPreprocessors.vision(clips, context)
                embeddings = modalityHeads.vision(modalityTrunks.vision(tokens, length: length, context), length: length, context)
            case .audio:
                let (tokens, length) = try modalityPreprocessors.audio(clips, context)
                embeddings = modalityHeads.audio(modalityTrunks.audio(tokens, length: length, context), length: length, context)
                if audioLogitScale { logLogitScale = audioLogLogitScale }
            case .text:
                let text = modalityPreprocessors.text
                let (tokens, length, eos) = try text(clips)
                let hidden = modalityTrunks.text(tokens, length: length, attnMask: text.mask, context)
                embeddings = modalityHeads.text(hidden, length: length, eos: eos, context)
                logLogitScale = textLogLogitScale
            }
        } catch InputError.shape(_, _, let expected) {
            // Name the shape the caller gave, not the [B·S, …] batch it became.
            throw InputError.shape(modality, x.shape, expected: groups == nil ? expected : "[B, S] + " + expected)
        }
        let normalized = Self.normalized(embeddings)
        // `LearnableLogitScaling`: torch.clip(log_logit_scale.exp(), max=100) * x.
        var embedding = logLogitScale.map { Elementwise.scale(normalized, by: min(exp($0), 100)) } ?? normalized
        guard let groups else { return (embedding, normalized) }
        embedding = Self.meanOverClips(embedding, batch: groups.batch, clips: groups.clips)
        return (embedding, Self.meanOverClips(normalized, batch: groups.batch, clips: groups.clips))
    }

    /// `F.normalize(x, dim=-1)`: rows divided by max(‖row‖₂, 1e-12).
    static func normalized(_ x: Tensor) -> Tensor {
        let d = x.shape[x.rank - 1]
        var values = x.values
        for start in stride(from: 0, to: values.count, by: d) {
            var sum: Double = 0
            for i in start..<(start + d) { sum += Double(values[i]) * Double(values[i]) }
            let scale = Float(1 / max(sum.squareRoot(), 1e-12))
            for i in start..<(start + d) { values[i] *= scale }
        }
        return Tensor(shape: x.shape, values: values)
    }

    /// [B·S, D] → [B, D]: `reshape(B, S, -1).mean(dim=1)`.
    static func meanOverClips(_ x: Tensor, batch: Int, clips: Int) -> Tensor {
        let d = x.shape[1], values = x.values
        var out = [Float](repeating: 0, count: batch * d)
        for b in 0..<batch {
            for j in 0..<d {
                var sum: Float = 0
                for s in 0..<clips { sum += values[(b * clips + s) * d + j] }
                out[b * d + j] = sum / Float(clips)
            }
        }
        return Tensor(shape: [batch, d], values: out)
    }
}
