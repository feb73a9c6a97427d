import COpenBLAS
import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels

/// `nn.Linear` over a container weight (any container type, usually a view into the mapping),
/// with LoRA updates either merged into the weight or applied at run time.
public final class LinearLayer: @unchecked Sendable {
    public private(set) var weight: Weight
    public let bias: Tensor?
    /// Runtime LoRA: y += scale · B(A x), the weight untouched.
    public private(set) var runtimeLora: [RuntimeLora] = []
    /// The weight in the decode kernels' interleaved layout, once `repack()` made it.
    public private(set) var packed: WeightMatrix?

    public struct RuntimeLora: Sendable {
        public let a: Tensor  // [rank, in]
        public let b: Tensor  // [out, rank]
        public let scale: Float
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public init(weight: Weight, bias: Tensor? = nil) {
        self.weight = weight
        self.bias = bias
    }

    /// `<prefix>.weight` [out, in] and, when `hasBias`, `<prefix>.bias` from the container; the
    /// error names the file and tensor when a shape differs from what the config implies.
    public convenience init(_ file: ModelFile, _ prefix: String, out: Int, in inFeatures: Int, hasBias: Bool = false) throws {
        let weight = try file.weight("\(prefix).weight")
        guard weight.shape == [out, inFeatures] else {
            throw FormatError(file.container.file.path, tensor: weight.name, "has shape \(weight.shape), the config implies [\(out), \(inFeatures)]")
        }
        var bias: Tensor?
        if hasBias {
            let b = try file.weight("\(prefix).bias")
            guard b.shape == [out] else { throw FormatError(file.container.file.path, tensor: b.name, "has shape \(b.shape), expected [\(out)]") }
            bias = b.dequantized()
        }
        self.init(weight: weight, bias: bias)
        if file.repackQuantized, repack(context: .default) { file.releasePages(of: weight) }
    }

    /// The interleaved copy of a Q8_0 / Q4_0 matrix (nil for other types), the mapped pages
    /// under the original dropped.
    static func repacked(_ weight: Weight, rows: Int, columns: Int, file: ModelFile) -> WeightMatrix? {
        guard let data = weight.bytes.baseAddress else { return nil }
        let matrix = WeightMatrix(type: weight.type, rows: rows, columns: columns, data: data)
        guard matrix.isRepackable else { return nil }
        // Loading has no execution context yet; the copy is the same whatever pool makes it.
        let copy = withExtendedLifetime(weight) { matrix.repacked(context: .default) }
        file.releasePages(of: weight)
        return copy
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

    private func checkLoraShapes(_ a: Tensor, _ b: Tensor) throws {
        guard a.rank == 2, b.rank == 2, a.shape[1] == inFeatures, b.shape[0] == outFeatures, b.shape[1] == a.shape[0] else {
            throw FormatError(weight.name, "LoRA A \(a.shape) / B \(b.shape) do not fit the weight \(weight.shape)")
        }
    }

    /// Keeps A and B beside the weight: y = W x + scale · B(A x).
    public func addRuntimeLora(a: Tensor, b: Tensor, scale: Float) throws {
        try checkLoraShapes(a, b)
        runtimeLora.append(RuntimeLora(a: a, b: b, scale: scale))
    }

    /// W' = W + scale · B·A computed in f32 from the dequantized weight, then stored as `type`
    /// (the weight's own type unless told otherwise) in memory owned by this layer.
    public func mergeLora(a: Tensor, b: Tensor, scale: Float, storeAs type: GGMLType? = nil) throws {
        try checkLoraShapes(a, b)
        let target = type ?? weight.type
        guard let byteCount = target.byteCount(elements: inFeatures).map({ $0 * outFeatures }) else {
            throw FormatError(weight.name, "rows of \(inFeatures) cannot be stored as \(target)")
        }
        var merged = weight.dequantized()
        let rank = a.shape[0]
        merged.withUnsafeMutableBufferPointer { w in
            a.readPointer { ap in
                b.readPointer { bp in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(outFeatures), Int32(inFeatures), Int32(rank),
                                scale, bp, Int32(rank), ap, Int32(inFeatures), 1, w.baseAddress, Int32(inFeatures))
                }
            }
        }
        let storage = OwnedBytes(count: byteCount)
        merged.withUnsafeBufferPointer { TensorEncoding.encode($0, as: target, into: storage.buffer) }
        weight = Weight(name: weight.name, type: target, shape: weight.shape, bytes: UnsafeRawBufferPointer(storage.buffer), owner: storage)
        packed = nil
    }

    /// Copies a Q8_0 / Q4_0 weight into the interleaved layout the decode kernels stream fastest
    /// (anonymous memory of the weight's size); returns whether it did. The caller may then drop
    /// the mapped pages of the original (`ModelFile.releasePages(of:)`).
    @discardableResult
    public func repack(context: ExecutionContext) -> Bool {
        guard packed == nil, let data = weight.bytes.baseAddress else { return false }
        let matrix = WeightMatrix(type: weight.type, rows: outFeatures, columns: inFeatures, data: data)
        guard matrix.isRepackable else { return false }
        packed = withExtendedLifetime(weight) { matrix.repacked(context: context) }
        return true
    }
}

/// Anonymous, 64-byte aligned bytes that a `Weight` can point into (merged or repacked weights).
final class OwnedBytes: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
    init(count: Int) { buffer = .allocate(byteCount: max(count, 1), alignment: 64) }
    deinit { buffer.deallocate() }
}
