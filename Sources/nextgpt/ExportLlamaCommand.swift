import ArgumentParser
import Foundation
import NextGPTConvert
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLlama
import NextGPTTokenizers

struct ExportLlamaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-llama-gguf",
        abstract: "Write a container's LLaMA component as a GGUF file llama.cpp loads and runs.",
        discussion: """
        The output uses llama.cpp's 'llama' architecture: its tensor names, its interleaved layout of \
        the q/k rows, its hyper-parameter keys and a 'tokenizer.ggml.*' SentencePiece vocabulary with \
        one token per embedding row (NExT-GPT's added tokens as user-defined tokens). Tensor bytes are \
        the container's, quantized blocks included; only weights a LoRA is merged into are re-encoded, \
        to their own type.

        The NExT-GPT LoRA that 'convert --delta' keeps in the container is merged by default, since \
        llama.cpp cannot apply it from this file; --no-delta-lora leaves the base weights as they are. \
        Re-quantizing a merged weight to 4 bits loses much of the update; --merged-type f16 keeps it \
        (those weights grow to 16 bits).

        Examples:
          nextgpt export-llama-gguf -m nextgpt-q4_0.gguf -o vicuna-nextgpt-q4_0.gguf
          nextgpt export-llama-gguf -m llm.gguf --no-delta-lora -o vicuna-q4_0.gguf
          nextgpt export-llama-gguf -m llm.gguf --lora my-adapter:0.8 -o merged.gguf
          nextgpt export-llama-gguf -m nextgpt-q4_0.gguf --merged-type f16 -o vicuna-nextgpt.gguf
          llama-cli -m vicuna-nextgpt-q4_0.gguf -p "### Human: Hello ### Assistant:"
        """)

    @Option(name: .shortAndLong, help: ArgumentHelp("Container with a LLaMA component.", valueName: "file.gguf"))
    var model: String

    @Option(name: .shortAndLong, help: ArgumentHelp("llama.cpp GGUF to write.", valueName: "out.gguf"))
    var output: String

    @Option(help: "The LLaMA component of the container.")
    var component = "vicuna"

    @Option(name: .customLong("lora"), help: ArgumentHelp("peft adapter or NExT-GPT delta merged into the weights; repeatable.", valueName: "path[:scale]"))
    var loras: [String] = []

    @Option(help: ArgumentHelp("lora_alpha a NExT-GPT delta given to --lora was trained with (default: its rank).", valueName: "alpha"))
    var deltaLoraAlpha: Float?

    @Flag(help: "Do not merge the NExT-GPT LoRA stored in the container by `convert --delta`.")
    var noDeltaLora = false

    @Option(help: ArgumentHelp("Type of weights a LoRA is merged into: same (each weight's own), f32, f16, bf16, q8_0, q4_0, q4_K. f16 keeps updates a 4-bit type would round away.", valueName: "type"))
    var mergedType = "same"

    @Option(help: "Tensor data alignment in bytes (llama.cpp's default is 32).")
    var alignment = 32

    func validate() throws {
        guard alignment > 0, alignment & (alignment - 1) == 0 else { throw ValidationError("--alignment must be a power of two") }
        if output == model { throw ValidationError("-o would overwrite the container given with -m") }
    }

    func run() throws {
        var options = LlamaExportOptions()
        options.component = component
        options.mergeStoredDeltaLora = !noDeltaLora
        options.alignment = alignment
        if mergedType != "same" {
            guard let type = GGMLType(name: mergedType), [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_K].contains(type) else {
                throw ValidationError("unknown --merged-type '\(mergedType)' (same, f32, f16, bf16, q8_0, q4_0, q4_K)")
            }
            options.mergedType = type
        }
        let bar = ProgressBar(label: "exporting")
        let guardTemp = InterruptCleanup.install(removing: output)
        defer { guardTemp.remove() }
        let report: LlamaExportReport
        do {
            options.adapters = try loras.map { spec in
                let (path, scale) = splitScale(spec)
                return try LlamaExport.readAdapter(path: path, scale: scale, deltaLoraAlpha: deltaLoraAlpha)
            }
            report = try LlamaExport.export(container: model, to: output, options: options, progress: bar)
        } catch let error as FormatError {
            bar.finish()
            throw Failure(error.description)
        }
        bar.finish()
        print("wrote \(output): \(report.tensorCount) tensors, \(formatBytes(report.outputBytes)) in \(String(format: "%.2f", report.seconds)) s, peak RSS \(report.peakResidentBytes.map(formatBytes) ?? "?")")
        print("  \(report.copiedTensors) tensors with the container's bytes, \(report.mergedTensors.count) re-encoded after merging \(report.loraPairs) LoRA pairs, \(report.widenedTensors.count) widened to f32")
        let v = report.vocabulary
        print("  vocabulary: \(v.pieces) SentencePiece pieces, \(v.added) added tokens, \(v.padding) padding tokens")
    }

    func splitScale(_ spec: String) -> (String, Float) {
        if let colon = spec.lastIndex(of: ":"), let scale = Float(spec[spec.index(after: colon)...]) {
            return (String(spec[..<colon]), scale)
        }
        return (spec, 1)
    }
}
