// `nextgpt-bench imagebind`: one ImageBind modality, timed in this process (tools/bench/bench_imagebind.sh
// runs one process per measurement). The input tensor comes from a safetensors file written by
// tools/bench/imagebind_torch_bench.py, so pre-processing is excluded and PyTorch sees the same values.
import Foundation
// @preconcurrency: for the `stderr` C global (never reassigned; FILE streams lock themselves).
@preconcurrency import Glibc
import NextGPTCore
import NextGPTFormats
import NextGPTImageBind
import NextGPTKernels
import NextGPTLayers

struct ImageBindBenchOptions {
    var model = ""
    var inputs = ""
    var input = ""
    var modality = ImageBindModality.vision
    var warmup = 1
    var repeats = 1
    var repack = true
    var path = Matmul.Path.automatic
    var threads = 2
    var output: String?
    var profile = false

    static let usage = """
    usage: nextgpt-bench imagebind -m CONTAINER --inputs FILE.safetensors --input NAME --modality vision|audio
                                   [--warmup 1] [--repeat 1] [--no-repack] [--path auto|direct|blas|integer] [--threads 2]
                                   [--out EMBEDDING.safetensors] [--profile]
    Prints one JSON line: load seconds, per-forward seconds, peak RSS (getrusage), thread count.
    """

    init(_ arguments: [String]) throws {
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < arguments.count else { throw BenchError("\(arguments[i - 1]) needs a value\n\(Self.usage)") }
            return arguments[i]
        }
        while i < arguments.count {
            switch arguments[i] {
            case "-m", "--model": model = try value()
            case "--inputs": inputs = try value()
            case "--input": input = try value()
            case "--modality":
                let name = try value()
                guard let m = ImageBindModality(rawValue: name), m != .text else { throw BenchError("modality \(name): vision or audio") }
                modality = m
            case "--warmup": warmup = Int(try value()) ?? 1
            case "--repeat": repeats = max(1, Int(try value()) ?? 1)
            case "--no-repack": repack = false
            case "--repack": repack = true
            case "--threads": threads = max(1, Int(try value()) ?? 2)
            case "--out": output = try value()
            case "--profile": profile = true
            case "--path":
                switch try value() {
                case "auto": path = .automatic
                case "direct": path = .direct
                case "blas": path = .blas
                case "integer": path = .integerGEMM
                case let other: throw BenchError("--path \(other): auto, direct, blas or integer")
                }
            case "-h", "--help": throw BenchError(Self.usage)
            case let other: throw BenchError("unknown argument \(other)\n\(Self.usage)")
            }
            i += 1
        }
        guard !model.isEmpty, !inputs.isEmpty, !input.isEmpty else { throw BenchError(Self.usage) }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// The process's peak resident set (VmHWM), as /usr/bin/time and getrusage report it.
func peakRSSKiB() -> Int { MemoryReport.current().peakBytes / 1024 }

@MainActor func runImageBindBench(_ arguments: [String]) throws {
    let options = try ImageBindBenchOptions(arguments)
    var context = ExecutionContext(threads: options.threads)
    context.matmulPath = options.path
    guard let source = try SafetensorsFile.read(path: options.inputs)[options.input] else {
        throw BenchError("\(options.inputs) has no tensor \(options.input)")
    }
    let x = Tensor(shape: source.shape, values: try source.readFloats())
    let rssBeforeLoad = peakRSSKiB()
    let t0 = monotonicSeconds()
    let model = try ImageBindModel(try ModelFile(path: options.model), component: "imagebind",
                                   options: LoadOptions(repackQuantized: options.repack, context: context))
    let load = monotonicSeconds() - t0
    for _ in 0..<options.warmup { _ = try model(x, modality: options.modality, context: context) }
    if options.profile { context.profile = OpProfile() }
    var times: [Double] = []
    var embedding = Tensor(shape: [0], values: [])
    for _ in 0..<options.repeats {
        let t = monotonicSeconds()
        embedding = try model(x, modality: options.modality, context: context)
        times.append(monotonicSeconds() - t)
    }
    if let profile = context.profile {
        FileHandle.standardError.write(Data((profile.report() + "\n").utf8))
    }
    if let output = options.output {
        var writer = SafetensorsWriter()
        try writer.add(name: "embedding", shape: embedding.shape, floats: embedding.values)
        try writer.write(to: output)
    }
    let memory = MemoryReport.current()
    let sorted = times.sorted()
    let fields = [
        "\"impl\": \"nextgpt\"", "\"modality\": \"\(options.modality.rawValue)\"", "\"input\": \"\(options.input)\"",
        "\"shape\": \(x.shape)", "\"threads\": \(options.threads)", "\"repack\": \(options.repack)",
        "\"load_s\": \(load)", "\"forward_s\": \(times)", "\"median_s\": \(sorted[sorted.count / 2])",
        "\"peak_rss_kib\": \(memory.peakBytes / 1024)", "\"rss_before_load_kib\": \(rssBeforeLoad)",
        "\"rss_anon_after_kib\": \(memory.anonymousBytes / 1024)", "\"rss_file_after_kib\": \(memory.fileBytes / 1024)",
    ]
    print("{" + fields.joined(separator: ", ") + "}")
}
