import CNextGPTKernels
import Synchronization

/// The lane GEMM (`Sources/CNextGPTKernels/matmul_lanes.c`): repacked Q8_0 weights × activations
/// quantized 16 positions to an AVX-512 vector, for products with many positions. Linears
/// quantize their rows panel by panel; convolutions gather and quantize patches panel by panel
/// (`Convolution.conv2d(_:matrix:…)`), so no whole patch matrix and no f32 patch rows exist. The
/// activations are quantized exactly as the tiled integer GEMM's and the block sums scaled and
/// added in the same order, so both paths give the same floats.
extension Matmul {
    /// The default of `ExecutionContext.laneGEMMMinimumPositions`. Measured on the 2-core Zen 4
    /// (`BENCH_SECTIONS=lanes,lanesconv nextgpt-bench`, load ~12): from 256 positions the lane GEMM
    /// beat the tiled integer GEMM on SD/ZeroScope linears (1.0–1.7×) and patch rows + integer GEMM
    /// on 3×3 convolutions of 320–640 channels (1.7–2.8×); at 154 rows × 768 → 3072 the tiled
    /// GEMM was faster, at 8×8 × 1280-channel convolutions both were alike.
    public static let laneGEMMThreshold = 256

    /// Whether a product of `w` over `batch` positions (a linear's rows, a convolution's output
    /// positions per sample) takes the lane GEMM on `context`.
    package static func prefersLaneGEMM(_ w: WeightMatrix, batch: Int, context: ExecutionContext) -> Bool {
        guard w.type == .q8_0, w.layout == .interleaved8, context.kernelLevel == .avx512VNNI, w.columns > 0 else { return false }
        switch context.matmulPath {
        case .laneGEMM: return true
        case .automatic: return batch >= context.laneGEMMMinimumPositions
        case .direct, .blas, .integerGEMM: return false
        }
    }

    /// The per-call table of `w` (f32 scales and −128·Σw per row group and block); the caller
    /// deallocates it.
    static func laneTable(_ w: WeightMatrix, pool: ThreadPool, reference: Bool = false) -> UnsafeMutableRawPointer {
        let groups = w.groupCount, blocks = w.columns / 32
        let table = UnsafeMutableRawPointer.allocate(byteCount: max(1, groups * blocks * Int(NGK_LANES_TABLE_BYTES)), alignment: 64)
        let data = w.data, stride = w.groupBytes
        pool.parallelFor(groups, minimumPerThread: 16) { range in
            if reference {
                ngk_lanes_table_q8_0x8_ref(data, stride, blocks, range.lowerBound, range.upperBound, table)
            } else {
                ngk_lanes_table_q8_0x8(data, stride, blocks, range.lowerBound, range.upperBound, table)
            }
        }
        return table
    }

    /// y[b, r] = Σ_c W[r, c] · x[b, c] through the lane GEMM (`w`: repacked Q8_0).
    static func multiplyLanes(_ w: WeightMatrix, _ x: UnsafePointer<Float>, batch: Int, into y: UnsafeMutablePointer<Float>,
                              pool: ThreadPool, reference: Bool = false) {
        let table = laneTable(w, pool: pool, reference: reference)
        defer { table.deallocate() }
        let rows = w.rows, columns = w.columns, data = w.data, groupBytes = w.groupBytes
        let tableBytes = columns / 32 * Int(NGK_LANES_TABLE_BYTES)
        let (xs, ys) = (SendableReadPointer(x), SendablePointer(y))
        LaneWork(samples: 1, positions: batch, columns: columns, rows: rows, threads: pool.threads).run(pool: pool) { item, scratch in
            let source = xs.pointer + item.first * columns
            if reference {
                ngk_lanes_rows_q8_0_ref(source, columns, item.count, columns, scratch)
            } else {
                ngk_lanes_rows_q8_0(source, columns, item.count, columns, scratch)
            }
            let r0 = item.rows.lowerBound
            let gemm = reference ? ngk_lanes_gemm_q8_0x8_ref : ngk_lanes_gemm_q8_0x8
            gemm(data + r0 / 8 * groupBytes, groupBytes, table + r0 / 8 * tableBytes, item.rows.count, columns,
                 scratch, item.count, ys.base + item.first * rows + r0, rows, 1, nil)
        }
    }
}

/// How a lane-GEMM product is cut into work items: panels of positions (up to 16 groups of 16, as
/// many as fit the per-thread activation buffer, ~384 KiB so it stays in L2 while every weight row passes)
/// per sample, and, when that gives fewer items than threads, ranges of weight rows too (each then
/// quantizes its panel itself).
package struct LaneWork: Sendable {
    package struct Item {
        package let sample: Int
        package let first: Int
        package let count: Int
        package let rows: Range<Int>
    }

    let samples: Int, positions: Int, rows: Int
    let panelPositions: Int, panels: Int, rowParts: Int
    /// Bytes of the activation buffer each participant owns.
    let scratchBytes: Int

    package init(samples: Int, positions: Int, columns: Int, rows: Int, threads: Int) {
        let lanes = Int(NGK_LANES)
        let groupBytes = columns / 32 * Int(NGK_LANES_BLOCK_BYTES)
        let groups = (positions + lanes - 1) / lanes
        let panelGroups = max(1, min(groups, 16, (384 << 10) / max(1, groupBytes)))
        self.samples = samples
        self.positions = positions
        self.rows = rows
        panelPositions = panelGroups * lanes
        panels = (groups + panelGroups - 1) / panelGroups
        let rowGroups = (rows + 7) / 8
        rowParts = threads == 1 ? 1 : max(1, min(rowGroups, (2 * threads + samples * panels - 1) / (samples * panels)))
        scratchBytes = panelGroups * groupBytes
    }

    var items: Int { samples * panels * rowParts }

    func item(_ i: Int) -> Item {
        let part = i % rowParts, panel = (i / rowParts) % panels, sample = i / (rowParts * panels)
        let rowGroups = (rows + 7) / 8
        let g0 = rowGroups * part / rowParts, g1 = rowGroups * (part + 1) / rowParts
        let first = panel * panelPositions
        return Item(sample: sample, first: first, count: min(panelPositions, positions - first), rows: (g0 * 8)..<min(rows, g1 * 8))
    }

    /// `body(item, buffer)` for every item, handed to whichever participant is free; each
    /// participant owns one activation buffer of `scratchBytes`.
    package func run(pool: ThreadPool, _ body: (Item, UnsafeMutablePointer<UInt8>) -> Void) {
        let count = items
        let next = LaneCounter()
        pool.run(participants: min(pool.threads, count)) { _ in
            let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: scratchBytes)
            defer { scratch.deallocate() }
            while true {
                let i = next.value.add(1, ordering: .relaxed).oldValue
                guard i < count else { return }
                body(item(i), scratch)
            }
        }
    }
}

private final class LaneCounter: Sendable {
    let value = Atomic<Int>(0)
}
