import Foundation
import NextGPTAnyToAny
import NextGPTCore
import NextGPTKernels
import NextGPTLlama
import NextGPTTokenizers

/// Calls on NExT-GPT's own modules in the `nextgpt` component.
enum VerifyAnyToAnyCalls {
    static let all: [VerifyCall] = [outputProjection, promptLogits, signalConditioning, generate]

    static func chunking(_ ctx: ProbeContext) throws -> NExTGPTPrompt.Chunking {
        let name = try ctx.string("chunking", default: "upstream")
        switch name {
        case "upstream": return .upstream
        case "every_tag": return .everyTag
        default: throw ProbeError("argument 'chunking' must be \"upstream\" or \"every_tag\", got \"\(name)\"")
        }
    }

    static func llmInputs(_ ctx: ProbeContext, _ builder: NExTGPTInputs, prompt: String, context: ExecutionContext) throws -> [LlamaInput] {
        do {
            return try builder.inputs(NExTGPTPrompt.segments(prompt, chunking: try chunking(ctx)), media: try ctx.optionalInput("media"),
                                      context: context)
        } catch let error as NExTGPTInputs.MediaCountError {
            throw ProbeError(error.description)
        } catch let error as NExTGPTInputProjection.InputError {
            throw ProbeError(error.description)
        }
    }

    static let generate = VerifyCall(
        "nextgpt_generate", inputs: [], optionalInputs: ["media"], outputs: ["ids"],
        summary: "NExT-GPT's generation from prepare_generation_embedding(prompt): the demo's sampling (top_p 0.01, temperature 1, top_k 50: the most likely token unless two tie), stop at ▁### or EOS (included) → ids [n]; args prompt (required), max_new_tokens (16), chunking, and the LLaMA calls' arguments"
    ) { ctx in
        guard case .string(let prompt)? = ctx.args["prompt"] else { throw ProbeError("argument 'prompt' (a string) is required") }
        let builder = try inputs(ctx)
        var options = NExTGPTGenerationOptions()
        options.maxNewTokens = try ctx.int("max_new_tokens", default: 16)
        return try VerifyLlamaCalls.withModel(ctx) { model, context in
            let generator = try NExTGPTGenerator(model: model, tokenizer: builder.tokenizer)
            let reply = generator.generate(try llmInputs(ctx, builder, prompt: prompt, context: context), options: options, context: context)
            return ["ids": Tensor(shape: [reply.ids.count], values: reply.ids.map(Float.init))]
        }
    }

    /// NExT-GPT's tokenizer (the LLaMA component's, with the delta's added tokens) and `llama_proj`.
    static func inputs(_ ctx: ProbeContext) throws -> NExTGPTInputs {
        do {
            let tokenizer = try SentencePieceTokenizer(metadata: ctx.model.metadata, component: ctx.probe.component)
            return try NExTGPTInputs(tokenizer: tokenizer, projection: try NExTGPTInputProjection(ctx.model))
        } catch let error as TokenizerError {
            throw ProbeError("\(ctx.model.container.file.path): \(error.description)")
        }
    }

    static let promptLogits = VerifyCall(
        "prompt_logits", inputs: [], optionalInputs: ["media"], outputs: ["logits", "inputs_embeds"],
        summary: "prepare_generation_embedding(prompt) then the delta-augmented LLaMA: media [M, D] (ImageBind embeddings of the tagged items, in tag order; absent for none) → logits [L, vocab], optional inputs_embeds [L, H]; args prompt (required, before '\\n### Assistant:' is appended), chunking (\"upstream\" default, or \"every_tag\"), and the LLaMA calls' lora/delta_lora/repack/activations"
    ) { ctx in
        guard case .string(let prompt)? = ctx.args["prompt"] else { throw ProbeError("argument 'prompt' (a string) is required") }
        let builder = try inputs(ctx)
        return try VerifyLlamaCalls.withModel(ctx) { model, context in
            let llmInputs = try llmInputs(ctx, builder, prompt: prompt, context: context)
            let embeds = model.model.embed(llmInputs)
            let hidden = model.model(inputsEmbeds: embeds, cache: model.makeCache(capacity: embeds.shape[0]), context: context)
            var result = ["logits": model.logits(hidden: hidden, context: context)]
            if ctx.probe.expect["inputs_embeds"] != nil { result["inputs_embeds"] = embeds }
            return result
        }
    }

    static let signalConditioning = VerifyCall(
        "signal_conditioning", inputs: ["ids"], outputs: ["image", "video", "audio"],
        summary: "the delta-augmented LLaMA over ids [T] holding signal-token runs, then each run's projector: the final-norm hidden states at the positions whose inputs are the run's tokens, plus the run's input embeddings → image/video/audio [1, Q, D] (each when its run is present and expected); args as the LLaMA calls"
    ) { ctx in
        let ids = try VerifyLlamaCalls.ids(ctx)
        let signals = try inputs(ctx).signals
        let runs = signals.completeRuns(in: ids)
        return try VerifyLlamaCalls.withModel(ctx) { model, context in
            let hidden = model.hiddenStates([.tokens(ids)], cache: model.makeCache(capacity: ids.count), context: context)
            var result: [String: Tensor] = [:]
            for modality in SignalModality.allCases where ctx.probe.expect[modality.rawValue] != nil {
                guard let start = runs[modality] else { throw ProbeError("ids hold no complete \(modality.rawValue) signal-token run") }
                let run = signals.runs[modality]!
                let rows = Shape.split(hidden, sizes: [start, run.count, ids.count - start - run.count].filter { $0 >= 0 }, dim: 0)
                let runHidden = start == 0 ? rows[0] : rows[1]
                let projector = try TextFcLayer(ctx.model, modality: modality)
                let embeds = model.model.embed([.tokens(run)])
                result[modality.rawValue] = try projector(runHidden.reshaped([1, run.count, hidden.shape[1]]),
                                                          inputEmbs: embeds.reshaped([1, run.count, hidden.shape[1]]), context: context)
            }
            return result
        }
    }

    static let outputProjection = VerifyCall(
        "output_projection", inputs: ["hidden", "input_embs"], outputs: ["out"],
        summary: "NExT-GPT's TextFcLayer (transformer mode) for one modality: hidden [1, N, H] (final-norm hidden states of the signal tokens) and input_embs [1, N, H] (their input embeddings) → out [1, Q, D]; args modality (\"image\", \"video\" or \"audio\", required), activations"
    ) { ctx in
        let name = try ctx.string("modality", default: "")
        guard let modality = SignalModality(rawValue: name) else {
            throw ProbeError("argument 'modality' must be \"image\", \"video\" or \"audio\", got \"\(name)\"")
        }
        let projector = try TextFcLayer(ctx.model, modality: modality, component: ctx.probe.component)
        do {
            return ["out": try projector(try ctx.input("hidden"), inputEmbs: try ctx.input("input_embs"), context: try ctx.activationsContext())]
        } catch let error as TextFcLayer.InputError {
            throw ProbeError(error.description)
        }
    }
}
