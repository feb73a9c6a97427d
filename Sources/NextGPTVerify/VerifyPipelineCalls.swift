import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTKernels
import NextGPTLayers

/// Whole-pipeline calls: a Stable Diffusion run from prompt to image, as diffusers'
/// `StableDiffusionPipeline(...)(output_type="np")` gives it. The probe's component is any
/// component of the pipeline (`sd15.unet`); the pipeline is the part before the first dot.
enum VerifyPipelineCalls {
    static let all: [VerifyCall] = [txt2img]

    static let txt2img = VerifyCall(
        "txt2img", inputs: [], optionalInputs: ["latents", "init_image", "prompt_embeds", "negative_prompt_embeds"], outputs: ["image"],
        summary: "prompt (or prompt_embeds [1, 77, D], NExT-GPT's path; negative_prompt_embeds likewise) → image [H, W, 3] in [0, 1]; args prompt, negative_prompt, steps, guidance_scale, scheduler, height, width, seed, eta, clip_skip, strength (with init_image [1, 3, H, W] in [-1, 1]), repack (true)"
    ) { ctx in
        let pipelineName = String(ctx.probe.component.split(separator: ".").first ?? "sd15")
        // The bundles name diffusers' `num_inference_steps` `steps`; the other arguments are the request's own keys.
        var arguments = ctx.args
        if let steps = arguments.removeValue(forKey: "steps") { arguments["num_inference_steps"] = steps }
        var request: StableDiffusionRequest
        do {
            request = try StableDiffusionRequest(json: try JSONSerialization.data(withJSONObject: arguments.mapValues(\.any)))
        } catch let error as RequestArgumentError {
            throw ProbeError(error.description)
        }
        request.latents = try ctx.optionalInput("latents")
        request.initImage = try ctx.optionalInput("init_image")
        request.promptEmbeds = try ctx.optionalInput("prompt_embeds")
        request.negativePromptEmbeds = try ctx.optionalInput("negative_prompt_embeds")
        // As `nextgpt sd` runs by default: Q8_0/Q4_0 weights in the integer kernels' layout.
        // A fresh mapping, so the copies and dropped pages do not outlive the probe.
        let repack = try ctx.bool("repack", default: true)
        do {
            let file = repack ? try ModelFile(path: ctx.model.container.file.path) : ctx.model
            let pipeline = try StableDiffusionPipeline(file, pipeline: pipelineName,
                                                       options: LoadOptions(repackQuantized: repack, context: ctx.execution))
            return ["image": StableDiffusionPipeline.imageFromDecoded(try pipeline.generate(request, context: ctx.execution).decoded)]
        } catch let error as ProbeError {
            throw error
        } catch {
            throw ProbeError(String(describing: error))
        }
    }
}
