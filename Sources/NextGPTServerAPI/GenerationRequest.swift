import Foundation
import NextGPTDiffusion

/// The bodies of `POST /v1/images/generations`, `/v1/audio/generations`, `/v1/videos/generations`:
/// OpenAI's image-generation shape (`prompt`, `n`, `size`, `response_format` `url` / `b64_json`)
/// for the three decoders, plus their own fields in diffusers' names (`negative_prompt`,
/// `num_inference_steps` or `steps`, `guidance_scale`, `seed`, `scheduler`, …), decoded by the
/// pipelines' `JSONRequest`s and checked before the request waits for the model.
package enum GenerationRequest {
    /// The fields every endpoint shares, taken out before the decoder's own request is decoded.
    package struct Common {
        package var model: ContainerCatalog.Model
        package var n = 1
        package var inline = false
        package var object: [String: Any]
    }

    package static func common(_ body: Data, endpoint: String, catalog: ContainerCatalog) throws -> Common {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw APIError.invalid(nil, "the body is not a JSON object")
        }
        if let model = object["model"], !(model is String) { throw APIError.invalid("model", "'model' must be a string") }
        var common = Common(model: try catalog.model(object["model"] as? String, endpoint: endpoint), object: object)
        if let n = object["n"] {
            guard let count = n as? Int, (1...4).contains(count) else { throw APIError.invalid("n", "'n' must be an integer from 1 to 4") }
            common.n = count
        }
        switch object["response_format"] {
        case nil, "url" as String: break
        case "b64_json" as String: common.inline = true
        default: throw APIError.invalid("response_format", "'response_format' must be url or b64_json")
        }
        // OpenAI's `steps`-less API: our short name for diffusers' `num_inference_steps`.
        if let steps = object["steps"], common.object["num_inference_steps"] == nil { common.object["num_inference_steps"] = steps }
        if let size = object["size"] {
            guard let text = size as? String, let (width, height) = Self.size(text) else {
                throw APIError.invalid("size", "'size' must be WIDTHxHEIGHT in pixels, multiples of 8 (e.g. 512x512)")
            }
            common.object["width"] = width
            common.object["height"] = height
        }
        for key in ["n", "size", "response_format", "model", "steps", "user", "quality", "style"] { common.object[key] = nil }
        return common
    }

    package static func size(_ text: String) -> (Int, Int)? {
        let parts = text.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts.allSatisfy({ $0 > 0 && $0 % 8 == 0 && $0 <= 2048 }) else { return nil }
        return (parts[0], parts[1])
    }

    package static func decode<R: JSONRequest>(_ type: R.Type, _ object: [String: Any]) throws -> R {
        do { return try R(json: try JSONSerialization.data(withJSONObject: object)) } catch let error as RequestArgumentError {
            throw APIError(error)
        }
    }

    /// Checks the pipelines would make at run time, made before the request waits. At most 500
    /// steps: the schedulers' spacing over 1000 training timesteps runs out past that.
    package static func check(steps: Int, guidance: Double, scheduler: String?, width: Int?, height: Int?, prefix: String = "") throws {
        guard (1...500).contains(steps) else {
            throw APIError.invalid(prefix + "num_inference_steps", "'\(prefix)num_inference_steps' must be from 1 to 500")
        }
        guard guidance.isFinite else { throw APIError.invalid(prefix + "guidance_scale", "'\(prefix)guidance_scale' must be a finite number") }
        if let scheduler, SchedulerKind(userName: scheduler) == nil {
            throw APIError.invalid(prefix + "scheduler", "unknown scheduler '\(scheduler)' (pndm, ddim, euler, euler-a)")
        }
        for (name, value) in [("width", width), ("height", height)] {
            if let value, !(value > 0 && value % 8 == 0 && value <= 2048) {
                throw APIError.invalid(prefix + name, "'\(prefix)\(name)' must be a positive multiple of 8 up to 2048")
            }
        }
    }

    /// `/v1/images/generations`.
    package static func images(_ body: Data, catalog: ContainerCatalog) throws -> (Common, StableDiffusionRequest) {
        let common = try common(body, endpoint: "images", catalog: catalog)
        let sd = try decode(StableDiffusionRequest.self, common.object)
        try check(steps: sd.steps, guidance: sd.guidanceScale, scheduler: sd.scheduler, width: sd.width, height: sd.height)
        return (common, sd)
    }

    /// `/v1/audio/generations` (`seconds` is our short name for `audio_length_in_s`).
    package static func audio(_ body: Data, catalog: ContainerCatalog) throws -> (Common, AudioLDMRequest) {
        var common = try common(body, endpoint: "audio", catalog: catalog)
        if let seconds = common.object["seconds"], common.object["audio_length_in_s"] == nil { common.object["audio_length_in_s"] = seconds }
        common.object["seconds"] = nil
        guard common.object["prompt"] != nil else { throw APIError.invalid("prompt", "'prompt' is required") }
        let audio = try decode(AudioLDMRequest.self, common.object)
        try check(steps: audio.steps, guidance: audio.guidanceScale, scheduler: audio.scheduler, width: nil, height: nil)
        if let seconds = audio.audioLengthInS, !(seconds > 0 && seconds <= 60) {
            throw APIError.invalid("audio_length_in_s", "'audio_length_in_s' (seconds) must be in (0, 60]")
        }
        return (common, audio)
    }

    /// `/v1/videos/generations` (`frames` and `fps` are ours; `fps` is the MP4's, not the pipeline's).
    package static func videos(_ body: Data, catalog: ContainerCatalog) throws -> (Common, TextToVideoRequest, fps: Int) {
        var common = try common(body, endpoint: "videos", catalog: catalog)
        if let frames = common.object["frames"], common.object["num_frames"] == nil { common.object["num_frames"] = frames }
        var fps = 8
        if let given = common.object["fps"] {
            guard let n = given as? Int, (1...60).contains(n) else { throw APIError.invalid("fps", "'fps' must be an integer from 1 to 60") }
            fps = n
        }
        for key in ["frames", "fps"] { common.object[key] = nil }
        let video = try decode(TextToVideoRequest.self, common.object)
        try check(steps: video.steps, guidance: video.guidanceScale, scheduler: video.scheduler, width: video.width, height: video.height)
        guard (1...256).contains(video.numFrames) else { throw APIError.invalid("num_frames", "'num_frames' must be from 1 to 256") }
        return (common, video, fps)
    }
}
