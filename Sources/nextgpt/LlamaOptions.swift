import ArgumentParser
import Foundation
import NextGPTCore
import NextGPTKernels
import NextGPTRuntime

/// Options shared by `generate` and `chat`: the container, LoRA, sampling, threads.
struct LlamaOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("Container with a LLaMA component.", valueName: "file.gguf"))
    var model: String

    @Option(help: "The LLaMA component of the container.")
    var component = "vicuna"

    @Option(name: .shortAndLong, help: "Tokens to generate at most.")
    var n = 128

    @Option(help: "Temperature; 0 is greedy.")
    var temp: Float = 0.8

    @Option(help: "Top-p (nucleus) mass; 1 turns it off.")
    var topP: Float = 0.95

    @Option(help: "Top-k; 0 turns it off.")
    var topK = 40

    @Option(help: "Repetition penalty (Hugging Face semantics); 1 turns it off.")
    var repeatPenalty: Float = 1.1

    @Option(help: "Sampling seed.")
    var seed: UInt64 = 0

    @Option(name: .customLong("lora"), help: ArgumentHelp("peft adapter or NExT-GPT delta applied at load; repeatable.", valueName: "path[:scale]"))
    var loras: [String] = []

    @Option(help: "How LoRA is applied: auto (merge into f32 weights, runtime otherwise), merge, merge-f16, runtime.")
    var loraMode = "auto"

    @Option(help: "lora_alpha a NExT-GPT delta given to --lora was trained with (default: its rank).")
    var deltaLoraAlpha: Float?

    @Flag(help: "Do not apply the NExT-GPT LoRA stored in the container by `convert --delta`.")
    var noDeltaLora = false

    @Option(name: .customLong("stop"), help: "Stop string; repeatable.")
    var stops: [String] = []

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Read Q8_0/Q4_0 weights from the mapping instead of an interleaved copy (less memory, slower decode).")
    var noRepack = false

    var sampling: SamplingParameters {
        SamplingParameters(temperature: temp, topK: topK, topP: topP, repetitionPenalty: repeatPenalty, seed: seed)
    }

    /// The context the model runs in (`--threads`).
    func executionContext() -> ExecutionContext { .command(threads: threads) }

    /// Opens the container and builds the model with its LoRA and the tokenizer.
    func load(context: ExecutionContext) throws -> (ModelFile, LlamaForCausalLM, SentencePieceTokenizer) {
        guard let mode = LoraSpec.Mode(rawValue: loraMode) else {
            throw ValidationError("unknown --lora-mode '\(loraMode)' (auto, merge, merge-f16, runtime)")
        }
        do {
            let file = try ModelFile(path: model)
            let llm = try LlamaForCausalLM(file, component: component)
            if !noDeltaLora {
                let n = try llm.applyStoredDeltaLora(file, mode: mode)
                if n > 0 { FileHandle.standardError.write(Data("applied the container's NExT-GPT LoRA (\(n) pairs, \(mode.rawValue))\n".utf8)) }
            }
            let specs = try loras.map { try LoraSpec(argument: $0, mode: mode, deltaAlpha: deltaLoraAlpha) }
            if !specs.isEmpty {
                let n = try llm.applyLora(specs)
                FileHandle.standardError.write(Data("applied \(n) LoRA pairs from \(specs.map(\.path).joined(separator: ", ")) (\(mode.rawValue))\n".utf8))
            }
            if !noRepack { llm.repackWeights(releasingPagesOf: file, context: context) }
            let tokenizer = try SentencePieceTokenizer(metadata: file.metadata, component: component)
            return (file, llm, tokenizer)
        } catch let error as FormatError {
            throw Failure(error.description)
        } catch let error as TokenizerError {
            throw Failure("\(model): \(error.description)")
        }
    }
}

/// Streams a generation to stdout, stopping at stop strings; returns the text and the stats.
func streamGeneration(_ generator: LlamaGenerator, tokenizer: SentencePieceTokenizer, inputs: [LlamaInput],
                      options: LlamaOptions, extraStops: [String] = [], context: ExecutionContext) -> (text: String, stats: GenerationStats, ids: [Int], reason: StopReason) {
    var decoder = tokenizer.makeStreamDecoder()
    let stops = options.stops + extraStops
    var text = ""
    var printed = 0
    let stopTokens = Set(generator.model.config.eosTokenIds + [Int(tokenizer.eosId)])
    let result = generator.generate(inputs, maxNewTokens: options.n, sampling: options.sampling, stopTokens: stopTokens,
                                    context: context) { id, _ in
        text += decoder.push(Int32(id))
        // Hold back text that could still become a stop string.
        if let stop = stops.first(where: { text.contains($0) }) {
            let end = text.range(of: stop)!.lowerBound
            let visible = String(text[..<end])
            if visible.count > printed { print(visible.dropFirst(printed), terminator: "") }
            text = visible
            printed = visible.count
            return false
        }
        let holdBack = stops.map { stop in (1..<max(stop.count, 1)).reversed().first { text.hasSuffix(String(stop.prefix($0))) } ?? 0 }.max() ?? 0
        let safe = text.count - holdBack
        if safe > printed {
            print(text.dropFirst(printed).prefix(safe - printed), terminator: "")
            fflush(stdout)
            printed = safe
        }
        return true
    }
    text += decoder.finish()
    if text.count > printed, !stops.contains(where: { text.contains($0) }) { print(text.dropFirst(printed), terminator: "") }
    fflush(stdout)
    return (text, result.stats, result.ids, result.reason)
}
