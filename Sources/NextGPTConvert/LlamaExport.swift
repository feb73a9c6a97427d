import COpenBLAS
import NextGPTKernels
import Foundation
import NextGPTCore
import NextGPTFormats

public struct LlamaExportOptions: Sendable {
    /// The container component holding the LLaMA model.
    public var component = LlamaComponent.name
    /// Adapters merged into the weights in f32, each merged weight re-encoded to its own type.
    public var adapters: [LoraAdapter] = []
    /// Merge the NExT-GPT LoRA that `convert --delta` kept in the container: llama.cpp has no way
    /// to apply it at load time from this file.
    public var mergeStoredDeltaLora = true
    /// Type of weights a LoRA is merged into; nil keeps each weight's type. Re-quantizing to Q4_0
    /// drops much of an update below the quantization step; F16 keeps it.
    public var mergedType: GGMLType?
    /// llama.cpp's default is 32; any power of two is recorded in `general.alignment`.
    public var alignment = 32
    public var name: String?

    public init() {}
}

public struct LlamaExportReport: Sendable {
    public var tensorCount = 0
    public var outputBytes = 0
    public var seconds = 0.0
    public var peakResidentBytes: Int?
    /// Tensors written with the container's bytes (q/k with their rows reordered).
    public var copiedTensors = 0
    /// Tensors re-encoded to their own type after a LoRA merge.
    public var mergedTensors: [String] = []
    /// 1-D tensors stored F16/BF16 in the container, widened to the F32 llama.cpp's norms need.
    public var widenedTensors: [String] = []
    public var loraPairs = 0
    public var vocabulary = LlamaExportVocabulary.Summary()
}

