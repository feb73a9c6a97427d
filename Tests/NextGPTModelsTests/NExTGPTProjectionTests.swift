import Foundation
import NextGPTAnyToAny
import NextGPTKernels
import NextGPTLayers
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// NExT-GPT's `llama_proj` and its three `TextFcLayer` output projectors on the tiny delta, against
/// PyTorch (tools/references/bundle_nextgpt_projections.py: nn.Linear and nn.Transformer given the
/// container's weights).
final class NExTGPTProjectionTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("nextgpt-projections")

    func testBundlesMatchPyTorch() throws {
        for type in ["f32", "q8_0"] {
            let report = try ModelsTestSupport.verify(bundle: "nextgpt/projections-\(type)", in: Self.folder, minimumProbes: 5)
            for result in report.results {
                for output in result.outputs {
                    print("projections-\(type) \(result.probe.name).\(output.output): rel L2 \(output.relL2), cosine \(output.cosine)")
                    if type == "f32" { XCTAssertLessThan(output.relL2, 1e-4, "\(result.probe.name).\(output.output)") }
                }
            }
            let calls = Set(report.results.map(\.probe.call))
            XCTAssertEqual(calls, ["llama_proj", "output_projection"])
        }
    }

    func testProjectorShapesComeFromTheTensorsAndBadInputsAreRefused() throws {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/nextgpt/projections-f32.safetensors")
        let file = try ModelFile(path: try ModelsTestSupport.container(for: bundle, in: Self.folder))
        // The fixture's projectors (tools/fixtures/README.md): out 32 / 48 / 24, queries 77 / 77 / 1, 2 + 2 layers.
        let expected: [SignalModality: (out: Int, queries: Int)] = [.image: (32, 77), .video: (48, 77), .audio: (24, 1)]
        for (modality, shape) in expected {
            let projector = try TextFcLayer(file, modality: modality)
            XCTAssertEqual(projector.outFeatures, shape.out, "\(modality)")
            XCTAssertEqual(projector.outputTokens, shape.queries, "\(modality)")
            XCTAssertEqual(projector.tfm.encoderLayers.count, 2)
            XCTAssertEqual(projector.tfm.decoderLayers.count, 2)
        }
        let projector = try TextFcLayer(file, modality: .image)
        let h = projector.inFeatures
        let good = Tensor(shape: [1, 4, h], values: [Float](repeating: 0.1, count: 4 * h))
        XCTAssertThrowsError(try projector(good, inputEmbs: Tensor(shape: [1, 3, h], values: [Float](repeating: 0, count: 3 * h)), context: .default)) {
            XCTAssertTrue("\($0)".contains("[B, N, \(h)]"), "\($0)")
        }
        XCTAssertEqual(try projector(good, inputEmbs: good, context: .default).shape, [1, 77, 32])
    }
}
