import Foundation
import NextGPTFormats
import NextGPTLayers
import NextGPTLlama
import NextGPTTestSupport
import NextGPTTokenizers
import XCTest

/// The tokenizer against ids from the `sentencepiece` library and from transformers 4.29.2's slow
/// LlamaTokenizer (Tests/Fixtures/tokenizer/spm-cases.json, made by tools/fixtures/fx_spm_cases.py).
final class SentencePieceTokenizerTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: TestSupport.fixtures)

    struct Document: Decodable {
        struct Case: Decodable { var text: String; var ids: [String: [Int32]]; var decoded: [String: String] }
        struct ModelCase: Decodable { var model: String; var text: String; var ids: [Int32]; var decoded: String }
        struct DecodeCase: Decodable { var model: String; var ids: [Int32]; var decoded: String }
        var models: [String: String]
        var addedTokens: [String: Int32]
        var pythonWhitespace: [UInt32]
        var cases: [Case]
        var addedTokenCases: [ModelCase]
        var decodeCases: [DecodeCase]
        enum CodingKeys: String, CodingKey {
            case models, cases
            case addedTokens = "added_tokens", pythonWhitespace = "python_whitespace"
            case addedTokenCases = "added_token_cases", decodeCases = "decode_cases"
        }
    }

    static let document: Document = {
        let url = fixtures.appendingPathComponent("tokenizer/spm-cases.json")
        return try! JSONDecoder().decode(Document.self, from: Data(contentsOf: url))
    }()

    static func modelBytes(_ name: String) throws -> [UInt8] {
        let relative = try XCTUnwrap(document.models[name])
        return [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("tokenizer").appendingPathComponent(relative)))
    }

    static var addedTokenPairs: [(text: String, id: Int32)] {
        document.addedTokens.sorted { $0.value < $1.value }.map { ($0.key, $0.value) }
    }

    func tokenizer(_ name: String, withAddedTokens: Bool = false) throws -> SentencePieceTokenizer {
        let bytes = try Self.modelBytes(name)
        let added = withAddedTokens
            ? AddedToken.llamaSlowTokenizer(model: try SentencePieceModel(bytes: bytes, path: name), added: Self.addedTokenPairs) : []
        return try SentencePieceTokenizer(modelBytes: bytes, addedTokens: added, source: name)
    }

    func testEncodeAndDecodeMatchSentencePieceOnEveryModel() throws {
        let document = Self.document
        XCTAssertGreaterThanOrEqual(document.cases.count, 200)
        var checked = 0
        for name in document.models.keys.sorted() {
            let tokenizer = try tokenizer(name)
            for testCase in document.cases {
                let expected = try XCTUnwrap(testCase.ids[name])
                let ids = tokenizer.encodePieces(testCase.text)
                XCTAssertEqual(ids, expected, "\(name) encode \(testCase.text.debugDescription)")
                let wantText = testCase.decoded[name] ?? testCase.text
                XCTAssertEqual(tokenizer.decode(expected), wantText, "\(name) decode \(testCase.text.debugDescription)")
                if ids == expected { checked += 1 }
            }
        }
        XCTAssertEqual(checked, document.cases.count * document.models.count)
    }

    func testStreamingDecodeEqualsWholeDecode() throws {
        let document = Self.document
        for name in document.models.keys.sorted() {
            let tokenizer = try tokenizer(name)
            let sequences = document.cases.compactMap { $0.ids[name] } + document.decodeCases.filter { $0.model == name }.map(\.ids)
            for ids in sequences {
                var stream = tokenizer.makeStreamDecoder()
                var text = ""
                for id in ids { text += stream.push(id) }
                text += stream.finish()
                XCTAssertEqual(text, tokenizer.decode(ids), "\(name) \(ids)")
            }
        }
    }

    func testStreamHoldsBackACharacterSplitAcrossByteTokens() throws {
        let tokenizer = try tokenizer("vicuna")
        let ids = tokenizer.encodePieces("🦀!")  // ▁, four byte pieces, !
        var stream = tokenizer.makeStreamDecoder()
        let chunks = ids.map { stream.push($0) } + [stream.finish()]
        XCTAssertEqual(chunks.joined(), "🦀!")
        XCTAssertFalse(chunks.contains { $0.contains("\u{FFFD}") })
        XCTAssertEqual(chunks.filter { !$0.isEmpty }.count, 2)
    }

    func testDecodeOnlySequences() throws {
        for testCase in Self.document.decodeCases {
            XCTAssertEqual(try tokenizer(testCase.model).decode(testCase.ids), testCase.decoded, "\(testCase.ids)")
        }
    }

    func testAddedTokensMatchTheSlowLlamaTokenizer() throws {
        let tokenizer = try tokenizer("vicuna", withAddedTokens: true)
        XCTAssertEqual(tokenizer.vocabularySize, 1038)
        for testCase in Self.document.addedTokenCases {
            XCTAssertEqual(tokenizer.encode(testCase.text, addBOS: false), testCase.ids, testCase.text.debugDescription)
            XCTAssertEqual(tokenizer.encode(testCase.text, addBOS: true), [tokenizer.bosId] + testCase.ids)
            XCTAssertEqual(tokenizer.decode(testCase.ids), testCase.decoded, testCase.text.debugDescription)
        }
        XCTAssertEqual(tokenizer.encode("[IMG0] [IMG1] [IMG2] [IMG3]", addBOS: false), [1002, 1003, 1004, 1005])
        XCTAssertEqual(tokenizer.piece(1037), "[AUD7]")
        XCTAssertEqual(tokenizer.piece(323), "▁###")
        XCTAssertNil(tokenizer.piece(1038))
    }

    /// NExT-GPT calls `add_tokens({"<Img>"})` with a set literal; transformers 4.29.2 wraps it in a list and
    /// str()s it, so the added token is the text `{'<Img>'}` and a prompt's `<Img>` stays ordinary text. The
    /// tokenizer follows whatever texts the delta's added_tokens.json holds; these ids are what 4.29.2 gave
    /// for the vicuna fixture with tokens added that way.
    func testSetLiteralAddedTokensLeaveImgAsText() throws {
        let bytes = try Self.modelBytes("vicuna")
        let added: [(text: String, id: Int32)] = [("{'<Img>'}", 1000), ("{'</Img>'}", 1001)] + (0..<4).map { ("[IMG\($0)]", Int32(1002 + $0)) }
        let tokenizer = try SentencePieceTokenizer(
            modelBytes: bytes, addedTokens: AddedToken.llamaSlowTokenizer(model: try SentencePieceModel(bytes: bytes, path: "vicuna"), added: added))
        XCTAssertEqual(tokenizer.encode("### Human: <Img>", addBOS: false), [323, 401, 770, 674, 797, 758, 760, 788])
        XCTAssertEqual(tokenizer.encode("</Img> describe it", addBOS: false), [674, 793, 797, 758, 760, 788, 298, 276, 759, 407, 651, 363])
        XCTAssertEqual(tokenizer.encode("{'<Img>'}x", addBOS: false), [1000, 744, 778])
    }

    func testPythonWhitespaceIsWhatStrStripRemoves() {
        let expected = Set(Self.document.pythonWhitespace)
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            XCTAssertEqual(AddedTokenMatcher.isPythonWhitespace(scalar), expected.contains(value), "U+\(String(value, radix: 16))")
        }
    }

    // MARK: container metadata

    func vicunaContainerMetadata() throws -> [String: GGUFValue] {
        try ModelFile(path: Self.fixtures.appendingPathComponent("references/bundles/vicuna-q4_0.gguf").path).metadata
    }

    func testTokenizerFromContainerMetadata() throws {
        var metadata = try vicunaContainerMetadata()
        let plain = try SentencePieceTokenizer(metadata: metadata)
        let reference = try tokenizer("vicuna")
        for testCase in Self.document.cases {
            XCTAssertEqual(plain.encodePieces(testCase.text), testCase.ids["vicuna"], testCase.text.debugDescription)
        }
        XCTAssertEqual(plain.decode([0]), reference.decode([0]), "unk surface comes from the stored model bytes")

        let added = Self.addedTokenPairs
        metadata["nextgpt.tokenizer.added_tokens"] = .strings(added.map(\.text))
        metadata["nextgpt.tokenizer.added_token_ids"] = .int32s(added.map(\.id))
        let nextgpt = try SentencePieceTokenizer(metadata: metadata)
        for testCase in Self.document.addedTokenCases {
            XCTAssertEqual(nextgpt.encode(testCase.text, addBOS: false), testCase.ids, testCase.text.debugDescription)
        }

        // Without the raw model the piece arrays still encode identically (the converter stores both).
        metadata["vicuna.tokenizer.sentencepiece_model"] = nil
        let fromArrays = try SentencePieceTokenizer(metadata: metadata)
        for testCase in Self.document.cases {
            XCTAssertEqual(fromArrays.encodePieces(testCase.text), testCase.ids["vicuna"], testCase.text.debugDescription)
        }
    }

    func testMalformedMetadataThrowsAClearError() throws {
        let good = try vicunaContainerMetadata()
        func expectError(_ change: (inout [String: GGUFValue]) -> Void, mentioning words: String...) {
            var metadata = good
            change(&metadata)
            XCTAssertThrowsError(try SentencePieceTokenizer(metadata: metadata)) { error in
                for word in words { XCTAssertTrue("\(error)".contains(word), "\(error) should mention \(word)") }
            }
        }
        expectError({ $0["vicuna.tokenizer.model"] = .string("gpt2") }, mentioning: "gpt2")
        expectError({ $0["vicuna.tokenizer.sentencepiece_model"] = .bytes([0x0A, 0x40, 0x01]) }, mentioning: "truncated")
        expectError({ $0["vicuna.tokenizer.sentencepiece_model"] = .string("x") }, mentioning: "uint8 array")
        expectError({ $0["vicuna.tokenizer.sentencepiece_model"] = nil; $0["vicuna.tokenizer.tokens"] = nil }, mentioning: "vicuna.tokenizer.tokens")
        expectError({ $0["vicuna.tokenizer.sentencepiece_model"] = nil; $0["vicuna.tokenizer.scores"] = .float32s([0, 1]) }, mentioning: "scores")
        expectError({ $0["vicuna.tokenizer.sentencepiece_model"] = nil; $0["vicuna.tokenizer.token_type"] = .strings(["a"]) }, mentioning: "token_type")
        expectError({ $0["vicuna.tokenizer.sentencepiece_model"] = nil; $0["vicuna.tokenizer.unknown_token_id"] = .int32(5) }, mentioning: "unk id 5")
        expectError({ $0["nextgpt.tokenizer.added_tokens"] = .strings(["<Img>", "</Img>"]); $0["nextgpt.tokenizer.added_token_ids"] = .int32s([1000]) },
                    mentioning: "2 added tokens but 1 ids")
        expectError({ $0["nextgpt.tokenizer.added_tokens"] = .strings(["<Img>", "<Img>"]); $0["nextgpt.tokenizer.added_token_ids"] = .int32s([1000, 1001]) },
                    mentioning: "<Img>")
        expectError({ $0["nextgpt.tokenizer.added_token_ids"] = .int32s([1000]) }, mentioning: "added_tokens")
        expectError({ $0 = [:] }, mentioning: "vicuna.tokenizer")
    }

    func testUnsupportedModelsAreRefused() throws {
        let bytes = try Self.modelBytes("vicuna")
        // A second normalizer_spec / trainer_spec occurrence merges into the first, as protobuf does.
        let nfkc: [UInt8] = [0x1A, 0x0F, 0x0A, 0x08] + Array("nmt_nfkc".utf8) + [0x12, 0x03, 0x01, 0x02, 0x03]
        XCTAssertThrowsError(try SentencePieceTokenizer(modelBytes: bytes + nfkc)) { XCTAssertTrue("\($0)".contains("nmt_nfkc")) }
        let wordModel: [UInt8] = [0x12, 0x02, 0x18, 0x03]
        XCTAssertThrowsError(try SentencePieceTokenizer(modelBytes: bytes + wordModel)) { XCTAssertTrue("\($0)".contains("type 3")) }
        XCTAssertThrowsError(try SentencePieceTokenizer(modelBytes: Array(bytes.prefix(100)))) { XCTAssertTrue("\($0)".contains("truncated")) }
    }

    func testLongInputsEncodeInLinearishTime() throws {
        let bpe = try tokenizer("bpe-4k")
        let unigram = try tokenizer("unigram-1k")
        let corpus = try String(contentsOfFile: "\(TestSupport.root)/tools/fixtures/corpus.txt", encoding: .utf8)
        let text = String(repeating: corpus, count: 8)  // ≈ 66k characters
        // Debug builds on a shared 2-core machine: the bound only catches quadratic behaviour (minutes).
        let started = Date()
        let ids = bpe.encodePieces(text)
        let bpeSeconds = Date().timeIntervalSince(started)
        let unigramIds = unigram.encodePieces(text)
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(bpe.decode(ids), text)
        XCTAssertGreaterThan(unigramIds.count, 0)
        XCTAssertLessThan(seconds, 30, "\(text.count) characters took \(seconds) s")
        print(String(format: "encoded %d characters: BPE %.2f s, unigram %.2f s", text.unicodeScalars.count, bpeSeconds, seconds - bpeSeconds))
    }
}
