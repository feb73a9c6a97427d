import Foundation
import NextGPTDiffusion
import NextGPTKernels
import NextGPTLayers
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// Whole txt2img runs against diffusers' StableDiffusionPipeline on the tiny SD 1.5 fixture
/// (tools/references/bundle_sd_pipeline.py): every scheduler, seeded and with given latents,
/// with and without guidance, DDIM η > 0, a 40×24 image, img2img (PNDM, Euler-a). F32 is held to PSNR ≥ 60 dB; Q8_0 and
/// Q4_0 (references from the same dequantized weights) to 30 dB, the 8-bit activations' share.
final class StableDiffusionPipelineTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    func testTxt2ImgF32MatchesDiffusers() throws {
        let report = try ModelsTestSupport.verify(bundle: "sd/txt2img-f32", in: Self.folder, minimumProbes: 9)
        let schedulers = Set(report.results.compactMap { result -> String? in
            guard case .string(let name)? = result.probe.args["scheduler"] else { return nil }
            return name
        })
        XCTAssertEqual(schedulers, ["pndm", "ddim", "euler", "euler-a"])
    }

    /// NExT-GPT's path: the image projector's output as `prompt_embeds` (and a given negative).
    func testPromptEmbedsMatchDiffusers() throws {
        let report = try ModelsTestSupport.verify(bundle: "sd/txt2img-prompt-embeds-f32", in: Self.folder, minimumProbes: 4)
        for result in report.results {
            for output in result.outputs {
                print("\(result.probe.name): rel L2 \(output.relL2), PSNR \(output.psnr)")
                XCTAssertGreaterThanOrEqual(output.psnr, 60, result.probe.name)
            }
        }
    }

    func testTxt2ImgQuantizedWithinBound() throws {
        try ModelsTestSupport.verify(bundle: "sd/txt2img-q8_0", in: Self.folder, minimumProbes: 13)
        try ModelsTestSupport.verify(bundle: "sd/txt2img-q4_0", in: Self.folder, minimumProbes: 13)
    }

    /// The Q8_0 bundle with every repacked Q8_0 product and convolution on the lane GEMM (AVX-512 VNNI).
    func testTxt2ImgQ8_0OnLaneGEMM() throws {
        try XCTSkipUnless(Matmul.integerGEMMAccelerated, "skipped: no AVX-512 (VNNI)")
        try ModelsTestSupport.verifyOnLaneGEMM(bundle: "sd/txt2img-q8_0", in: Self.folder, minimumProbes: 13)
    }

    func testRejectsBadRequests() throws {
        let container = try ModelsTestSupport.container(for: try ReferenceBundle(path: "\(TestSupport.bundles)/sd/txt2img-f32.safetensors"),
                                                        in: Self.folder)
        let pipeline = try StableDiffusionPipeline(try ModelFile(path: container))
        var request = StableDiffusionRequest(prompt: "a cat")
        request.steps = 1
        request.height = 20
        XCTAssertThrowsError(try pipeline.generate(request, context: .default)) { XCTAssertTrue("\($0)".contains("multiples of 8"), "\($0)") }
        request.height = 16
        request.scheduler = "heun"
        XCTAssertThrowsError(try pipeline.generate(request, context: .default)) { XCTAssertTrue("\($0)".contains("unknown scheduler"), "\($0)") }
        request.scheduler = nil
        request.latents = Tensor(zeros: [1, 4, 3, 3])
        XCTAssertThrowsError(try pipeline.generate(request, context: .default)) { XCTAssertTrue("\($0)".contains("latents"), "\($0)") }
        XCTAssertThrowsError(try StableDiffusionPipeline(try ModelFile(path: container), pipeline: "audioldm"))
    }
}
