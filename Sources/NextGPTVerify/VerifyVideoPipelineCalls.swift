import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTKernels
import NextGPTLayers

/// Whole text-to-video runs: diffusers' `TextToVideoSDPipeline(...)(output_type="np").frames[0]`
/// (ZeroScope). The probe's component is the pipeline's UNet (`zeroscope.unet`); the pipeline is
/// the part before the first dot.
enum VerifyVideoPipelineCalls {
    static let all: [VerifyCall] = [txt2video]

    static let txt2video = VerifyCall(
        "txt2video", inputs: [], optionalInputs: ["latents", "prompt_embeds", "negative_prompt_embeds"], outputs: ["frames"],
        summary: "prompt (or prompt_embeds [1, S, D], NExT-GPT's path; negative_prompt_embeds likewise; latents [1, C, F, h, w]) → frames [F, H, W, 3] in [0, 1]; args prompt, negative_prompt, steps, guidance_scale, height, width, num_frames, scheduler, eta, seed, decode_chunk_size, repack (true)"
    ) { ctx in
        let pipelineName = String(ctx.probe.component.split(separator: ".").first ?? "zeroscope")
        // The bundles name diffusers' `num_inference_steps` `steps`; the other arguments are the request's own keys.
        var arguments = ctx.args
        arguments.removeValue(forKey: "repack")
        if let steps = arguments.removeValue(forKey: "steps") { arguments["num_inference_steps"] = steps }
        var request: TextToVideoRequest
        do {
            request = try TextToVideoRequest(json: try JSONSerialization.data(withJSONObject: arguments.mapValues(\.any)))
        } catch let error as RequestArgumentError {
            throw ProbeError(error.description)
        }
        request.latents = try ctx.optionalInput("latents")
        request.promptEmbeds = try ctx.optionalInput("prompt_embeds")
        request.negativePromptEmbeds = try ctx.optionalInput("negative_prompt_embeds")
        // As `nextgpt video` runs by default: Q8_0/Q4_0 weights in the integer kernels' layout,
        // on a fresh mapping so the copies do not outlive the probe.
        let repack = try ctx.bool("repack", default: true)
        do {
            let file = repack ? try ModelFile(path: ctx.model.container.file.path) : ctx.model
            let pipeline = try TextToVideoSDPipeline(file, pipeline: pipelineName,
                                                     options: LoadOptions(repackQuantized: repack, context: ctx.execution))
            return ["frames": try pipeline.generate(request, context: ctx.execution).frames]
        } catch let error as ProbeError {
            throw error
        } catch {
            throw ProbeError(String(describing: error))
        }
    }
}
