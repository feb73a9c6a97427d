import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

// Hugging Face `modeling_llama.py` on the container's weights. Modules and attribute names follow
// the checkpoint keys: `vicuna.model.layers.3.self_attn.q_proj.weight` is
// `LlamaForCausalLM.model.layers[3].selfAttn.qProj.weight`.

/// What the model reads at a position run: token ids (through `embed_tokens`) or ready-made
/// embeddings [n, hidden] (NExT-GPT splices projected ImageBind features between tokens).
public enum LlamaInput: Sendable {
    case tokens([Int])
    case embeddings(Tensor)
}

/// Past keys and values of every layer; positions continue from `count`.
public final class LlamaCache {
    public let layers: [KVCache]
    public var count: Int { layers.first?.count ?? 0 }
    public var type: KVCacheType { layers.first?.type ?? Self.defaultType }

    /// The storage a cache gets unless told: f32. `.f16` (llama.cpp's default) reads half the bytes
    /// per decoded token and keeps the fixtures' greedy ids, but moves their logits by ≈ 3.6e-4
    /// rel L2 from transformers' f32 run, past the 1e-5 the parity bundles hold the runtime to.
    public static let defaultType = KVCacheType.f32

    public init(config: LlamaConfig, capacity: Int = 256, type: KVCacheType = LlamaCache.defaultType) {
        layers = (0..<config.numHiddenLayers).map { _ in
            KVCache(kvHeads: config.numKeyValueHeads, headDim: config.headDim, capacity: capacity, type: type)
        }
    }

    public func removeAll() { layers.forEach { $0.removeAll() } }
}

/// `LlamaRMSNorm`.
public struct LlamaRMSNorm: Sendable {
    public let weight: Tensor
    public let eps: Float

    init(_ w: Weights, size: Int, eps: Float) throws {
        weight = try w.tensor("weight", shape: [size])
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        Normalization.rmsNorm(x, weight: weight, eps: eps, context: context)
    }
}

/// `LlamaRotaryEmbedding`: inverse frequencies from `rope_theta` and the config's scaling.
public struct LlamaRotaryEmbedding: Sendable {
    public let inverseFrequencies: [Float]

    public init(config: LlamaConfig) {
        inverseFrequencies = config.inverseFrequencies()
    }

    /// cos/sin tables [positions.count, headDim/2].
    public func callAsFunction(positions: [Int]) -> (cos: [Float], sin: [Float]) {
        Rope.tables(positions: positions, inverseFrequencies: inverseFrequencies)
    }
}

public final class LlamaAttention: Sendable {
    public let qProj, kProj, vProj, oProj: LinearLayer
    let heads: Int, kvHeads: Int, headDim: Int

    init(_ w: Weights, config c: LlamaConfig) throws {
        let q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim
        qProj = try w.linear("q_proj", out: q, in: c.hiddenSize, bias: c.attentionBias)
        kProj = try w.linear("k_proj", out: kv, in: c.hiddenSize, bias: c.attentionBias)
        vProj = try w.linear("v_proj", out: kv, in: c.hiddenSize, bias: c.attentionBias)
        oProj = try w.linear("o_proj", out: c.hiddenSize, in: q, bias: c.attentionBias)
        heads = c.numAttentionHeads
        kvHeads = c.numKeyValueHeads
        headDim = c.headDim
    }

    /// x [T, hidden] at the positions whose rotary tables are given; appends to `cache`.
    func callAsFunction(_ x: Tensor, rotary: (cos: [Float], sin: [Float]), cache: KVCache, _ context: ExecutionContext) -> Tensor {
        let t = x.shape[0]
        let q = Rope.applyRotaryPosEmb(qProj(x, context).reshaped([t, heads, headDim]), cos: rotary.cos, sin: rotary.sin,
                                       context: context)
        let k = Rope.applyRotaryPosEmb(kProj(x, context).reshaped([t, kvHeads, headDim]), cos: rotary.cos, sin: rotary.sin,
                                       context: context)
        cache.append(keys: k, values: vProj(x, context).reshaped([t, kvHeads, headDim]))
        let o = Attention.scaledDotProductAttention(query: q, cache: cache, context: context)
        return oProj(o.reshaped([t, heads * headDim]), context)
    }
}

public final class LlamaMLP: Sendable {
    public let gateProj, upProj, downProj: LinearLayer

    init(_ w: Weights, config c: LlamaConfig) throws {
        gateProj = try w.linear("gate_proj", out: c.intermediateSize, in: c.hiddenSize, bias: c.mlpBias)
        upProj = try w.linear("up_proj", out: c.intermediateSize, in: c.hiddenSize, bias: c.mlpBias)
        downProj = try w.linear("down_proj", out: c.hiddenSize, in: c.intermediateSize, bias: c.mlpBias)
    }

    func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        downProj(Elementwise.mul(Activations.silu(gateProj(x, context), context: context), upProj(x, context)), context)
    }
}

public final class LlamaDecoderLayer: Sendable {
    public let selfAttn: LlamaAttention
    public let mlp: LlamaMLP
    public let inputLayernorm, postAttentionLayernorm: LlamaRMSNorm

    init(_ w: Weights, config c: LlamaConfig) throws {
        selfAttn = try LlamaAttention(w.pp("self_attn"), config: c)
        mlp = try LlamaMLP(w.pp("mlp"), config: c)
        inputLayernorm = try LlamaRMSNorm(w.pp("input_layernorm"), size: c.hiddenSize, eps: c.rmsNormEps)
        postAttentionLayernorm = try LlamaRMSNorm(w.pp("post_attention_layernorm"), size: c.hiddenSize, eps: c.rmsNormEps)
    }