/// Writes a container's LLaMA component as a GGUF file llama.cpp loads (architecture `llama`): its
/// tensor names, its rotary layout of q/k rows, its hyper-parameter and tokenizer keys. Tensor bytes
/// are the container's: quantized blocks are never decoded except where a LoRA is merged. Tensors
/// stream one at a time; the file appears under its name only when complete.
public enum LlamaExport {
    /// Types llama.cpp's matrix and embedding kernels read.
    static let readableTypes: Set<GGMLType> = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_K]

    struct PlannedTensor {
        let source: GGUFTensor?
        let name: String
        let shape: [Int]
        let type: GGMLType
        /// Heads whose halves llama.cpp wants interleaved (q: attention heads, k: key/value heads).
        let ropeHeads: Int?
        let updates: [LowRankUpdate]
        /// Values of a tensor the container does not have (llama3 RoPE factors).
        let generated: [Float]?
    }

    public static func export(container path: String, to output: String, options: LlamaExportOptions = LlamaExportOptions(),
                              progress: (any ProgressReporter)? = nil) throws -> LlamaExportReport {
        let start = Date()
        let container = try Container(path: path)
        let component = options.component
        guard container.components.contains(component) else {
            throw FormatError(path, "no component '\(component)' (the file has \(container.components.joined(separator: ", ")))")
        }
        guard let configText = container.file.string("\(component).config"),
              let config = try? JSONSerialization.jsonObject(with: Data(configText.utf8)) as? [String: Any] else {
            throw FormatError(path, "component '\(component)' has no readable \(component).config (config.json)")
        }
        let hyper = try LlamaHyperParameters(config: config, file: path, component: component)
        var updates = try storedDeltaUpdates(container, component: component, enabled: options.mergeStoredDeltaLora)
        for adapter in options.adapters { updates += adapter.pairs.map { LowRankUpdate(pair: $0, origin: adapter.source) } }
        let (planned, embedRows) = try plan(container, component: component, hyper: hyper, updates: updates, mergedType: options.mergedType)
        let vocabulary = try LlamaExportVocabulary(container: container, component: component, rows: embedRows)

        var report = LlamaExportReport()
        report.vocabulary = vocabulary.summary
        report.loraPairs = updates.count
        if !updates.isEmpty { openblas_set_num_threads(1) }

        let metadata = fileMetadata(container, options: options, planned: planned, updates: updates)
            + hyper.metadata(vocabularySize: embedRows) + vocabulary.metadata
        let writer = try GGUFWriter(destination: output, alignment: options.alignment)
        let infos = planned.map { GGUFTensorInfo(name: $0.name, shape: $0.shape, type: $0.type) }
        try writer.begin(metadata: metadata, tensors: infos)
        let total = infos.reduce(0) { $0 + $1.byteCount }
        var done = 0
        for (i, item) in planned.enumerated() {
            progress?.report(ProgressUpdate(phase: "exporting", completed: i, total: planned.count, unit: "tensor",
                                            elapsedSeconds: Date().timeIntervalSince(start), item: item.name,
                                            bytesCompleted: done, bytesTotal: total))
            let bytes = try tensorBytes(item, container: container, report: &report)
            try writer.write(bytes)
            report.outputBytes += bytes.count
            done += bytes.count
        }
        progress?.report(ProgressUpdate(phase: "exporting", completed: planned.count, total: planned.count, unit: "tensor",
                                        elapsedSeconds: Date().timeIntervalSince(start), bytesCompleted: total, bytesTotal: total))
        try writer.commit()
        report.tensorCount = planned.count
        report.seconds = Date().timeIntervalSince(start)
        report.peakResidentBytes = System.peakResidentBytes()
        return report
    }

    /// The adapter at `path`: a peft folder (`adapter_config.json`) or a NExT-GPT delta, scaled.
    public static func readAdapter(path: String, scale: Float, deltaLoraAlpha: Float? = nil) throws -> LoraAdapter {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError(path, "no such LoRA file or folder")
        }
        let folder = isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
        if JSONFile.exists("\(folder)/adapter_config.json") { return try PeftAdapter.read(path: path).scaled(by: scale) }
        let delta = try NextGPTDelta(path: path, loraAlpha: deltaLoraAlpha)
        guard !delta.lora.isEmpty else {
            throw FormatError(path, "neither a peft adapter (no adapter_config.json) nor a NExT-GPT delta with LoRA")
        }
        return LoraAdapter(pairs: delta.lora, files: delta.files, source: path).scaled(by: scale)
    }

    // MARK: - Tensors

    /// llama.cpp's name for a `LlamaForCausalLM` key; nil when llama.cpp's `llama` has no such tensor.
    static func llamaCppName(_ key: String) -> String? {
        switch key {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        let parts = key.split(separator: ".").map(String.init)
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]),
              let suffix = parts.last, suffix == "weight" || suffix == "bias" else { return nil }
        let module = parts[3..<(parts.count - 1)].joined(separator: ".")
        let norms = ["input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"]
        let linears = ["self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
                       "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                       "mlp.down_proj": "ffn_down"]
        if let norm = norms[module], suffix == "weight" { return "blk.\(layer).\(norm).weight" }
        if let linear = linears[module] { return "blk.\(layer).\(linear).\(suffix)" }
        return nil
    }

    static func plan(_ container: Container, component: String, hyper: LlamaHyperParameters,
                     updates: [LowRankUpdate], mergedType: GGMLType? = nil) throws -> ([PlannedTensor], embedRows: Int) {
        let path = container.file.path
        let prefix = component + "."
        let tensors = container.tensors(of: component)
        var byKey: [String: GGUFTensor] = [:]
        for tensor in tensors { byKey[String(tensor.name.dropFirst(prefix.count))] = tensor }
        for update in updates {
            guard let target = byKey[update.target] else {
                throw FormatError(update.origin, tensor: update.target, "names no weight of component '\(component)'")
            }
            let shape = container.originalShape(of: target)
            guard shape.count == 2, update.bShape == [shape[0], update.rank], update.aShape == [update.rank, shape[1]] else {
                throw FormatError(update.origin, tensor: update.target, "lora_A \(update.aShape) and lora_B \(update.bShape) do not fit the weight \(shape)")
            }
        }
        guard let embed = byKey["model.embed_tokens.weight"], embed.shape.count == 2 else {
            throw FormatError(path, tensor: prefix + "model.embed_tokens.weight", "missing: not a LLaMA component")
        }
        var planned: [PlannedTensor] = []
        for tensor in tensors {
            let key = String(tensor.name.dropFirst(prefix.count))
            guard let name = llamaCppName(key) else {
                throw FormatError(path, tensor: tensor.name, "has no counterpart in llama.cpp's 'llama' architecture")
            }
            guard readableTypes.contains(tensor.type) else {
                throw FormatError(path, tensor: tensor.name, "is \(tensor.type), a type llama.cpp cannot use for this weight (f32, f16, bf16, q8_0, q4_0, q4_K)")
            }
            let shape = container.originalShape(of: tensor)
            guard shape == tensor.shape else {
                throw FormatError(path, tensor: tensor.name, "is stored folded \(tensor.shape) from \(shape); a LLaMA weight never is")
            }
            var ropeHeads: Int?
            if key.hasSuffix("self_attn.q_proj.weight") || key.hasSuffix("self_attn.q_proj.bias") { ropeHeads = hyper.heads }
            if key.hasSuffix("self_attn.k_proj.weight") || key.hasSuffix("self_attn.k_proj.bias") { ropeHeads = hyper.kvHeads }
            if let heads = ropeHeads, shape[0] != heads * hyper.headDim {
                throw FormatError(path, tensor: tensor.name, "has \(shape[0]) rows, config.json implies \(heads) heads × \(hyper.headDim)")
            }
            let merged = updates.filter { $0.target == key }
            var type = shape.count == 1 ? .f32 : tensor.type
            if let mergedType, !merged.isEmpty {
                guard readableTypes.contains(mergedType), shape[1] % mergedType.blockSize == 0 else {
                    throw FormatError(path, tensor: tensor.name, "rows of \(shape[1]) cannot be stored as \(mergedType) after the LoRA merge")
                }
                type = mergedType
            }
            planned.append(PlannedTensor(source: tensor, name: name, shape: shape, type: type, ropeHeads: ropeHeads,
                                         updates: merged, generated: nil))
        }
        if let factors = hyper.ropeFrequencyFactors() {
            planned.append(PlannedTensor(source: nil, name: "rope_freqs.weight", shape: [factors.count], type: .f32,
                                         ropeHeads: nil, updates: [], generated: factors))
        }
        return (planned, embed.shape[0])
    }

    static func tensorBytes(_ item: PlannedTensor, container: Container, report: inout LlamaExportReport) throws -> [UInt8] {
        guard let source = item.source else {
            return item.generated!.withUnsafeBufferPointer { TensorEncoding.encode($0, as: .f32) }
        }
        var bytes = try container.file.bytes(of: source)
        let count = item.shape.reduce(1, *)
        if !item.updates.isEmpty {
            var values = TensorEncoding.decode(bytes, type: source.type, count: count)
            for update in item.updates { try update.merge(into: &values) }
            bytes = TensorEncoding.encode(values, as: item.type)
            report.mergedTensors.append(item.name)
        } else if item.type != source.type {
            bytes = TensorEncoding.encode(TensorEncoding.decode(bytes, type: source.type, count: count), as: item.type)
            report.widenedTensors.append(item.name)
        } else {
            report.copiedTensors += 1
        }
        if let heads = item.ropeHeads { bytes = interleaveRopeHalves(bytes, rows: item.shape[0], heads: heads) }
        return bytes
    }

    /// Hugging Face keeps each head's rotary pairs as two halves (x₀…x_{d/2−1}, then their partners);
    /// llama.cpp's RoPE rotates adjacent pairs. Row h·d + 2i + j of the result is row h·d + j·d/2 + i
    /// of the input. Whole rows move, so quantized blocks are copied, never re-encoded.
    public static func interleaveRopeHalves(_ bytes: [UInt8], rows: Int, heads: Int) -> [UInt8] {
        precondition(rows % (2 * heads) == 0 && bytes.count % rows == 0)
        let rowBytes = bytes.count / rows, perHead = rows / heads, half = perHead / 2
        var out = [UInt8](repeating: 0, count: bytes.count)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                for head in 0..<heads {
                    for i in 0..<half {
                        for j in 0..<2 {
                            let to = head * perHead + 2 * i + j, from = head * perHead + j * half + i
                            dst.baseAddress!.advanced(by: to * rowBytes)
                                .copyMemory(from: src.baseAddress!.advanced(by: from * rowBytes), byteCount: rowBytes)
                        }
                    }
                }
            }
        }
        return out
    }

    // MARK: - LoRA

    /// `nextgpt.lora.<module>.lora_A/B.weight` pairs kept by `convert --delta`, when they apply.
    static func storedDeltaUpdates(_ container: Container, component: String, enabled: Bool) throws -> [LowRankUpdate] {
        let metadata = container.file.metadata
        guard enabled, component == LlamaComponent.name, container.components.contains(NextGPTComponent.name),
              metadata["nextgpt.lora.merged"] != .bool(true) else { return [] }
        var scale: Float = 1
        if case .float32(let s)? = metadata["nextgpt.lora.scale"] { scale = s }
        let prefix = "nextgpt.lora.", suffix = ".lora_A.weight"
        let file = container.file
        return try container.tensors(of: NextGPTComponent.name)
            .filter { $0.name.hasPrefix(prefix) && $0.name.hasSuffix(suffix) }
            .map { a in
                let module = String(a.name.dropFirst(prefix.count).dropLast(suffix.count))
                guard let b = file[tensor: "\(prefix)\(module).lora_B.weight"] else {
                    throw FormatError(file.path, tensor: a.name, "has no lora_B partner")
                }
                return LowRankUpdate(target: module + ".weight", origin: file.path,
                                     aShape: container.originalShape(of: a), bShape: container.originalShape(of: b), scale: scale) {
                    (try decodedTensor(file, a), try decodedTensor(file, b))
                }
            }
    }

    static func decodedTensor(_ file: GGUFFile, _ tensor: GGUFTensor) throws -> [Float] {
        TensorEncoding.decode(try file.bytes(of: tensor), type: tensor.type, count: tensor.shape.reduce(1, *))
    }

    static func fileMetadata(_ container: Container, options: LlamaExportOptions, planned: [PlannedTensor],
                             updates: [LowRankUpdate]) -> [(String, GGUFValue)] {
        let sourceName = container.file.string("general.name") ?? "NExT-GPT"
        var entries: [(String, GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("general.name", .string(options.name ?? "\(sourceName) \(options.component)")),
        ]
        if options.alignment != 32 { entries.append(("general.alignment", .uint32(UInt32(options.alignment)))) }
        let matrixTypes = planned.filter { $0.shape.count == 2 }.map(\.type)
        let mostCommon = Dictionary(grouping: matrixTypes, by: { $0 }).max { $0.value.count < $1.value.count }?.key ?? .f32
        let requested = container.file.string("nextgpt.quantization.type").flatMap(GGMLType.init(name:)) ?? mostCommon
        let fileTypes: [GGMLType: UInt32] = [.f32: 0, .f16: 1, .q4_0: 2, .q8_0: 7, .q4_K: 14, .bf16: 32]
        entries.append(("general.file_type", .uint32(fileTypes[requested] ?? fileTypes[mostCommon] ?? 0)))
        if planned.contains(where: { $0.type.isQuantized }) { entries.append(("general.quantization_version", .uint32(2))) }
        entries.append(("nextgpt.export.source", .string("\((container.file.path as NSString).lastPathComponent) component \(options.component)")))
        if !updates.isEmpty {
            entries.append(("nextgpt.export.lora_merged", .strings(updates.map { "\($0.origin)::\($0.target)*\($0.scale)" })))
        }
        return entries
    }
}

