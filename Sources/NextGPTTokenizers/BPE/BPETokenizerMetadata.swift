import Foundation
import NextGPTFormats

/// What a container holds for a byte-level BPE `tokenizer/` folder under `prefix` (CLIP's,
/// RoBERTa's), as the converter stores it: `.vocab` (tokens by id), `.merges`, and the JSON texts
/// `.tokenizer_config`, `.special_tokens_map`, `.added_tokens`.
struct BPETokenizerMetadata {
    let prefix: String
    let tokens: [String]
    let merges: [String]
    let config: [String: Any]
    let specialMap: [String: Any]

    /// `kind` completes the message when the vocabulary is missing ("a CLIP tokenizer").
    init(_ metadata: [String: GGUFValue], prefix: String, kind: String) throws {
        self.prefix = prefix
        let key = { (suffix: String) in "\(prefix).\(suffix)" }
        guard let vocabValue = metadata[key("vocab")] else {
            throw TokenizerError("no \(key("vocab")) in the metadata (is '\(prefix)' \(kind) of this container?)")
        }
        guard let tokens = vocabValue.stringArray, tokens.count == vocabValue.arrayValue?.count else {
            throw TokenizerError("\(key("vocab")) is not an array of strings")
        }
        guard let mergesValue = metadata[key("merges")] else { throw TokenizerError("no \(key("merges")) in the metadata") }
        guard let merges = mergesValue.stringArray, merges.count == mergesValue.arrayValue?.count else {
            throw TokenizerError("\(key("merges")) is not an array of strings")
        }
        self.tokens = tokens
        self.merges = merges
        config = try Self.jsonObject(metadata, key("tokenizer_config"))
        specialMap = try Self.jsonObject(metadata, key("special_tokens_map"))
        addedTokensFile = try Self.jsonObject(metadata, key("added_tokens"))
    }

    private let addedTokensFile: [String: Any]

    func key(_ suffix: String) -> String { "\(prefix).\(suffix)" }

    /// A special token as `from_pretrained` reads it: special_tokens_map.json over
    /// tokenizer_config.json over `fallback`; the whole entry, for its strip flags.
    func specialEntry(_ name: String) throws -> Any? {
        for (source, object) in [(key("special_tokens_map"), specialMap), (key("tokenizer_config"), config)] {
            guard let value = object[name], !(value is NSNull) else { continue }
            if value is String { return value }
            if (value as? [String: Any])?["content"] is String { return value }
            throw TokenizerError("\(source): \(name) is neither a string nor an object with a 'content' string")
        }
        return nil
    }

    func special(_ name: String, default fallback: String) throws -> String {
        switch try specialEntry(name) {
        case let text as String: return text
        case let object as [String: Any]: return object["content"] as! String
        default: return fallback
        }
    }

    /// `model_max_length`, or `fallback` when absent or the huge integer transformers writes
    /// when the length is unknown.
    func modelMaxLength(default fallback: Int) throws -> Int {
        guard let value = config["model_max_length"] else { return fallback }
        guard let number = value as? NSNumber, number.doubleValue == number.doubleValue.rounded(), number.doubleValue >= 2 else {
            throw TokenizerError("\(key("tokenizer_config")): model_max_length \(value) is not a usable integer")
        }
        return number.doubleValue > 1e9 ? fallback : number.intValue
    }

    /// added_tokens.json and tokenizer_config.json's `added_tokens_decoder`, checked against the vocabulary.
    func addedTokens() throws -> [String: Int] {
        var added: [String: Int] = [:]
        for (token, value) in addedTokensFile {
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
        return added
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
