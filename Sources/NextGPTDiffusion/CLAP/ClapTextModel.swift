import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

// transformers' `modeling_clap.py` text side (`ClapTextModelWithProjection`, a RoBERTa encoder
// with CLAP's projection) on the container's weights. Modules follow the checkpoint keys:
// `audioldm.text_encoder.text_model.encoder.layer.0.attention.self.query.weight` is
// `ClapTextModelWithProjection.textModel.encoder.layer[0].attention.selfAttention.query.weight`.

/// `ClapTextEmbeddings` (RoBERTa's): word + token type 0 + position embeddings, LayerNorm.
public struct ClapTextEmbeddings: Sendable {
    public let wordEmbeddings: Weight
    public let positionEmbeddings: Tensor
    public let tokenTypeEmbeddings: Tensor
    public let layerNorm: LayerNorm
    let paddingIdx: Int

    init(_ w: Weights, config c: ClapTextConfig) throws {
        wordEmbeddings = try w.weight("word_embeddings.weight", shape: [c.vocabSize, c.hiddenSize])
        positionEmbeddings = try w.tensor("position_embeddings.weight", shape: [c.maxPositionEmbeddings, c.hiddenSize])
        tokenTypeEmbeddings = try w.tensor("token_type_embeddings.weight", shape: [c.typeVocabSize, c.hiddenSize])
        layerNorm = try w.layerNorm("LayerNorm", dim: c.hiddenSize, eps: c.layerNormEps)
        paddingIdx = c.padTokenId
    }

    /// `create_position_ids_from_input_ids`: padding ids keep position `padding_idx`, the others
    /// count up from `padding_idx + 1` (cumulative sum of the non-padding mask).
    public static func positionIds(_ ids: [Int], paddingIdx: Int) -> [Int] {
        var count = 0
        return ids.map { id in
            guard id != paddingIdx else { return paddingIdx }
            count += 1
            return paddingIdx + count
        }
    }

    /// ids [T] (checked against the vocabulary and the position table) → [T, hidden]. The token
    /// types are the all-zero buffer transformers gathers when none are given.
    func callAsFunction(_ ids: [Int], _ context: ExecutionContext) -> Tensor {
        let hidden = positionEmbeddings.shape[1]
        var x = Embeddings.embedding(ids, weight: wordEmbeddings)
        let typeZero = Tensor(shape: [1, hidden], values: Array(tokenTypeEmbeddings.values[0..<hidden]))
        Elementwise.addInPlace(&x, Embeddings.embedding([Int](repeating: 0, count: ids.count), weight: typeZero))
        Elementwise.addInPlace(&x, Embeddings.embedding(Self.positionIds(ids, paddingIdx: paddingIdx), weight: positionEmbeddings))
        return layerNorm(x, context)
    }
}

/// `ClapTextSelfAttention`: query, key, value projections and scaled dot-product attention
/// over the keys the attention mask keeps.
public final class ClapTextSelfAttention: Sendable {
    public let query, key, value: LinearLayer
    let heads: Int, headDim: Int

    init(_ w: Weights, config c: ClapTextConfig) throws {
        let d = c.hiddenSize
        query = try w.linear("query", out: d, in: d, bias: true)
        key = try w.linear("key", out: d, in: d, bias: true)
        value = try w.linear("value", out: d, in: d, bias: true)
        heads = c.numAttentionHeads
        headDim = c.headDim
    }

    /// x [T, hidden], `padding` [T] (true: the key is masked out) → [T, hidden].
    func callAsFunction(_ x: Tensor, padding: [Bool]?, _ context: ExecutionContext) -> Tensor {
        let t = x.shape[0]
        let q = query(x, context).reshaped([t, heads, headDim])
        let k = key(x, context).reshaped([t, heads, headDim])
        let v = value(x, context).reshaped([t, heads, headDim])
        return Attention.scaledDotProductAttention(query: q, key: k, value: v, keyPadding: padding, context: context)
            .reshaped([t, heads * headDim])
    }
}

/// `ClapTextSelfOutput` / `ClapTextOutput`: dense, then LayerNorm of (dense output + residual).
public final class ClapTextResidualOutput: Sendable {
    public let dense: LinearLayer
    public let layerNorm: LayerNorm

