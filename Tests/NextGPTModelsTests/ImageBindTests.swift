import Foundation
import NextGPTFormats
import NextGPTImageBind
import NextGPTKernels
import NextGPTLayers
import NextGPTSessions
import NextGPTTestSupport
import NextGPTTokenizers
import NextGPTVerify
import XCTest

/// ImageBind as NExT-GPT runs it (vision for images and video clips, audio without ×20) against
/// the bundles tools/references/bundle_imagebind.py made with the `imagebind` package, and
/// NExT-GPT's `llama_proj`.
final class ImageBindTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    static func container(_ type: String) throws -> ModelFile {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/imagebind/imagebind-\(type).safetensors")
        return try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: folder))
    }

    func testBundlesMatchPyTorch() throws {
        for type in ["f32", "f16", "q8_0"] {
            let report = try ModelsTestSupport.verify(bundle: "imagebind/imagebind-\(type)", in: Self.folder, minimumProbes: 2)
            for result in report.results {
                for output in result.outputs {
                    print("imagebind-\(type) \(result.probe.name).\(output.output): rel L2 \(output.relL2), cosine \(output.cosine)")
                    if type == "f32" { XCTAssertLessThan(output.relL2, 1e-5, "\(result.probe.name).\(output.output)") }
                }
            }
            if type == "f32" {
                XCTAssertEqual(Set(report.results.map(\.probe.name)),
                               Set(["embed_image", "embed_audio", "embed_video", "embed_audio_upstream_logit_scale", "embed_text"]
                                   + (0..<9).map { "tokenize_\($0)" }))
            }
        }
    }

    func testUnreadTensorsAreExactlyTheUnusedModalities() throws {
        let file = try Self.container("f32")
        let model = try ImageBindModel(file, component: "imagebind")
        let modalities = ["vision", "audio", "text", "depth", "thermal", "imu"]
        func modality(_ name: String) -> String? {
            let parts = name.split(separator: ".")
            return parts.count > 2 && modalities.contains(String(parts[2])) ? String(parts[2]) : nil
        }
        let all = file.container.tensors(of: "imagebind").map(\.name)
        XCTAssertTrue(all.allSatisfy { modality($0) != nil }, "every ImageBind tensor belongs to one modality")
        let expected = all.filter { ["depth", "thermal", "imu"].contains(modality($0)!) }.sorted()
        XCTAssertFalse(expected.isEmpty)
        XCTAssertEqual(model.unusedTensors, expected)
        XCTAssertEqual(Set(model.unusedTensors.compactMap(modality)), ["depth", "thermal", "imu"])
        XCTAssertEqual(model.modalityPreprocessors.text.vocabularySize, 49408)
        XCTAssertEqual(model.modalityPreprocessors.text.mask.values, TextPreprocessor.causalMask(77).values,
                       "the stored buffer is build_causal_attention_mask(77)")
        XCTAssertEqual(model.config.visionEmbedDim, 64)
        XCTAssertEqual(model.config.audioNumHeads, 4)
        XCTAssertEqual(model.config.outEmbedDim, 64)
        XCTAssertEqual(model.audioLogLogitScale, Float(log(20.0)), accuracy: 1e-6)
    }

    func testBadInputShapesAreClearErrors() throws {
        let model = try ImageBindModel(try Self.container("f32"), component: "imagebind")
        let cases: [(ImageBindModality, [Int], String)] = [
            (.vision, [1, 3, 112, 112], "ImageBind vision input has shape [1, 3, 112, 112]"),
            (.vision, [1, 4, 224, 224], "ImageBind vision input has shape [1, 4, 224, 224]"),
            (.vision, [3, 224, 224], "ImageBind vision input has shape [3, 224, 224]"),
            (.audio, [1, 3, 1, 128, 100], "ImageBind audio input has shape [1, 3, 1, 128, 100]"),
            (.audio, [1, 128, 204], "ImageBind audio input has shape [1, 128, 204]"),
        ]
        for (modality, shape, message) in cases {
            let x = Tensor(zeros: shape)
            XCTAssertThrowsError(try model(x, modality: modality, context: .default)) {
                XCTAssertTrue("\($0)".contains(message), "\($0)")
                XCTAssertTrue("\($0)".contains("expected"), "\($0)")
            }
        }
    }

    func testBadTextIdsAreClearErrors() throws {
        let model = try ImageBindModel(try Self.container("f32"), component: "imagebind")
        var ids = [Float](repeating: 0, count: 2 * 77)
        ids[3] = 49407
        ids[77 + 5] = 49407
        XCTAssertEqual(try model(Tensor(shape: [2, 77], values: ids), modality: .text, context: .default).shape, [2, 64])
        let cases: [([Int], (inout [Float]) -> Void, String)] = [
            ([2, 77], { $0[77 + 9] = 49408 }, "token id 49408.0 at [1, 9]; expected integers in 0..<49408"),
            ([2, 77], { $0[4] = -1 }, "token id -1.0 at [0, 4]"),
            ([2, 77], { $0[6] = 2.5 }, "token id 2.5 at [0, 6]"),
            ([2, 76], { _ in }, "ImageBind text input has shape [2, 76]; expected [N, 77] token ids"),
            ([154], { _ in }, "ImageBind text input has shape [154]; expected [N, 77] token ids"),
        ]
        for (shape, edit, message) in cases {
            var values = ids
            edit(&values)
            let x = Tensor(shape: shape, values: Array(values.prefix(shape.reduce(1, *))))
            XCTAssertThrowsError(try model(x, modality: .text, context: .default)) {
                XCTAssertTrue("\($0)".contains(message), "\($0)")
            }
        }
    }

    func testTokenizerRefusesFilesThatAreNotMerges() throws {
        let merges = "\(TestSupport.fixtures)/clip-bpe-4k/merges.txt"
        let tokenizer = try ImageBindTokenizer(mergesFile: merges)
        XCTAssertEqual(tokenizer.tokens.count, 512 + 3474 + 1 + 2, "bytes, bytes</w>, the merges and the trailing empty line, the two specials")
        XCTAssertEqual(tokenizer("").prefix(3), [3987, 3988, 0])
        XCTAssertEqual(tokenizer(String(repeating: "dog ", count: 100)).count, 77)
        XCTAssertEqual(tokenizer(String(repeating: "dog ", count: 100)).last, 3988)
        let folder = TestSupport.temporaryDirectory("imagebind-tokenizer")
        let gz = "\(folder)/bpe.txt.gz", plain = "\(folder)/vocab.json"
        try Data([0x1F, 0x8B, 8, 0]).write(to: URL(fileURLWithPath: gz))
        try Data("{\"a\": 1}".utf8).write(to: URL(fileURLWithPath: plain))
        // Upstream ships the merges gzip-compressed; merges.txt.gz is `gzip -9n merges.txt`.
        let compressed = try ImageBindTokenizer(mergesFile: "\(TestSupport.fixtures)/clip-bpe-4k/merges.txt.gz")
        XCTAssertEqual(compressed.tokens, tokenizer.tokens)
        XCTAssertEqual(compressed("a dog on the beach"), tokenizer("a dog on the beach"))
        for (path, message) in [(gz, "gzip data is truncated"), (plain, "not a BPE merges text: line 2 is not two symbols"),
                                ("\(folder)/missing.txt", "cannot read the BPE merges file")] {
            XCTAssertThrowsError(try ImageBindTokenizer(mergesFile: path)) {
                XCTAssertTrue("\($0)".contains(message), "\($0)")
                XCTAssertTrue("\($0)".contains(path), "\($0)")
            }
        }
    }

    func testEmbeddingsAreUnitLengthAndClipsAverage() throws {
        let model = try ImageBindModel(try Self.container("f32"), component: "imagebind")
        let clip = { (seed: Int) in Tensor(shape: [1, 1, 128, 204], values: (0..<(128 * 204)).map { Float(sin(Double($0 * (seed + 3)))) }) }
        let a = try model(clip(0), modality: .audio, context: .default)
        let b = try model(clip(1), modality: .audio, context: .default)
        for e in [a, b] { XCTAssertEqual(e.values.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-5) }
        let both = try model(Shape.cat([clip(0), clip(1)], dim: 0).reshaped([1, 2, 1, 128, 204]), modality: .audio, context: .default)
        XCTAssertEqual(both.shape, [1, 64])
        for j in 0..<64 { XCTAssertEqual(both.values[j], (a.values[j] + b.values[j]) / 2, accuracy: 1e-6) }
        let scaled = try model(clip(0), modality: .audio, audioLogitScale: true, context: .default)
        for j in 0..<64 { XCTAssertEqual(scaled.values[j], 20 * a.values[j], accuracy: 1e-5) }
    }

    func testLlamaProjMapsAnEmbeddingToOneLLMPosition() throws {
        let file = try ComponentRegistryTests.fixtureContainer()
        let projection = try NExTGPTInputProjection(file)
        XCTAssertEqual(projection.inFeatures, 64)
        XCTAssertEqual(projection.outFeatures, 256)
        let x = Tensor(shape: [2, 64], values: (0..<128).map { Float($0 % 7) / 7 - 0.4 })
        let y = try projection(x, context: .default)
        XCTAssertEqual(y.shape, [2, 1, 256])
        let w = try file.weight("nextgpt.llama_proj.weight").dequantized().values
        let bias = try file.weight("nextgpt.llama_proj.bias").dequantized().values
        for r in 0..<2 {
            for o in 0..<256 {
                var sum = Double(bias[o])
                for i in 0..<64 { sum += Double(w[o * 64 + i]) * Double(x.values[r * 64 + i]) }
                XCTAssertEqual(Double(y.values[r * 256 + o]), sum, accuracy: 1e-4)
            }
        }
        XCTAssertThrowsError(try projection(Tensor(zeros: [1, 32]), context: .default)) {
            XCTAssertTrue("\($0)".contains("expected [N, 64]"), "\($0)")
        }
    }
}
