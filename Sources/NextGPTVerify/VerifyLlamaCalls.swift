import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama
import NextGPTTokenizers

/// Model-level calls on a LLaMA component (`vicuna`): logits, hidden states, greedy ids.
/// Common arguments:
/// - `lora`: [{"path", "scale", "mode"}] adapters applied at load (paths relative to the bundle;
///   mode `auto` (default), `merge`, `merge-f16` or `runtime`);
/// - `delta_lora`: apply the NExT-GPT LoRA stored in the container (default true), `delta_lora_mode` (`auto`);
/// - `repack` (true): Q8_0/Q4_0/Q4_K weights in the decode kernels' interleaved copy, as `generate` runs;
/// - `activations`: `"runtime"` (default: the runtime's kernels, 8-bit activations for small batches)
///   or `"f32"` (f32 activations against dequantized weights: isolates weight quantization);
/// - `cache_type`: how the KV cache stores keys and values, `"f32"` (default) or `"f16"`.
enum VerifyLlamaCalls {
    static let all: [VerifyCall] = [tokenize, logits, hidden, greedy, logitsDelta]

    static let tokenize = VerifyCall(
        "tokenize", inputs: [], outputs: ["ids"],
        summary: "SentencePiece ids of args.text (NExT-GPT's added tokens matched whole); args add_bos (true)"
    ) { ctx in
        let text = try ctx.string("text", default: "")
        guard ctx.args["text"] != nil else { throw ProbeError("argument 'text' is required") }
        let tokenizer: SentencePieceTokenizer
        do {
            tokenizer = try SentencePieceTokenizer(metadata: ctx.model.metadata, component: ctx.probe.component)
        } catch let error as TokenizerError {
            throw ProbeError("\(ctx.model.container.file.path): \(error.description)")
        }
        let ids = tokenizer.encode(text, addBOS: try ctx.bool("add_bos", default: true))
        return ["ids": Tensor(shape: [ids.count], values: ids.map(Float.init))]
    }

    static let logits = VerifyCall(
        "logits", inputs: ["ids"], outputs: ["logits"],
        summary: "LLaMA forward over ids [T] → logits [T, vocab]; args lora, delta_lora, activations"
    ) { ctx in
        try withModel(ctx) { model, context in
            ["logits": model.logits(hidden: model.hiddenStates([.tokens(try ids(ctx))], cache: model.makeCache(type: try cacheType(ctx)),
                                                               context: context),
                                    context: context)]
        }
    }

    static let hidden = VerifyCall(
        "hidden", inputs: ["ids"], outputs: ["hidden"],
        summary: "LLaMA hidden states after the final norm [T, hidden]; args as logits"
    ) { ctx in
        try withModel(ctx) { model, context in
            ["hidden": model.hiddenStates([.tokens(try ids(ctx))], cache: model.makeCache(type: try cacheType(ctx)), context: context)]
        }
    }

    static let greedy = VerifyCall(
        "greedy", inputs: ["ids"], outputs: ["ids"],
        summary: "greedy continuation of ids: the new ids (eos included when reached); args max_new_tokens (16), as logits"
    ) { ctx in
        let steps = try ctx.int("max_new_tokens", default: 16)
        return try withModel(ctx) { model, context in
            let generator = LlamaGenerator(model: model, cacheType: try cacheType(ctx))
            let result = generator.generate([.tokens(try ids(ctx))], maxNewTokens: steps, sampling: .greedy,
                                            stopTokens: Set(model.config.eosTokenIds), context: context)
            return ["ids": Tensor(shape: [result.ids.count], values: result.ids.map(Float.init))]
        }
    }

    /// The change LoRA makes: logits with the adapters minus logits without. Its cosine with
    /// PyTorch's change is the LoRA Δ-cosine.
    static let logitsDelta = VerifyCall(
        "logits_lora_delta", inputs: ["ids"], outputs: ["delta"],
        summary: "logits with args.lora and the stored delta LoRA (unless delta_lora is false) minus logits with neither → [T, vocab]"
    ) { ctx in
        let tokens = try ids(ctx)
        let base = try withModel(ctx, includeAdapters: false) { model, context in
            model.logits(hidden: model.hiddenStates([.tokens(tokens)], cache: model.makeCache(), context: context), context: context)
        }
        let adapted = try withModel(ctx) { model, context in
            model.logits(hidden: model.hiddenStates([.tokens(tokens)], cache: model.makeCache(), context: context), context: context)
        }
        return ["delta": Elementwise.add(adapted, Elementwise.scale(base, by: -1))]
    }

    static func ids(_ ctx: ProbeContext) throws -> [Int] {
        let t = try ctx.input("ids")
        let values = t.values
        guard !values.isEmpty, values.allSatisfy({ $0 >= 0 && $0 == $0.rounded() }) else {
            throw ProbeError("input 'ids' must hold non-negative integers")
        }
        return values.map { Int($0) }
    }

    static func cacheType(_ ctx: ProbeContext) throws -> KVCacheType {
        let name = try ctx.string("cache_type", default: LlamaCache.defaultType.rawValue)
        guard let type = KVCacheType(rawValue: name) else {
            throw ProbeError("argument 'cache_type' must be \"f32\" or \"f16\", got \"\(name)\"")
        }
        return type
    }

    static func withModel<R>(_ ctx: ProbeContext, includeAdapters: Bool = true,
                             _ body: (LlamaForCausalLM, ExecutionContext) throws -> R) throws -> R {
        var options = LoadOptions(repackQuantized: try ctx.bool("repack", default: true), context: ctx.execution)
        if includeAdapters, try ctx.bool("delta_lora", default: true) {
            options.lora.append(.storedDelta(mode: try loraMode(try ctx.string("delta_lora_mode", default: "auto"))))
        }
        if includeAdapters { options.lora += try loraSpecs(ctx).map { .adapter($0) } }
        let model = try LlamaForCausalLM(ctx.model, component: ctx.probe.component, options: options)
        return try body(model, try ctx.activationsContext())
    }

    static func loraMode(_ text: String) throws -> LoraSpec.Mode {
        guard let mode = LoraSpec.Mode(rawValue: text) else {
            throw ProbeError("LoRA mode must be one of \(LoraSpec.Mode.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"")
        }
        return mode
    }

    static func loraSpecs(_ ctx: ProbeContext) throws -> [LoraSpec] {
        guard let value = ctx.args["lora"], value != .null else { return [] }
        guard case .array(let items) = value else { throw ProbeError("argument 'lora' must be a list of {path, scale, mode}") }
        let folder = (ctx.bundle.path as NSString).deletingLastPathComponent
        return try items.map { item in
            guard case .object(let o) = item, case .string(let path)? = o["path"] else {
                throw ProbeError("each 'lora' entry needs a string 'path'")
            }
            var scale: Float = 1
            if case .number(let s)? = o["scale"] { scale = Float(s) }
            var mode = LoraSpec.Mode.automatic
            if case .string(let m)? = o["mode"] { mode = try loraMode(m) }
            var alpha: Float?
            if case .number(let a)? = o["delta_alpha"] { alpha = Float(a) }
            let resolved = path.hasPrefix("/") ? path : "\(folder)/\(path)"
            return LoraSpec(path: resolved, scale: scale, mode: mode, deltaAlpha: alpha)
        }
    }
}
