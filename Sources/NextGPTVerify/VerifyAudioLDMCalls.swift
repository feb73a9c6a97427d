import Foundation
import NextGPTCore
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTTokenizers

/// Calls on AudioLDM's CLAP text encoder (`audioldm.text_encoder`, its tokenizer the pipeline's
/// `tokenizer` beside it) and HiFi-GAN vocoder (`audioldm.vocoder`).
enum VerifyAudioLDMCalls {
    static let all: [VerifyCall] = [tokenize, encode, vocoder]

    static let tokenize = VerifyCall(
        "clap_tokenize", inputs: [], outputs: ["ids", "attention_mask"],
        summary: "RobertaTokenizer(args.text) → ids [T] (<s> … </s>, <pad>) and attention_mask [T]; args max_length (model_max_length), padding (\"max_length\" or \"do_not_pad\"), truncation (true)"
    ) { ctx in
        guard case .string(let text)? = ctx.args["text"] else { throw ProbeError("argument 'text' (a string) is required") }
        let prefix = CLIPTokenizer.tokenizerPrefix(forTextEncoder: ctx.probe.component)
        let tokenizer: RobertaTokenizer
        do { tokenizer = try RobertaTokenizer(metadata: ctx.model.metadata, prefix: prefix) } catch let error as TokenizerError {
            throw ProbeError("\(ctx.model.container.file.path): \(error.description)")
        }
        let maxLength = try ctx.int("max_length", default: tokenizer.modelMaxLength)
        guard maxLength >= 2 else { throw ProbeError("argument 'max_length' must be at least 2, got \(maxLength)") }
        let pad: Bool
        switch try ctx.string("padding", default: "max_length") {
        case "max_length": pad = true
        case "do_not_pad": pad = false
        case let other: throw ProbeError("argument 'padding' must be \"max_length\" or \"do_not_pad\", got \"\(other)\"")
        }
        let encoding = tokenizer(text, maxLength: maxLength, padToMaxLength: pad, truncation: try ctx.bool("truncation", default: true))
        return ["ids": Tensor(shape: [encoding.ids.count], values: encoding.ids.map(Float.init)),
                "attention_mask": Tensor(shape: [encoding.attentionMask.count], values: encoding.attentionMask.map(Float.init))]
    }

    static let encode = VerifyCall(
        "clap_encode", inputs: ["ids"], optionalInputs: ["attention_mask"], outputs: ["text_embeds", "last_hidden_state"],
        summary: "ClapTextModelWithProjection over ids [T] or [B, T] (attention_mask of the same shape, optional) → text_embeds [B, P] (before normalisation), and last_hidden_state [B, T, D] when expected; args activations (\"runtime\" or \"f32\" against dequantized weights)"
    ) { ctx in
        let batch = try rows(ctx.input("ids"), name: "ids")
        let mask = try ctx.optionalInput("attention_mask").map { try rows($0, name: "attention_mask") }
        do {
            let model = try ClapTextModelWithProjection(ctx.model, component: ctx.probe.component)
            let output = try model(batch, attentionMask: mask, context: try ctx.activationsContext())
            var result = ["text_embeds": output.textEmbeds]
            if ctx.probe.expect["last_hidden_state"] != nil { result["last_hidden_state"] = output.lastHiddenState }
            return result
        } catch let error as ClapTextModelWithProjection.InputError {
            throw ProbeError(error.description)
        }
    }

    static let vocoder = VerifyCall(
        "vocoder", inputs: ["mel"], outputs: ["waveform"],
        summary: "SpeechT5HifiGan: mel [B, frames, bins] (or [frames, bins]) → waveform [B, samples] (or [samples]); args activations"
    ) { ctx in
        let model = try SpeechT5HifiGan(ctx.model, component: ctx.probe.component)
        do {
            return ["waveform": try model(try ctx.input("mel"), context: try ctx.activationsContext())]
        } catch let error as SpeechT5HifiGan.InputError {
            throw ProbeError(error.description)
        }
    }

    /// A [T] or [B, T] tensor of non-negative integers as rows of ints.
    static func rows(_ tensor: Tensor, name: String) throws -> [[Int]] {
        guard tensor.rank == 1 || tensor.rank == 2, tensor.count > 0 else { throw ProbeError("input '\(name)' must be [T] or [B, T], got \(tensor.shape)") }
        let values = tensor.values
        guard values.allSatisfy({ $0 >= 0 && $0 == $0.rounded() }) else { throw ProbeError("input '\(name)' must hold non-negative integers") }
        let t = tensor.shape.last!
        return stride(from: 0, to: values.count, by: t).map { values[$0..<($0 + t)].map { Int($0) } }
    }
}
