import Foundation
import NextGPTCore
import NextGPTImageBind
import NextGPTKernels
import NextGPTMedia

/// Calls on an ImageBind component (`imagebind`) and on NExT-GPT's input projection (`nextgpt`).
enum VerifyImageBindCalls {
    static let all: [VerifyCall] = [preprocessImage, embed, llamaProj]

    static let preprocessImage = VerifyCall(
        "imagebind_preprocess_image", inputs: ["rgb"], outputs: ["pixel_values", "pixels"],
        summary: "imagebind/data.py load_and_transform_vision_data after Image.open().convert(\"RGB\"): rgb [H, W, 3] (integers 0–255) → pixel_values [1, 3, 224, 224] (Resize(224, BICUBIC) as Pillow's uint8 resize, CenterCrop(224), ToTensor, CLIP Normalize), and pixels [224, 224, 3] (the uint8 crop ToTensor receives) when expected"
    ) { ctx in
        do {
            let crop = try ImageBindImageTransform.resizedCrop(try ImageBindImageTransform.image(fromRGB: try ctx.input("rgb")))
            var result: [String: Tensor] = [:]
            if ctx.probe.expect["pixel_values"] != nil { result["pixel_values"] = try ImageBindImageTransform.pixelValues(fromCrop: crop) }
            if ctx.probe.expect["pixels"] != nil {
                result["pixels"] = Tensor(shape: [crop.height, crop.width, 3], values: crop.pixels.map(Float.init))
            }
            return result
        } catch let error as ImageError {
            throw ProbeError(error.description)
        }
    }

    static let embed = VerifyCall(
        "imagebind_embed", inputs: ["x"], outputs: ["embedding", "normalized"],
        summary: "ImageBindModel({modality: x})[modality] → embedding [B, D] (x: [B, 3, H, W] images, [B, S, 3, T, H, W] video clips or [B, S, 1, mel, frames] audio; rank ≥ 5 averaged over S), and normalized [B, D] (before any logit scale) when expected; args modality (\"vision\" or \"audio\", required), audio_logit_scale (false: NExT-GPT; true: upstream ×20), activations"
    ) { ctx in
        let name = try ctx.string("modality", default: "")
        guard let modality = ImageBindModality(rawValue: name) else {
            throw ProbeError("argument 'modality' must be \"vision\" or \"audio\", got \"\(name)\"")
        }
        let x = try ctx.input("x")
        let model = try ImageBindModel(ctx.model, component: ctx.probe.component)
        let context = try ctx.activationsContext()
        do {
            let scaled = try ctx.bool("audio_logit_scale", default: false)
            var result = ["embedding": try model(x, modality: modality, audioLogitScale: scaled, context: context)]
            if ctx.probe.expect["normalized"] != nil {
                result["normalized"] = scaled ? try model(x, modality: modality, context: context) : result["embedding"]
            }
            return result
        } catch let error as ImageBindModel.InputError {
            throw ProbeError(error.description)
        }
    }

    static let llamaProj = VerifyCall(
        "llama_proj", inputs: ["embedding"], outputs: ["out"],
        summary: "NExT-GPT's llama_proj (nn.Linear, in the nextgpt component): embedding [N, D] → out [N, 1, H]; args activations"
    ) { ctx in
        let projection = try NExTGPTInputProjection(ctx.model, component: ctx.probe.component)
        let embedding = try ctx.input("embedding")
        guard embedding.rank == 2, embedding.shape[1] == projection.inFeatures else {
            throw ProbeError("input 'embedding' must be [N, \(projection.inFeatures)], got \(embedding.shape)")
        }
        return ["out": try projection(embedding, context: try ctx.activationsContext())]
    }
}
