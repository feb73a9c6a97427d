import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels

/// `nn.Linear` over a container weight (any container type, usually a view into the mapping),
/// with its LoRA updates either merged into the weight or kept beside it. Built once by the
/// loader (`Weights.linear`) and never changed after.
public final class LinearLayer: Sendable {
    public let weight: Weight
    public let bias: Tensor?
    /// Runtime LoRA: y += scale · B(A x), the weight untouched.
    public let runtimeLora: [RuntimeLora]
    /// The weight in the integer kernels' interleaved layout, when the load repacked it.
    public let packed: WeightMatrix?

    public struct RuntimeLora: Sendable {
        public let a: Tensor  // [rank, in]
        public let b: Tensor  // [out, rank]
        public let scale: Float
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public init(weight: Weight, bias: Tensor? = nil, runtimeLora: [RuntimeLora] = [], packed: WeightMatrix? = nil) {
        self.weight = weight
        self.bias = bias
        self.runtimeLora = runtimeLora
        self.packed = packed
    }

    /// The layer a load builds: `updates` applied in order (merged or kept at run time, by their
    /// mode), then the result repacked on `repack`'s pool when given, the mapped pages under a
    /// replaced weight dropped.
    convenience init(weight original: Weight, bias: Tensor?, lora updates: [LoraUpdate], repack: ExecutionContext?, file: ModelFile) throws {
        var weight = original
        var runtime: [RuntimeLora] = []
        for update in updates {
            let (a, b) = (update.a, update.b)
            guard a.rank == 2, b.rank == 2, a.shape[1] == weight.shape[1], b.shape[0] == weight.shape[0], b.shape[1] == a.shape[0] else {
                throw FormatError(update.source, tensor: update.target,
                                  "LoRA A \(a.shape) / B \(b.shape) do not fit the weight \(weight.name) \(weight.shape)")
            }
            switch update.mode {
            case .automatic where weight.type == .f32, .merge:
                weight = try Self.merged(weight, a: a, b: b, scale: update.scale, storeAs: weight.type)
            case .mergeF16:
                weight = try Self.merged(weight, a: a, b: b, scale: update.scale, storeAs: weight.type == .f32 ? .f32 : .f16)
            case .automatic, .runtime:
                runtime.append(RuntimeLora(a: a, b: b, scale: update.scale))
            }
        }
        let packed = repack.flatMap { Self.repacked(weight, rows: weight.shape[0], columns: weight.shape[1], file: file, context: $0) }
        self.init(weight: weight, bias: bias, runtimeLora: runtime, packed: packed)
    }

    /// The interleaved copy of a Q8_0 / Q4_0 / Q4_K matrix (nil for other types), the mapped pages
    /// under the original dropped (they return on next use if something still reads them).
    static func repacked(_ weight: Weight, rows: Int, columns: Int, file: ModelFile, context: ExecutionContext) -> WeightMatrix? {
        guard let data = weight.bytes.baseAddress else { return nil }
        let matrix = WeightMatrix(type: weight.type, rows: rows, columns: columns, data: data)
        guard matrix.isRepackable else { return nil }
        let copy = withExtendedLifetime(weight) { matrix.repacked(context: context) }
        file.releasePages(of: weight)
        return copy
    }

    /// W' = W + scale · B·A computed in f32 from the dequantized weight, stored as `type` in
    /// memory the new weight owns.
    static func merged(_ weight: Weight, a: Tensor, b: Tensor, scale: Float, storeAs type: GGMLType) throws -> Weight {
        let (rows, columns) = (weight.shape[0], weight.shape[1])
        guard let byteCount = type.byteCount(elements: columns).map({ $0 * rows }) else {
            throw FormatError(weight.name, "rows of \(columns) cannot be stored as \(type)")
        }
        var merged = weight.dequantized()
        merged.withUnsafeMutableBufferPointer { w in
            a.readPointer { ap in
                b.readPointer { bp in
                    LowRank.add(scale: scale, b: bp, a: ap, rank: a.shape[0], rows: rows, columns: columns, into: w.baseAddress!)
                }
            }
        }
        let storage = OwnedBytes(count: byteCount)
        merged.withUnsafeBufferPointer { TensorEncoding.encode($0, as: type, into: storage.buffer) }
        return Weight(name: weight.name, type: type, shape: weight.shape, bytes: UnsafeRawBufferPointer(storage.buffer), owner: storage)
    }

    public func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        context.measure("linear \(weight.type)") { forward(x, context) }
    }

    func forward(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        var y = packed.map { Linear.linear(x, matrix: $0, bias: bias, context: context) }
            ?? Linear.linear(x, weight: weight, bias: bias, context: context)
        for lora in runtimeLora {
            let down = Linear.linear(x, weight: lora.a, bias: nil, context: context)
            Elementwise.addScaled(&y, Linear.linear(down, weight: lora.b, bias: nil, context: context), scale: lora.scale)
        }
        return y
    }
}

/// Anonymous, 64-byte aligned bytes that a `Weight` can point into (merged or repacked weights).
/// Safe to share: written once before the owning `Weight` exists, read-only after.
final class OwnedBytes: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
    init(count: Int) { buffer = .allocate(byteCount: max(count, 1), alignment: 64) }
    deinit { buffer.deallocate() }
}
