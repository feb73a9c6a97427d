import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

// transformers' `modeling_clip.py` text side on the container's weights. Modules follow the
// checkpoint keys: `sd15.text_encoder.text_model.encoder.layers.0.self_attn.q_proj.weight` is
// `CLIPTextModel.textModel.encoder.layers[0].selfAttn.qProj.weight`.

/// `nn.LayerNorm` over the last dimension.
public struct CLIPLayerNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    init(_ w: Weights, size: Int, eps: Float) throws {
        weight = try w.tensor("weight", shape: [size])
        bias = try w.tensor("bias", shape: [size])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        Normalization.layerNorm(x, weight: weight, bias: bias, eps: eps, context: context)
    }
}

/// `CLIPTextEmbeddings`: token embedding plus learned absolute position embedding.
public struct CLIPTextEmbeddings: Sendable {
    public let tokenEmbedding: Weight
    public let positionEmbedding: Tensor

    init(_ w: Weights, config c: CLIPTextConfig) throws {
        tokenEmbedding = try w.weight("token_embedding.weight", shape: [-1, c.hiddenSize])
        positionEmbedding = try w.tensor("position_embedding.weight", shape: [c.maxPositionEmbeddings, c.hiddenSize])
    }

    public var vocabularySize: Int { tokenEmbedding.shape[0] }

    /// ids [T] (already checked against the vocabulary and position count) → [T, hidden].
    func callAsFunction(_ ids: [Int]) -> Tensor {
        let tokens = Embeddings.embedding(ids, weight: tokenEmbedding)
        let positions = Embeddings.embedding(Array(0..<ids.count), weight: positionEmbedding)
        return Elementwise.add(tokens, positions)
    }
}

/// `CLIPAttention` with the causal mask the text model always uses.
public final class CLIPAttention: Sendable {
    public let qProj, kProj, vProj, outProj: LinearLayer
    let heads: Int, headDim: Int

    init(_ w: Weights, config c: CLIPTextConfig) throws {
        let d = c.hiddenSize
        qProj = try w.linear("q_proj", out: d, in: d, bias: true)
        kProj = try w.linear("k_proj", out: d, in: d, bias: true)
        vProj = try w.linear("v_proj", out: d, in: d, bias: true)
        outProj = try w.linear("out_proj", out: d, in: d, bias: true)
        heads = c.numAttentionHeads
        headDim = c.headDim
    }

    /// x [T, hidden] → [T, hidden]; position i attends to positions ≤ i.
    func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        let t = x.shape[0]
        let q = qProj(x, context).reshaped([t, heads, headDim])
        let k = kProj(x, context).reshaped([t, heads, headDim])
        let v = vProj(x, context).reshaped([t, heads, headDim])
        let o = Attention.scaledDotProductAttention(query: q, key: k, value: v, isCausal: true, causalAlignment: .topLeft,
                                                    context: context)
        return outProj(o.reshaped([t, heads * headDim]), context)
    }
}

/// `CLIPMLP`: fc2(act(fc1(x))).
public final class CLIPMLP: Sendable {
    public let fc1, fc2: LinearLayer
    let activation: CLIPTextConfig.HiddenAct

    init(_ w: Weights, config c: CLIPTextConfig) throws {
        fc1 = try w.linear("fc1", out: c.intermediateSize, in: c.hiddenSize, bias: true)
        fc2 = try w.linear("fc2", out: c.hiddenSize, in: c.intermediateSize, bias: true)
        activation = c.hiddenAct
    }

    func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        let h = fc1(x, context)
        switch activation {
        case .quickGELU: return fc2(Activations.quickGELU(h, context: context), context)
        case .gelu: return fc2(Activations.gelu(h, context: context), context)
        case .geluTanh: return fc2(Activations.gelu(h, approximate: .tanh, context: context), context)
        }
    }
}

/// `CLIPEncoderLayer`: pre-norm attention and MLP, each added to the residual stream.
public final class CLIPEncoderLayer: Sendable {
    public let selfAttn: CLIPAttention
    public let layerNorm1, layerNorm2: CLIPLayerNorm
    public let mlp: CLIPMLP

    init(_ w: Weights, config c: CLIPTextConfig) throws {
        selfAttn = try CLIPAttention(w.pp("self_attn"), config: c)
        layerNorm1 = try CLIPLayerNorm(w.pp("layer_norm1"), size: c.hiddenSize, eps: c.layerNormEps)
        mlp = try CLIPMLP(w.pp("mlp"), config: c)
        layerNorm2 = try CLIPLayerNorm(w.pp("layer_norm2"), size: c.hiddenSize, eps: c.layerNormEps)
    }

    func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        let h = Elementwise.add(x, selfAttn(layerNorm1(x, context), context))
        return Elementwise.add(h, mlp(layerNorm2(h, context), context))
    }
}

public final class CLIPEncoder: Sendable {
    public let layers: [CLIPEncoderLayer]

    init(_ w: Weights, config c: CLIPTextConfig) throws {
        layers = try (0..<c.numHiddenLayers).map { try CLIPEncoderLayer(w.pp("layers").pp($0), config: c) }
    }
}

/// `CLIPTextTransformer`.
public final class CLIPTextTransformer: Sendable {
    public let embeddings: CLIPTextEmbeddings
    public let encoder: CLIPEncoder
    public let finalLayerNorm: CLIPLayerNorm

