import Foundation
import NextGPTCore
import NextGPTFormats

/// LoRA applied when a component is loaded (`LoadOptions.lora`): peft adapters (`adapter_config.json` +
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
