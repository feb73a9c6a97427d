import COpenBLAS
import Dispatch
import Foundation
import NextGPTCore
import Synchronization

/// Everything that decides how a model's forward pass runs on this machine: the thread pool the
/// kernels and ops split work over, which matrix-product path they take, the attention and
/// convolution tiling, and where per-op timings go. Models and ops receive one explicitly, so two
/// models with different settings can run at the same time without touching each other.
///
/// A value: make a variant with `var c = context; c.matmulPath = .blas`. Variants share the pool.
/// A pool runs one job at a time; a split requested while it is busy (nested inside another op,
/// or from a second model sharing the context) runs on the calling thread instead, so sharing a
/// context between concurrent callers is safe, only slower. Give concurrent models their own
/// `ExecutionContext(threads:)` to run them side by side.
public struct ExecutionContext: Sendable {
    /// Persistent workers for every parallel kernel and op of this context.
    public let pool: ThreadPool
    /// How matrix products on container weights run. `.automatic` is the runtime's choice
    /// (8-bit activations for small batches); `.blas` keeps activations f32 against dequantized
    /// weights, which isolates the weight-quantization error in parity checks.
    public var matmulPath: Matmul.Path = .automatic
    /// Which kernel runs attention where the fused one covers the head widths (`AttentionKernel`).
    public var attentionKernel: AttentionKernel = .fused
    /// The matrix products of the attention kernel's tiles.
    public var attentionTileProducts: AttentionTileProducts = .singleThread
    /// Sequences (queries and keys) from which unmasked attention takes whole score rows; below,
    /// the tiled online-softmax kernel wins.
    public var attentionFullRowsMinimum = 1024
    /// Upper bound of a convolution's im2col / patch-row buffer, in floats (default 2M = 8 MB).
    public var convolutionColumnBudget = 1 << 21
    /// Whether 3×3 stride-1 convolutions may take the Winograd F(4×4, 3×3) path.
    public var winogradEnabled = true
    /// Output tiles (4×4) a plane needs before Winograd pays: 32×32 planes (64 tiles) measured no
    /// faster than im2col + sgemm; 64×64 and up, 1.5–3.6×.
    public var winogradMinimumTiles = 128
    /// The same for quantized kernels at the AVX2 level, where the alternative is patch rows
    /// through the integer kernels (no VNNI, so no faster than f32 per product): on an AVX2-only
    /// Zen 1 EPYC (`BENCH_SECTIONS=winogradq8 nextgpt-bench`) Winograd on the widened kernel ran
    /// 2×320×32×32 in 59 ms against 119 and 2×640×32×32 in 263 against 434; at 16×16 (16 tiles)
    /// it was even (640 channels) or 2× slower (1280).
    public var winogradMinimumTilesOverInteger = 64
    /// Where quantized 3×3 kernels keep their Winograd transforms between calls: set by the loops
    /// that run one UNet many times, for their length (`winogradKernelBudget`); nil transforms per call.
    public var winogradKernels: WinogradKernelCache?
    /// Bytes a denoising loop may spend on `winogradKernels`; 0 keeps none.
    public var winogradKernelBudget = 1 << 30
    /// Output tiles per sample from which a kept (or keepable) Winograd kernel is used: 8×8 planes
    /// (4 tiles) ran 2–3.7× faster than the integer kernels on the Zen 1 (see `WinogradKernelCache`).
    public var winogradMinimumTilesKept = 4
    /// Output tiles over the whole batch up to which a call's kernel is kept: past them the
    /// per-call transform is a small share of the products and keeping it only holds memory.
    /// Zen 3, 2 threads, Q8_0, transform per call against kept (`BENCH_SECTIONS=winogradq8`):
    /// 32 tiles (2×1280×16²) 52 against 26 ms, 128 (2×640×32²) 36 against 28, 512 (2×320×64²)
    /// 45 against 46. ZeroScope's 40×72 and 20×36 planes (2880 and 720 tiles at 8 frames with
    /// guidance, 4320 and 1080 at 24) no longer keep theirs: peak RSS 5.40 → 4.47 GB at 8 frames,
    /// 6.31 → 5.36 GB at 24, the step 91 → 89 s and 267 → 271 s. SD's largest (64², 512 tiles) stay kept.
    public var winogradMaximumTilesKept = 512
    /// Output tiles over the whole batch from which a quantized 3×3 kernel that is not kept runs
    /// Winograd with its transform streamed a block of output channels at a time
    /// (`Convolution.winogradConv3x3(_:streaming:bias:context:)`) rather than the integer kernels.
    /// At 8 tiles (SD's 8×8 planes at 256², batch 2) a 1280² Q8_0 kernel ran 32 ms streamed
    /// against 62 ms on the integer kernels (Zen 1, 2 threads); at 2 tiles streaming was 2× slower.
    public var winogradMinimumTilesStreamed = 8
    /// Tiles per chunk up to which Winograd's 36 products run on their operands in place
    /// (`ngs_sgemm_nn`) instead of through BLAS, whose packing of them costs as much as the product
    /// when the tiles are few (`BENCH_SECTIONS=winogradq8`).
    public var winogradInPlaceProductTiles = 512
    /// Positions (a linear's rows, a convolution's output positions per sample) from which
    /// `.automatic` multiplies repacked Q8_0 weights through the lane GEMM on AVX-512 VNNI contexts
    /// (`Matmul.laneGEMMThreshold`; `Int.max` keeps the tiled integer GEMM and patch rows).
    public var laneGEMMMinimumPositions = Matmul.laneGEMMThreshold
    /// Whether 3×3 convolutions of repacked Q8_0 kernels take the lane GEMM (8-bit activations)
    /// where Winograd (f32) would apply: 2×320×64×64 ran 88 ms against Winograd's 218 ms, the
    /// temporal (3, 1) ones are not Winograd's anyway.
    public var laneGEMMOverWinograd = true
    /// Tensors of at least this many bytes take their memory from the run's `ActivationArena`
    /// inside `withActivationArena` (the pipelines' loops and decodes); nil: every tensor its own.
    public var activationArenaMinimumBytes: Int? = 4 << 20
    /// Whether arena memory a tensor must fully write (reused or fresh) is filled with NaN first (tests).
    public var poisonsActivations = false
    /// Where layers report their wall time; nil (the default) measures nothing, so the hot path
    /// costs one nil check.
    public var profile: OpProfile?
    /// The bodies the matrix-product kernels run (`KernelLevel`): the machine's highest, or the
    /// lower one `NEXTGPT_KERNEL_LEVEL` named when the context was created. Setting a level the
    /// machine lacks gives the highest one below it.
    public var kernelLevel: KernelLevel {
        get { level }
        set { level = KernelLevel.available(upTo: newValue) }
    }
    private var level: KernelLevel
    /// Whether the CPU runs a 256-bit op as two 128-bit halves (AMD Zen 1; `KernelLevel.machineSplits256BitOps`),
    /// which moves repacked Q8_0 products at the AVX2 level to sgemm from 1024 positions
    /// (`Matmul.packedBLASThreshold`). Tests set it to hold either rule on any machine.
    public var splits256BitOps = KernelLevel.machineSplits256BitOps
    /// How the direct matrix products (decode, small batches) split a matrix's rows over the pool.
    /// Chunks on demand by default: on shared cores (2-core EPYC at load ≈ 20, 7B-shaped Q4_0
    /// decode, `BENCH_SECTIONS=decode nextgpt-bench`) the median token read 1.4–5.0 GB/s against
    /// 0.9–2.0 with one contiguous range per thread, at both kernel levels in two runs.
    public var rowSplit: RowSplit = .chunks
    /// Whether the pool's idle workers spin through a whole forward pass instead of sleeping after
    /// `ThreadPool`'s short spin (`ThreadPool.keepingWorkersAwake`; llama.cpp's `--poll`). Off by
    /// default: spinning holds both cores, and its decode gain on a shared 2-core host is unproven.
    public var pollWorkers = false

