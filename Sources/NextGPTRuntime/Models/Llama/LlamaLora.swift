import Foundation
import NextGPTCore
import NextGPTFormats

/// LoRA applied when a LLaMA component is loaded: peft adapters (`adapter_config.json` +
/// `adapter_model.safetensors|bin`) or the LoRA inside NExT-GPT's delta (`pytorch_model.pt`).
public struct LoraSpec: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// `merge` into f32 weights (exact), `runtime` beside the others: merging into F16 rounds
        /// the sum (rel. error ≈ 5e-4), into a quantized type it drops the part of the update
        /// below the quantization step (Δ-cosine ≈ 0.985 at Q4_0 on the fixtures).
        case automatic = "auto"
        /// W' = W + s·B·A in f32 from the dequantized weight, stored back in the weight's type.
        case merge
        /// Like merge, but the merged weight is kept as F16 (no re-quantization error).
        case mergeF16 = "merge-f16"
        /// y = W·x + s·B(A·x); the mapped weight is untouched.
        case runtime
    }

    public var path: String
    public var scale: Float
    public var mode: Mode
    /// NExT-GPT deltas do not record lora_alpha; nil means alpha = r (NExT-GPT's r = alpha = 32).
    public var deltaAlpha: Float?

    public init(path: String, scale: Float = 1, mode: Mode = .automatic, deltaAlpha: Float? = nil) {
        self.path = path
        self.scale = scale
        self.mode = mode
        self.deltaAlpha = deltaAlpha
    }

    /// `PATH` or `PATH:SCALE` as the command line gives it.
    public init(argument: String, mode: Mode, deltaAlpha: Float? = nil) throws {
        var path = argument, scale: Float = 1
        if let colon = argument.lastIndex(of: ":"), let s = Float(argument[argument.index(after: colon)...]) {
            path = String(argument[..<colon])
            scale = s
        }
        self.init(path: path, scale: scale, mode: mode, deltaAlpha: deltaAlpha)
    }

    /// The adapter's pairs, scaled by `scale`.
    public func read() throws -> LoraAdapter {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw FormatError(path, "no such LoRA file or folder") }
        let folder = isDir.boolValue ? path : (path as NSString).deletingLastPathComponent
        if JSONFile.exists("\(folder)/adapter_config.json") {
            return try PeftAdapter.read(path: path).scaled(by: scale)
        }
        let delta = try NextGPTDelta(path: path, loraAlpha: deltaAlpha)
        guard !delta.lora.isEmpty else { throw FormatError(path, "neither a peft adapter (no adapter_config.json) nor a NExT-GPT delta with LoRA") }
        return LoraAdapter(pairs: delta.lora, files: delta.files, source: path).scaled(by: scale)
    }
}

extension LlamaForCausalLM {
    /// Applies each adapter to the layers its pairs name; returns how many pairs were applied.
    /// A pair naming no linear layer of this model is an error naming the adapter and the tensor.
    @discardableResult
    public func applyLora(_ specs: [LoraSpec]) throws -> Int {
        let layers = Dictionary(uniqueKeysWithValues: linearLayers.map { ("\($0.name).weight", $0.layer) })
        var applied = 0
        for spec in specs {
            let adapter = try spec.read()
            for pair in adapter.pairs {
                guard let layer = layers[pair.target] else {
                    throw FormatError(spec.path, tensor: pair.target, "names no linear layer of \(component)")
                }
                let a = Tensor(shape: pair.a.shape, values: try pair.a.readFloats())
                let b = Tensor(shape: pair.b.shape, values: try pair.b.readFloats())
                try layer.applyLora(a: a, b: b, scale: pair.scale, mode: spec.mode)
                applied += 1
            }
        }
        return applied
    }
}

extension LlamaForCausalLM {
    /// The NExT-GPT delta's LoRA that `convert --delta` kept in the container
    /// (`nextgpt.lora.<module>.lora_A/B.weight`, scale `nextgpt.lora.scale`), when not merged there.
    public static func storedDeltaLora(_ file: ModelFile) -> [(module: String, a: String, b: String)] {
        if case .bool(true)? = file.metadata["nextgpt.lora.merged"] { return [] }
        let prefix = "nextgpt.lora.", suffix = ".lora_A.weight"
        return file.container.tensors(of: "nextgpt").map(\.name).filter { $0.hasPrefix(prefix) && $0.hasSuffix(suffix) }.sorted().map { name in
            let module = String(name.dropFirst(prefix.count).dropLast(suffix.count))
            return (module, name, "\(prefix)\(module).lora_B.weight")
        }
    }

    /// Applies the stored delta LoRA (see `storedDeltaLora`); `scale` multiplies the stored scale.
    @discardableResult
    public func applyStoredDeltaLora(_ file: ModelFile, mode: LoraSpec.Mode, scale: Float = 1) throws -> Int {
        let pairs = Self.storedDeltaLora(file)
        guard !pairs.isEmpty else { return 0 }
        var stored: Float = 1
        if case .float32(let s)? = file.metadata["nextgpt.lora.scale"] { stored = s }
        let layers = Dictionary(uniqueKeysWithValues: linearLayers.map { ($0.name, $0.layer) })
        for pair in pairs {
            guard let layer = layers[pair.module] else {
                throw FormatError(file.container.file.path, tensor: pair.a, "names no linear layer of \(component)")
            }
            let a = try file.weight(pair.a).dequantized(), b = try file.weight(pair.b).dequantized()
            try layer.applyLora(a: a, b: b, scale: stored * scale, mode: mode)
        }
        return pairs.count
    }
}

extension LinearLayer {
    /// One LoRA update in the given mode.
    public func applyLora(a: Tensor, b: Tensor, scale: Float, mode: LoraSpec.Mode) throws {
        switch mode {
        case .automatic where weight.type == .f32, .merge: try mergeLora(a: a, b: b, scale: scale)
        case .mergeF16: try mergeLora(a: a, b: b, scale: scale, storeAs: weight.type == .f32 ? .f32 : .f16)
        case .automatic, .runtime: try addRuntimeLora(a: a, b: b, scale: scale)
        }
    }
}
