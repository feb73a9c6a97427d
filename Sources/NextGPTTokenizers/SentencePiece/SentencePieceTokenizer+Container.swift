import NextGPTFormats

extension SentencePieceTokenizer {
    /// The tokenizer a converted container holds for `component` (the converter's `<component>.tokenizer.*`
    /// keys), with the added tokens stored under `<addedTokensPrefix>.added_tokens` / `.added_token_ids`
    /// (NExT-GPT's `nextgpt.tokenizer.*`, absent when the delta was not converted). The raw `tokenizer.model`
    /// bytes are preferred: they carry every normalizer flag; without them the piece arrays and the two stored
    /// flags are used, as a LLaMA-style BPE model.
    public init(metadata: [String: GGUFValue], component: String = "vicuna",
                addedTokensPrefix: String = "nextgpt.tokenizer") throws {
        let key = { (suffix: String) in "\(component).tokenizer.\(suffix)" }
        if let kind = metadata[key("model")] {
            guard kind.stringValue == "sentencepiece" else {
                throw TokenizerError("\(key("model")) is \(kind), not \"sentencepiece\"")
            }
        }
        let model: SentencePieceModel, extras: SentencePieceModelExtras
        if let raw = metadata[key("sentencepiece_model")] {
            guard case .array(.uint8, let values) = raw else { throw TokenizerError("\(key("sentencepiece_model")) is not a uint8 array") }
            let bytes = values.compactMap { value -> UInt8? in if case .uint8(let b) = value { return b } else { return nil } }
            do { model = try SentencePieceModel(bytes: bytes, path: key("sentencepiece_model")) } catch {
                throw TokenizerError("\(error)")
            }
            extras = try SentencePieceModelExtras(modelBytes: bytes)
        } else {
            model = try Self.modelFromArrays(metadata, key: key)
            extras = SentencePieceModelExtras()
        }
        let added = try Self.addedTokens(metadata, prefix: addedTokensPrefix)
        try self.init(model: model, extras: extras, addedTokens: AddedToken.llamaSlowTokenizer(model: model, added: added))
    }

    private static func modelFromArrays(_ metadata: [String: GGUFValue], key: (String) -> String) throws -> SentencePieceModel {
        guard let tokens = metadata[key("tokens")] else {
            throw TokenizerError("no \(key("sentencepiece_model")) or \(key("tokens")) in the metadata")
        }
        let pieces = try strings(tokens, key("tokens"))
        let scores = try array(metadata[key("scores")], key("scores")) { value -> Float? in
            if case .float32(let f) = value { return f } else { return nil }
        }
        let types = try array(metadata[key("token_type")], key("token_type")) { $0.intValue.flatMap { SentencePieceModel.PieceType(rawValue: Int32($0)) } }
        guard scores.count == pieces.count, types.count == pieces.count else {
            throw TokenizerError("\(pieces.count) tokens but \(scores.count) scores and \(types.count) token types")
        }
        var model = try SentencePieceModel(bytes: [0x0A, 0x00], path: "metadata")  // one empty piece, replaced below
        model.pieces = pieces
        model.scores = scores
        model.types = types
        model.modelType = 2
        model.removeExtraWhitespaces = false
        for (suffix, assign) in [("bos_token_id", \SentencePieceModel.bosId), ("eos_token_id", \.eosId),
                                 ("unknown_token_id", \.unkId), ("padding_token_id", \.padId)] {
            if let value = metadata[key(suffix)] {
                guard let id = value.intValue else { throw TokenizerError("\(key(suffix)) is not an integer") }
                model[keyPath: assign] = Int32(truncatingIfNeeded: id)
            }
        }
        for (suffix, assign) in [("byte_fallback", \SentencePieceModel.byteFallback), ("add_dummy_prefix", \.addDummyPrefix)] {
            if let value = metadata[key(suffix)] {
                guard case .bool(let flag) = value else { throw TokenizerError("\(key(suffix)) is not a bool") }
                model[keyPath: assign] = flag
            }
        }
        return model
    }

    private static func addedTokens(_ metadata: [String: GGUFValue], prefix: String) throws -> [(text: String, id: Int32)] {
        let textsKey = "\(prefix).added_tokens", idsKey = "\(prefix).added_token_ids"
        guard let textsValue = metadata[textsKey] else {
            if metadata[idsKey] != nil { throw TokenizerError("\(idsKey) without \(textsKey)") }
            return []
        }
        let texts = try strings(textsValue, textsKey)
        let ids = try array(metadata[idsKey], idsKey) { $0.intValue.flatMap { Int32(exactly: $0) } }
        guard ids.count == texts.count else { throw TokenizerError("\(texts.count) added tokens but \(ids.count) ids") }
        return zip(texts, ids).map { ($0, $1) }
    }

    private static func strings(_ value: GGUFValue, _ key: String) throws -> [String] {
        try array(value, key) { $0.stringValue }
    }

    private static func array<T>(_ value: GGUFValue?, _ key: String, _ element: (GGUFValue) -> T?) throws -> [T] {
        guard let value else { throw TokenizerError("no \(key) in the metadata") }
        guard let items = value.arrayValue else { throw TokenizerError("\(key) is not an array") }
        return try items.map { item in
            guard let converted = element(item) else { throw TokenizerError("\(key) holds a \(item.type), not the expected type") }
            return converted
        }
    }
}
