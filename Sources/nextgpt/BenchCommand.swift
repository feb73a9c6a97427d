import ArgumentParser
import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama
import NextGPTSessions

/// llama-bench's measurements for our runtime: prefill and decode speed on fixed random ids.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prefill and decode speed of the container's LLaMA component.",
        discussion: """
        Prompts are seeded random token ids (no tokenizer involved), decoding is greedy and ignores
        end-of-sequence, like llama.cpp's llama-bench. Each repetition starts from an empty cache.
        tools/bench/bench_llama.sh runs this beside llama.cpp on the same weights.

        Examples:
          nextgpt bench -m llama-q4_0.gguf
          nextgpt bench -m llama-q4_0.gguf --prompt 64,512 --generate 32 --repetitions 3 --threads 2 --json
          nextgpt bench -m llama-q4_0.gguf --prompt 512 --cache-type f16   # llama.cpp's default cache
          nextgpt bench -m llama-q4_0.gguf --prompt 16 --generate 64 --repetitions 5 --poll --json
        """)

    @Option(name: .shortAndLong, help: ArgumentHelp("Container with a LLaMA component.", valueName: "file.gguf"))
    var model: String

    @Option(help: "The LLaMA component of the container.")
    var component = "vicuna"

    @Option(help: "Prompt lengths to prefill, comma-separated.")
    var prompt = "64,512"

    @Option(help: "Tokens to decode after a prompt of the first length.")
    var generate = 32

    @Option(help: "Repetitions of each measurement (the best is reported beside the mean).")
    var repetitions = 2

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Flag(help: "Read Q8_0/Q4_0/Q4_K weights from the mapping instead of an interleaved copy.")
    var noRepack = false

    @Option(help: "Matrix product path: auto, direct (8-bit activations, integer dots at every batch) or blas (dequantized panels + sgemm).")
    var matmul = "auto"

    @Option(help: ArgumentHelp("How the KV cache stores past keys and values: f32, or f16 (half the bytes a decoded token reads; llama.cpp's default).", valueName: "f32|f16"))
    var cacheType = LlamaCache.defaultType

    @Flag(help: "Idle worker threads spin through each forward pass instead of sleeping between kernels (as llama.cpp's --poll).")
    var poll = false

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        var context = ExecutionContext.command(threads: threads)
        context.pollWorkers = poll
        switch matmul {
        case "auto": context.matmulPath = .automatic
        case "direct": context.matmulPath = .direct
        case "blas": context.matmulPath = .blas
        default: throw ValidationError("--matmul is auto, direct or blas")
        }
        let lengths = prompt.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !lengths.isEmpty, lengths.allSatisfy({ $0 > 0 }) else { throw ValidationError("--prompt takes positive lengths, e.g. 64,512") }
        let loadStart = Date()
        var options = LlamaSession.Options(path: model)
        options.component = component
        options.storedDeltaLora = nil  // the container's weights as stored, as llama-bench runs them
        options.repack = !noRepack
        let llm: LlamaForCausalLM
        do { llm = try LlamaSession.loadModel(options, context: context).model } catch let error as FormatError { throw Failure(error.description) }
        let loadSeconds = Date().timeIntervalSince(loadStart)
        var random = SeededIds(seed: 42, vocabulary: llm.vocabularySize)
        var results: [String: Any] = ["model": model, "threads": context.threads, "load_seconds": loadSeconds,
                                      "kernel_level": context.kernelLevel.description, "cache_type": cacheType.description]

        for length in lengths {
            var rates: [Double] = []
            for _ in 0..<repetitions {
                let ids = random.take(length)
                let generator = LlamaGenerator(model: llm, capacity: length + generate + 1, cacheType: cacheType)
                let r = generator.generate([.tokens(ids)], maxNewTokens: 1, sampling: .greedy, context: context)
                rates.append(r.stats.prefillTokensPerSecond)
            }
            results["pp\(length)"] = summary(rates)
        }
        var decodeRates: [Double] = [], firstToken: [Double] = []
        for _ in 0..<repetitions {
            let ids = random.take(lengths[0])
            let generator = LlamaGenerator(model: llm, capacity: lengths[0] + generate + 1, cacheType: cacheType)
            let r = generator.generate([.tokens(ids)], maxNewTokens: generate, sampling: .greedy, context: context)
            decodeRates.append(r.stats.decodeTokensPerSecond)
            firstToken.append(r.stats.firstTokenSeconds)
        }
        results["tg\(generate)"] = summary(decodeRates)
        results["decode_rates"] = decodeRates  // every repetition, to tell a run's spread from the runs'
        results["poll"] = poll
        results["first_token_seconds"] = ["best": firstToken.min() ?? 0, "mean": firstToken.reduce(0, +) / Double(max(firstToken.count, 1))]
        let memory = MemoryReport.current()
        results["peak_rss_bytes"] = memory.peakBytes
        results["rss_anon_bytes"] = memory.anonymousBytes
        results["rss_file_bytes"] = memory.fileBytes
        // How much of the anonymous memory (mostly the repacked weights) the kernel backs with
        // 2 MiB pages: decode streams it, and 4 KiB pages cost page walks.
        let rollup = (try? String(contentsOfFile: "/proc/self/smaps_rollup", encoding: .utf8)) ?? ""
        for line in rollup.split(separator: "\n") where line.hasPrefix("AnonHugePages:") {
            results["anon_huge_bytes"] = (Int(line.filter(\.isNumber)) ?? 0) * 1024
        }

        if json {
            let data = try JSONSerialization.data(withJSONObject: results, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("\(model): \(context.threads) threads, kernels \(context.kernelLevel), \(cacheType) KV cache\(poll ? ", polling workers" : ""), load \(String(format: "%.2f", loadSeconds)) s")
            for key in results.keys.sorted() where key.hasPrefix("pp") || key.hasPrefix("tg") {
                let s = results[key] as! [String: Double]
                print("  \(key.padding(toLength: 8, withPad: " ", startingAt: 0)) \(String(format: "%8.2f", s["best"]!)) tok/s best, \(String(format: "%8.2f", s["mean"]!)) mean")
            }
            let ft = results["first_token_seconds"] as! [String: Double]
            print("  first token after \(lengths[0]) prompt tokens: \(String(format: "%.0f", ft["best"]! * 1000)) ms best")
            print("  \(closingTail(context, memory)), in 2 MiB pages \(String(format: "%.1f MB", Double(results["anon_huge_bytes"] as? Int ?? 0) / 1e6))")
        }
    }

    func summary(_ values: [Double]) -> [String: Double] {
        ["best": values.max() ?? 0, "mean": values.reduce(0, +) / Double(max(values.count, 1))]
    }
}

/// Reproducible prompt ids (skipping the first 3 special ids), same sequence as
/// tools/bench/llamacpp_bench.py draws for llama.cpp.
struct SeededIds {
    var state: UInt64
    let vocabulary: Int
    init(seed: UInt64, vocabulary: Int) { state = seed; self.vocabulary = vocabulary }

    mutating func take(_ n: Int) -> [Int] {
        (0..<n).map { _ in
            // 64-bit LCG (Knuth's MMIX constants); the high bits pick the id.
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return 3 + Int((state >> 33) % UInt64(max(vocabulary - 3, 1)))
        }
    }
}
