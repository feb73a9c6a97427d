import NextGPTCore
import NextGPTKernels

// `torch.nn.Transformer` with `batch_first=True` at eval, ReLU feed-forward, no masks. Sequences
// travel as rows [N·L, d]. `normFirst` selects the pre-norm layer order of `norm_first=True`.

/// `linear2(relu(linear1(x)))`: the feed-forward of both layer kinds.
public struct TransformerFeedForward: Sendable {
    public let linear1, linear2: LinearLayer

    init(_ w: Weights, dim: Int) throws {
        linear1 = try w.linear("linear1", out: -1, in: dim, bias: true)
        linear2 = try w.linear("linear2", out: dim, in: linear1.outFeatures, bias: true)
    }

    func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        linear2(Activations.relu(linear1(x, context), context: context), context)
    }
}

/// `nn.TransformerEncoderLayer`: pre-norm `x += SA(norm1(x)); x += FF(norm2(x))`, or post-norm.
public struct TransformerEncoderLayer: Sendable {
    public let selfAttn: MultiheadAttention
    public let feedForward: TransformerFeedForward
    public let norm1, norm2: LayerNorm
    public let normFirst: Bool

    public init(_ w: Weights, dim: Int, heads: Int, eps: Float = 1e-5, normFirst: Bool) throws {
        selfAttn = try MultiheadAttention(w.pp("self_attn"), dim: dim, heads: heads)
        feedForward = try TransformerFeedForward(w, dim: dim)
        norm1 = try w.layerNorm("norm1", dim: dim, eps: eps)
        norm2 = try w.layerNorm("norm2", dim: dim, eps: eps)
        self.normFirst = normFirst
    }

    public func callAsFunction(_ x: Tensor, length: Int, _ context: ExecutionContext) -> Tensor {
        if normFirst {
            let h = Elementwise.add(x, selfAttn(norm1(x, context), length: length, context))
            return Elementwise.add(h, feedForward(norm2(h, context), context))
        }
        let h = norm1(Elementwise.add(x, selfAttn(x, length: length, context)), context)
        return norm2(Elementwise.add(h, feedForward(h, context)), context)
    }
}

/// `nn.TransformerDecoderLayer`: self-attention over the target, attention over the memory, feed-forward.
public struct TransformerDecoderLayer: Sendable {
    public let selfAttn: MultiheadAttention
    public let multiheadAttn: MultiheadAttention
    public let feedForward: TransformerFeedForward
    public let norm1, norm2, norm3: LayerNorm
    public let normFirst: Bool

    public init(_ w: Weights, dim: Int, heads: Int, eps: Float = 1e-5, normFirst: Bool) throws {
        selfAttn = try MultiheadAttention(w.pp("self_attn"), dim: dim, heads: heads)
        multiheadAttn = try MultiheadAttention(w.pp("multihead_attn"), dim: dim, heads: heads)
        feedForward = try TransformerFeedForward(w, dim: dim)
        norm1 = try w.layerNorm("norm1", dim: dim, eps: eps)
        norm2 = try w.layerNorm("norm2", dim: dim, eps: eps)
        norm3 = try w.layerNorm("norm3", dim: dim, eps: eps)
        self.normFirst = normFirst
    }

    public func callAsFunction(_ y: Tensor, length: Int, memory: Tensor, memoryLength: Int, _ context: ExecutionContext) -> Tensor {
        let cross = { (x: Tensor) in self.multiheadAttn(query: x, queryLength: length, memory: memory, memoryLength: memoryLength, context) }
        if normFirst {
            var h = Elementwise.add(y, selfAttn(norm1(y, context), length: length, context))
            h = Elementwise.add(h, cross(norm2(h, context)))
            return Elementwise.add(h, feedForward(norm3(h, context), context))
        }
        var h = norm1(Elementwise.add(y, selfAttn(y, length: length, context)), context)
        h = norm2(Elementwise.add(h, cross(h)), context)
        return norm3(Elementwise.add(h, feedForward(h, context)), context)
    }
}

/// `nn.Transformer`: the encoder layers and `encoder.norm` over `src`, then the decoder layers and
/// `decoder.norm` over `tgt` attending to that memory. Layer counts come from the stored keys.
public struct Transformer: Sendable {
    public let encoderLayers: [TransformerEncoderLayer]
    public let encoderNorm: LayerNorm
    public let decoderLayers: [TransformerDecoderLayer]
    public let decoderNorm: LayerNorm

    public init(_ w: Weights, dim: Int, heads: Int, eps: Float = 1e-5, normFirst: Bool) throws {
        let encoder = w.pp("encoder"), decoder = w.pp("decoder")
        let encoderCount = Self.layerCount(encoder.pp("layers")), decoderCount = Self.layerCount(decoder.pp("layers"))
        guard encoderCount > 0 else { throw encoder.error("layers.0.norm1.weight", "an nn.Transformer needs at least one encoder layer") }
        guard decoderCount > 0 else { throw decoder.error("layers.0.norm1.weight", "an nn.Transformer needs at least one decoder layer") }
        encoderLayers = try (0..<encoderCount).map {
            try TransformerEncoderLayer(encoder.pp("layers").pp($0), dim: dim, heads: heads, eps: eps, normFirst: normFirst)
        }
        encoderNorm = try encoder.layerNorm("norm", dim: dim, eps: eps)
        decoderLayers = try (0..<decoderCount).map {
            try TransformerDecoderLayer(decoder.pp("layers").pp($0), dim: dim, heads: heads, eps: eps, normFirst: normFirst)
        }
        decoderNorm = try decoder.layerNorm("norm", dim: dim, eps: eps)
    }

    static func layerCount(_ layers: Weights) -> Int {
        var count = 0
        while layers.pp(count).contains("norm1.weight") { count += 1 }
        return count
    }

    /// `src` [N·Ls, d], `tgt` [N·Lt, d] → [N·Lt, d].
    public func callAsFunction(src: Tensor, srcLength: Int, tgt: Tensor, tgtLength: Int, _ context: ExecutionContext) -> Tensor {
        var memory = src
        for layer in encoderLayers { memory = layer(memory, length: srcLength, context) }
        memory = encoderNorm(memory, context)
        var y = tgt
        for layer in decoderLayers { y = layer(y, length: tgtLength, memory: memory, memoryLength: srcLength, context) }
        return decoderNorm(y, context)
    }
}
