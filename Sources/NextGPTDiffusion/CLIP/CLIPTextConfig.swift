import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTLayers

/// transformers' `CLIPTextConfig` fields the text model reads (defaults as transformers' when a key is absent).
public struct CLIPTextConfig: Sendable, Equatable {
    public enum HiddenAct: String, Sendable {
        case quickGELU = "quick_gelu"
        case gelu
        /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation.
        case geluTanh = "gelu_pytorch_tanh"
    }

    public var vocabSize = 49408
    public var hiddenSize = 512
    public var intermediateSize = 2048
    public var numHiddenLayers = 12
    public var numAttentionHeads = 8
    public var maxPositionEmbeddings = 77
    public var hiddenAct = HiddenAct.quickGELU
    public var layerNormEps: Float = 1e-5
    /// 2 in configs written before transformers PR #24773: the pooled output then takes the
    /// position of the highest id (CLIP's EOS is its last token) instead of the first EOS.
    public var eosTokenId = 2

    public var headDim: Int { hiddenSize / numAttentionHeads }

    public init() {}

    /// A config.json object (a whole `CLIPConfig` is accepted through its `text_config`).
    public init(json: [String: Any], path: String) throws {
        let json = json["text_config"] as? [String: Any] ?? json
        func int(_ key: String, _ value: inout Int) throws {
            guard let raw = json[key], !(raw is NSNull) else { return }
            guard let number = raw as? NSNumber, number.doubleValue == number.doubleValue.rounded(), number.intValue > 0 || key == "eos_token_id" else {
                throw FormatError(path, "\(key) must be a positive integer, got \(raw)")
            }
            value = number.intValue
        }
        try int("vocab_size", &vocabSize)
        try int("hidden_size", &hiddenSize)
        try int("intermediate_size", &intermediateSize)
        try int("num_hidden_layers", &numHiddenLayers)
        try int("num_attention_heads", &numAttentionHeads)
        try int("max_position_embeddings", &maxPositionEmbeddings)
        try int("eos_token_id", &eosTokenId)
        if let eps = json["layer_norm_eps"] as? NSNumber { layerNormEps = eps.floatValue }
        if let act = json["hidden_act"] as? String {
            switch act {
            case "quick_gelu": hiddenAct = .quickGELU
            case "gelu": hiddenAct = .gelu
            case "gelu_new", "gelu_pytorch_tanh": hiddenAct = .geluTanh
            default: throw FormatError(path, "hidden_act '\(act)' is not supported (quick_gelu, gelu, gelu_new, gelu_pytorch_tanh)")
            }
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw FormatError(path, "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(numAttentionHeads)")
        }
    }

    /// The config stored for `component` (`<component>.config`) in an opened container.
    public static func load(_ model: ModelFile, component: String) throws -> CLIPTextConfig {
        let stored = try model.storedConfig(of: component, kind: "a CLIP text encoder")
        return try CLIPTextConfig(json: stored.json, path: stored.origin)
    }
}
