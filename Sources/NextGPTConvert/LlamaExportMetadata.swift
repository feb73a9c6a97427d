import Foundation
import NextGPTCore
import NextGPTFormats

/// The hyper-parameters llama.cpp's `llama` architecture reads, from the component's
/// `config.json` (stored verbatim in the container) as `LlamaConfig` reads it. Counts are UINT32
/// as llama.cpp expects.
struct LlamaHyperParameters {
    let config: LlamaConfig
    var hidden: Int { config.hiddenSize }
    var layers: Int { config.numHiddenLayers }
    var heads: Int { config.numAttentionHeads }
    var kvHeads: Int { config.numKeyValueHeads }
    var headDim: Int { config.headDim }
    var intermediate: Int { config.intermediateSize }
    var contextLength: Int { config.maxPositionEmbeddings }
    var rmsEpsilon: Float { config.rmsNormEps }
    var ropeTheta: Float { config.ropeTheta }

    init(config json: [String: Any], file: String, component: String) throws {
        config = try LlamaConfig(json: json, path: "\(file):\(component).config")
    }

    func metadata(vocabularySize: Int) -> [(String, GGUFValue)] {
        var entries: [(String, GGUFValue)] = [
            ("llama.vocab_size", .uint32(UInt32(vocabularySize))),
            ("llama.context_length", .uint32(UInt32(contextLength))),
            ("llama.embedding_length", .uint32(UInt32(hidden))),
            ("llama.block_count", .uint32(UInt32(layers))),
            ("llama.feed_forward_length", .uint32(UInt32(intermediate))),
            ("llama.rope.dimension_count", .uint32(UInt32(headDim))),
            ("llama.attention.head_count", .uint32(UInt32(heads))),
            ("llama.attention.head_count_kv", .uint32(UInt32(kvHeads))),
            ("llama.attention.layer_norm_rms_epsilon", .float32(rmsEpsilon)),
            ("llama.rope.freq_base", .float32(ropeTheta)),
        ]
        // llama.cpp assumes hidden / heads unless told otherwise.
        if headDim != hidden / heads {
            entries.append(("llama.attention.key_length", .uint32(UInt32(headDim))))
            entries.append(("llama.attention.value_length", .uint32(UInt32(headDim))))
        }
        if case .linear(let factor) = config.ropeScaling {
            entries.append(("llama.rope.scaling.type", .string("linear")))
            entries.append(("llama.rope.scaling.factor", .float32(factor)))
        }
        return entries
    }

    /// One factor per rotated pair (head_dim / 2), by which llama.cpp divides each RoPE frequency
    /// (Llama 3.1 scaling only; linear scaling has its own keys).
    func ropeFrequencyFactors() -> [Float]? {
        guard case .llama3 = config.ropeScaling else { return nil }
        return zip(config.inverseFrequencies(scaled: false), config.inverseFrequencies()).map { $0 / $1 }
    }
}

/// llama.cpp's SentencePiece vocabulary (`tokenizer.ggml.*`) with exactly one token per embedding
/// row: the SentencePiece pieces, then added tokens (NExT-GPT's `<Img>`, `[IMG0]`…) as
/// USER_DEFINED, then `[PAD<id>]` UNUSED fillers for rows nothing names, as llama.cpp's converter does.
public struct LlamaExportVocabulary: Sendable {
    public struct Summary: Sendable, Equatable {
        public var pieces = 0
        public var added = 0
        public var padding = 0
    }

    enum TokenType: Int32 { case normal = 1, unknown, control, userDefined, unused, byte }

    var tokens: [String]
    var scores: [Float]
    var types: [Int32]
    var summary = Summary()
    var specialIds: [(String, Int)] = []
    var addBos: Bool?
    var addEos: Bool?
    var addSpacePrefix: Bool?
    var chatTemplate: String?

