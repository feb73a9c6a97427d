import Foundation
import NextGPTCore
import NextGPTKernels

/// Whole-pipeline calls: a Stable Diffusion run from prompt to image, as diffusers'
/// `StableDiffusionPipeline(...)(output_type="np")` gives it. The probe's component is any
/// component of the pipeline (`sd15.unet`); the pipeline is the part before the first dot.
enum VerifyPipelineCalls {
    static let all: [VerifyCall] = [txt2img]

    static let txt2img = VerifyCall(
        "txt2img", inputs: [], optionalInputs: ["latents", "init_image"], outputs: ["image"],
        summary: "prompt → image [H, W, 3] in [0, 1]; args prompt, negative_prompt, steps, guidance_scale, scheduler, height, width, seed, eta, clip_skip, strength (with init_image [1, 3, H, W] in [-1, 1]), repack (true)"
    ) { ctx in
        let pipelineName = String(ctx.probe.component.split(separator: ".").first ?? "sd15")
        var request = StableDiffusionRequest(prompt: try ctx.string("prompt", default: ""))
        guard ctx.args["prompt"] != nil else { throw ProbeError("argument 'prompt' is required") }
        request.negativePrompt = try ctx.string("negative_prompt", default: "")
        request.steps = try ctx.int("steps", default: 50)
        request.guidanceScale = try ctx.double("guidance_scale") ?? 7.5
        if ctx.args["scheduler"] != nil { request.scheduler = try ctx.string("scheduler", default: "") }
        if ctx.args["height"] != nil { request.height = try ctx.int("height", default: 0) }
        if ctx.args["width"] != nil { request.width = try ctx.int("width", default: 0) }
        let seed = try ctx.int("seed", default: 0)
        guard seed >= 0 else { throw ProbeError("argument 'seed' must be non-negative") }
        request.seed = UInt64(seed)
        request.eta = try ctx.double("eta") ?? 0
        request.clipSkip = try ctx.int("clip_skip", default: 0)
        request.latents = try ctx.optionalInput("latents")
        request.initImage = try ctx.optionalInput("init_image")
        request.strength = try ctx.double("strength") ?? 0.8
        request.vaeTiling = try ctx.bool("vae_tiling", default: false)
        // As `nextgpt sd` runs by default: Q8_0/Q4_0 weights in the integer kernels' layout.
        // A fresh mapping, so the copies and dropped pages do not outlive the probe.
        let repack = try ctx.bool("repack", default: true)
        do {
            let file = repack ? try ModelFile(path: ctx.model.container.file.path) : ctx.model
            file.repackQuantized = repack
            let pipeline = try StableDiffusionPipeline(file, pipeline: pipelineName)
            return ["image": StableDiffusionPipeline.imageFromDecoded(try pipeline.generate(request, context: ctx.execution).decoded)]
        } catch let error as ProbeError {
            throw error
        } catch {
            throw ProbeError(String(describing: error))
        }
    }
}