    /// A context with its own pool of `threads` participants (the calling thread included;
    /// default: the machine's active cores), at the kernel level `environment` allows
    /// (`KernelLevel.environmentKey`; default: the process's environment).
    public init(threads: Int? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        _ = ExecutionContext.openBLASPinned
        pool = ThreadPool(threads: max(1, threads ?? System.activeProcessorCount))
        level = KernelLevel.fromEnvironment(environment)
    }

    /// The machine's cores, the automatic paths, no profile: for callers that have no settings of
    /// their own. Immutable; its pool is shared by everyone who uses it.
    public static let `default` = ExecutionContext()

    /// Threads the kernels and ops of this context use.
    public var threads: Int { pool.threads }

    /// OpenBLAS runs one thread per call (`Kernels.sgemm` splits big products over the context's
    /// pool instead): its own workers spin in `sched_yield` for a while after every call, and on
    /// 2 cores they took the CPU from the pool's next op. Set once per process, before any context
    /// exists, so no kernel can see OpenBLAS's own threads.
    private static let openBLASPinned: Void = openblas_set_num_threads(1)

    /// `body()` with the pool's idle workers spinning between its jobs when `pollWorkers` is set.
    @inline(__always)
    public func forwardPass<T>(_ body: () throws -> T) rethrows -> T {
        pollWorkers ? try pool.keepingWorkersAwake(body) : try body()
    }

