import Foundation
import NextGPTConvert
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTSessions
import NextGPTTestSupport
import XCTest

/// The decoders' negatives computed once by `convert` (diffusers' own encode_prompt on the tiny
/// fixtures: tools/references/bundle_decoder_negatives.py), and a container without the text
/// encoders that still runs NExT-GPT's image path exactly.
final class DecoderNegativesTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("decoder-negatives")

    private func plan() throws -> ConversionPlan {
        var plan = ConversionPlan()
        let cwd = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(TestSupport.root)
        defer { FileManager.default.changeCurrentDirectoryPath(cwd) }
        let delta = try NextGPTDelta(path: "Tests/Fixtures/nextgpt-delta", loraAlpha: 16)
        plan.components += try LlamaComponent.load(folder: "Tests/Fixtures/vicuna", delta: delta, mergeDeltaLora: false)
        plan.components.append(try ImageBindComponent.load(path: "Tests/Fixtures/imagebind/imagebind_huge.pth"))
        for pipeline in ["sd15", "audioldm", "zeroscope"] {
            try PipelineSource.load("Tests/Fixtures/\(pipeline)", pipeline: pipeline, into: &plan)
        }
        return plan
    }

    func testStoredNegativesMatchDiffusersAndTheEncodersCanBeDropped() throws {
        var plan = try plan()
        let output = "\(Self.folder)/dropped.gguf"
        let done = try DecoderNegatives.attach(to: &plan, output: output, dropTextEncoders: true, context: .default)
        XCTAssertEqual(Set(done), ["sd15", "audioldm", "zeroscope"])
        XCTAssertFalse(plan.components.contains { $0.name.hasSuffix(".text_encoder") })
        var options = ConversionOptions(policy: QuantizationPolicy(type: .f32))
        options.hashSources = false
        _ = try Converter.convert(plan, options: options, to: output)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: Self.folder).filter { $0.contains("encoders") }, [],
                       "the temporary encoder container is removed")

        let file = try ModelFile(path: output)
        let reference = try SafetensorsFile.read(path: "\(TestSupport.bundles)/nextgpt/negatives.safetensors")
        for pipeline in ["sd15", "zeroscope", "audioldm"] {
            let stored = try XCTUnwrap(try DecoderNegatives.stored(file, pipeline: pipeline), pipeline)
            let expected = try XCTUnwrap(reference[pipeline])
            XCTAssertEqual(stored.shape, expected.shape, pipeline)
            let error = relativeL2(stored.values, try expected.readFloats())
            print("negative \(pipeline): rel L2 \(error)")
            XCTAssertLessThanOrEqual(error, 1e-5, pipeline)
        }

        // Without its text encoder, SD refuses a text prompt but runs from embeddings.
        let pipeline = try StableDiffusionPipeline(file, pipeline: "sd15")
        XCTAssertNil(pipeline.textEncoder)
        var request = StableDiffusionRequest(prompt: "a cat")
        request.steps = 1
        request.height = 16
        request.width = 16
        XCTAssertThrowsError(try pipeline.generate(request, context: .default)) {
            XCTAssertTrue("\($0)".contains("sd15.text_encoder"), "\($0)")
        }
    }
}