    init(_ w: Weights, config c: CLIPTextConfig) throws {
        embeddings = try CLIPTextEmbeddings(w.pp("embeddings"), config: c)
        encoder = try CLIPEncoder(w.pp("encoder"), config: c)
        finalLayerNorm = try CLIPLayerNorm(w.pp("final_layer_norm"), size: c.hiddenSize, eps: c.layerNormEps)
    }
}

/// What one run of the text model gives for a batch of sequences.
public struct CLIPTextOutput: Sendable {
    /// [B, T, hidden]: the final layer norm of the last layer's output, or with clip skip k of
    /// the output k layers before the last (diffusers' `encode_prompt(clip_skip=k)`).
    public var lastHiddenState: Tensor
    /// [B, hidden]: the normed last hidden state at each sequence's EOS (`pooler_output`),
    /// always taken after the last layer as transformers does.
    public var poolerOutput: Tensor?
}

/// transformers' `CLIPTextModel` (Stable Diffusion's and ZeroScope's text encoder).
public final class CLIPTextModel: Sendable {
    public let config: CLIPTextConfig
    public let textModel: CLIPTextTransformer
    public let component: String

    /// The CLIP text encoder `component` (e.g. `sd15.text_encoder`) of an opened container.
    public convenience init(_ file: ModelFile, component: String, options: LoadOptions = LoadOptions()) throws {
        try self.init(try Weights.component(file, component, options: options), config: try CLIPTextConfig.load(file, component: component))
    }

    init(_ w: Weights, config: CLIPTextConfig) throws {
        self.config = config
        component = w.prefix
        textModel = try CLIPTextTransformer(w.pp("text_model"), config: config)
        guard textModel.embeddings.vocabularySize >= 1 else {
            throw FormatError(w.file.container.file.path, tensor: textModel.embeddings.tokenEmbedding.name, "has no rows")
        }
        try w.finish()
    }

    public enum InputError: Error, CustomStringConvertible {
        case badLength(Int, max: Int)
        case idOutOfRange(Int, vocabulary: Int)
        case clipSkip(Int, layers: Int)
        case ragged([Int])

        public var description: String {
            switch self {
            case .badLength(let t, let max): return "CLIP text model: \(t) ids, the model takes 1…\(max)"
            case .idOutOfRange(let id, let v): return "CLIP text model: id \(id) is outside the vocabulary 0..<\(v)"
            case .clipSkip(let k, let layers): return "CLIP text model: clip_skip \(k) must be 0…\(layers)"
            case .ragged(let lengths): return "CLIP text model: the sequences of one batch must have one length, got \(lengths)"
            }
        }
    }

    /// Runs every sequence of `batch` (each [T], all of one length) through the model.
    /// - `clipSkip`: 0 for `last_hidden_state`; k > 0 for the output of layer (layers − k), final-normed.
    /// - `pooled`: also compute `pooler_output`.
    public func callAsFunction(_ batch: [[Int]], clipSkip: Int = 0, pooled: Bool = false,
                               context: ExecutionContext) throws -> CLIPTextOutput {
        let layers = textModel.encoder.layers
        guard clipSkip >= 0, clipSkip <= layers.count else { throw InputError.clipSkip(clipSkip, layers: layers.count) }
        let vocabulary = textModel.embeddings.vocabularySize
        let t = batch.first?.count ?? 0, d = config.hiddenSize
        guard !batch.isEmpty else { throw InputError.badLength(0, max: config.maxPositionEmbeddings) }
        guard batch.allSatisfy({ $0.count == t }) else { throw InputError.ragged(batch.map(\.count)) }
        var states: [Tensor] = [], pools: [Tensor] = []
        for ids in batch {
            guard !ids.isEmpty, ids.count <= config.maxPositionEmbeddings else {
                throw InputError.badLength(ids.count, max: config.maxPositionEmbeddings)
            }
            if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) { throw InputError.idOutOfRange(bad, vocabulary: vocabulary) }
            var h = textModel.embeddings(ids)
            var skipped: Tensor?
            for (i, layer) in layers.enumerated() {
                if clipSkip > 0 && i == layers.count - clipSkip { skipped = h }
                // Without the pooled output, layers past the clip-skip point are not needed.
                if skipped != nil && !pooled { break }
                h = layer(h, context)
            }
            let last = textModel.finalLayerNorm(h, context)
            states.append(skipped.map { textModel.finalLayerNorm($0, context) } ?? last)
            if pooled {
                let row = eosPosition(ids)
                pools.append(Tensor(shape: [1, d], values: Array(last.values[(row * d)..<((row + 1) * d)])))
            }
        }
        let hidden = Shape.cat(states, dim: 0).reshaped([batch.count, t, d])
        return CLIPTextOutput(lastHiddenState: hidden, poolerOutput: pooled ? Shape.cat(pools, dim: 0).reshaped([batch.count, d]) : nil)
    }

    /// transformers' pooling position: with the legacy `eos_token_id` 2 the first position of the
    /// highest id, otherwise the first position of `eos_token_id` (0 when there is none, as argmax of zeros).
    public func eosPosition(_ ids: [Int]) -> Int {
        if config.eosTokenId == 2 {
            guard let top = ids.max() else { return 0 }
            return ids.firstIndex(of: top) ?? 0
        }
        return ids.firstIndex(of: config.eosTokenId) ?? 0
    }
}
