import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

/// transformers' `ClapTextConfig` fields the text model reads (defaults as transformers' when a
/// key is absent, i.e. `laion/clap-htsat-unfused`'s text tower).
public struct ClapTextConfig: Sendable, Equatable {
    /// The activations transformers' `ACT2FN` gives for the names CLAP configs use.
    public enum Activation: String, Sendable {
        case gelu, relu, silu, tanh
        /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation.
        case geluTanh = "gelu_pytorch_tanh"

        init(name: String, key: String, path: String) throws {
            switch name {
            case "gelu": self = .gelu
            case "relu": self = .relu
            case "silu", "swish": self = .silu
            case "tanh": self = .tanh
            case "gelu_new", "gelu_pytorch_tanh": self = .geluTanh
            default: throw FormatError(path, "\(key) '\(name)' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, silu, tanh)")
            }
        }
    }

    public var vocabSize = 50265
    public var hiddenSize = 768
    public var intermediateSize = 3072
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var maxPositionEmbeddings = 514
    public var typeVocabSize = 1
    public var layerNormEps: Float = 1e-12
    public var padTokenId = 1
    public var hiddenAct = Activation.gelu
    public var projectionDim = 512
    public var projectionHiddenAct = Activation.relu

    public var headDim: Int { hiddenSize / numAttentionHeads }

    public init() {}

    /// A config.json object (a whole `ClapConfig` is accepted through its `text_config`).
    public init(json: [String: Any], path: String) throws {
        let json = json["text_config"] as? [String: Any] ?? json
        func int(_ key: String, _ value: inout Int, allowZero: Bool = false) throws {
            guard let raw = json[key], !(raw is NSNull) else { return }
            guard let number = raw as? NSNumber, number.doubleValue == number.doubleValue.rounded(),
                  number.intValue > 0 || (allowZero && number.intValue == 0) else {
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
        try int("type_vocab_size", &typeVocabSize)
        try int("pad_token_id", &padTokenId, allowZero: true)
        try int("projection_dim", &projectionDim)
        if let eps = json["layer_norm_eps"] as? NSNumber { layerNormEps = eps.floatValue }
        if let act = json["hidden_act"] as? String { hiddenAct = try Activation(name: act, key: "hidden_act", path: path) }
        if let act = json["projection_hidden_act"] as? String {
            projectionHiddenAct = try Activation(name: act, key: "projection_hidden_act", path: path)
        }
        if let kind = json["position_embedding_type"] as? String, kind != "absolute" {
            throw FormatError(path, "position_embedding_type '\(kind)' is not supported (absolute)")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw FormatError(path, "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(numAttentionHeads)")
        }
        guard padTokenId < maxPositionEmbeddings - 1 else {
            throw FormatError(path, "pad_token_id \(padTokenId) leaves no positions below max_position_embeddings \(maxPositionEmbeddings)")
        }
    }

    /// The config stored for `component` (`<component>.config`) in an opened container.
    public static func load(_ model: ModelFile, component: String) throws -> ClapTextConfig {
        let stored = try model.storedConfig(of: component, kind: "a CLAP text encoder")
        return try ClapTextConfig(json: stored.json, path: stored.origin)
    }

    /// The longest sequence the position table holds: positions run from `pad_token_id + 1`.
    public var maxSequenceLength: Int { maxPositionEmbeddings - padTokenId - 1 }
}

extension ClapTextConfig.Activation {
    func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        switch self {
        case .gelu: return Activations.gelu(x, context: context)
        case .geluTanh: return Activations.gelu(x, approximate: .tanh, context: context)
        case .relu: return Activations.relu(x, context: context)
        case .silu: return Activations.silu(x, context: context)
        case .tanh: return Activations.tanh(x, context: context)
        }
    }
}