    /// `body()`, its wall time added to `profile` under `name` when there is a profile.
    @inline(__always)
    public func measure<T>(_ name: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        guard let profile else { return try body() }
        return try profile.measure(name(), body)
    }
}

/// How a matrix product's rows are split over the pool's participants.
public enum RowSplit: Sendable, Equatable {
    /// One contiguous range per participant, fixed before the product starts.
    case contiguous
    /// Consecutive chunks (about 8 per participant) handed to whichever participant is free:
    /// one that is descheduled does not hold the others at the end of the product.
    case chunks
}

/// Which kernel runs scaled dot-product attention.
public enum AttentionKernel: Sendable, Equatable {
    /// Scores held in registers, online softmax, the value product without a score matrix
    /// (`ngk_attention_rows*`) for head widths that are multiples of 8 up to 160, at the AVX2 and
    /// AVX-512 kernel levels, with at least 8 queries; every other call takes the tiles.
    case fused
    /// Query × key tiles through sgemm and a score scratch (`attentionTileProducts`).
    case tiles
}

/// The matrix products of the attention kernel's tiles.
public enum AttentionTileProducts: Sendable {
    /// `ngs_sgemm_nt/nn` (Sources/CNextGPTKernels/sgemm1t.c): always on the calling thread.
    case singleThread
    /// `cblas_sgemm`; OpenBLAS stays on the calling thread only below its own size threshold,
    /// so the tiles must stay small (`Attention.Blocks.openBLASBudget`).
    case openBLAS
}

/// Wall time per kind of layer, for finding where a model's time goes: a context carries one when
/// asked (`NEXTGPT_PROFILE=1` in the CLI), and each measured call then costs two clock reads and a
/// lock. `report()` lists the totals.
public final class OpProfile: Sendable {
    private let totals = Mutex<[String: (seconds: Double, calls: Int)]>([:])

    public init() {}

    public func measure<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        totals.withLock { totals in
            let old = totals[name] ?? (0, 0)
            totals[name] = (old.seconds + seconds, old.calls + 1)
        }
        return result
    }

    private let notes = Mutex<(pending: [String], all: [String])>(([], []))

    /// A line for the next `report()`, after the timings.
    public func note(_ line: String) {
        notes.withLock {
            $0.pending.append(line)
            $0.all.append(line)
        }
    }

    /// Every note so far, reported or not.
    public var allNotes: [String] { notes.withLock { $0.all } }

    /// One line per measured kind, most time first, then the notes; resets both.
    public func report() -> String {
        let taken = totals.withLock { totals in
            defer { totals = [:] }
            return totals
        }
        let noted = notes.withLock { notes in
            defer { notes.pending = [] }
            return notes.pending
        }
        let sum = taken.values.reduce(0) { $0 + $1.seconds }
        return taken.sorted { $0.value.seconds > $1.value.seconds }.map {
            String(format: "%-28@ %8.3f s %5.1f%% %7d calls", $0.key as NSString, $0.value.seconds, 100 * $0.value.seconds / max(sum, 1e-9), $0.value.calls)
        }.joined(separator: "\n") + noted.map { "\n" + $0 }.joined()
    }
}
