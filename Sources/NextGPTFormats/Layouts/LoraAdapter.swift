import Foundation
import NextGPTCore

/// One low-rank update W' = W + scale · B·A of the weight named `target`.
public struct LoraPair: Sendable {
    /// Name of the base weight, e.g. `model.layers.0.self_attn.q_proj.weight`.
    public var target: String
    public var a: SourceTensor  // [rank, in]
    public var b: SourceTensor  // [out, rank]
    public var scale: Float
}

/// A set of LoRA pairs with where they came from.
public struct LoraAdapter: Sendable {
    public var pairs: [LoraPair]
    public var files: [String]
    public var source: String

    public init(pairs: [LoraPair], files: [String], source: String) {
        self.pairs = pairs
        self.files = files
        self.source = source
    }

    /// Multiplies every pair's scale (the user's `PATH:SCALE`).
    public func scaled(by factor: Float) -> LoraAdapter {
        var copy = self
        for i in copy.pairs.indices { copy.pairs[i].scale *= factor }
        return copy
    }

    /// Groups `*.lora_A[.adapter].weight` / `*.lora_B[.adapter].weight` tensors into pairs. `prefix`
    /// is removed from the module path (peft's `base_model.model.`), `scale(module, rank)` gives alpha/r.
    static func pairs(from tensors: [SourceTensor], prefix: String, file: String,
                      scale: (String, Int) -> Float) throws -> [LoraPair] {
        var a: [String: SourceTensor] = [:], b: [String: SourceTensor] = [:]
        var order: [String] = []
        for tensor in tensors {
            guard let (module, isA) = splitLoraKey(tensor.name) else {
                throw FormatError(file, tensor: tensor.name, "is not a LoRA tensor (expected *.lora_A.weight or *.lora_B.weight)")
            }
            guard module.hasPrefix(prefix) else { throw FormatError(file, tensor: tensor.name, "does not start with '\(prefix)'") }
            let path = String(module.dropFirst(prefix.count))
            if a[path] == nil && b[path] == nil { order.append(path) }
            if isA { a[path] = tensor } else { b[path] = tensor }
        }
        return try order.map { path in
            guard let down = a[path], let up = b[path] else {
                throw FormatError(file, tensor: path, "has only one of lora_A / lora_B")
            }
            guard down.shape.count == 2, up.shape.count == 2, up.shape[1] == down.shape[0] else {
                throw FormatError(file, tensor: path, "lora_A \(down.shape) and lora_B \(up.shape) do not form a rank-r product")
            }
            return LoraPair(target: path + ".weight", a: down, b: up, scale: scale(path, down.shape[0]))
        }
    }

    /// `x.lora_A.weight`, `x.lora_A.default.weight` → (x, true).
    static func splitLoraKey(_ key: String) -> (String, Bool)? {
        for (marker, isA) in [(".lora_A.", true), (".lora_B.", false)] {
            if let range = key.range(of: marker), key.hasSuffix(".weight") {
                return (String(key[..<range.lowerBound]), isA)
            }
        }
        return nil
    }
}

/// peft adapters: `adapter_config.json` beside `adapter_model.safetensors` or `adapter_model.bin`.
public enum PeftAdapter {
    public static func read(path: String) throws -> LoraAdapter {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FormatError(path, "no such file or folder")
        }
        let folder = isDir.boolValue ? path : (path as NSString).deletingLastPathComponent
        let configPath = "\(folder)/adapter_config.json"
        guard JSONFile.exists(configPath) else {
            throw FormatError(path, "a peft adapter needs adapter_config.json beside its weights (for lora_alpha and r)")
        }
        let config = try JSONFile.object(configPath)
        guard let r = (config["r"] as? NSNumber)?.doubleValue, r > 0,
              let alpha = (config["lora_alpha"] as? NSNumber)?.doubleValue else {
            throw FormatError(configPath, "missing r or lora_alpha")
        }
        let rslora = (config["use_rslora"] as? Bool) ?? false
        let rankPattern = (config["rank_pattern"] as? [String: NSNumber]) ?? [:]
        let alphaPattern = (config["alpha_pattern"] as? [String: NSNumber]) ?? [:]
        let weightsPath: String
        if isDir.boolValue {
            let candidates = ["adapter_model.safetensors", "adapter_model.bin"].map { "\(folder)/\($0)" }
            guard let found = candidates.first(where: { JSONFile.exists($0) }) else {
                throw FormatError(folder, "no adapter_model.safetensors or adapter_model.bin")
            }
            weightsPath = found
        } else {
            weightsPath = path
        }
        let checkpoint = try readCheckpointFile(weightsPath)

        func matching(_ pattern: [String: NSNumber], _ module: String) -> Double? {
            pattern.first { module == $0.key || module.hasSuffix("." + $0.key) }?.value.doubleValue
        }
        let pairs = try LoraAdapter.pairs(from: checkpoint.tensors, prefix: "base_model.model.", file: weightsPath) { module, rank in
            let moduleRank = matching(rankPattern, module) ?? r
            let moduleAlpha = matching(alphaPattern, module) ?? alpha
            return Float(rslora ? moduleAlpha / moduleRank.squareRoot() : moduleAlpha / moduleRank)
        }
        return LoraAdapter(pairs: pairs, files: [configPath, weightsPath], source: path)
    }
}