/// W += scale · B·A for one weight (B: [out, r], A: [r, in]); A and B are read only when merged.
struct LowRankUpdate {
    let target: String
    /// The file the pair came from, for errors and the provenance key.
    let origin: String
    let aShape: [Int]
    let bShape: [Int]
    let scale: Float
    let read: () throws -> (a: [Float], b: [Float])

    var rank: Int { aShape.first ?? 0 }

    init(target: String, origin: String, aShape: [Int], bShape: [Int], scale: Float, read: @escaping () throws -> (a: [Float], b: [Float])) {
        self.target = target
        self.origin = origin
        self.aShape = aShape
        self.bShape = bShape
        self.scale = scale
        self.read = read
    }

    init(pair: LoraPair, origin: String) {
        self.init(target: pair.target, origin: origin, aShape: pair.a.shape, bShape: pair.b.shape, scale: pair.scale) {
            (try pair.a.readFloats(), try pair.b.readFloats())
        }
    }

    func merge(into weight: inout [Float]) throws {
        let (a, b) = try read()
        let rows = bShape[0], columns = aShape[1]
        precondition(weight.count == rows * columns)
        weight.withUnsafeMutableBufferPointer { w in
            LowRank.add(scale: scale, b: b, a: a, rank: rank, rows: rows, columns: columns, into: w.baseAddress!)
        }
    }
}
