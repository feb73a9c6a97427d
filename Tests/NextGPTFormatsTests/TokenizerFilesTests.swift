import XCTest
@testable import NextGPTFormats
import NextGPTCore
import NextGPTTestSupport

/// Tokenizer files as the fixtures hold them (trained by the sentencepiece library and the
/// transformers BPE tokenizers, see tools/fixtures/README.md).
final class TokenizerFilesTests: XCTestCase {
    let fx = TestSupport.fixtures

    func testSentencePieceModelFields() throws {
        let path = "\(fx)/vicuna/tokenizer.model"
        let file = try RandomAccessFile(path: path)
        let model = try SentencePieceModel(bytes: try file.read(at: 0, count: file.size), path: path)
        XCTAssertEqual(model.pieces.count, 1000)
        XCTAssertEqual(model.modelType, 2, "BPE")
        XCTAssertEqual(Array(model.pieces[0...3]), ["<unk>", "<s>", "</s>", "<0x00>"])
        XCTAssertEqual(model.pieces[258], "<0xFF>")
        XCTAssertEqual(model.types[0], .unknown)
        XCTAssertEqual(model.types[1], .control)
        XCTAssertEqual(model.types[3], .byte)
        XCTAssertEqual(model.types[259], .normal)
        XCTAssertTrue(model.pieces.contains("▁###"))
        XCTAssertEqual([model.unkId, model.bosId, model.eosId], [0, 1, 2])
        XCTAssertTrue(model.byteFallback)
        XCTAssertTrue(model.splitDigits)
        XCTAssertTrue(model.addDummyPrefix)
        XCTAssertTrue(model.scores[259] > model.scores[999], "BPE scores decrease with merge order")
    }

    func testSentencePieceRejectsGarbage() {
        XCTAssertThrowsError(try SentencePieceModel(bytes: [0x0a, 0xff, 0xff], path: "x.model")) { error in
            XCTAssertTrue("\(error)".contains("x.model"))
        }
        XCTAssertThrowsError(try SentencePieceModel(bytes: [], path: "empty.model"))
    }

    func testBPEVocabularyOfCLIPAndRoBERTa() throws {
        let clip = try BPEVocabulary(folder: "\(fx)/sd15/tokenizer")
        XCTAssertEqual(clip.tokens.count, 1000)
        XCTAssertEqual(clip.tokens[998], "<|startoftext|>")
        XCTAssertEqual(clip.tokens[999], "<|endoftext|>")
        XCTAssertEqual(clip.merges.count, 486)
        XCTAssertNotNil(clip.configFiles["tokenizer_config.json"])
        let roberta = try BPEVocabulary(folder: "\(fx)/audioldm/tokenizer")
        XCTAssertEqual(Array(roberta.tokens[0...3]), ["<s>", "<pad>", "</s>", "<unk>"])
        XCTAssertEqual(roberta.tokens[999], "<mask>")
        XCTAssertEqual(roberta.merges.count, 739)
    }
}
