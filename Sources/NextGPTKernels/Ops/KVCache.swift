import CNextGPTKernels

/// How a KV cache stores its rows. Decode reads the whole cache every token, so at long contexts
/// its bytes decide the speed as much as the weights': f16 halves them (llama.cpp's default,
/// `--cache-type-k/-v f16`) at the price of rounding keys and values to binary16 (relative error
/// ≤ 2⁻¹¹ per element); the arithmetic stays f32.
public enum KVCacheType: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    case f32
    /// IEEE binary16, rounded to nearest even as rows are appended (F16C where the CPU has it).
    case f16

    public var bytesPerElement: Int { self == .f32 ? 4 : 2 }
    public var description: String { rawValue }
}

/// Keys and values of past positions for causal decoding: [capacity, kvHeads, headDim] each,
/// in `type`, grown by doubling when full.
public final class KVCache {
    public let kvHeads: Int
    public let headDim: Int
    public let type: KVCacheType
    public private(set) var count = 0
    public private(set) var capacity: Int
    // In huge pages: decode reads one head's slice of every position, 8 KiB apart at 7B's width
    // (f16), so with 4 KiB pages each 256-byte read walked a new page. 7B Q4_0 decode after a
    // 512-token prompt went from 6.99 to 8.33–8.56 tok/s (Zen 4, 2 threads, f16 cache).
    private var keyMemory: HugePageMemory
    private var valueMemory: HugePageMemory
    private var keyStorage: UnsafeMutableRawPointer { keyMemory.pointer }
    private var valueStorage: UnsafeMutableRawPointer { valueMemory.pointer }

    public init(kvHeads: Int, headDim: Int, capacity: Int = 256, type: KVCacheType = .f32) {
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.type = type
        self.capacity = max(capacity, 1)
        let bytes = self.capacity * kvHeads * headDim * type.bytesPerElement
        keyMemory = HugePageMemory(byteCount: bytes)
        valueMemory = HugePageMemory(byteCount: bytes)
    }

    deinit { keyMemory.release(); valueMemory.release() }

    /// Elements per position (all key/value heads).
    var rowElements: Int { kvHeads * headDim }

    /// The f32 rows of an f32 cache.
    var keys: UnsafePointer<Float> { floats(keyStorage) }
    var values: UnsafePointer<Float> { floats(valueStorage) }
    /// The binary16 rows of an f16 cache.
    package var keyHalves: UnsafePointer<UInt16> { halves(keyStorage) }
    package var valueHalves: UnsafePointer<UInt16> { halves(valueStorage) }

    private func floats(_ p: UnsafeMutableRawPointer) -> UnsafePointer<Float> {
        precondition(type == .f32, "KVCache: f32 rows of an \(type) cache")
        return UnsafePointer(p.assumingMemoryBound(to: Float.self))
    }

    private func halves(_ p: UnsafeMutableRawPointer) -> UnsafePointer<UInt16> {
        precondition(type == .f16, "KVCache: f16 rows of an \(type) cache")
        return UnsafePointer(p.assumingMemoryBound(to: UInt16.self))
    }

    /// Appends keys and values [T, kvHeads, headDim] (after RoPE), rounded to the cache's type.
    public func append(keys: Tensor, values: Tensor) {
        precondition(keys.shape == values.shape && keys.rank == 3 && keys.shape[1] == kvHeads && keys.shape[2] == headDim,
                     "KVCache.append: keys \(keys.shape), values \(values.shape) for \(kvHeads) × \(headDim)")
        let t = keys.shape[0], row = rowElements, size = type.bytesPerElement
        if count + t > capacity {
            var newCapacity = capacity
            while count + t > newCapacity { newCapacity *= 2 }
            let used = count * row * size
            func grow(_ memory: HugePageMemory) -> HugePageMemory {
                let grown = HugePageMemory(byteCount: newCapacity * row * size)
                grown.pointer.copyMemory(from: memory.pointer, byteCount: used)
                memory.release()
                return grown
            }
            keyMemory = grow(keyMemory)
            valueMemory = grow(valueMemory)
            capacity = newCapacity
        }
        for (source, storage) in [(keys, keyStorage), (values, valueStorage)] {
            let at = storage + count * row * size
            source.readPointer { src in
                switch type {
                case .f32: at.copyMemory(from: src, byteCount: t * row * 4)
                case .f16: ngk_fp32_to_fp16_row(src, at.assumingMemoryBound(to: UInt16.self), t * row)
                }
            }
        }
        count += t
    }

    /// Forgets every position (keeps the storage).
    public func removeAll() { count = 0 }

    /// `body` on the first `count` keys and values as f32 rows [count, kvHeads, headDim]: the
    /// storage itself for an f32 cache, copies widened over `context`'s threads for an f16 one
    /// (the multi-query paths pack f32 tiles; one prefill's widening costs far less than its products).
    package func withFloatRows<R>(context: ExecutionContext, _ body: (UnsafePointer<Float>, UnsafePointer<Float>) -> R) -> R {
        if type == .f32 { return body(keys, values) }
        let n = count * rowElements
        let widened = UnsafeMutablePointer<Float>.allocate(capacity: max(1, 2 * n))
        defer { widened.deallocate() }
        let dst = SendablePointer(widened), keyHalves = SendableReadPointer(self.keyHalves), valueHalves = SendableReadPointer(self.valueHalves)
        let row = rowElements
        OpParallel.forEach(2 * count, costPerItem: row, context: context) { range in
            for item in range {
                let offset = (item >> 1) * row
                let from = item & 1 == 0 ? keyHalves.pointer : valueHalves.pointer
                ngk_fp16_to_fp32_row(from + offset, dst.base + (item & 1) * n + offset, row)
            }
        }
        return body(UnsafePointer(widened), UnsafePointer(widened + n))
    }

    /// Bytes the stored positions take (keys and values).
    public var storedBytes: Int { 2 * count * rowElements * type.bytesPerElement }
}
