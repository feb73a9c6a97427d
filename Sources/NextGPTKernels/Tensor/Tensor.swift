import NextGPTCore

/// Activations: f32 values in row-major order (last dimension contiguous), PyTorch shapes.
/// Storage is shared between copies and copied on the first write to a shared one.
public struct Tensor: Sendable, CustomStringConvertible {
    public private(set) var shape: [Int]
    private var storage: TensorStorage

    /// Zero-filled.
    public init(zeros shape: [Int]) {
        self.shape = shape
        storage = TensorStorage(count: shape.reduce(1, *))
    }

    public init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.shape = shape
        storage = TensorStorage(count: values.count, zeroed: false)
        values.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// Filled by `body` (which must write every element).
    public init(shape: [Int], fill body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.shape = shape
        storage = TensorStorage(count: shape.reduce(1, *), zeroed: false)
        try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    public var values: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: storage.count)) }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// True when no other tensor shares this one's storage, so writing it copies nothing.
    public mutating func holdsUniqueStorage() -> Bool { isKnownUniquelyReferenced(&storage) }

    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Same values, another shape with the same element count (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            resolved[inferred] = count / newShape.filter { $0 != -1 }.reduce(1, *)
        }
        precondition(resolved.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        var copy = self
        copy.shape = resolved
        return copy
    }

    public var description: String { "Tensor\(shape)" }
}

/// Owned, 64-byte aligned f32 storage, zero-filled.
///
/// From `mappedMinimumBytes` up the storage is its own anonymous mapping in transparent huge pages
/// (`HugePageMemory`), unmapped when the tensor goes. Through malloc, activations of a few MB
/// (a 512² VAE's 64² planes, the UNet's) are kept by glibc's heaps once freed: a Zen 1 SD 1.5
/// run at 512² held 0.5 GB more at the start of the VAE decode than with its own mappings, and
/// the decode's peak was as much higher. Huge pages also fault a plane in 512× fewer times.
/// From 4 MiB, not 1: at 256² the run then took 370–455 thousand page faults against the
/// heap's 555–565 thousand and 1 MiB's 745–760 thousand, for the same decode peak at 512².
// @unchecked: `Tensor` copies it before any write to a shared storage (copy on write), so a
// storage two threads can see is never written.
final class TensorStorage: @unchecked Sendable {
    static let mappedMinimumBytes = 4 << 20

    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    private let mapping: HugePageMemory?
    /// Where `mapping` goes back to, when it came from one.
    private let arena: ActivationArena?

    /// Zero-filled unless `zeroed` is false (the caller writes every element; heap and fresh
    /// mappings are zero anyway, only an arena's reused block is not).
    init(count: Int, zeroed: Bool = true) {
        self.count = count
        let byteCount = max(count, 1) * 4
        if let current = ActivationArena.current, byteCount >= current.minimumBytes {
            let memory = current.take(byteCount: byteCount, zeroed: zeroed)
            mapping = memory
            arena = current
            pointer = memory.pointer.bindMemory(to: Float.self, capacity: max(count, 1))
            return
        }
        arena = nil
        if byteCount >= Self.mappedMinimumBytes {
            // A fresh anonymous mapping reads as zeros already.
            let memory = HugePageMemory(byteCount: byteCount)
            mapping = memory
            pointer = memory.pointer.bindMemory(to: Float.self, capacity: max(count, 1))
        } else {
            mapping = nil
            let raw = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: count)
        }
    }

    func copy() -> TensorStorage {
        let other = TensorStorage(count: count, zeroed: false)
        other.pointer.update(from: pointer, count: count)
        return other
    }

    deinit {
        if let arena, let mapping {
            arena.giveBack(mapping)
        } else if let mapping {
            mapping.release()
        } else {
            pointer.deallocate()
        }
    }
}

/// A weight as the container stores it: ggml type, PyTorch shape, bytes (usually a view into the
/// mapped file, kept alive by `owner`).
// @unchecked: the bytes are read-only (the mapping, or memory a load filled before the weight
// existed) and `owner` keeps them alive.
public struct Weight: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    /// PyTorch shape (`nextgpt.orig_shape` applied).
    public let shape: [Int]
    public let bytes: UnsafeRawBufferPointer
    let owner: AnyObject?

    public init(name: String, type: GGMLType, shape: [Int], bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        self.name = name
        self.type = type
        self.shape = shape
        self.bytes = bytes
        self.owner = owner
    }

    /// The weight as f32 values (dequantized), in PyTorch order.
    public func dequantized() -> Tensor {
        Tensor(shape: shape, values: TensorEncoding.decode(bytes, type: type, count: shape.reduce(1, *)))
    }
}