    init(container: Container, component: String, rows: Int) throws {
        let path = container.file.path
        let metadata = container.file.metadata
        let key = { (name: String) in "\(component).tokenizer.\(name)" }
        guard let model = metadata[key("model")]?.stringValue else {
            throw FormatError(path, "component '\(component)' has no tokenizer (\(key("model")))")
        }
        guard model == "sentencepiece", let pieces = metadata[key("tokens")]?.stringArray,
              let scores = metadata[key("scores")]?.arrayValue, let types = metadata[key("token_type")]?.intArray,
              scores.count == pieces.count, types.count == pieces.count else {
            throw FormatError(path, "\(key("model")) is '\(model)': only a complete SentencePiece vocabulary (tokens, scores, token_type) is exported")
        }
        guard pieces.count <= rows else {
            throw FormatError(path, tensor: "\(component).model.embed_tokens.weight",
                              "has \(rows) rows, fewer than the tokenizer's \(pieces.count) pieces")
        }
        summary.pieces = pieces.count
        tokens = pieces + (pieces.count..<rows).map { "[PAD\($0)]" }
        self.scores = scores.map { if case .float32(let s) = $0 { return s } else { return 0 } }
            + [Float](repeating: -10000, count: rows - pieces.count)
        self.types = types.map(Int32.init) + [Int32](repeating: TokenType.unused.rawValue, count: rows - pieces.count)

        // NExT-GPT's added tokens apply to the language model they were trained with.
        if component == LlamaComponent.name, let added = metadata["nextgpt.tokenizer.added_tokens"]?.stringArray,
           let ids = metadata["nextgpt.tokenizer.added_token_ids"]?.intArray, ids.count == added.count {
            for (token, id) in zip(added, ids) {
                guard id >= 0, id < rows else {
                    throw FormatError(path, "added token '\(token)' has id \(id), outside the \(rows) embedding rows")
                }
                setAdded(token, id: id, type: .userDefined)
            }
        }
        let tokenizerConfig = metadata[key("tokenizer_config")]?.stringValue
            .flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:]
        if let decoder = tokenizerConfig["added_tokens_decoder"] as? [String: [String: Any]] {
            for (idText, entry) in decoder {
                guard let id = Int(idText), id >= 0, id < rows, let content = entry["content"] as? String else { continue }
                let special = entry["special"] as? Bool ?? false
                if id < pieces.count {
                    if special { self.types[id] = TokenType.control.rawValue }
                } else if self.types[id] == TokenType.unused.rawValue {
                    setAdded(content, id: id, type: special ? .control : .userDefined)
                }
            }
        }
        summary.padding = self.types[pieces.count...].filter { $0 == TokenType.unused.rawValue }.count
        summary.added = rows - pieces.count - summary.padding

        for (name, ggmlName) in [("bos_token_id", "bos"), ("eos_token_id", "eos"), ("unknown_token_id", "unknown"), ("padding_token_id", "padding")] {
            if let id = metadata[key(name)]?.intValue, id >= 0, id < rows { specialIds.append((ggmlName, id)) }
        }
        addBos = tokenizerConfig["add_bos_token"] as? Bool
        addEos = tokenizerConfig["add_eos_token"] as? Bool
        if case .bool(let b)? = metadata[key("add_dummy_prefix")] { addSpacePrefix = b }
        chatTemplate = tokenizerConfig["chat_template"] as? String
    }

    private mutating func setAdded(_ token: String, id: Int, type: TokenType) {
        tokens[id] = token
        scores[id] = -1000
        types[id] = type.rawValue
    }

    var metadata: [(String, GGUFValue)] {
        var entries: [(String, GGUFValue)] = [
            ("tokenizer.ggml.model", .string("llama")),
            ("tokenizer.ggml.pre", .string("default")),
            ("tokenizer.ggml.tokens", .strings(tokens)),
            ("tokenizer.ggml.scores", .float32s(scores)),
            ("tokenizer.ggml.token_type", .int32s(types)),
        ]
        entries += specialIds.map { ("tokenizer.ggml.\($0.0)_token_id", .uint32(UInt32($0.1))) }
        if let addBos { entries.append(("tokenizer.ggml.add_bos_token", .bool(addBos))) }
        if let addEos { entries.append(("tokenizer.ggml.add_eos_token", .bool(addEos))) }
        if let addSpacePrefix { entries.append(("tokenizer.ggml.add_space_prefix", .bool(addSpacePrefix))) }
        if let chatTemplate { entries.append(("tokenizer.chat_template", .string(chatTemplate))) }
        return entries
    }
}
