import Foundation
import NextGPTFormats

extension CLIPTokenizer {
    /// The tokenizer a converted container holds under `prefix` (e.g. `sd15.tokenizer`): `.vocab`
    /// (tokens by id), `.merges`, and the JSON texts `.tokenizer_config`, `.special_tokens_map`,
    /// `.added_tokens` as the converter stores a CLIP `tokenizer/` folder. Special tokens are read
    /// as `from_pretrained` reads them: special_tokens_map.json over tokenizer_config.json over
    /// CLIP's defaults (`<|startoftext|>`, `<|endoftext|>` for eos, unk and pad).
    public init(metadata: [String: GGUFValue], prefix: String) throws {
        let key = { (suffix: String) in "\(prefix).\(suffix)" }
        guard let vocabValue = metadata[key("vocab")] else {
            throw TokenizerError("no \(key("vocab")) in the metadata (is '\(prefix)' a CLIP tokenizer of this container?)")
        }
        guard let tokens = vocabValue.stringArray, tokens.count == vocabValue.arrayValue?.count else {
            throw TokenizerError("\(key("vocab")) is not an array of strings")
        }
        guard let mergesValue = metadata[key("merges")] else { throw TokenizerError("no \(key("merges")) in the metadata") }
        guard let merges = mergesValue.stringArray, merges.count == mergesValue.arrayValue?.count else {
            throw TokenizerError("\(key("merges")) is not an array of strings")
        }
        let config = try Self.jsonObject(metadata, key("tokenizer_config"))
        let specialMap = try Self.jsonObject(metadata, key("special_tokens_map"))
        func special(_ name: String, default fallback: String) throws -> String {
            for (source, object) in [(key("special_tokens_map"), specialMap), (key("tokenizer_config"), config)] {
                guard let value = object[name], !(value is NSNull) else { continue }
                if let text = value as? String { return text }
                if let text = (value as? [String: Any])?["content"] as? String { return text }
                throw TokenizerError("\(source): \(name) is neither a string nor an object with a 'content' string")
            }
            return fallback
        }
        var maxLength = 77
        if let value = config["model_max_length"] {
            guard let number = value as? NSNumber, number.doubleValue == number.doubleValue.rounded(), number.doubleValue >= 2 else {
                throw TokenizerError("\(key("tokenizer_config")): model_max_length \(value) is not a usable integer")
            }
            // transformers writes a huge integer when the length is unknown; CLIP's context is 77.
            maxLength = number.doubleValue > 1e9 ? 77 : number.intValue
        }
        var added: [String: Int] = [:]
        for (token, value) in try Self.jsonObject(metadata, key("added_tokens")) {
            guard let id = (value as? NSNumber)?.intValue else { throw TokenizerError("\(key("added_tokens")): '\(token)' has no integer id") }
            added[token] = id
        }
        if let decoder = config["added_tokens_decoder"] as? [String: Any] {
            for (idText, entry) in decoder {
                guard let id = Int(idText), let content = (entry as? [String: Any])?["content"] as? String else {
                    throw TokenizerError("\(key("tokenizer_config")): added_tokens_decoder entry '\(idText)' is not {id: {content}}")
                }
                added[content] = id
            }
        }
        for (token, id) in added where id < tokens.count && tokens[id] != token {
            throw TokenizerError("added token '\(token)' has id \(id), which the vocabulary gives to '\(tokens[id])'")
        }
        try self.init(tokens: tokens, merges: merges,
                      bosToken: try special("bos_token", default: "<|startoftext|>"),
                      eosToken: try special("eos_token", default: "<|endoftext|>"),
                      unkToken: try special("unk_token", default: "<|endoftext|>"),
                      padToken: try special("pad_token", default: "<|endoftext|>"),
                      modelMaxLength: maxLength, addedTokens: added)
    }

    /// The tokenizer prefix of a text-encoder component: `sd15.text_encoder` → `sd15.tokenizer`,
    /// `zeroscope.text_encoder_2` → `zeroscope.tokenizer_2`.
    public static func tokenizerPrefix(forTextEncoder component: String) -> String {
        guard let range = component.range(of: "text_encoder", options: .backwards) else { return "\(component).tokenizer" }
        return component.replacingCharacters(in: range, with: "tokenizer")
    }

    private static func jsonObject(_ metadata: [String: GGUFValue], _ key: String) throws -> [String: Any] {
        guard let value = metadata[key] else { return [:] }
        guard let text = value.stringValue else { throw TokenizerError("\(key) is not a string") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw TokenizerError("\(key) is not a JSON object")
        }
        return object
    }
}
