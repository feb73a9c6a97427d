import ArgumentParser
import Foundation
import NextGPTConvert
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLlama
import NextGPTSessions

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert upstream checkpoints, as downloaded, into one GGUF container.",
        discussion: """
        Any subset of components may be given. Tensors stream one at a time, so memory stays near the \
        largest tensor; the output appears under its name only when complete.

        Quantization: linear and convolution weights whose row (in × kh × kw) is a whole number of \
        blocks take --type; norms, biases, position/time/class embeddings and small tensors stay float. \
        --tensor-type REGEX=TYPE rules (matched against container names such as \
        'vicuna.model.layers.0.mlp.down_proj.weight') come first.

        Examples:
          nextgpt convert --vicuna vicuna-7b-v0 --delta nextgpt_7b_tiva_v0 --type q4_0 -o llm.gguf
          nextgpt convert --sd15 v1-5-pruned-emaonly.safetensors --type q8_0 --tensor-type 'vae\\.=f16' -o sd.gguf
          nextgpt convert --vicuna llama-dir --lora my-adapter:0.8 --type q4_K -o merged.gguf
        """)

    @Option(help: ArgumentHelp("ImageBind checkpoint (imagebind_huge.pth).", valueName: "file"))
    var imagebind: String?

    @Option(name: .customLong("imagebind-bpe"), help: ArgumentHelp("ImageBind's BPE merges (bpe_simple_vocab_16e6.txt[.gz]) to store for its text branch (default: found beside --imagebind or in its bpe/ folder).", valueName: "file"))
    var imagebindBPE: String?

    @Option(help: ArgumentHelp("Hugging Face LLaMA-family folder (Vicuna-7B v0).", valueName: "dir"))
    var vicuna: String?

    @Option(help: ArgumentHelp("NExT-GPT delta: pytorch_model.pt or its folder (with added_tokens.json, tokenizer.model).", valueName: "file|dir"))
    var delta: String?

    @Option(help: ArgumentHelp("Stable Diffusion 1.5: diffusers folder or original single file (.safetensors/.ckpt).", valueName: "dir|file"))
    var sd15: String?

    @Option(help: ArgumentHelp("AudioLDM l-full: diffusers folder or original single file (.ckpt).", valueName: "dir|file"))
    var audioldm: String?

    @Option(help: ArgumentHelp("ZeroScope v2 576w: diffusers folder.", valueName: "dir"))
    var zeroscope: String?

    @Option(name: .customLong("lora"), help: ArgumentHelp("peft LoRA adapter merged in f32 before quantization; repeatable.", valueName: "path[:scale]"))
    var loras: [String] = []

    @Flag(help: "Merge the delta's LoRA into Vicuna's weights now (default: keep it as nextgpt.lora.* for load time).")
    var mergeDeltaLora = false

    @Option(help: ArgumentHelp("lora_alpha the delta was trained with (default: equal to its rank, NExT-GPT's setting, scale 1).", valueName: "alpha"))
    var deltaLoraAlpha: Float?

    @Option(help: ArgumentHelp("Type of quantizable weights: f32, f16, bf16, q8_0, q4_0, q4_K.", valueName: "type"))
    var type: String = "f16"

    @Option(name: .customLong("tensor-type"), help: ArgumentHelp("Type override for tensors whose container name matches REGEX; repeatable.", valueName: "regex=type"))
    var tensorTypes: [String] = []

    @Flag(help: "Skip the sha256 of source files recorded as provenance.")
    var noSourceHash = false

    @Flag(name: .customLong("no-negatives"), help: "Do not compute and store the decoders' negative conditioning (their text encoders' output for \"\").")
    var noNegatives = false

    @Flag(name: .customLong("drop-text-encoders"), help: "Leave the decoders' text encoders out once their negatives are stored (NExT-GPT never uses them otherwise).")
    var dropTextEncoders = false

    @Option(name: .shortAndLong, help: ArgumentHelp("Output container.", valueName: "out.gguf"))
    var output: String

    func validate() throws {
        if [imagebind, vicuna, delta, sd15, audioldm, zeroscope].allSatisfy({ $0 == nil }) {
            throw ValidationError("give at least one of --imagebind, --vicuna, --delta, --sd15, --audioldm, --zeroscope")
        }
        if mergeDeltaLora && (vicuna == nil || delta == nil) {
            throw ValidationError("--merge-delta-lora needs both --vicuna and --delta")
        }
        if dropTextEncoders && noNegatives {
            throw ValidationError("--drop-text-encoders needs the negatives: drop --no-negatives")
        }
        if !loras.isEmpty && vicuna == nil {
            throw ValidationError("--lora adapters are merged into --vicuna's weights; give --vicuna")
        }
    }

    func run() throws {
        guard let requested = GGMLType(name: type), [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_K].contains(requested) else {
            throw ValidationError("unknown --type '\(type)' (f32, f16, bf16, q8_0, q4_0, q4_K)")
        }
        var options = ConversionOptions(policy: QuantizationPolicy(type: requested, rules: try tensorTypes.map { try QuantizationPolicy.Rule($0) }))
        options.hashSources = !noSourceHash

        var plan = ConversionPlan()
        do {
            let deltaCheckpoint = try delta.map { try NextGPTDelta(path: $0, loraAlpha: deltaLoraAlpha) }
            if let vicuna {
                plan.components += try LlamaComponent.load(folder: vicuna, delta: deltaCheckpoint, mergeDeltaLora: mergeDeltaLora)
            } else if let deltaCheckpoint {
                plan.components.append(try NextGPTComponent.make(delta: deltaCheckpoint, includeEmbeddings: true, keepLora: true))
            }
            for spec in loras {
                let (path, scale) = try parseLora(spec)
                try plan.attach(try PeftAdapter.read(path: path).scaled(by: scale), to: LlamaComponent.name)
            }
            if let imagebind { plan.components.append(try ImageBindComponent.load(path: imagebind, mergesFile: imagebindBPE)) }
            if let sd15 { try PipelineSource.load(sd15, pipeline: "sd15", into: &plan) }
            if let audioldm { try PipelineSource.load(audioldm, pipeline: "audioldm", into: &plan) }
            if let zeroscope { try PipelineSource.load(zeroscope, pipeline: "zeroscope", into: &plan) }
            if !noNegatives {
                let done = try DecoderNegatives.attach(to: &plan, output: output, dropTextEncoders: dropTextEncoders,
                                                       context: .command(threads: nil))
                if !done.isEmpty {
                    print("negative conditioning (text encoder of \"\") stored for \(done.joined(separator: ", "))"
                          + (dropTextEncoders ? "; their text encoders left out" : ""))
                }
            }
        } catch let error as FormatError {
            throw Failure(error.description)
        } catch let error as CustomStringConvertible where error is Error {
            throw Failure("computing the decoders' negatives: \(error.description)")
        }

        for stale in GGUFWriter.removeStaleTemporaries(of: output) {
            print("removed \(stale), left by an interrupted conversion")
        }
        let bar = ProgressBar(label: "converting")
        let guardTemp = InterruptCleanup.install(removing: output)
        defer { guardTemp.remove() }
        let report: ConversionReport
        do {
            report = try Converter.convert(plan, options: options, to: output, progress: bar)
        } catch let error as FormatError {
            bar.finish()
            throw Failure(error.description)
        }
        bar.finish()
        let mb = Double(report.sourceBytes) / 1e6
        print("wrote \(output): \(report.tensorCount) tensors, \(formatBytes(report.outputBytes)) from \(formatBytes(report.sourceBytes)) in \(String(format: "%.2f", report.seconds)) s (\(String(format: "%.0f", mb / max(report.seconds, 1e-9))) MB/s), peak RSS \(report.peakResidentBytes.map(formatBytes) ?? "?")")
        print("  time: " + report.phases.map { "\($0.0) \(String(format: "%.1f", $0.1)) s" }.joined(separator: ", "))
        for (t, n) in report.tensorsByType.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            print("  \(t.description.padding(toLength: 5, withPad: " ", startingAt: 0)) \(String(n).leftPad(5)) tensors  \(formatBytes(report.bytesByType[t] ?? 0))")
        }
    }

    func parseLora(_ spec: String) throws -> (String, Float) {
        if let colon = spec.lastIndex(of: ":"), let scale = Float(spec[spec.index(after: colon)...]) {
            return (String(spec[..<colon]), scale)
        }
        return (spec, 1)
    }
}

/// An error the user caused or can fix: printed as is, exit code 1.
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func formatBytes(_ n: Int) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"]
    var value = Double(n), unit = 0
    while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
    return unit == 0 ? "\(n) B" : String(format: "%.2f %@", value, units[unit])
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