    init(_ w: Weights, in inFeatures: Int, config c: ClapTextConfig) throws {
        dense = try w.linear("dense", out: c.hiddenSize, in: inFeatures, bias: true)
        layerNorm = try w.layerNorm("LayerNorm", dim: c.hiddenSize, eps: c.layerNormEps)
    }

    func callAsFunction(_ x: Tensor, residual: Tensor, _ context: ExecutionContext) -> Tensor {
        var h = dense(x, context)
        Elementwise.addInPlace(&h, residual)
        return layerNorm(h, context)
    }
}

/// `ClapTextAttention`: `self` (here `selfAttention`) then `output`.
public final class ClapTextAttention: Sendable {
    public let selfAttention: ClapTextSelfAttention
    public let output: ClapTextResidualOutput

    init(_ w: Weights, config c: ClapTextConfig) throws {
        selfAttention = try ClapTextSelfAttention(w.pp("self"), config: c)
        output = try ClapTextResidualOutput(w.pp("output"), in: c.hiddenSize, config: c)
    }

    func callAsFunction(_ x: Tensor, padding: [Bool]?, _ context: ExecutionContext) -> Tensor {
        output(selfAttention(x, padding: padding, context), residual: x, context)
    }
}

/// `ClapTextLayer`: post-LN attention and feed-forward (`intermediate.dense` → act → `output`).
public final class ClapTextLayer: Sendable {
    public let attention: ClapTextAttention
    public let intermediateDense: LinearLayer
    public let output: ClapTextResidualOutput
    let activation: ClapTextConfig.Activation

    init(_ w: Weights, config c: ClapTextConfig) throws {
        attention = try ClapTextAttention(w.pp("attention"), config: c)
        intermediateDense = try w.pp("intermediate").linear("dense", out: c.intermediateSize, in: c.hiddenSize, bias: true)
        output = try ClapTextResidualOutput(w.pp("output"), in: c.intermediateSize, config: c)
        activation = c.hiddenAct
    }

    func callAsFunction(_ x: Tensor, padding: [Bool]?, _ context: ExecutionContext) -> Tensor {
        let h = attention(x, padding: padding, context)
        return output(activation(intermediateDense(h, context), context), residual: h, context)
    }
}

/// `ClapTextEncoder`.
public final class ClapTextEncoder: Sendable {
    public let layer: [ClapTextLayer]

    init(_ w: Weights, config c: ClapTextConfig) throws {
        layer = try (0..<c.numHiddenLayers).map { try ClapTextLayer(w.pp("layer").pp($0), config: c) }
    }
}

/// `ClapTextPooler`: tanh(dense(first token)).
public final class ClapTextPooler: Sendable {
    public let dense: LinearLayer

    init(_ w: Weights, config c: ClapTextConfig) throws {
        dense = try w.linear("dense", out: c.hiddenSize, in: c.hiddenSize, bias: true)
    }

    /// hidden [T, D] → [1, D].
    func callAsFunction(_ hidden: Tensor, _ context: ExecutionContext) -> Tensor {
        let d = hidden.shape[1]
        let first = Tensor(shape: [1, d], values: Array(hidden.values[0..<d]))
        return Activations.tanh(dense(first, context), context: context)
    }
}

/// `ClapTextModel`: embeddings, encoder, pooler.
public final class ClapTextModel: Sendable {
    public let embeddings: ClapTextEmbeddings
    public let encoder: ClapTextEncoder
    public let pooler: ClapTextPooler

    init(_ w: Weights, config c: ClapTextConfig) throws {
        embeddings = try ClapTextEmbeddings(w.pp("embeddings"), config: c)
        encoder = try ClapTextEncoder(w.pp("encoder"), config: c)
        pooler = try ClapTextPooler(w.pp("pooler"), config: c)
    }
}

/// `ClapProjectionLayer`: linear2(act(linear1(x))).
public final class ClapProjectionLayer: Sendable {
    public let linear1, linear2: LinearLayer
    let activation: ClapTextConfig.Activation

    init(_ w: Weights, config c: ClapTextConfig) throws {
        linear1 = try w.linear("linear1", out: c.projectionDim, in: c.hiddenSize, bias: true)
        linear2 = try w.linear("linear2", out: c.projectionDim, in: c.projectionDim, bias: true)
        activation = c.projectionHiddenAct
    }

    func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        linear2(activation(linear1(x, context), context), context)
    }
}
