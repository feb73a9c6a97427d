import Foundation
import NextGPTKernels

/// Timings of one `generate` call.
public struct GenerationStats: Sendable {
    public var promptTokens = 0
    public var generatedTokens = 0
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0
    /// From the call to the first sampled token (prefill plus one sample).
    public var firstTokenSeconds = 0.0

    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
    /// Decode rate over the tokens after the first (each costs one forward pass).
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(max(generatedTokens - 1, 0)) / decodeSeconds : 0 }
}

/// Why generation ended.
public enum StopReason: Sendable, Equatable {
    case maxTokens
    case stopToken(Int)
    /// The caller's stop check (e.g. a stop string such as Vicuna v0's `###`) said so.
    case stopCondition
}

/// Autoregressive decoding over a KV cache that persists across calls (a chat keeps its history).
public final class LlamaGenerator {
    public let model: LlamaForCausalLM
    public let cache: LlamaCache
    /// Every id fed or generated so far (spliced embeddings count as -1 per row); the
    /// repetition penalty reads it.
    public private(set) var history: [Int] = []

    public init(model: LlamaForCausalLM, capacity: Int = 512, cacheType: KVCacheType = LlamaCache.defaultType) {
        self.model = model
        cache = model.makeCache(capacity: capacity, type: cacheType)
    }

    public func reset() {
        cache.removeAll()
        history.removeAll()
    }

    /// Feeds `inputs` (continuing the cache), then samples up to `maxNewTokens`. `onToken` sees
    /// each new id with the hidden state of the position that produced it ([hidden], after the
    /// final norm) and returns false to stop. The last sampled token is not fed back, so a
    /// following call starts by feeding it (the caller passes it as the first input). Every
    /// forward pass runs in `context`.
    public func generate(_ inputs: [LlamaInput], maxNewTokens: Int, sampling: SamplingParameters,
                         stopTokens: Set<Int> = [], context: ExecutionContext,
                         onToken: (Int, Tensor) -> Bool = { _, _ in true })
        -> (ids: [Int], reason: StopReason, stats: GenerationStats) {
        var stats = GenerationStats()
        var sampler = Sampler(sampling)
        for input in inputs {
            switch input {
            case .tokens(let ids): history += ids
            case .embeddings(let e): history += [Int](repeating: -1, count: e.shape[0])
            }
        }
        let start = Date()
        var hidden = model.hiddenStates(inputs, cache: cache, context: context)
        stats.promptTokens = hidden.shape[0]
        stats.prefillSeconds = Date().timeIntervalSince(start)
        var generated: [Int] = []
        var reason = StopReason.maxTokens
        var decodeStart = Date()
        while generated.count < maxNewTokens {
            let logits = model.lastLogits(hidden: hidden, context: context)
            let id = logits.withUnsafeBufferPointer { sampler.next(logits: $0, history: history) }
            if generated.isEmpty {
                stats.firstTokenSeconds = Date().timeIntervalSince(start)
                decodeStart = Date()
            }
            generated.append(id)
            history.append(id)
            let lastHidden = LlamaForCausalLM.lastRow(hidden)
            if stopTokens.contains(id) { reason = .stopToken(id); break }
            if !onToken(id, lastHidden) { reason = .stopCondition; break }
            if generated.count == maxNewTokens { break }
            hidden = model.hiddenStates([.tokens([id])], cache: cache, context: context)
        }
        stats.generatedTokens = generated.count
        if !generated.isEmpty { stats.decodeSeconds = Date().timeIntervalSince(decodeStart) }
        return (generated, reason, stats)
    }
}
