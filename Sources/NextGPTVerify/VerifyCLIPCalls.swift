import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTTokenizers

/// Calls on a CLIP text encoder component (`sd15.text_encoder`, `zeroscope.text_encoder`); the
/// tokenizer is the pipeline's `tokenizer` beside it (`sd15.tokenizer`).
enum VerifyCLIPCalls {
    static let all: [VerifyCall] = [tokenize, encode]

    static let tokenize = VerifyCall(
        "clip_tokenize", inputs: [], outputs: ["ids"],
        summary: "slow CLIPTokenizer ids of args.text (BOS … EOS); args max_length (model_max_length), padding (\"max_length\" or \"do_not_pad\"), truncation (true)"
    ) { ctx in
        guard case .string(let text)? = ctx.args["text"] else { throw ProbeError("argument 'text' (a string) is required") }
        let prefix = CLIPTokenizer.tokenizerPrefix(forTextEncoder: ctx.probe.component)
        let tokenizer: CLIPTokenizer
        do { tokenizer = try CLIPTokenizer(metadata: ctx.model.metadata, prefix: prefix) } catch let error as TokenizerError {
            throw ProbeError("\(ctx.model.container.file.path): \(error.description)")
        }
        let maxLength = try ctx.int("max_length", default: tokenizer.modelMaxLength)
        let pad: Bool
        switch try ctx.string("padding", default: "max_length") {
        case "max_length": pad = true
        case "do_not_pad": pad = false
        case let other: throw ProbeError("argument 'padding' must be \"max_length\" or \"do_not_pad\", got \"\(other)\"")
        }
        let ids = tokenizer(text, maxLength: maxLength, padToMaxLength: pad, truncation: try ctx.bool("truncation", default: true))
        return ["ids": Tensor(shape: [ids.count], values: ids.map(Float.init))]
    }

    static let encode = VerifyCall(
        "clip_encode", inputs: ["ids"], outputs: ["hidden", "pooled"],
        summary: "CLIPTextModel over ids [T] or [B, T] → hidden [B, T, D] (last_hidden_state, or with args.clip_skip k > 0 layer −(k+1) final-normed as diffusers' encode_prompt), and pooled [B, D] (pooler_output) when expected; args activations (\"runtime\" or \"f32\" against dequantized weights)"
    ) { ctx in
        let input = try ctx.input("ids")
        guard input.rank == 1 || input.rank == 2, input.count > 0 else { throw ProbeError("input 'ids' must be [T] or [B, T], got \(input.shape)") }
        let values = input.values
        guard values.allSatisfy({ $0 >= 0 && $0 == $0.rounded() }) else { throw ProbeError("input 'ids' must hold non-negative integers") }
        let t = input.shape.last!
        let batch = stride(from: 0, to: values.count, by: t).map { values[$0..<($0 + t)].map { Int($0) } }
        let wantsPooled = ctx.probe.expect["pooled"] != nil
        do {
            let model = try CLIPTextModel(ctx.model, component: ctx.probe.component)
            let clipSkip = try ctx.int("clip_skip", default: 0)
            let output = try model(batch, clipSkip: clipSkip, pooled: wantsPooled, context: try ctx.activationsContext())
            var result = ["hidden": output.lastHiddenState]
            if let pooled = output.poolerOutput { result["pooled"] = pooled }
            return result
        } catch let error as CLIPTextModel.InputError {
            throw ProbeError(error.description)
        }
    }
}
