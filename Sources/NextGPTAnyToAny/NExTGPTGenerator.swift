import Foundation
import NextGPTCore
import NextGPTKernels
import NextGPTLlama
import NextGPTTokenizers

/// What to do when the model starts a signal-token run ([IMG0], [VID0], [AUD0]) but does not
/// finish it (upstream asserts and crashes, issues #46 and #66).
public enum PartialRunPolicy: String, Sendable, CaseIterable {
    /// Feed the rest of the run as if generated, so the projector gets its full input.
    case force
    /// Let the model go on; a run it does not finish gives no output.
    case skip
}

public struct NExTGPTGenerationOptions: Sendable {
    /// The demo's `max_length` slider default.
    public var maxNewTokens = 246
    /// The demo's `top_p 0.01`, `temperature 1.0`, and transformers' `top_k 50` (`do_sample=True`).
    public var sampling = SamplingParameters(temperature: 1.0, topK: 50, topP: 0.01, seed: 0)
    public var partialRuns = PartialRunPolicy.force
    /// Ids taken as the reply's first tokens before any is sampled (a reply continued from known text).
    public var replyPrefix: [Int] = []
    /// How the reply's KV cache stores past keys and values.
    public var cacheType = LlamaCache.defaultType

    public init() {}
}

/// The signal tokens of one run, as the projector takes them.
public struct SignalRun: Sendable {
    /// Final-norm hidden states computed when each signal token was fed [N, H].
    public let hidden: Tensor
    /// The signal tokens' input embeddings [N, H] (`gen_prefix_embs`).
    public let inputEmbeds: Tensor
    /// Where the run starts among the generated ids.
    public let start: Int
}

public struct NExTGPTReply: Sendable {
    /// Every id generated or forced, stop token included when one ended the reply.
    public var ids: [Int] = []
    /// The reply's text without signal tokens, stop token or EOS.
    public var text = ""
    /// The first complete run of each modality (upstream's `max_num_* = 1`).
    public var runs: [SignalModality: SignalRun] = [:]
    /// Runs that were started but not finished (skip policy), by modality.
    public var abandonedRuns: [SignalModality] = []
    public var forcedTokens = 0
    public var reason = StopReason.maxTokens

    public init() {}
}

/// NExT-GPT's generation (`generate`, NEXTGPT.md §1.5) on the delta-augmented Vicuna: sampling with
/// the demo's settings, stop at `###` (the single token `▁###`, as `StoppingCriteriaSub([[835]])`)
/// or EOS, and the hidden state of every signal token taken when that token is fed: each
/// generated token is fed before the next is sampled, so the last token of a run is always fed,
/// even when the reply stops right after it.
public struct NExTGPTGenerator: Sendable {
    public let model: LlamaForCausalLM
    public let tokenizer: SentencePieceTokenizer
    public let signals: SignalTokens
    public let stopIds: Set<Int>

    public init(model: LlamaForCausalLM, tokenizer: SentencePieceTokenizer) throws {
        self.model = model
        self.tokenizer = tokenizer
        signals = try SignalTokens(tokenizer: tokenizer)
        var stops: Set<Int> = [Int(tokenizer.eosId)]
        let hashes = tokenizer.encodePieces("###")
        if hashes.count == 1 { stops.insert(Int(hashes[0])) }
        stopIds = stops
    }

    /// `isCancelled` is asked before each sampled token: true ends the reply there (`.stopCondition`).
    public func generate(_ inputs: [LlamaInput], options: NExTGPTGenerationOptions = NExTGPTGenerationOptions(),
                         context: ExecutionContext, isCancelled: () -> Bool = { false },
                         onText: (String) -> Void = { _ in }) -> NExTGPTReply {
        let promptLength = model.model.embed(inputs).shape[0]
        let cache = model.makeCache(capacity: promptLength + options.maxNewTokens + 32, type: options.cacheType)
        var hidden = model.hiddenStates(inputs, cache: cache, context: context)
        var sampler = Sampler(options.sampling)
        var history: [Int] = inputs.flatMap { input -> [Int] in
            switch input {
            case .tokens(let ids): return ids
            case .embeddings(let e): return [Int](repeating: -1, count: e.shape[0])
            }
        }
        var reply = NExTGPTReply()
        var stream = tokenizer.makeStreamDecoder()
        var forced = options.replyPrefix
        var active: (modality: SignalModality, start: Int, rows: [Tensor])?
        while true {
            let id: Int
            // Only a sampled token ends the reply: a given prefix may hold an earlier stop token.
            let sampled = forced.isEmpty
            if !sampled {
                id = forced.removeFirst()
            } else {
                guard reply.ids.count < options.maxNewTokens else { reply.reason = .maxTokens; break }
                if isCancelled() { reply.reason = .stopCondition; break }
                let logits = model.lastLogits(hidden: hidden, context: context)
                id = logits.withUnsafeBufferPointer { sampler.next(logits: $0, history: history) }
            }
            reply.ids.append(id)
            history.append(id)
            if sampled, active == nil, stopIds.contains(id) { reply.reason = .stopToken(id); break }
            hidden = model.hiddenStates([.tokens([id])], cache: cache, context: context)

            if var run = active {
                let expected = signals.runs[run.modality]!
                if id == expected[run.rows.count] {
                    run.rows.append(LlamaForCausalLM.lastRow(hidden).reshaped([1, hidden.shape[1]]))
                    active = run
                } else {
                    reply.abandonedRuns.append(run.modality)
                    active = nil
                }
            } else if let modality = signals.runStarting(with: id), reply.runs[modality] == nil {
                active = (modality, reply.ids.count - 1, [LlamaForCausalLM.lastRow(hidden).reshaped([1, hidden.shape[1]])])
                if options.partialRuns == .force {
                    let rest = Array(signals.runs[modality]!.dropFirst())
                    // Whatever the prefix still holds of the run counts; the missing tokens are forced.
                    let given = zip(forced, rest).prefix { $0 == $1 }.count
                    reply.forcedTokens += rest.count - given
                    forced = rest + forced.dropFirst(given)
                }
            }
            if let run = active, run.rows.count == signals.runs[run.modality]!.count {
                reply.runs[run.modality] = SignalRun(hidden: Shape.cat(run.rows, dim: 0),
                                                     inputEmbeds: model.model.embed([.tokens(signals.runs[run.modality]!)]),
                                                     start: run.start)
                active = nil
            }
            if !isSignal(id), !(stopIds.contains(id) && !sampled) {
                let piece = stream.push(Int32(id))
                reply.text += piece
                if !piece.isEmpty { onText(piece) }
            }
            if sampled, active == nil, stopIds.contains(id) { reply.reason = .stopToken(id); break }
        }
        if let run = active { reply.abandonedRuns.append(run.modality) }
        let rest = stream.finish()
        reply.text += rest
        if !rest.isEmpty { onText(rest) }
        return reply
    }

    func isSignal(_ id: Int) -> Bool {
        signals.runs.values.contains { $0.contains(id) }
    }
}
