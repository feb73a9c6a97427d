import Foundation
import NextGPTConvert
import NextGPTFormats
import NextGPTImageBind
import NextGPTKernels
import NextGPTSessions
import NextGPTTestSupport
import NextGPTTokenizers
import XCTest

/// `nextgpt embed`'s session: images then texts, in order, each as the model gives it.
final class ImageBindSessionTests: XCTestCase {
    func testImagesThenTextsAndTheirSimilarities() throws {
        let path = try ImageBindTests.container("f32").container.file.path
        let merges = "\(TestSupport.fixtures)/clip-bpe-4k/merges.txt"
        let session = try ImageBindSession(path: path, mergesFile: merges, context: .default)
        let photo = "\(TestSupport.fixtures)/images/photo420.jpg"
        let texts = ["a photo of a cat", "A DOG &amp; a bird!"]
        let embeddings = try session.embed(images: [photo], texts: texts)
        let d = session.model.config.outEmbedDim
        XCTAssertEqual(embeddings.shape, [3, d])

        // The image row is PyTorch's load_and_transform_vision_data + ImageBind on the same file
        // (our JPEG decoder is a few levels from Pillow's, hence the wider bound).
        let reference = try SafetensorsFile.read(path: "\(TestSupport.bundles)/imagebind/photo420-embedding.safetensors")
        let expect = try XCTUnwrap(reference["embedding"]).readFloats()
        XCTAssertLessThanOrEqual(relativeL2(Array(embeddings.values[0..<d]), expect), 1e-2)

        // The text rows are the model on the tokenizer's ids, in the order given.
        let tokenizer = try ImageBindTokenizer(mergesFile: merges)
        let ids = Tensor(shape: [2, 77], values: texts.flatMap { tokenizer($0).map(Float.init) })
        let direct = try session.model(ids, modality: .text, context: .default)
        XCTAssertEqual(Array(embeddings.values[d...]), direct.values)

        let similarity = ImageBindSession.cosineSimilarities(embeddings)
        for i in 0..<3 {
            XCTAssertEqual(similarity[i][i], 1, accuracy: 1e-6)
            for j in 0..<3 { XCTAssertEqual(similarity[i][j], similarity[j][i], accuracy: 1e-12) }
        }
    }

    /// `convert --imagebind-bpe` stores the merges; texts then need no side file, and embed as with it.
    func testMergesStoredAtConversionServeTexts() throws {
        let folder = try scratchDirectory("imagebind-merges")
        let path = "\(folder)/imagebind-merges.gguf"
        var plan = ConversionPlan()
        plan.components.append(try ImageBindComponent.load(path: "\(TestSupport.fixtures)/imagebind/imagebind_huge.pth",
                                                           mergesFile: "\(TestSupport.fixtures)/clip-bpe-4k/merges.txt.gz"))
        var options = ConversionOptions(policy: QuantizationPolicy(type: .f32, rules: []))
        options.hashSources = false
        _ = try Converter.convert(plan, options: options, to: path)

        let texts = ["a photo of a cat", "A DOG &amp; a bird!"]
        let stored = try ImageBindSession(path: path, context: .default)
        let named = try ImageBindSession(path: path, mergesFile: "\(TestSupport.fixtures)/clip-bpe-4k/merges.txt", context: .default)
        XCTAssertEqual(try stored.embed(images: [], texts: texts).values, try named.embed(images: [], texts: texts).values)
        XCTAssertEqual(try XCTUnwrap(stored.tokenizer).tokens, try XCTUnwrap(named.tokenizer).tokens)

        XCTAssertThrowsError(try ImageBindComponent.load(path: "\(TestSupport.fixtures)/imagebind/imagebind_huge.pth",
                                                         mergesFile: "\(TestSupport.fixtures)/clip-bpe-4k/vocab.json")) {
            XCTAssertTrue("\($0)".contains("vocab.json") && "\($0)".contains("not a BPE merges text"), "\($0)")
        }
    }

    func testTextsWithoutMergesAreRefused() throws {
        let path = try ImageBindTests.container("f32").container.file.path
        let session = try ImageBindSession(path: path, context: .default)
        XCTAssertThrowsError(try session.embed(images: [], texts: ["a cat"])) {
            XCTAssertTrue("\($0)".contains("merges"), "\($0)")
        }
        XCTAssertThrowsError(try session.embed(images: [], texts: []))
    }
}
