import Foundation
import NextGPTCore
import NextGPTFormats

/// ImageBind's `SimpleTokenizer` (`models/multimodal_preprocessors.py`, OpenCLIP's): the
/// vocabulary is built from the BPE merges file alone — the 256 byte symbols in
/// `bytes_to_unicode()` order, the same with `</w>`, each merge joined, then `<|startoftext|>` and
/// `<|endoftext|>` — and a text becomes
/// `[<|startoftext|>] + encode(text)` cut to `context_length − 1`, then `<|endoftext|>`, then
/// zeros up to `context_length` (77).
/// `encode` cleans the text (`ImageBindTextCleaner`), lower-cases it, splits it with CLIP's
/// pattern and byte-pair encodes each match with the merges (`CLIPTokenizer`'s BPE).
public struct ImageBindTokenizer: Sendable {
    public static let contextLength = 77
    /// The merge lines after the `#version` header that `SimpleTokenizer` reads: `[1 : 49152 − 256 − 2 + 1]`.
    public static let maximumMerges = 49152 - 256 - 2

    let bpe: CLIPTokenizer
    public var startOfTextId: Int { bpe.bosTokenId }
    public var endOfTextId: Int { bpe.eosTokenId }
    /// Tokens by id.
    public var tokens: [String] { bpe.tokens }

    /// `text`: the merges file's content (`bpe_simple_vocab_16e6.txt`, decompressed, or a CLIP
    /// `merges.txt`), header line first.
    public init(mergesFileText text: String) throws {
        // Python's `split("\n")` keeps a trailing empty line; inside the slice it becomes an empty
        // vocabulary entry (small merge files) just as in `SimpleTokenizer`. Line 0 is a header,
        // skipped unread (bpe_simple_vocab_16e6.txt's reads `"bpe_simple_vocab_16e6.txt#version: 0.2`).
        try self.init(merges: try Self.merges(fromFileText: text))
    }

    /// The merges as `SimpleTokenizer` keeps them (the file's lines 2 … 48 895): what a container
    /// stores under `<component>.tokenizer.merges`.
    public init(merges: [String]) throws {
        guard merges.count <= Self.maximumMerges else {
            throw TokenizerError("\(merges.count) BPE merges, more than SimpleTokenizer's \(Self.maximumMerges)")
        }
        let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        let byteOrder = printable + (0..<256).filter { !printable.contains($0) }
        let symbols = byteOrder.map { CLIPByteSymbols.symbol[$0] }
        var vocabulary = symbols + symbols.map { $0 + "</w>" }
        vocabulary += merges.map { $0.split(whereSeparator: { $0.isWhitespace }).joined() }
        vocabulary += ["<|startoftext|>", "<|endoftext|>"]
        bpe = try CLIPTokenizer(tokens: vocabulary, merges: merges, bosToken: "<|startoftext|>", eosToken: "<|endoftext|>",
                                unkToken: "<|endoftext|>", padToken: "<|endoftext|>", modelMaxLength: Self.contextLength)
    }

    /// The merges `SimpleTokenizer` reads from a merges file's text (header line first).
    public static func merges(fromFileText text: String) throws -> [String] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 2, lines[1].split(whereSeparator: { $0.isWhitespace }).count == 2 else {
            throw TokenizerError("not a BPE merges text: line 2 is not two symbols (is it bpe_simple_vocab_16e6.txt?)")
        }
        return Array(lines[1...].prefix(maximumMerges))
    }

    /// Reads a merges file, plain or gzip-compressed as upstream ships it (`bpe_simple_vocab_16e6.txt.gz`).
    public init(mergesFile path: String) throws {
        try self.init(merges: try Self.merges(file: path))
    }

    /// The merges of a merges file, plain or gzip-compressed; errors name the file.
    public static func merges(file path: String) throws -> [String] {
        guard var data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError("cannot read the BPE merges file \(path)")
        }
        if Gzip.isCompressed(data) {
            do { data = try Gzip.decompress(data, path: path, limit: 64 << 20) } catch let error as FormatError {
                throw TokenizerError(error.description)
            }
        }
        guard let text = String(data: data, encoding: .utf8) else { throw TokenizerError("\(path) is not UTF-8 text") }
        do { return try merges(fromFileText: text) } catch let error as TokenizerError {
            throw TokenizerError("\(path): \(error.message)")
        }
    }

    /// `SimpleTokenizer.encode(text)`: the ids without start/end tokens.
    public func encode(_ text: String) -> [Int] {
        var out: [Int] = []
        for word in ImageBindTextCleaner.words(text) {
            for match in CLIPPreTokenizer.matches(word) {
                for piece in bpe.bytePairEncode(match) { out.append(bpe.ids[piece] ?? bpe.unkTokenId) }
            }
        }
        return out
    }

    /// `SimpleTokenizer(text, context_length)`: `context_length` ids.
    public func callAsFunction(_ text: String, contextLength: Int = ImageBindTokenizer.contextLength) -> [Int] {
        let length = max(contextLength, 1)
        let ids = Array(([startOfTextId] + encode(text)).prefix(length - 1)) + [endOfTextId]
        return ids + [Int](repeating: 0, count: length - ids.count)
    }
}
