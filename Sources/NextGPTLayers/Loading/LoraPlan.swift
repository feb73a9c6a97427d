import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels

/// Where LoRA applied at load comes from.
public enum LoraSource: Sendable, Equatable {
    /// A peft adapter or a NExT-GPT delta file (`--lora PATH[:SCALE]`).
    case adapter(LoraSpec)
    /// The NExT-GPT LoRA that `convert --delta` kept in the container (`nextgpt.lora.*`, scale
    /// `nextgpt.lora.scale` times `scale`); nothing when the container merged it already.
    case storedDelta(mode: LoraSpec.Mode, scale: Float = 1)
}

/// One update a linear layer takes at load: W' = W + scale · B·A, merged or kept beside W.
struct LoraUpdate {
    let a: Tensor  // [rank, in]
    let b: Tensor  // [out, rank]
    let scale: Float
    let mode: LoraSpec.Mode
    /// The file (adapter, or the container) and tensor to name in errors.
    let source: String
    let target: String
}

/// Every LoRA update of one component load, keyed by the linear layer's full container name
/// (without `.weight`); the loader hands each layer its own and remembers which were taken.
final class LoraPlan {
    private var updates: [String: [LoraUpdate]] = [:]
    private var order: [String] = []
    private var taken: Set<String> = []
    private var sources: [(source: LoraSource, count: Int)] = []

    /// Reads every source for the component the loader is about to build.
    init(_ sources: [LoraSource], file: ModelFile, component: String) throws {
        for source in sources {
            switch source {
            case .adapter(let spec):
                let adapter = try spec.read()
                for pair in adapter.pairs {
                    let module = pair.target.hasSuffix(".weight") ? String(pair.target.dropLast(".weight".count)) : pair.target
                    add("\(component).\(module)", LoraUpdate(
                        a: Tensor(shape: pair.a.shape, values: try pair.a.readFloats()),
                        b: Tensor(shape: pair.b.shape, values: try pair.b.readFloats()),
                        scale: pair.scale, mode: spec.mode, source: spec.path, target: pair.target))
                }
                self.sources.append((source, adapter.pairs.count))
            case .storedDelta(let mode, let scale):
                let pairs = Self.storedDeltaPairs(file)
                guard !pairs.isEmpty else { continue }
                var stored: Float = 1
                if case .float32(let s)? = file.metadata["nextgpt.lora.scale"] { stored = s }
                for pair in pairs {
                    add("\(component).\(pair.module)", LoraUpdate(
                        a: try file.weight(pair.a).dequantized(), b: try file.weight(pair.b).dequantized(),
                        scale: stored * scale, mode: mode, source: file.container.file.path, target: pair.a))
                }
                self.sources.append((source, pairs.count))
            }
        }
    }

    private func add(_ module: String, _ update: LoraUpdate) {
        if updates[module] == nil { order.append(module) }
        updates[module, default: []].append(update)
    }

    /// The updates for the linear layer `module`, in source order; marks them applied.
    func take(_ module: String) -> [LoraUpdate] {
        guard let found = updates[module] else { return [] }
        taken.insert(module)
        return found
    }

    /// Updates whose module no linear layer claimed.
    var unapplied: [LoraUpdate] { order.filter { !taken.contains($0) }.compactMap { updates[$0]?.first } }

    var appliedCounts: [(source: LoraSource, count: Int)] { sources }

    /// The container's stored delta LoRA (`nextgpt.lora.<module>.lora_A/B.weight`), unless the
    /// converter merged it (`nextgpt.lora.merged`).
    static func storedDeltaPairs(_ file: ModelFile) -> [(module: String, a: String, b: String)] {
        if case .bool(true)? = file.metadata["nextgpt.lora.merged"] { return [] }
        let prefix = "nextgpt.lora.", suffix = ".lora_A.weight"
        return file.container.tensors(of: "nextgpt").map(\.name).filter { $0.hasPrefix(prefix) && $0.hasSuffix(suffix) }.sorted().map { name in
            let module = String(name.dropFirst(prefix.count).dropLast(suffix.count))
            return (module, name, "\(prefix)\(module).lora_B.weight")
        }
    }
}
