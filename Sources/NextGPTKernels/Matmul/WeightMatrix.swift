import CNextGPTKernels
import Glibc

/// A weight matrix in a container type: `rows` output features × `columns` input features,
/// each row `columns` elements (a whole number of the type's blocks). Row-major as in the
/// container (usually a view into the mapped file), or repacked by `repacked()`.
// @unchecked: `data` is read-only for the matrix's life (the caller's mapping, or `storage`, filled
// before this value existed).
public struct WeightMatrix: @unchecked Sendable {
    /// How the blocks are arranged in memory.
    public enum Layout: Sendable, Equatable {
        /// Row after row, as in the container.
        case rowMajor
        /// Q8_0 / Q4_0 / Q4_K only: groups of 8 rows, the rows' blocks interleaved per block column
        /// (CNextGPTKernels/include/nextgpt_matmul.h). The matrix owns this copy.
        case interleaved8
    }

    public let type: GGMLType
    public let rows: Int
    public let columns: Int
    public let data: UnsafeRawPointer
    public let layout: Layout
    /// Keeps a repacked copy alive; nil when the caller owns `data`.
    let storage: PackedStorage?

    public init(type: GGMLType, rows: Int, columns: Int, data: UnsafeRawPointer) {
        precondition(columns % type.blockSize == 0, "\(columns) columns are not whole \(type) blocks")
        self.type = type
        self.rows = rows
        self.columns = columns
        self.data = data
        self.layout = .rowMajor
        self.storage = nil
    }

    private init(packedFrom w: WeightMatrix, storage: PackedStorage) {
        type = w.type
        rows = w.rows
        columns = w.columns
        data = UnsafeRawPointer(storage.pointer)
        layout = .interleaved8
        self.storage = storage
    }

    /// Bytes of one row of the row-major layout (the repacked Q8_0 / Q4_0 layout has the same
    /// bytes per row; Q4_K's has 148 per block against 144: its scales are no longer bit-packed).
    public var rowBytes: Int { columns / type.blockSize * type.blockBytes }

    /// Bytes at `data`: rows × rowBytes, or when repacked the groups of 8 (the last one filled
    /// with zero rows).
    public var byteCount: Int {
        layout == .rowMajor ? rows * rowBytes : groupCount * groupBytes
    }

    /// Whether `repacked()` gives a faster layout for this matrix (Q8_0, Q4_0 and Q4_K weights).
    public var isRepackable: Bool { layout == .rowMajor && type.traits.interleaved != nil && columns > 0 }

    var groupCount: Int { (rows + Int(NGK_PACK_ROWS) - 1) / Int(NGK_PACK_ROWS) }
    /// Bytes of one group of 8 interleaved rows.
    var groupBytes: Int {
        guard let packed = type.traits.interleaved else { return Int(NGK_PACK_ROWS) * rowBytes }
        return columns / type.blockSize * packed.groupBlockBytes
    }

    /// A copy of the weights in the layout the decode kernels stream fastest (8 interleaved rows;
    /// Q8_0, Q4_0 and Q4_K only, otherwise `self`). Costs anonymous memory of `byteCount` (about the
    /// weights' own size) for as long as the result lives; the row-major original (e.g. the
    /// mapping) is no longer needed by `Matmul.multiply` afterwards. Copies in parallel on the
    /// context's pool.
    public func repacked(context: ExecutionContext) -> WeightMatrix {
        let pool = context.pool
        guard isRepackable, let layout = type.traits.interleaved else { return self }
        let storage = PackedStorage(byteCount: groupCount * groupBytes)
        let src = data.assumingMemoryBound(to: UInt8.self), dst = storage.pointer.assumingMemoryBound(to: UInt8.self)
        let rows = rows, blocks = columns / type.blockSize
        pool.parallelFor(groupCount, minimumPerThread: 64) { range in
            layout.pack(src, rows, blocks, range.lowerBound, range.upperBound, dst)
        }
        return WeightMatrix(packedFrom: self, storage: storage)
    }

    /// Rows [row, row + count) in the row-major container layout, whatever the layout.
    func copyRows(_ row: Int, count: Int, into out: UnsafeMutableRawPointer) {
        switch layout {
        case .rowMajor: out.copyMemory(from: data + row * rowBytes, byteCount: count * rowBytes)
        case .interleaved8:
            type.traits.interleaved!.unpack(data.assumingMemoryBound(to: UInt8.self), columns / type.blockSize, row, count,
                                            out.assumingMemoryBound(to: UInt8.self))
        }
    }
}

/// Anonymous memory of a repacked matrix, in transparent huge pages (`HugePageMemory`): the
/// decode kernels stream it start to end.
// @unchecked: written once by `repacked()` before the matrix that owns it is returned; read-only after.
final class PackedStorage: @unchecked Sendable {
    private let memory: HugePageMemory
    var pointer: UnsafeMutableRawPointer { memory.pointer }

    init(byteCount: Int) { memory = HugePageMemory(byteCount: byteCount) }

    deinit { memory.release() }
}
