import Foundation
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTTestSupport
import NextGPTTokenizers
import NextGPTVerify
import XCTest

/// AudioLDM's CLAP text side and HiFi-GAN vocoder against transformers: RobertaTokenizer ids for
/// hundreds of strings (Tests/Fixtures/references/roberta_tokenizer_cases.json,
/// tools/references/roberta_tokenizer_cases.py) and every probe of the bundles
/// tools/references/bundle_audioldm_parts.py made, on the containers their recipes make.
final class AudioLDMPartsTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    struct Case: Decodable {
        let text: String
        let ids: [Int]
        let short: [Int]
        let short_mask: [Int]
    }

    struct CasesFile: Decodable {
        let tokenizer: String
        let cases: [Case]
    }

    func testTokenizerMatchesTransformersRobertaTokenizer() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(TestSupport.fixtures)/references/roberta_tokenizer_cases.json"))
        let file = try JSONDecoder().decode(CasesFile.self, from: data)
        XCTAssertGreaterThanOrEqual(file.cases.count, 400)
        let tokenizer = try RobertaTokenizer(metadata: try CLIPTests.metadata(folder: "\(TestSupport.root)/\(file.tokenizer)", prefix: "p.tokenizer"),
                                             prefix: "p.tokenizer")
        XCTAssertEqual(tokenizer.modelMaxLength, 512)
        XCTAssertEqual([tokenizer.bosTokenId, tokenizer.padTokenId, tokenizer.eosTokenId, tokenizer.unkTokenId], [0, 1, 2, 3])
        var failures = 0
        for c in file.cases {
            let ids = tokenizer.encode(c.text), short = tokenizer(c.text, maxLength: 16)
            if ids != c.ids || short.ids != c.short || short.attentionMask != c.short_mask {
                failures += 1
                if failures <= 20 {
                    XCTFail("\(c.text.debugDescription): ids \(ids) short \(short), transformers \(c.ids) / \(c.short) \(c.short_mask)")
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(file.cases.count) strings differ")
    }

    func testF32BundleTokenizerEncoderAndVocoder() throws {
        let report = try ModelsTestSupport.verify(bundle: "audioldm/audioldm-parts-f32", in: Self.folder, minimumProbes: 50)
        let calls = Set(report.results.map(\.probe.call))
        XCTAssertEqual(calls, ["clap_tokenize", "clap_encode", "vocoder"])
        for result in report.results where result.probe.call != "clap_tokenize" {
            for output in result.outputs { XCTAssertLessThan(output.relL2, 1e-4, "\(result.probe.name).\(output.output)") }
        }
    }

    func testF16Bundle() throws { try ModelsTestSupport.verify(bundle: "audioldm/audioldm-parts-f16", in: Self.folder, minimumProbes: 6) }

    func testQ8Bundles() throws {
        for name in ["audioldm-parts-q8_0", "audioldm-parts-q8_0-forced"] {
            let report = try ModelsTestSupport.verify(bundle: "audioldm/\(name)", in: Self.folder, minimumProbes: 11)
            for result in report.results {
                for output in result.outputs {
                    print("AUDIOLDM \(name) \(result.probe.name).\(output.output): rel L2 \(output.relL2)")
                }
            }
        }
    }

    func testPositionIdsCountFromThePaddingIndex() {
        XCTAssertEqual(ClapTextEmbeddings.positionIds([0, 31, 7, 2, 1, 1], paddingIdx: 1), [2, 3, 4, 5, 1, 1])
        XCTAssertEqual(ClapTextEmbeddings.positionIds([0, 1, 5, 2], paddingIdx: 1), [2, 1, 3, 4])
    }

    func testNormalizedEmbedsAreUnitRows() {
        let embeds = Tensor(shape: [2, 3], values: [3, 4, 0, 0, 0, 0])
        XCTAssertEqual(ClapTextModelWithProjection.normalized(embeds).values, [0.6, 0.8, 0, 0, 0, 0])
    }

    func testInputErrorsNameTheProblem() throws {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/audioldm/audioldm-parts-f32.safetensors")
        let file = try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: Self.folder))
        let clap = try ClapTextModelWithProjection(file, component: "audioldm.text_encoder")
        XCTAssertEqual(clap.config.maxSequenceLength, 512)
        XCTAssertThrowsError(try clap([[0, 2000, 2]], context: .default)) { XCTAssertTrue("\($0)".contains("id 2000 is outside the vocabulary 0..<1000"), "\($0)") }
        XCTAssertThrowsError(try clap([[Int]](repeating: [0], count: 1).map { _ in [Int](repeating: 5, count: 513) }, context: .default)) {
            XCTAssertTrue("\($0)".contains("513 ids, the model takes 1…512"), "\($0)")
        }
        XCTAssertThrowsError(try clap([[0, 5, 2]], attentionMask: [[1, 1]], context: .default)) {
            XCTAssertTrue("\($0)".contains("attention mask must be one row of 3 per sequence"), "\($0)")
        }
        let vocoder = try SpeechT5HifiGan(file, component: "audioldm.vocoder")
        XCTAssertEqual(vocoder.config.samples(frames: 900), 144_032)
        XCTAssertThrowsError(try vocoder(Tensor(zeros: [1, 10, 80]), context: .default)) {
            XCTAssertTrue("\($0)".contains("must be [B, frames, 64] or [frames, 64], got [1, 10, 80]"), "\($0)")
        }
        // one unbatched mel gives one unbatched waveform
        let mel = xorshiftUniform([7, 64], seed: 3)
        let single = try vocoder(mel, context: .default), batched = try vocoder(mel.reshaped([1, 7, 64]), context: .default)
        XCTAssertEqual(single.shape, [vocoder.config.samples(frames: 7)])
        XCTAssertEqual(single.values, batched.values)
    }
}
