import Foundation
import NextGPTDiffusion
import XCTest

/// The request's JSON: diffusers' argument names, defaults for missing keys, errors naming the key.
final class StableDiffusionRequestCodingTests: XCTestCase {
    func testMissingKeysKeepTheDefaults() throws {
        let decoded = try StableDiffusionRequest(json: Data(#"{"prompt": "a cat"}"#.utf8))
        let defaults = StableDiffusionRequest(prompt: "a cat")
        XCTAssertEqual(decoded.negativePrompt, defaults.negativePrompt)
        XCTAssertEqual(decoded.steps, defaults.steps)
        XCTAssertEqual(decoded.guidanceScale, defaults.guidanceScale)
        XCTAssertNil(decoded.scheduler)
        XCTAssertNil(decoded.height)
        XCTAssertNil(decoded.width)
        XCTAssertEqual(decoded.seed, defaults.seed)
        XCTAssertEqual(decoded.eta, defaults.eta)
        XCTAssertEqual(decoded.clipSkip, defaults.clipSkip)
        XCTAssertEqual(decoded.strength, defaults.strength)
        XCTAssertEqual(decoded.vaeTiling, defaults.vaeTiling)
    }

    func testDiffusersNamesDecodeAndRoundTrip() throws {
        let json = #"""
        {"prompt": "a castle", "negative_prompt": "blurry", "num_inference_steps": 25, "guidance_scale": 5,
         "scheduler": "euler-a", "height": 40, "width": 24, "seed": 42, "eta": 0.5, "clip_skip": 1,
         "strength": 0.6, "vae_tiling": true, "latents": null}
        """#
        let request = try StableDiffusionRequest(json: Data(json.utf8))
        XCTAssertEqual(request.prompt, "a castle")
        XCTAssertEqual(request.negativePrompt, "blurry")
        XCTAssertEqual(request.steps, 25)
        XCTAssertEqual(request.guidanceScale, 5)
        XCTAssertEqual(request.scheduler, "euler-a")
        XCTAssertEqual(request.height, 40)
        XCTAssertEqual(request.width, 24)
        XCTAssertEqual(request.seed, 42)
        XCTAssertEqual(request.eta, 0.5)
        XCTAssertEqual(request.clipSkip, 1)
        XCTAssertEqual(request.strength, 0.6)
        XCTAssertTrue(request.vaeTiling)

        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let encoded = try encoder.encode(request)
        let keys = Set((try JSONSerialization.jsonObject(with: encoded) as! [String: Any]).keys)
        XCTAssertEqual(keys, ["prompt", "negative_prompt", "num_inference_steps", "guidance_scale", "scheduler", "height", "width",
                              "seed", "eta", "clip_skip", "strength", "vae_tiling"])
        let again = try StableDiffusionRequest(json: encoded)
        XCTAssertEqual(try encoder.encode(again), encoded)
    }

    func testErrorsNameTheArgument() {
        func message(_ json: String) -> String {
            do {
                _ = try StableDiffusionRequest(json: Data(json.utf8))
                return "decoded"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(message(#"{"negative_prompt": ""}"#), "argument 'prompt' is required")
        XCTAssertTrue(message(#"{"prompt": "x", "num_inference_steps": "many"}"#).contains("'num_inference_steps'"))
        XCTAssertTrue(message(#"{"prompt": "x", "seed": -1}"#).contains("'seed'"), message(#"{"prompt": "x", "seed": -1}"#))
        XCTAssertTrue(message(#"{"prompt": "x", "vae_tiling": 3}"#).contains("'vae_tiling'"))
    }
}
