import Foundation
import NextGPTAnyToAny
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTSessions
import NextGPTTestSupport
import XCTest

/// A whole any-to-any run on the tiny system against its re-creation on PyTorch
/// (tools/references/bundle_nextgpt_run.py): image file in → reply ids, image conditioning, image out.
final class NExTGPTSessionTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("nextgpt-session")

    func testImageInTextAndImageOutMatchPyTorch() throws {
        let path = "\(TestSupport.bundles)/nextgpt/run-image-f32.safetensors"
        let bundle = try SafetensorsFile.read(path: path)
        let recipe = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(XCTUnwrap(bundle.metadata["nextgpt.reference.convert"]).utf8)) as? [String])
        let settings = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(XCTUnwrap(bundle.metadata["nextgpt.reference.run"]).utf8)) as? [String: Any])
        let container = try ModelsTestSupport.container(recipe: recipe, named: "run-image-f32", origin: path, in: Self.folder)
        let tensor = { (name: String) throws -> Tensor in
            let t = try XCTUnwrap(bundle[name], name)
            return Tensor(shape: t.shape, values: try t.readFloats())
        }

        var request = NExTGPTRequest(text: try XCTUnwrap(settings["text"] as? String))
        request.images = ["\(TestSupport.root)/\(try XCTUnwrap(settings["image"] as? String))"]
        request.forcedOutputs = [.image]
        request.generation.maxNewTokens = try XCTUnwrap(settings["max_new_tokens"] as? Int)
        request.image.steps = try XCTUnwrap(settings["steps"] as? Int)
        request.image.guidanceScale = try XCTUnwrap(settings["guidance_scale"] as? Double)
        request.image.height = settings["height"] as? Int
        request.image.width = settings["width"] as? Int
        request.image.latents = try tensor("latents")
        let result = try NExTGPTSession(path: container, context: .default).run(request)

        XCTAssertEqual(result.reply.ids, try tensor("ids").values.map { Int($0) })
        let conditioning = try XCTUnwrap(result.conditioning[.image])
        let conditioningError = relativeL2(conditioning.values, try tensor("conditioning").values)
        XCTAssertLessThanOrEqual(conditioningError, 1e-4)
        XCTAssertEqual(result.images.count, 1)
        let image = StableDiffusionPipeline.imageFromDecoded(result.images[0])
        let expected = try tensor("image")
        XCTAssertEqual(image.shape, expected.shape)
        let mse = zip(image.values, expected.values).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(image.count)
        let psnr = 10 * log10(1 / max(mse, 1e-30))
        print("whole run: ids equal, conditioning rel L2 \(conditioningError), image PSNR \(psnr) dB; stages \(result.stages.map { "\($0.name) \(String(format: "%.2f", $0.seconds)) s" })")
        XCTAssertGreaterThanOrEqual(psnr, 60)
        XCTAssertEqual(result.stages.map(\.name), ["imagebind", "llm", "image"])
    }

    /// User text with `<` and `>` (issue #73 upstream) is text: the run goes through.
    func testAngleBracketsInTheUserTextAreText() throws {
        let path = "\(TestSupport.bundles)/nextgpt/run-image-f32.safetensors"
        let bundle = try SafetensorsFile.read(path: path)
        let recipe = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(XCTUnwrap(bundle.metadata["nextgpt.reference.convert"]).utf8)) as? [String])
        let container = try ModelsTestSupport.container(recipe: recipe, named: "run-image-f32", origin: path, in: Self.folder)
        var request = NExTGPTRequest(text: "is 3 > 2 and 1 < 4? <Image>not a tag <b>bold</b> x <Video> y")
        request.generation.maxNewTokens = 4
        let result = try NExTGPTSession(path: container, context: .default).run(request)
        XCTAssertEqual(result.stages.map(\.name), ["llm"])
        XCTAssertEqual(result.reply.ids.count, 4)
    }
}
