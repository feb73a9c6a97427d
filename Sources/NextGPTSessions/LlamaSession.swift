import Foundation
import NextGPTCore
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama
import NextGPTTokenizers

/// A LLaMA (Vicuna) component ready to generate: the opened container, the model with its LoRA
/// applied and its weights repacked, and the tokenizer. `generate`, `chat` and `bench` run on it;
/// the orchestrator and the server will too.
public struct LlamaSession: Sendable {
    /// Everything that decides how the model is loaded.
    public struct Options: Sendable, Equatable {
        /// The container file.
        public var path: String
        public var component = "vicuna"
        /// Mode the NExT-GPT LoRA stored by `convert --delta` is applied in; nil leaves it out.
        public var storedDeltaLora: LoraSpec.Mode? = .automatic
        /// Adapters applied after it, in order (each with its scale, mode and NExT-GPT delta alpha).
        public var adapters: [LoraSpec] = []
        /// Copy Q8_0 / Q4_0 / Q4_K weights into the decode kernels' interleaved layout after LoRA and
        /// drop the mapped pages they replace (false: read them from the mapping; less memory, slower decode).
        public var repack = true
        /// How generators made by `makeGenerator` store past keys and values.
        public var cacheType = LlamaCache.defaultType

        public init(path: String) { self.path = path }
    }

    /// LoRA a load applied, for the caller to log.
    public enum LoraApplied: Sendable, Equatable {
        /// The container's stored NExT-GPT delta LoRA (only reported when it has pairs).
        case storedDelta(pairs: Int, mode: LoraSpec.Mode)
        /// `Options.adapters` (only reported when there are any).
        case adapters(pairs: Int, specs: [LoraSpec])
    }

    /// One generation's result.
    public struct Generation: Sendable {
        /// The generated text, cut before the stop string that ended it.
        public var text: String
        /// The sampled ids (the stop token included when one ended it).
        public var ids: [Int]
        public var stats: GenerationStats
        public var reason: StopReason
    }

    public let options: Options
    /// Where the load's repacking and every generation run.
    public let context: ExecutionContext
    public let file: ModelFile
    public let model: LlamaForCausalLM
    public let tokenizer: SentencePieceTokenizer

    /// Loads the model (see `loadModel`) and the component's tokenizer.
    public init(_ options: Options, context: ExecutionContext, onLora: (LoraApplied) -> Void = { _ in }) throws {
        self.options = options
        self.context = context
        (file, model) = try Self.loadModel(options, context: context, onLora: onLora)
        tokenizer = try SentencePieceTokenizer(metadata: file.metadata, component: options.component)
    }

    /// The whole load sequence, in one place: open the container and build `LlamaForCausalLM`
    /// with the stored delta LoRA, then the adapters in order, then the repack, all as load
    /// options (LoRA first: merging reads the weights the repacked copy replaces).
    public static func loadModel(_ options: Options, context: ExecutionContext, onLora: (LoraApplied) -> Void = { _ in }) throws
        -> (file: ModelFile, model: LlamaForCausalLM) {
        let file = try ModelFile(path: options.path)
        var load = LoadOptions(repackQuantized: options.repack, context: context)
        if let mode = options.storedDeltaLora { load.lora.append(.storedDelta(mode: mode)) }
        load.lora += options.adapters.map { .adapter($0) }
        let model = try LlamaForCausalLM(file, component: options.component, options: load)
        var adapterPairs = 0
        for (source, count) in model.loadReport.loraPairs {
            switch source {
            case .storedDelta(let mode, _): onLora(.storedDelta(pairs: count, mode: mode))
            case .adapter: adapterPairs += count
            }
        }
        if !options.adapters.isEmpty { onLora(.adapters(pairs: adapterPairs, specs: options.adapters)) }
        return (file, model)
    }

    /// A generator with an empty cache of `options.cacheType` for `capacity` positions (it grows).
    public func makeGenerator(capacity: Int = 512) -> LlamaGenerator {
        LlamaGenerator(model: model, capacity: capacity, cacheType: options.cacheType)
    }

    /// The ids that end a generation: the config's end-of-sequence ids and the tokenizer's.
    public var stopTokens: Set<Int> { Set(model.config.eosTokenIds + [Int(tokenizer.eosId)]) }

    /// Feeds `inputs` to `generator` (continuing its cache) and samples up to `maxNewTokens`,
    /// ending at an end-of-sequence token or before the first of `stops`. `onText` receives the
    /// text as it becomes safe to show (text that could still turn into a stop string is held
    /// back); `progress` counts tokens, and ends the generation when it is cancelled.
    public func generate(_ inputs: [LlamaInput], generator: LlamaGenerator, maxNewTokens: Int, sampling: SamplingParameters,
                         stops: [String] = [], progress: (any ProgressReporter)? = nil,
                         onText: (String) -> Void = { _ in }) -> Generation {
        var decoder = tokenizer.makeStreamDecoder()
        var filter = StopStringFilter(stops: stops)
        let start = Date()
        var count = 0
        let result = generator.generate(inputs, maxNewTokens: maxNewTokens, sampling: sampling, stopTokens: stopTokens,
                                        context: context) { id, _ in
            let shown = filter.push(decoder.push(Int32(id)))
            if !shown.isEmpty { onText(shown) }
            count += 1
            progress?.report(ProgressUpdate(phase: "generating", completed: count, total: maxNewTokens, unit: "token",
                                            elapsedSeconds: Date().timeIntervalSince(start)))
            return !filter.isStopped && !(progress?.isCancelled ?? false)
        }
        let tail = filter.finish(decoder.finish())
        if !tail.isEmpty { onText(tail) }
        if result.ids.count < maxNewTokens {
            // Ended early: the job is complete at what it generated.
            progress?.report(ProgressUpdate(phase: "generating", completed: result.ids.count, total: result.ids.count, unit: "token",
                                            elapsedSeconds: Date().timeIntervalSince(start)))
        }
        return Generation(text: filter.text, ids: result.ids, stats: result.stats, reason: result.reason)
    }
}