    func callAsFunction(_ x: Tensor, rotary: (cos: [Float], sin: [Float]), cache: KVCache, _ context: ExecutionContext) -> Tensor {
        let h = Elementwise.add(x, selfAttn(inputLayernorm(x, context), rotary: rotary, cache: cache, context))
        return Elementwise.add(h, mlp(postAttentionLayernorm(h, context), context))
    }
}

public final class LlamaModel: Sendable {
    public let embedTokens: Weight
    public let layers: [LlamaDecoderLayer]
    public let norm: LlamaRMSNorm
    public let rotaryEmb: LlamaRotaryEmbedding
    let hiddenSize: Int

    init(_ w: Weights, config c: LlamaConfig) throws {
        // NExT-GPT's delta grows the rows past `vocab_size`, so only the width is implied.
        embedTokens = try w.weight("embed_tokens.weight", shape: [-1, c.hiddenSize])
        layers = try (0..<c.numHiddenLayers).map { try LlamaDecoderLayer(w.pp("layers").pp($0), config: c) }
        norm = try LlamaRMSNorm(w.pp("norm"), size: c.hiddenSize, eps: c.rmsNormEps)
        rotaryEmb = LlamaRotaryEmbedding(config: c)
        hiddenSize = c.hiddenSize
    }

    /// Input embeddings of a run of inputs [n, hidden].
    public func embed(_ inputs: [LlamaInput]) -> Tensor {
        let parts: [Tensor] = inputs.map { input in
            switch input {
            case .tokens(let ids): return Embeddings.embedding(ids, weight: embedTokens)
            case .embeddings(let e):
                precondition(e.rank == 2 && e.shape[1] == hiddenSize, "llama: spliced embeddings \(e.shape), expected [n, \(hiddenSize)]")
                return e
            }
        }
        return parts.count == 1 ? parts[0] : Shape.cat(parts, dim: 0)
    }

    /// Hidden states after the final norm [T, hidden] for input embeddings [T, hidden] that
    /// continue the cached positions.
    public func callAsFunction(inputsEmbeds: Tensor, cache: LlamaCache, context: ExecutionContext) -> Tensor {
        let start = cache.count
        let rotary = rotaryEmb(positions: Array(start..<(start + inputsEmbeds.shape[0])))
        return context.withActivationArena("llama") {
            var h = inputsEmbeds
            for (layer, layerCache) in zip(layers, cache.layers) { h = layer(h, rotary: rotary, cache: layerCache, context) }
            return norm(h, context)
        }
    }
}

public final class LlamaForCausalLM: Sendable {
    public let config: LlamaConfig
    public let model: LlamaModel
    public let lmHead: LinearLayer
    /// Rows of `embed_tokens` (NExT-GPT's delta grows them past `vocab_size`).
    public let vocabularySize: Int
    public let component: String
    /// What the load read and applied (LoRA pairs per source, tensors left unread).
    public let loadReport: LoadReport

    /// The LLaMA component `component` of an opened container, with the options' LoRA and repack.
    public convenience init(_ file: ModelFile, component: String, options: LoadOptions = LoadOptions()) throws {
        let w = try Weights.component(file, component, options: options)
        try self.init(w, config: try LlamaConfig.load(file, component: component))
    }

    init(_ w: Weights, config: LlamaConfig) throws {
        self.config = config
        component = w.prefix
        model = try LlamaModel(w.pp("model"), config: config)
        vocabularySize = model.embedTokens.shape[0]
        if w.contains("lm_head.weight") {
            lmHead = try w.linear("lm_head", out: vocabularySize, in: config.hiddenSize, bias: false)
        } else if config.tieWordEmbeddings {
            lmHead = try w.tiedLinear("lm_head", weight: model.embedTokens)
        } else {
            throw w.error("lm_head.weight", "missing, and the config does not tie it to embed_tokens")
        }
        loadReport = try w.finish()
    }

    public func makeCache(capacity: Int = 256, type: KVCacheType = LlamaCache.defaultType) -> LlamaCache {
        LlamaCache(config: config, capacity: capacity, type: type)
    }

    /// Hidden states after the final norm [T, hidden] for the inputs, continuing `cache`.
    public func hiddenStates(_ inputs: [LlamaInput], cache: LlamaCache, context: ExecutionContext) -> Tensor {
        context.forwardPass { model(inputsEmbeds: model.embed(inputs), cache: cache, context: context) }
    }

    /// Logits [T, vocab] of hidden states [T, hidden].
    public func logits(hidden: Tensor, context: ExecutionContext) -> Tensor { lmHead(hidden, context) }

    /// Logits of the last position only [vocab].
    public func lastLogits(hidden: Tensor, context: ExecutionContext) -> Tensor {
        lmHead(Self.lastRow(hidden).reshaped([1, hidden.shape[1]]), context).reshaped([vocabularySize])
    }

    /// The last position of hidden states [T, hidden] → [hidden].
    public static func lastRow(_ hidden: Tensor) -> Tensor {
        let t = hidden.shape[0]
        return (t == 1 ? hidden : Shape.split(hidden, sizes: [t - 1, 1], dim: 0)[1]).reshaped([hidden.shape[1]])
    }
}

extension LlamaConfig {
    /// The config stored for `component` in an opened container.
    public static func load(_ model: ModelFile, component: String) throws -> LlamaConfig {
        let stored = try model.storedConfig(of: component, kind: "a LLaMA component")
        return try LlamaConfig(json: stored.json, path: stored.origin)
    }
}
