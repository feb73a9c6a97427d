import ArgumentParser
import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama
import NextGPTSessions
import NextGPTTokenizers

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

    @Flag(help: "Read Q8_0/Q4_0/Q4_K weights from the mapping instead of an interleaved copy (less memory, slower decode).")
    var noRepack = false

    @Option(help: ArgumentHelp("How the KV cache stores past keys and values: f32, or f16 (half the bytes a decoded token reads; llama.cpp's default).", valueName: "f32|f16"))
    var cacheType = LlamaCache.defaultType

    @OptionGroup var checksums: CheckOption

    var sampling: SamplingParameters {
        SamplingParameters(temperature: temp, topK: topK, topP: topP, repetitionPenalty: repeatPenalty, seed: seed)
    }

    /// The context the model runs in (`--threads`).
    func executionContext() -> ExecutionContext { .command(threads: threads) }

    /// Opens the container and builds the model with its LoRA and the tokenizer.
    func load() throws -> LlamaSession {
        guard let mode = LoraSpec.Mode(rawValue: loraMode) else {
            throw ValidationError("unknown --lora-mode '\(loraMode)' (auto, merge, merge-f16, runtime)")
        }
        // The LLM, and NExT-GPT's component when its stored LoRA is applied.
        try checksums.verify(model) { _ in [component] + (noDeltaLora ? [] : ["nextgpt"]) }
        var options = LlamaSession.Options(path: model)
        options.component = component
        options.storedDeltaLora = noDeltaLora ? nil : mode
        options.repack = !noRepack
        options.cacheType = cacheType
        do {
            options.adapters = try loras.map { try LoraSpec(argument: $0, mode: mode, deltaAlpha: deltaLoraAlpha) }
            return try LlamaSession(options, context: executionContext()) { applied in
                switch applied {
                case .storedDelta(let n, let deltaMode):
                    FileHandle.standardError.write(Data("applied the container's NExT-GPT LoRA (\(n) pairs, \(deltaMode.rawValue))\n".utf8))
                case .adapters(let n, let specs):
                    FileHandle.standardError.write(Data("applied \(n) LoRA pairs from \(specs.map(\.path).joined(separator: ", ")) (\(mode.rawValue))\n".utf8))
                }
            }

        } catch let error as FormatError {
            throw Failure(error.description)
        } catch let error as TokenizerError {
            throw Failure("\(model): \(error.description)")
        }
    }

    /// Streams a generation to stdout, stopping at the stop strings.
    func stream(_ session: LlamaSession, generator: LlamaGenerator, inputs: [LlamaInput], extraStops: [String] = []) -> LlamaSession.Generation {
        let generation = session.generate(inputs, generator: generator, maxNewTokens: n, sampling: sampling, stops: stops + extraStops) { text in
            print(text, terminator: "")
            fflush(nil)  // every C stream: Swift 6 cannot check a reference to the stdout global
        }
        fflush(nil)  // every C stream: Swift 6 cannot check a reference to the stdout global
        return generation
    }
}

extension KVCacheType: ExpressibleByArgument {}
