import Foundation
import NextGPTLayers
import NextGPTLlama
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// The LLaMA runtime against transformers / peft: every bundle made by
/// tools/references/bundle_llama.py (fixtures × f32, f16, q8_0, q4_0, q4_K), each run on the
/// container its recipe makes.
final class LlamaParityTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    func bundles() throws -> [String] {
        let dir = "\(TestSupport.bundles)/llama"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".safetensors") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 15, "bundles missing in \(dir)")
        return names.map { "\(dir)/\($0)" }
    }

    func run(_ prefix: String) throws {
        let names = ["f32", "f16", "q8_0", "q4_0", "q4_K"].map { "\(prefix)-\($0).safetensors" }
        let paths = try bundles().filter { names.contains(($0 as NSString).lastPathComponent) }
        XCTAssertEqual(paths.count, names.count, "bundles of \(prefix)")
        for path in paths {
            let bundle = try ReferenceBundle(path: path)
            let container = try ModelsTestSupport.container(for: bundle, in: Self.folder)
            let report = try Verifier.run(model: try ModelFile(path: container), bundle: bundle, context: .default)
            for result in report.results {
                XCTAssertNil(result.error, "\(path): \(result.probe.name): \(result.error ?? "")")
                for output in result.outputs {
                    XCTAssertTrue(output.passed, "\(path): \(result.probe.name).\(output.output): rel L2 \(output.relL2), cosine \(output.cosine)")
                }
            }
            XCTAssertGreaterThanOrEqual(report.results.count, 5)
        }
    }

    func testVicunaMatchesTransformers() throws { try run("vicuna") }
    func testGroupedQueryLlamaMatchesTransformers() throws { try run("llama-gqa") }
    func testNextGPTDeltaLoraMatchesPeftSemantics() throws { try run("vicuna-delta") }
}
