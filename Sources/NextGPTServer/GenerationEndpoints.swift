import Foundation
import Hummingbird
import NextGPTDiffusion
import NextGPTLayers
import NextGPTServerAPI

/// `POST /v1/images/generations`, `/v1/audio/generations`, `/v1/videos/generations`: the body is
/// decoded and checked by `GenerationRequest` (NextGPTServerAPI), then the decoder runs.
struct GenerationEndpoints: Sendable {
    let state: ServerState

    func images(_ request: Request, body: Data, baseURL: String, job: Job) async throws -> Response {
        let (common, sd) = try GenerationRequest.images(body, catalog: state.catalog)
        let (state, count) = (self.state, common.n)
        return try await run(job, common: common, baseURL: baseURL) { job in
            defer { for part in ["text_encoder", "unet", "vae"] { state.file.release(component: "sd15.\(part)") } }
            let pipeline = try StableDiffusionPipeline(state.file, pipeline: "sd15", options: LoadOptions(repackQuantized: true, context: state.context))
            return try (0..<count).map { index in
                var one = sd
                one.seed = sd.seed &+ UInt64(index)
                let decoded = try pipeline.generate(one, context: state.context, progress: job).decoded
                return try state.store.image(decoded, text: [("prompt", sd.prompt), ("seed", String(one.seed)), ("steps", String(sd.steps))])
            }
        }
    }

    func audio(_ request: Request, body: Data, baseURL: String, job: Job) async throws -> Response {
        let (common, audio) = try GenerationRequest.audio(body, catalog: state.catalog)
        let (state, count) = (self.state, common.n)
        return try await run(job, common: common, baseURL: baseURL) { job in
            defer { for part in ["text_encoder", "unet", "vae", "vocoder"] { state.file.release(component: "audioldm.\(part)") } }
            let pipeline = try AudioLDMPipeline(state.file, pipeline: "audioldm", options: LoadOptions(repackQuantized: true, context: state.context))
            return try (0..<count).map { index in
                var one = audio
                one.seed = audio.seed &+ UInt64(index)
                let waveform = try pipeline.generate(one, context: state.context, progress: job).waveform
                return try state.store.audio(waveform, sampleRate: pipeline.samplingRate, title: audio.prompt)
            }
        }
    }

    func videos(_ request: Request, body: Data, baseURL: String, job: Job) async throws -> Response {
        let (common, video, framesPerSecond) = try GenerationRequest.videos(body, catalog: state.catalog)
        let (state, count) = (self.state, common.n)
        return try await run(job, common: common, baseURL: baseURL) { job in
            defer { for part in ["text_encoder", "unet", "vae"] { state.file.release(component: "zeroscope.\(part)") } }
            let pipeline = try TextToVideoSDPipeline(state.file, pipeline: "zeroscope", options: LoadOptions(repackQuantized: true, context: state.context))
            return try (0..<count).map { index in
                var one = video
                one.seed = video.seed &+ UInt64(index)
                let frames = try pipeline.generate(one, context: state.context, progress: job).frames
                return try state.store.video(frames, fps: framesPerSecond)
            }
        }
    }

    /// Waits for the model, runs `body` (stopped when the client goes), answers OpenAI's `{created, data}`.
    func run(_ job: Job, common: borrowing GenerationRequest.Common, baseURL: String, _ body: @escaping @Sendable (Job) throws -> [MediaItem]) async throws -> Response {
        let items = try await state.compute {
            try job.checkCancellation()  // the client left while it waited
            return try body(job)
        }
        return JSONResponse.make([
            "created": Int(Date().timeIntervalSince1970), "model": common.model.rawValue,
            "data": items.map { item -> [String: Any] in
                common.inline ? ["b64_json": item.base64, "mime_type": item.mime] : ["url": "\(baseURL)/files/\(item.name)", "mime_type": item.mime]
            },
        ])
    }
}
