import Foundation
import NextGPTCore

/// Hugging Face `LlamaConfig`, read from the `config.json` text the converter stored
/// (`<component>.config`). The runtime's model and the llama.cpp export both read it here. Absent keys take transformers' defaults, so a Vicuna v0 config
/// (transformers 4.28: no `num_key_value_heads`, no `rope_theta`) reads like the library reads it.
public struct LlamaConfig: Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var ropeScaling: RopeScaling
    public var vocabSize: Int
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    public var attentionBias: Bool
    public var mlpBias: Bool
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]

    /// `rope_scaling` / `rope_parameters` types that change the frequencies at every length.
    public enum RopeScaling: Sendable, Equatable {
        case none
        /// Positions divided by `factor` (transformers' "linear").
        case linear(factor: Float)
        /// Llama 3.1's band-wise rescaling ("llama3").
        case llama3(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalMaxPositions: Int)
    }

    public init(json: [String: Any], path: String) throws {
        func int(_ key: String) -> Int? { (json[key] as? NSNumber)?.intValue }
        func float(_ key: String) -> Float? { (json[key] as? NSNumber)?.floatValue }
        func bool(_ key: String) -> Bool? { (json[key] as? NSNumber)?.boolValue }
        let architectures = json["architectures"] as? [String] ?? []
        if let type = json["model_type"] as? String, type != "llama", !architectures.contains("LlamaForCausalLM") {
            throw FormatError(path, "model_type '\(type)' (architectures \(architectures)) is not a LLaMA model")
        }
        if let act = json["hidden_act"] as? String, act != "silu" {
            throw FormatError(path, "hidden_act '\(act)' is not supported (LLaMA uses silu)")
        }
        hiddenSize = int("hidden_size") ?? 4096
        intermediateSize = int("intermediate_size") ?? 11008
        numHiddenLayers = int("num_hidden_layers") ?? 32
        numAttentionHeads = int("num_attention_heads") ?? 32
        numKeyValueHeads = int("num_key_value_heads") ?? numAttentionHeads
        headDim = int("head_dim") ?? hiddenSize / max(numAttentionHeads, 1)
        rmsNormEps = float("rms_norm_eps") ?? 1e-6
        vocabSize = int("vocab_size") ?? 32000
        // Vicuna v0's config predates max_position_embeddings and says max_sequence_length.
        maxPositionEmbeddings = int("max_position_embeddings") ?? int("max_sequence_length") ?? 2048
        tieWordEmbeddings = bool("tie_word_embeddings") ?? false
        attentionBias = bool("attention_bias") ?? false
        mlpBias = bool("mlp_bias") ?? false
        bosTokenId = int("bos_token_id")
        if let list = json["eos_token_id"] as? [NSNumber] {
            eosTokenIds = list.map(\.intValue)
        } else {
            eosTokenIds = int("eos_token_id").map { [$0] } ?? []
        }
        // transformers ≥ 5 writes `rope_parameters` (theta inside); 4.x writes `rope_theta` and `rope_scaling`.
        let parameters = json["rope_parameters"] as? [String: Any]
        ropeTheta = (parameters?["rope_theta"] as? NSNumber)?.floatValue ?? float("rope_theta") ?? 10000
        ropeScaling = try LlamaConfig.scaling(parameters ?? (json["rope_scaling"] as? [String: Any]), path: path)

        guard hiddenSize > 0, intermediateSize > 0, numHiddenLayers > 0, numAttentionHeads > 0, numKeyValueHeads > 0,
              headDim > 0, headDim % 2 == 0, numAttentionHeads % numKeyValueHeads == 0 else {
            throw FormatError(path, "inconsistent LLaMA config: hidden \(hiddenSize), heads \(numAttentionHeads), kv heads \(numKeyValueHeads), head dim \(headDim), layers \(numHiddenLayers)")
        }
        // Sizes are allocated from (RoPE tables, caches) before any weight is seen: absurd ones
        // are refused here, far above any real model (LLaMA-3 405B: hidden 16384, 126 layers).
        for (name, value, limit) in [("hidden_size", hiddenSize, 1 << 20), ("intermediate_size", intermediateSize, 1 << 22),
                                     ("num_hidden_layers", numHiddenLayers, 1 << 14), ("num_attention_heads", numAttentionHeads, 1 << 14),
                                     ("head_dim", headDim, 1 << 16), ("vocab_size", vocabSize, 1 << 24),
                                     ("max_position_embeddings", maxPositionEmbeddings, 1 << 26)] where !(0...limit).contains(value) {
            throw FormatError(path, "\(name) \(value) is outside 0...\(limit)")
        }
    }

    static func scaling(_ object: [String: Any]?, path: String) throws -> RopeScaling {
        guard let object else { return .none }
        let type = (object["rope_type"] as? String) ?? (object["type"] as? String) ?? "default"
        func value(_ key: String) throws -> Float {
            guard let v = (object[key] as? NSNumber)?.floatValue else {
                throw FormatError(path, "rope scaling '\(type)' needs '\(key)'")
            }
            return v
        }
        func positions(_ v: Float) throws -> Int {
            guard v.isFinite, v >= 1, v <= Float(1 << 26) else {
                throw FormatError(path, "rope scaling original_max_position_embeddings \(v) is outside 1...\(1 << 26)")
            }
            return Int(v)
        }
        switch type {
        case "default": return .none
        case "linear": return .linear(factor: try value("factor"))
        case "llama3":
            return .llama3(factor: try value("factor"), lowFreqFactor: try value("low_freq_factor"),
                           highFreqFactor: try value("high_freq_factor"),
                           originalMaxPositions: try positions(value("original_max_position_embeddings")))
        default:
            throw FormatError(path, "rope scaling type '\(type)' is not supported (default, linear and llama3 are)")
        }
    }

    /// RoPE inverse frequencies [headDim / 2] (`inv_freq` of HF's rotary embedding), with the
    /// config's scaling applied unless `scaled` is false.
    public func inverseFrequencies(scaled: Bool = true) -> [Float] {
        let d = headDim
        let plain: [Float] = (0..<d / 2).map { i in 1 / Foundation.powf(ropeTheta, Float(2 * i) / Float(d)) }
        guard scaled else { return plain }
        switch ropeScaling {
        case .none: return plain
        case .linear(let factor): return plain.map { $0 / factor }
        case .llama3(let factor, let low, let high, let original):
            let lowWavelen = Float(original) / low, highWavelen = Float(original) / high
            return plain.map { f in
                let wavelen = 2 * Float.pi / f
                if wavelen < highWavelen { return f }
                if wavelen > lowWavelen { return f / factor }
                let smooth = (Float(original) / wavelen - low) / (high - low)
                return (1 - smooth) * f / factor + smooth * f
            }
        }
    }
}
