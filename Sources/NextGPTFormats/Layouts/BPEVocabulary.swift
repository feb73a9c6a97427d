import Foundation
import NextGPTCore

/// A byte-level BPE tokenizer folder as CLIP and RoBERTa (CLAP) ship it: `vocab.json`
/// (token → id), `merges.txt` (one merge per line after an optional `#version` header),
/// and the tokenizer config files kept verbatim.
public struct BPEVocabulary: Sendable {
    /// Tokens indexed by id.
    public var tokens: [String]
    public var merges: [String]
    /// `tokenizer_config.json`, `special_tokens_map.json` as found (JSON text), keyed by file name.
    public var configFiles: [String: String]
    public var files: [String]

    public init(folder: String) throws {
        let vocabPath = "\(folder)/vocab.json"
        let vocab = try JSONFile.object(vocabPath)
        var byId = [String?](repeating: nil, count: vocab.count)
        for (token, value) in vocab {
            guard let id = (value as? NSNumber)?.intValue, id >= 0, id < vocab.count else {
                throw FormatError(vocabPath, "token '\(token)' has id \(value), ids must be 0..<\(vocab.count)")
            }
            guard byId[id] == nil else { throw FormatError(vocabPath, "id \(id) is used twice") }
            byId[id] = token
        }
        tokens = byId.map { $0! }
        let mergesPath = "\(folder)/merges.txt"
        let text: String
        do { text = try String(contentsOfFile: mergesPath, encoding: .utf8) } catch {
            throw FormatError(mergesPath, "cannot read: \(error.localizedDescription)")
        }
        merges = text.split(separator: "\n", omittingEmptySubsequences: true)
            .map { String($0) }
            .filter { !$0.hasPrefix("#version") }
        files = [vocabPath, mergesPath]
        configFiles = [:]
        for name in ["tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"] {
            let path = "\(folder)/\(name)"
            if JSONFile.exists(path) {
                configFiles[name] = try JSONFile.text(path)
                files.append(path)
            }
        }
    }
}
