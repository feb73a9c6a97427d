import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels

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
public final class LlamaCache: @unchecked Sendable {
    public let layers: [KVCache]
    public var count: Int { layers.first?.count ?? 0 }

    public init(config: LlamaConfig, capacity: Int = 256) {
        layers = (0..<config.numHiddenLayers).map { _ in
            KVCache(kvHeads: config.numKeyValueHeads, headDim: config.headDim, capacity: capacity)
        }
    }

    public func removeAll() { layers.forEach { $0.removeAll() } }
}

/// `LlamaRMSNorm`.
public struct LlamaRMSNorm: Sendable {
    public let weight: Tensor
    public let eps: Float

    init(_ file: ModelFile, _ prefix: String, size: Int, eps: Float) throws {
        let w = try file.weight("\(prefix).weight")
        guard w.shape == [size] else { throw FormatError(file.container.file.path, tensor: w.name, "has shape \(w.shape), expected [\(size)]") }
        weight = w.dequantized()
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

public final class LlamaAttention: @unchecked Sendable {
    public let qProj, kProj, vProj, oProj: LinearLayer
    let heads: Int, kvHeads: Int, headDim: Int

    init(_ file: ModelFile, _ prefix: String, config c: LlamaConfig) throws {
        let q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim
        qProj = try LinearLayer(file, "\(prefix).q_proj", out: q, in: c.hiddenSize, hasBias: c.attentionBias)
        kProj = try LinearLayer(file, "\(prefix).k_proj", out: kv, in: c.hiddenSize, hasBias: c.attentionBias)
        vProj = try LinearLayer(file, "\(prefix).v_proj", out: kv, in: c.hiddenSize, hasBias: c.attentionBias)
        oProj = try LinearLayer(file, "\(prefix).o_proj", out: c.hiddenSize, in: q, hasBias: c.attentionBias)
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

public final class LlamaMLP: @unchecked Sendable {
    public let gateProj, upProj, downProj: LinearLayer

    init(_ file: ModelFile, _ prefix: String, config c: LlamaConfig) throws {
        gateProj = try LinearLayer(file, "\(prefix).gate_proj", out: c.intermediateSize, in: c.hiddenSize, hasBias: c.mlpBias)
        upProj = try LinearLayer(file, "\(prefix).up_proj", out: c.intermediateSize, in: c.hiddenSize, hasBias: c.mlpBias)
        downProj = try LinearLayer(file, "\(prefix).down_proj", out: c.hiddenSize, in: c.intermediateSize, hasBias: c.mlpBias)
    }

    func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        downProj(Elementwise.mul(Activations.silu(gateProj(x, context), context: context), upProj(x, context)), context)
    }
}

public final class LlamaDecoderLayer: @unchecked Sendable {
    public let selfAttn: LlamaAttention
    public let mlp: LlamaMLP
    public let inputLayernorm, postAttentionLayernorm: LlamaRMSNorm

    init(_ file: ModelFile, _ prefix: String, config c: LlamaConfig) throws {
        selfAttn = try LlamaAttention(file, "\(prefix).self_attn", config: c)
        mlp = try LlamaMLP(file, "\(prefix).mlp", config: c)
        inputLayernorm = try LlamaRMSNorm(file, "\(prefix).input_layernorm", size: c.hiddenSize, eps: c.rmsNormEps)
        postAttentionLayernorm = try LlamaRMSNorm(file, "\(prefix).post_attention_layernorm", size: c.hiddenSize, eps: c.rmsNormEps)
    }

    func callAsFunction(_ x: Tensor, rotary: (cos: [Float], sin: [Float]), cache: KVCache, _ context: ExecutionContext) -> Tensor {
        let h = Elementwise.add(x, selfAttn(inputLayernorm(x, context), rotary: rotary, cache: cache, context))
        return Elementwise.add(h, mlp(postAttentionLayernorm(h, context), context))
    }
}

public final class LlamaModel: @unchecked Sendable {
    public let embedTokens: Weight
    public let layers: [LlamaDecoderLayer]
    public let norm: LlamaRMSNorm
    public let rotaryEmb: LlamaRotaryEmbedding
    let hiddenSize: Int

    init(_ file: ModelFile, _ prefix: String, config c: LlamaConfig) throws {
        embedTokens = try file.weight("\(prefix).embed_tokens.weight")
        guard embedTokens.shape.count == 2, embedTokens.shape[1] == c.hiddenSize else {
            throw FormatError(file.container.file.path, tensor: embedTokens.name, "has shape \(embedTokens.shape), expected [vocab, \(c.hiddenSize)]")
        }
        layers = try (0..<c.numHiddenLayers).map { try LlamaDecoderLayer(file, "\(prefix).layers.\($0)", config: c) }
        norm = try LlamaRMSNorm(file, "\(prefix).norm", size: c.hiddenSize, eps: c.rmsNormEps)
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
        var h = inputsEmbeds
        for (layer, layerCache) in zip(layers, cache.layers) { h = layer(h, rotary: rotary, cache: layerCache, context) }
        return norm(h, context)
    }
}

public final class LlamaForCausalLM: @unchecked Sendable {
    public let config: LlamaConfig
    public let model: LlamaModel
    public let lmHead: LinearLayer
    /// Rows of `embed_tokens` (NExT-GPT's delta grows them past `vocab_size`).
    public let vocabularySize: Int
    public let component: String

    /// The LLaMA component `component` of an opened container.
    public init(_ file: ModelFile, component: String) throws {
        config = try LlamaConfig.load(file, component: component)
        self.component = component
        model = try LlamaModel(file, "\(component).model", config: config)
        vocabularySize = model.embedTokens.shape[0]
        let head = "\(component).lm_head"
        if file.contains("\(head).weight") {
            lmHead = try LinearLayer(file, head, out: vocabularySize, in: config.hiddenSize)
        } else if config.tieWordEmbeddings {
            lmHead = LinearLayer(weight: model.embedTokens)
        } else {
            throw FormatError(file.container.file.path, tensor: "\(head).weight", "missing, and the config does not tie it to embed_tokens")
        }
    }

    public func makeCache(capacity: Int = 256) -> LlamaCache { LlamaCache(config: config, capacity: capacity) }

    /// Hidden states after the final norm [T, hidden] for the inputs, continuing `cache`.
    public func hiddenStates(_ inputs: [LlamaInput], cache: LlamaCache, context: ExecutionContext) -> Tensor {
        model(inputsEmbeds: model.embed(inputs), cache: cache, context: context)
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

    /// Repacks every Q8_0 / Q4_0 linear weight for the decode kernels (after LoRA is applied)
    /// and drops the mapped pages each copy replaces, so resident memory stays about one copy of
    /// the weights. Returns the bytes repacked.
    @discardableResult
    public func repackWeights(releasingPagesOf file: ModelFile? = nil, context: ExecutionContext) -> Int {
        var bytes = 0
        for (_, layer) in linearLayers where layer.repack(context: context) {
            bytes += layer.weight.bytes.count
            file?.releasePages(of: layer.weight)
        }
        return bytes
    }

    /// Every linear layer with its checkpoint name (without `.weight`), for LoRA.
    public var linearLayers: [(name: String, layer: LinearLayer)] {
        var all: [(String, LinearLayer)] = []
        for (i, layer) in model.layers.enumerated() {
            let p = "model.layers.\(i)"
            all += [("\(p).self_attn.q_proj", layer.selfAttn.qProj), ("\(p).self_attn.k_proj", layer.selfAttn.kProj),
                    ("\(p).self_attn.v_proj", layer.selfAttn.vProj), ("\(p).self_attn.o_proj", layer.selfAttn.oProj),
                    ("\(p).mlp.gate_proj", layer.mlp.gateProj), ("\(p).mlp.up_proj", layer.mlp.upProj),
                    ("\(p).mlp.down_proj", layer.mlp.downProj)]
        }
        all.append(("lm_head", lmHead))
        return all
    }
}

extension LlamaConfig {
    /// The config stored for `component` in an opened container.
    public static func load(_ model: ModelFile, component: String) throws -> LlamaConfig {
        let key = "\(component).config"
        guard case .string(let text)? = model.metadata[key] else {
            throw FormatError(model.container.file.path, "component '\(component)' has no \(key) (is it a LLaMA component?)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw FormatError(model.container.file.path, "\(key) is not a JSON object")
        }
        return try LlamaConfig(json: object, path: "\(model.container.file.path):\(key)")
    }
}
