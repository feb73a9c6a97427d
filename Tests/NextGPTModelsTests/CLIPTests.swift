import Foundation
import NextGPTDiffusion
import NextGPTFormats
import NextGPTLayers
import NextGPTTestSupport
import NextGPTTokenizers
import NextGPTVerify
import XCTest

/// The CLIP text side against transformers: the slow CLIPTokenizer's ids for hundreds of strings
/// (Tests/Fixtures/references/clip_tokenizer_cases.json, tools/references/clip_tokenizer_cases.py)
/// and every probe of the bundles tools/references/bundle_clip.py made (CLIPTextModel hidden
/// states, clip skip, pooled output, tokenizer probes) on the containers their recipes make.
final class CLIPTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    struct Case: Decodable {
        let tokenizer: String
        let text: String
        let ids: [Int]
        let padded: [Int]
    }

    struct CasesFile: Decodable {
        let tokenizers: [String: String]
        let cases: [Case]
    }

    /// The metadata `nextgpt convert` writes for a CLIP `tokenizer/` folder (DiffusersComponents.addTokenizer).
    static func metadata(folder: String, prefix: String) throws -> [String: GGUFValue] {
        let vocabulary = try BPEVocabulary(folder: folder)
        var metadata: [String: GGUFValue] = ["\(prefix).vocab": .strings(vocabulary.tokens), "\(prefix).merges": .strings(vocabulary.merges)]
        for (file, text) in vocabulary.configFiles {
            metadata["\(prefix).\(file.replacingOccurrences(of: ".json", with: ""))"] = .string(text)
        }
        return metadata
    }

    func testTokenizerMatchesSlowCLIPTokenizer() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(TestSupport.fixtures)/references/clip_tokenizer_cases.json"))
        let file = try JSONDecoder().decode(CasesFile.self, from: data)
        XCTAssertGreaterThanOrEqual(file.cases.count, 800)
        var tokenizers: [String: CLIPTokenizer] = [:]
        for (name, folder) in file.tokenizers {
            tokenizers[name] = try CLIPTokenizer(metadata: try Self.metadata(folder: "\(TestSupport.root)/\(folder)", prefix: "p.tokenizer"),
                                                 prefix: "p.tokenizer")
        }
        var failures = 0
        for c in file.cases {
            let tokenizer = try XCTUnwrap(tokenizers[c.tokenizer])
            let ids = tokenizer.encode(c.text), padded = tokenizer(c.text)
            if ids != c.ids || padded != c.padded {
                failures += 1
                if failures <= 20 {
                    XCTFail("\(c.tokenizer) \(c.text.debugDescription): ids \(ids) padded \(padded), transformers \(c.ids) / \(c.padded)")
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(file.cases.count) strings differ")
    }

    func testTokenizerReadsSpecialTokensFromTheFiles() throws {
        let sd15 = try CLIPTokenizer(metadata: try Self.metadata(folder: "\(TestSupport.fixtures)/sd15/tokenizer", prefix: "t"), prefix: "t")
        XCTAssertEqual([sd15.bosTokenId, sd15.eosTokenId, sd15.padTokenId, sd15.modelMaxLength], [998, 999, 999, 77])
        let zeroscope = try CLIPTokenizer(metadata: try Self.metadata(folder: "\(TestSupport.fixtures)/zeroscope/tokenizer", prefix: "t"), prefix: "t")
        XCTAssertEqual(zeroscope.padTokenId, 0, "zeroscope pads with '!'")
        XCTAssertEqual(zeroscope("", maxLength: 5), [998, 999, 0, 0, 0])
        XCTAssertEqual(zeroscope("", maxLength: 5, padToMaxLength: false), [998, 999])
        XCTAssertEqual(CLIPTokenizer.tokenizerPrefix(forTextEncoder: "sd15.text_encoder"), "sd15.tokenizer")
        XCTAssertEqual(CLIPTokenizer.tokenizerPrefix(forTextEncoder: "x.text_encoder_2"), "x.tokenizer_2")
    }

    func testMissingTokenizerIsAClearError() {
        XCTAssertThrowsError(try CLIPTokenizer(metadata: [:], prefix: "sd15.tokenizer")) { error in
            XCTAssertTrue("\(error)".contains("sd15.tokenizer.vocab"), "\(error)")
        }
    }

    func testBundlesMatchTransformers() throws {
        let dir = "\(TestSupport.bundles)/sd"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("clip-") && $0.hasSuffix(".safetensors") }.sorted()
        XCTAssertEqual(names.count, 8, "CLIP bundles in \(dir)")
        for name in names {
            try ModelsTestSupport.verify(bundle: "sd/\(name.replacingOccurrences(of: ".safetensors", with: ""))", in: Self.folder, minimumProbes: 6)
        }
    }

    func testModelRejectsBadInput() throws {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/sd/clip-sd15-f32.safetensors")
        let model = try CLIPTextModel(try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: Self.folder)), component: "sd15.text_encoder")
        XCTAssertThrowsError(try model([[1, 2, 1000]], context: .default))
        XCTAssertThrowsError(try model([[Int](repeating: 1, count: 78)], context: .default))
        XCTAssertThrowsError(try model([[1, 2], [1]], context: .default))
        XCTAssertThrowsError(try model([[1, 2]], clipSkip: 3, context: .default))
        XCTAssertThrowsError(try model([], context: .default))
    }
}
