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
        let run = try WholeRun(path: path, named: "run-f32", in: Self.folder)
        let (container, settings, tensor) = (run.container, run.settings, run.tensor)

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

    /// Text in → reply + audio out: the [AUD0..7] run's projector output as AudioLDM's prompt_embeds.
    func testTextInAudioOutMatchesPyTorch() throws {
        let path = "\(TestSupport.bundles)/nextgpt/run-audio-f32.safetensors"
        let run = try WholeRun(path: path, named: "run-f32", in: Self.folder)
        let (container, settings, tensor) = (run.container, run.settings, run.tensor)
        var request = NExTGPTRequest(text: try XCTUnwrap(settings["text"] as? String))
        request.forcedOutputs = [.audio]
        request.generation.maxNewTokens = try XCTUnwrap(settings["max_new_tokens"] as? Int)
        request.audio.steps = try XCTUnwrap(settings["steps"] as? Int)
        request.audio.guidanceScale = try XCTUnwrap(settings["guidance_scale"] as? Double)
        request.audio.audioLengthInS = try XCTUnwrap(settings["audio_length_in_s"] as? Double)
        request.audio.latents = try tensor("latents")
        let result = try NExTGPTSession(path: container, context: .default).run(request)

        XCTAssertEqual(result.reply.ids, try tensor("ids").values.map { Int($0) })
        let conditioningError = relativeL2(try XCTUnwrap(result.conditioning[.audio]).values, try tensor("conditioning").values)
        XCTAssertLessThanOrEqual(conditioningError, 1e-4)
        XCTAssertEqual(result.audios.count, 1)
        let waveformError = relativeL2(result.audios[0].values, try tensor("waveform").values)
        print("whole audio run: ids equal, conditioning rel L2 \(conditioningError), waveform rel L2 \(waveformError)")
        XCTAssertLessThanOrEqual(waveformError, 1e-3)
        XCTAssertEqual(result.stages.map(\.name), ["llm", "audio"])
    }

    /// Text in → reply + video: the [VID0..23] run's projector output as TextToVideoSDPipeline's
    /// prompt_embeds (the tiny reply holds a stray [VID4], which upstream's detection by [VID0] ignores).
    func testTextInVideoOutMatchesPyTorch() throws {
        let path = "\(TestSupport.bundles)/nextgpt/run-video-f32.safetensors"
        let run = try WholeRun(path: path, named: "run-video-f32", in: Self.folder)
        let (container, settings, tensor) = (run.container, run.settings, run.tensor)
        var request = NExTGPTRequest(text: try XCTUnwrap(settings["text"] as? String))
        request.forcedOutputs = [.video]
        request.generation.maxNewTokens = try XCTUnwrap(settings["max_new_tokens"] as? Int)
        request.video.steps = try XCTUnwrap(settings["steps"] as? Int)
        request.video.guidanceScale = try XCTUnwrap(settings["guidance_scale"] as? Double)
        request.video.numFrames = try XCTUnwrap(settings["num_frames"] as? Int)
        request.video.height = try XCTUnwrap(settings["height"] as? Int)
        request.video.width = try XCTUnwrap(settings["width"] as? Int)
        request.video.latents = try tensor("latents")
        let result = try NExTGPTSession(path: container, context: .default).run(request)

        XCTAssertEqual(result.reply.ids, try tensor("ids").values.map { Int($0) })
        let conditioningError = relativeL2(try XCTUnwrap(result.conditioning[.video]).values, try tensor("conditioning").values)
        XCTAssertLessThanOrEqual(conditioningError, 1e-4)
        XCTAssertEqual(result.videos.count, 1)
        let frames = result.videos[0], expected = try tensor("frames")
        XCTAssertEqual(frames.shape, expected.shape)
        let frameSize = expected.count / expected.shape[0]
        var psnrs: [Double] = []
        for f in 0..<expected.shape[0] {
            let range = f * frameSize..<(f + 1) * frameSize
            let mse = zip(frames.values[range], expected.values[range]).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(frameSize)
            psnrs.append(10 * log10(1 / max(mse, 1e-30)))
        }
        print("whole video run: ids equal, conditioning rel L2 \(conditioningError), frame PSNR \(psnrs.map { String(format: "%.1f", $0) }) dB")
        XCTAssertGreaterThanOrEqual(psnrs.min() ?? 0, 60)
        XCTAssertEqual(result.stages.map(\.name), ["llm", "video"])
    }

    /// User text with `<` and `>` (issue #73 upstream) is text: the run goes through.
    func testAngleBracketsInTheUserTextAreText() throws {
        let path = "\(TestSupport.bundles)/nextgpt/run-image-f32.safetensors"
        let container = try WholeRun(path: path, named: "run-f32", in: Self.folder).container
        var request = NExTGPTRequest(text: "is 3 > 2 and 1 < 4? <Image>not a tag <b>bold</b> x <Video> y")
        request.generation.maxNewTokens = 4
        let result = try NExTGPTSession(path: container, context: .default).run(request)
        XCTAssertEqual(result.stages.map(\.name), ["llm"])
        XCTAssertEqual(result.reply.ids.count, 4)
    }
}

/// A whole-run bundle: its container converted once from the recorded recipe, the run's settings,
/// and its tensors as f32.
struct WholeRun {
    let bundle: Checkpoint
    let container: String
    let settings: [String: Any]

    init(path: String, named name: String, in folder: String) throws {
        let checkpoint = try SafetensorsFile.read(path: path)
        bundle = checkpoint
        let json = { (key: String) throws -> Any in
            try JSONSerialization.jsonObject(with: Data(XCTUnwrap(checkpoint.metadata[key], key).utf8))
        }
        let recipe = try XCTUnwrap(try json("nextgpt.reference.convert") as? [String])
        settings = try XCTUnwrap(try json("nextgpt.reference.run") as? [String: Any])
        container = try ModelsTestSupport.container(recipe: recipe, named: name, origin: path, in: folder)
    }

    func tensor(_ name: String) throws -> Tensor {
        let t = try XCTUnwrap(bundle[name], name)
        return Tensor(shape: t.shape, values: try t.readFloats())
    }
}
