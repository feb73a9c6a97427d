import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels

/// Choices fixed before a component is built, so that the modules it makes never change after:
/// how quantized weights are laid out, which LoRA updates go where, and how strict the check for
/// unread tensors is.
public struct LoadOptions: Sendable {
    /// Copy Q8_0 / Q4_0 / Q4_K weights into the interleaved layout of the integer kernels (8-bit
    /// activations at every batch size) and drop the mapped pages. Off: weights stay mapped and
    /// large batches dequantize them for sgemm.
    public var repackQuantized = false
    /// LoRA applied at load, in order, to the linear layers their pairs name.
    public var lora: [LoraSource] = []
    /// What to do with a component tensor no module read.
    public var unusedTensors = UnusedTensorPolicy.error
    /// Where load-time work (repacking) runs: its pool and thread count.
    public var context: ExecutionContext

    /// Buffers that upstream code recomputes while real checkpoints still carry them; never
    /// reported as unused (matched against the end of the name).
    public static let recomputedBuffers = ["rotary_emb.inv_freq", "position_ids", "token_type_ids", "num_batches_tracked"]

    public init(repackQuantized: Bool = false, lora: [LoraSource] = [], unusedTensors: UnusedTensorPolicy = .error,
                context: ExecutionContext = .default) {
        self.repackQuantized = repackQuantized
        self.lora = lora
        self.unusedTensors = unusedTensors
        self.context = context
    }
}

/// What a load does with tensors of the component that no module read.
public enum UnusedTensorPolicy: Sendable, Equatable {
    /// Refuse the component, naming the tensors (an unread tensor is a silent bug).
    case error
    /// Build it anyway; the names are in `LoadReport.unused` (for components that run only part
    /// of a checkpoint, such as branches upstream never calls).
    case allow
}

/// What one component load read and applied.
public struct LoadReport: Sendable {
    public var component: String
    /// Tensors of the component that were read, with their full container names.
    public var used: Set<String>
    /// Tensors of the component that nothing read (empty unless the policy allows them).
    public var unused: [String]
    /// LoRA pairs applied, per source in the options' order (a stored delta with no pairs is left out).
    public var loraPairs: [(source: LoraSource, count: Int)]
}

/// A key path into one component of a container (candle's `VarBuilder`, mlx's module update):
/// `w.pp("down_blocks").pp(0).conv2d(...)` reads `<component>.down_blocks.0.<name>` with its shape
/// checked in one place, and records every key it reads so that `finish()` can prove the whole
/// component was used.
public struct Weights {
    public let file: ModelFile
    /// Full container prefix of this path, e.g. `sd15.unet.down_blocks.0`.
    public let prefix: String
    public let options: LoadOptions
    let ledger: LoadLedger

    /// The root of `component` (e.g. `vicuna`, `sd15.unet`). LoRA sources are read here, once.
    public static func component(_ file: ModelFile, _ component: String, options: LoadOptions = LoadOptions()) throws -> Weights {
        let ledger = LoadLedger(component: component, lora: try LoraPlan(options.lora, file: file, component: component))
        return Weights(file: file, prefix: component, options: options, ledger: ledger)
    }

    /// The path one level down: `pp("layers").pp(3)`.
    public func pp(_ name: String) -> Weights {
        Weights(file: file, prefix: prefix.isEmpty ? name : "\(prefix).\(name)", options: options, ledger: ledger)
    }

    public func pp(_ index: Int) -> Weights { pp(String(index)) }

    /// The full container name of `name` under this path.
    public func key(_ name: String) -> String { "\(prefix).\(name)" }

    /// Whether the container has `name` under this path (e.g. an optional shortcut convolution).
    public func contains(_ name: String) -> Bool { file.contains(key(name)) }

    package var path: String { file.container.file.path }

    /// The stored weight `name`, its PyTorch shape checked against `shape` (−1 matches any size),
    /// kept in its stored type.
    public func weight(_ name: String, shape: [Int]) throws -> Weight {
        let full = key(name)
        let weight = try file.weight(full)
        guard weight.shape.count == shape.count, zip(weight.shape, shape).allSatisfy({ $1 == -1 || $0 == $1 }) else {
            let expected = "[" + shape.map { $0 == -1 ? "any" : String($0) }.joined(separator: ", ") + "]"
            throw FormatError(path, tensor: full, "has shape \(weight.shape), the config implies \(expected)")
        }
        ledger.markUsed(full)
        return weight
    }

    /// `name` as f32 values, shape checked.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        try weight(name, shape: shape).dequantized()
    }

    /// `name` when the container has it, else nil (shape checked when present).
    public func optionalTensor(_ name: String, shape: [Int]) throws -> Tensor? {
        contains(name) ? try tensor(name, shape: shape) : nil
    }

    /// Throws a load error for this path.
    public func error(_ name: String, _ message: String) -> FormatError {
        FormatError(path, tensor: key(name), message)
    }

    /// Ends the load of the component: the tensors nobody read (recomputed buffers aside) refuse
    /// it unless the options allow them, and so does a LoRA pair that named no linear layer.
    @discardableResult
    public func finish() throws -> LoadReport {
        let component = ledger.component
        if let pair = ledger.lora.unapplied.first {
            throw FormatError(pair.source, tensor: pair.target, "names no linear layer of \(component)")
        }
        let unused = file.container.tensors(of: component).map(\.name).filter { name in
            !ledger.isUsed(name) && !LoadOptions.recomputedBuffers.contains { name.hasSuffix($0) }
        }.sorted()
        if !unused.isEmpty && options.unusedTensors == .error {
            let shown = unused.prefix(5).joined(separator: ", ") + (unused.count > 5 ? ", … (\(unused.count) in all)" : "")
            throw FormatError(path, tensor: unused[0], "is in component '\(component)' but no module of it reads it (unused: \(shown))")
        }
        return LoadReport(component: component, used: ledger.usedNames, unused: unused, loraPairs: ledger.lora.appliedCounts)
    }
}

/// The keys one component load read, and the LoRA updates it still owes. Loading is sequential;
/// the ledger lives only while a component is built.
final class LoadLedger {
    let component: String
    let lora: LoraPlan
    private var used: Set<String> = []

    init(component: String, lora: LoraPlan) {
        self.component = component
        self.lora = lora
    }

    func markUsed(_ name: String) { used.insert(name) }
    func isUsed(_ name: String) -> Bool { used.contains(name) }
    var usedNames: Set<String> { used }
}
