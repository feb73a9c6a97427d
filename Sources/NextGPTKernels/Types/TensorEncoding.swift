import CNextGPTKernels
import Dispatch
import NextGPTCore

/// Converts f32 values to a container type's bytes and back. Quantizers are ggml's reference
/// quantizers (bit-identical blocks); work is split into contiguous block ranges across `threads`
/// threads (1 disables splitting; the result is the same for every count).
public enum TensorEncoding {
    /// The machine's active cores: the thread count when the caller gives none.
    public static let defaultThreads = max(1, System.activeProcessorCount)

    public static func encode(_ values: [Float], as type: GGMLType, threads: Int = defaultThreads) -> [UInt8] {
        values.withUnsafeBufferPointer { encode($0, as: type, threads: threads) }
    }

    /// `values.count` must be a whole number of blocks of `type`.
    public static func encode(_ values: UnsafeBufferPointer<Float>, as type: GGMLType, threads: Int = defaultThreads) -> [UInt8] {
        guard let byteCount = type.byteCount(elements: values.count) else {
            preconditionFailure("\(values.count) values are not whole \(type) blocks")
        }
        return [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
            initialized = byteCount
            encode(values, as: type, into: UnsafeMutableRawBufferPointer(buffer), threads: threads)
        }
    }

    /// Encodes into `output`, which must hold exactly the encoded bytes.
    public static func encode(_ values: UnsafeBufferPointer<Float>, as type: GGMLType, into output: UnsafeMutableRawBufferPointer,
                              threads: Int = defaultThreads) {
        precondition(type.byteCount(elements: values.count) == output.count, "\(values.count) values are not \(output.count) bytes of \(type)")
        guard let src = values.baseAddress, let dst = output.baseAddress, output.count > 0 else { return }
        let blocks = values.count / type.blockSize
        parallelChunks(blocks, threads: threads) { first, count in
            encodeBlocks(src + first * type.blockSize, count: count * type.blockSize, as: type, into: dst + first * type.blockBytes)
        }
    }

    /// Encodes `units` units of `unitLength` values (whole blocks, or whole rows when rows matter)
    /// into `output`, a slice of units at a time: `fill(firstUnit, unitCount, values)` writes the
    /// slice's f32 values into a small per-thread buffer that stays in cache. Threads take
    /// contiguous ranges of units.
    public static func encodeInSlices(units: Int, unitLength: Int, type: GGMLType, into output: UnsafeMutableRawBufferPointer,
                                      sliceElements: Int = 1 << 16, threads: Int = defaultThreads,
                                      fill: (Int, Int, UnsafeMutableBufferPointer<Float>) -> Void) {
        precondition(unitLength % type.blockSize == 0 && type.byteCount(elements: units * unitLength) == output.count)
        guard units > 0, let dst = output.baseAddress else { return }
        let unitsPerSlice = max(1, sliceElements / unitLength)
        let unitBytes = unitLength / type.blockSize * type.blockBytes
        parallelChunks(units, minimumPerChunk: unitsPerSlice, threads: threads) { first, count in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: min(count, unitsPerSlice) * unitLength)
            defer { buffer.deallocate() }
            var unit = first
            while unit < first + count {
                let n = min(unitsPerSlice, first + count - unit)
                let values = UnsafeMutableBufferPointer(rebasing: buffer[0..<(n * unitLength)])
                fill(unit, n, values)
                encodeBlocks(values.baseAddress!, count: values.count, as: type, into: dst + unit * unitBytes)
                unit += n
            }
        }
    }

    /// One thread's worth of encoding: `count` values (whole blocks) to `type` at `y`.
    static func encodeBlocks(_ x: UnsafePointer<Float>, count n: Int, as type: GGMLType, into y: UnsafeMutableRawPointer) {
        guard let encode = type.traits.encode else { preconditionFailure("integer tensors are copied, never encoded from floats") }
        encode(x, n, y)
    }

    /// Decodes `count` elements of `type` to f32.
    public static func decode(_ bytes: UnsafeRawBufferPointer, type: GGMLType, count: Int, threads: Int = defaultThreads) -> [Float] {
        precondition(type.byteCount(elements: count) == bytes.count, "byte count does not match \(count) \(type) elements")
        var out = [Float](repeating: 0, count: count)
        guard count > 0 else { return out }
        out.withUnsafeMutableBufferPointer { dst in
            let blocks = count / type.blockSize
            parallelChunks(blocks, threads: threads) { first, blockCount in
                let x = bytes.baseAddress! + first * type.blockBytes
                let y = dst.baseAddress! + first * type.blockSize
                let n = blockCount * type.blockSize
                type.traits.decode(x, n, y)
            }
        }
        return out
    }

    public static func decode(_ bytes: [UInt8], type: GGMLType, count: Int, threads: Int = defaultThreads) -> [Float] {
        bytes.withUnsafeBytes { decode($0, type: type, count: count, threads: threads) }
    }

    /// Splits `count` units into one contiguous range per thread (at most `threads`); small jobs
    /// stay on this thread. Dispatch rather than an execution context's pool: the converter and
    /// the file readers encode and decode outside any model run, with their own thread count.
    public static func parallelChunks(_ count: Int, minimumPerChunk: Int = 1024, threads: Int = defaultThreads,
                                      _ body: (Int, Int) -> Void) {
        let chunks = min(threads, max(1, count / minimumPerChunk))
        if chunks <= 1 {
            body(0, count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = ChunkBody(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let first = count * chunk / chunks
                let last = count * (chunk + 1) / chunks
                if last > first { shared.body(first, last - first) }
            }
        }
    }
}

/// The chunk body `parallelChunks` hands to Dispatch's workers. Safe to share: every chunk
/// writes a range no other chunk touches, and `concurrentPerform` returns only after all ran,
/// so the body never outlives the call that owns it.
private struct ChunkBody: @unchecked Sendable {
    let body: (Int, Int) -> Void
    init(_ body: @escaping (Int, Int) -> Void) { self.body = body }
}
