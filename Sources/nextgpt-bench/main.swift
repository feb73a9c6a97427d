// Kernel benchmarks: every figure beside a peer measured in the same run (memory read
// bandwidth, OpenBLAS sgemm), since other work may share the cores. Release build only:
// tools/bench/bench_kernels.sh.
import CNextGPTKernels
@preconcurrency import COpenBLAS
// @preconcurrency: for the `stdout`/`stderr` C globals (never reassigned; FILE streams lock themselves).
@preconcurrency import Glibc
import NextGPTCore
import NextGPTDiffusion
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

setvbuf(stdout, nil, _IOLBF, 0)

if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "imagebind" {
    do {
        try runImageBindBench(Array(CommandLine.arguments.dropFirst(2)))
        exit(0)
    } catch {
        fputs("nextgpt-bench imagebind: \(error)\n", stderr)
        exit(1)
    }
}

@MainActor func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Best (minimum) seconds per call of `body` over repeated calls for at least `budget` seconds.
@MainActor func timeBest(budget: Double = 0.6, minRuns: Int = 3, _ body: () -> Void) -> Double {
    body()  // warm-up
    var best = Double.infinity
    let start = now()
    var runs = 0
    while runs < minRuns || now() - start < budget {
        let t0 = now()
        body()
        best = min(best, now() - t0)
        runs += 1
        if runs > 2000 { break }
    }
    return best
}

@MainActor func fmt(_ v: Double, _ digits: Int = 1) -> String {
    var s = String(format: "%.\(digits)f", v)
    if s.count < 8 { s = String(repeating: " ", count: 8 - s.count) + s }
    return s
}

var rngState: UInt64 = 0x1234_5678_9ABC_DEF1
@MainActor func nextRandom() -> UInt64 {
    rngState ^= rngState << 13
    rngState ^= rngState >> 7
    rngState ^= rngState << 17
    return rngState
}

@MainActor func randomFloats(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { p[i] = Float(Int(nextRandom() >> 40) - (1 << 23)) / Float(1 << 23) }
}

/// Random but well-formed weight bytes (no NaN/Inf scales), `rows × columns` of `type`.
@MainActor func randomWeights(_ type: GGMLType, rows: Int, columns: Int) -> UnsafeMutableRawPointer {
    let bytes = type.byteCount(elements: rows * columns)!
    let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    let words = p.bindMemory(to: UInt64.self, capacity: bytes / 8)
    for i in 0..<(bytes / 8) { words[i] = nextRandom() }
    let b = p.assumingMemoryBound(to: UInt8.self)
    func putHalf(_ offset: Int, _ bits: UInt16) { b[offset] = UInt8(bits & 0xff); b[offset + 1] = UInt8(bits >> 8) }
    switch type {
    case .f32:
        randomFloats(p.assumingMemoryBound(to: Float.self), rows * columns)
    case .f16, .bf16:
        let h = p.assumingMemoryBound(to: UInt16.self)
        for i in 0..<(rows * columns) { h[i] &= type == .f16 ? 0xBBFF : 0xBF7F }
    case .q8_0, .q4_0:
        for blk in 0..<(bytes / type.blockBytes) { putHalf(blk * type.blockBytes, 0x2000 | UInt16(blk & 0xff)) }
    case .q4_K:
        for blk in 0..<(bytes / 144) { putHalf(blk * 144, 0x1C00 | UInt16(blk & 0xff)); putHalf(blk * 144 + 2, 0x1800) }
    default: fatalError()
    }
    return p
}

let gib = 1 << 30
/// BENCH_SECTIONS: comma list of gemv, batch, crossover (bandwidth and sgemm peers always run).
let sections = Set((getenv("BENCH_SECTIONS").map { String(cString: $0) } ?? "hot,gemv,batch,crossover").split(separator: ",").map(String.init))
/// BENCH_TYPES: comma list of weight types for the GEMV / batch sections.
let typeFilter = getenv("BENCH_TYPES").map { Set(String(cString: $0).split(separator: ",").compactMap { GGMLType(name: String($0)) }) }
@MainActor func wanted(_ t: GGMLType) -> Bool { typeFilter?.contains(t) ?? true }
/// BENCH_LAYOUTS: "rows", "packed" or both (default): the container layout and/or the repacked
/// copy (`WeightMatrix.repacked()`, Q8_0 / Q4_0 / Q4_K only) in the GEMV sections.
let layouts = Set((getenv("BENCH_LAYOUTS").map { String(cString: $0) } ?? "rows,packed").split(separator: ",").map(String.init))
/// The GEMV variants: each type in the container layout, then repacked where it can be.
var gemvVariants: [(type: GGMLType, packed: Bool)] = []
for t in [GGMLType.q4_0, .q8_0, .q4_K, .f16, .bf16, .f32] where wanted(t) {
    if layouts.contains("rows") { gemvVariants.append((t, false)) }
    if layouts.contains("packed") && (t == .q4_0 || t == .q8_0 || t == .q4_K) { gemvVariants.append((t, true)) }
}
@MainActor func label(_ type: GGMLType, _ packed: Bool) -> String {
    (type.description + (packed ? "x8" : "")).padding(toLength: 6, withPad: " ", startingAt: 0)
}
/// One execution context per thread count measured (each with its own pool).
let benchContexts = [1: ExecutionContext(threads: 1), 2: ExecutionContext(threads: 2)]
@MainActor func benchContext(threads: Int) -> ExecutionContext { benchContexts[threads]! }

print("nextgpt-bench: kernel layer — \(String(cString: ngk_cpu_path())) path, kernels \(benchContexts[1]!.kernelLevel) (machine: \(KernelLevel.machine)), \(System.activeProcessorCount) cores")
print("date: \(getenv("BENCH_DATE").map { String(cString: $0) } ?? "-")")

// ---------------------------------------------------------------- memory read bandwidth
let bwFloats = gib / 4  // 1 GiB
let bwBuffer = UnsafeMutablePointer<Float>.allocate(capacity: bwFloats)
// Distinct contents on every page: a host that merges identical pages (KSM) serves a buffer of
// equal pages from a few physical ones, faster than memory.
for i in 0..<bwFloats { (bwBuffer + i).initialize(to: Float(i)) }
var bandwidth: [Int: Double] = [:]
var sgemmRate: [Int: Double] = [:]
print("\n== memory read bandwidth: sum of a 1 GiB f32 buffer in 16 MiB chunks (each from DRAM); best / median chunk")
let chunkFloats = (16 << 20) / 4
for threads in [1, 2] {
    let pool = benchContext(threads: threads).pool
    let sink = UnsafeMutablePointer<Float>.allocate(capacity: 16)
    var times: [Double] = [], passTimes: [Double] = []
    for pass in 0..<3 {
        let passStart = now()
        for chunk in 0..<(bwFloats / chunkFloats) {
            let base = bwBuffer + chunk * chunkFloats
            let t0 = now()
            pool.parallelFor(threads) { range in
                for i in range {
                    let lo = chunkFloats * i / threads, hi = chunkFloats * (i + 1) / threads
                    sink[i] = ngk_sum_f32(base + lo, hi - lo)
                }
            }
            if pass > 0 { times.append(now() - t0) }
        }
        if pass > 0 { passTimes.append(now() - passStart) }
    }
    times.sort()
    bandwidth[threads] = Double(chunkFloats * 4) / times[0] / 1e9
    // The best 16 MiB chunk catches moments when the host's other tenants leave the memory
    // alone (up to 68 GB/s on 2 Zen 4 cores); a whole 1 GiB pass is the sustained rate a
    // 7B decode (GBs per token) sees, the figure to hold decode's GB/s against.
    let sustained = Double(bwFloats * 4) / passTimes.min()! / 1e9
    print("threads \(threads): \(fmt(bandwidth[threads]!)) GB/s best, \(fmt(Double(chunkFloats * 4) / times[times.count / 2] / 1e9)) GB/s median, \(fmt(sustained)) GB/s per whole pass")
}

// BENCH_SECTIONS=bandwidth: only the figure above (a peer for other benchmarks' runs).
if sections == ["bandwidth"] { exit(0) }

/// Bandwidth peer re-measured beside each row (the cores are shared, so conditions drift):
/// one pass over the 1 GiB buffer in 16 MiB chunks, best chunk.
@MainActor func peerBandwidth(_ threads: Int) -> Double {
    let sink = UnsafeMutablePointer<Float>.allocate(capacity: 16)
    defer { sink.deallocate() }
    var best = Double.infinity
    let pool = benchContext(threads: threads).pool
    for chunk in 0..<(bwFloats / chunkFloats) {
        let base = bwBuffer + chunk * chunkFloats
        let t0 = now()
        pool.parallelFor(threads) { range in
            for i in range {
                let lo = chunkFloats * i / threads, hi = chunkFloats * (i + 1) / threads
                sink[i] = ngk_sum_f32(base + lo, hi - lo)
            }
        }
        best = min(best, now() - t0)
    }
    return Double(chunkFloats * 4) / best / 1e9
}

// ---------------------------------------------------------------- OpenBLAS sgemm peer
let M = 512, K = 4096, N = 4096
let A = UnsafeMutablePointer<Float>.allocate(capacity: M * K)
let B = UnsafeMutablePointer<Float>.allocate(capacity: N * K)
let C = UnsafeMutablePointer<Float>.allocate(capacity: M * N)
randomFloats(A, M * K)
randomFloats(B, N * K)
print("\n== OpenBLAS sgemm \(M)×\(K)·(\(N)×\(K))ᵀ f32")
for threads in [1, 2] {
    // OpenBLAS itself runs one thread per call (pinned by ExecutionContext): this is the
    // single-call peer, the same at both thread counts.
    let t = timeBest(budget: 2.0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(M), Int32(N), Int32(K), 1, A, Int32(K), B, Int32(K), 0, C, Int32(N))
    }
    sgemmRate[threads] = 2.0 * Double(M * N * K) / t / 1e9
    print("threads \(threads): \(fmt(t * 1e3)) ms  \(fmt(sgemmRate[threads]!)) GFLOP/s")
}
/// sgemm peer re-measured beside each batch row.
@MainActor func peerSgemm(threads: Int) -> Double {
    let t = timeBest(budget: 0.8, minRuns: 2) {
        // OpenBLAS runs one thread per call in this package; the pool splits the product.
        Kernels.sgemm(transB: true, m: M, n: N, k: K, a: A, lda: K, b: B, ldb: K, c: C, ldc: N, context: benchContext(threads: threads))
    }
    return 2.0 * Double(M * N * K) / t / 1e9
}

// ---------------------------------------------------------------- GEMV (decode path)
print("\n== GEMV (batch 1): weights cycled through ≥ 512 MB of copies so they come from DRAM")
print("type   shape          thr   best ms    GB/s   peer GB/s  % of peer  median ms  GB/s")
let x = UnsafeMutablePointer<Float>.allocate(capacity: 11008)
randomFloats(x, 11008)
let y = UnsafeMutablePointer<Float>.allocate(capacity: 512 * 11008)
for (type, packed) in gemvVariants where sections.contains("gemv") {
    for (rows, cols) in [(4096, 4096), (11008, 4096)] {
        let bytes = type.byteCount(elements: rows * cols)!
        let copies = max(2, (512 << 20) / bytes + 1)
        let ws = (0..<copies).map { _ in randomWeights(type, rows: rows, columns: cols) }
        // Repacked copies own their memory; the row-major originals are then only kept for freeing.
        let matrices = ws.map { p -> WeightMatrix in
            let m = WeightMatrix(type: type, rows: rows, columns: cols, data: p)
            return packed ? m.repacked(context: benchContext(threads: 2)) : m
        }
        for threads in [1, 2] {
            let context = benchContext(threads: threads)
            var k = 0
            // Every call reads a copy last touched ≥ 512 MB ago (from DRAM). With other work on
            // the cores a call may be preempted, so report the best call (as for the bandwidth
            // peer) and the median.
            var times: [Double] = []
            for pass in 0..<4 {
                for _ in 0..<copies {
                    let t0 = now()
                    Matmul.multiply(matrices[k % copies], x, batch: 1, into: y, context: context)
                    if pass > 0 { times.append(now() - t0) }
                    k += 1
                }
            }
            times.sort()
            let best = times[0], median = times[times.count / 2]
            let peer = peerBandwidth(threads)
            let gbs = Double(bytes) / best / 1e9
            print("\(label(type, packed)) \("\(rows)x\(cols)".padding(toLength: 14, withPad: " ", startingAt: 0)) \(threads)  \(fmt(best * 1e3, 3))  \(fmt(gbs))   \(fmt(peer))   \(fmt(100 * gbs / peer))   \(fmt(median * 1e3, 3))  \(fmt(Double(bytes) / median / 1e9))")
        }
        for w in ws { w.deallocate() }
    }
}

// ---------------------------------------------------------------- compute ceiling (weights in cache)
if sections.contains("hot") {
    print("\n== GEMV compute ceiling: 1024×4096 weights reused (L2/L3-resident), best call; 'DRAM-equiv' = time to stream the bytes at the measured bandwidth")
    print("type   thr   best us    GB/s   DRAM-equiv us")
    for (type, packed) in gemvVariants {
        let rows = 1024, cols = 4096
        let w = randomWeights(type, rows: rows, columns: cols)
        defer { w.deallocate() }
        let bytes = type.byteCount(elements: rows * cols)!
        let plain = WeightMatrix(type: type, rows: rows, columns: cols, data: w)
        let matrix = packed ? plain.repacked(context: benchContext(threads: 2)) : plain
        for threads in [1, 2] {
            let context = benchContext(threads: threads)
            let t = timeBest(budget: 0.3, minRuns: 50) {
                Matmul.multiply(matrix, x, batch: 1, into: y, context: context)
            }
            print("\(label(type, packed)) \(threads)  \(fmt(t * 1e6))  \(fmt(Double(bytes) / t / 1e9))  \(fmt(Double(bytes) / bandwidth[threads]! / 1e3))")
        }
    }
}

// ---------------------------------------------------------------- batch path
print("\n== batch \(M) × weights \(N)×\(K) (GFLOP/s; % of the sgemm peer at the same thread count)")
print("type   path    thr   time ms  GFLOP/s  sgemm peer  % of peer")
for type in [GGMLType.f32, .f16, .bf16, .q8_0, .q4_0, .q4_K] where sections.contains("batch") && wanted(type) {
    let w = randomWeights(type, rows: N, columns: K)
    defer { w.deallocate() }
    let m = WeightMatrix(type: type, rows: N, columns: K, data: w)
    for threads in [1, 2] {
        for path in [Matmul.Path.blas, .direct] {
            if path == .direct && threads == 1 { continue }
            var context = benchContext(threads: threads)
            context.matmulPath = path
            let t = timeBest(budget: path == .blas ? 2.0 : 0.1, minRuns: path == .blas ? 3 : 1) {
                Matmul.multiply(m, A, batch: M, into: C, context: context)
            }
            let rate = 2.0 * Double(M * N * K) / t / 1e9
            let peer = peerSgemm(threads: threads)
            print("\(type.description.padding(toLength: 6, withPad: " ", startingAt: 0)) \(path == .blas ? "blas  " : "direct") \(threads)  \(fmt(t * 1e3))  \(fmt(rate))  \(fmt(peer))  \(fmt(100 * rate / peer))")
        }
    }
}

// ---------------------------------------------------------------- crossover direct vs BLAS
if sections.contains("crossover") {
    var direct = benchContext(threads: 2), blas = direct
    direct.matmulPath = .direct
    blas.matmulPath = .blas
    print("\n== crossover, 2 threads, 4096×4096 weights: ms per call direct / blas (activations in cache)")
    let batches = [1, 2, 4, 8, 12, 16, 24, 32, 64]
    print("type   " + batches.map { "b=\($0)".padding(toLength: 14, withPad: " ", startingAt: 0) }.joined())
    for type in [GGMLType.f32, .f16, .q8_0, .q4_0, .q4_K] where wanted(type) {
        let w = randomWeights(type, rows: N, columns: K)
        defer { w.deallocate() }
        let m = WeightMatrix(type: type, rows: N, columns: K, data: w)
        var line = type.description.padding(toLength: 7, withPad: " ", startingAt: 0)
        for b in batches {
            let td = timeBest(budget: 0.15, minRuns: 2) { Matmul.multiply(m, A, batch: b, into: C, context: direct) }
            let tb = timeBest(budget: 0.15, minRuns: 2) { Matmul.multiply(m, A, batch: b, into: C, context: blas) }
            line += "\(String(format: "%.2f/%.2f", td * 1e3, tb * 1e3))\(td < tb ? "d" : "b")".padding(toLength: 14, withPad: " ", startingAt: 0)
        }
        print(line)
    }
}

// ---------------------------------------------------------------- integer GEMM crossover (BENCH_SECTIONS=integer)
if sections.contains("integer") {
    var contexts: [(String, ExecutionContext)] = []
    for (name, path) in [("direct", Matmul.Path.direct), ("blas", .blas), ("integer", .integerGEMM)] {
        var c = benchContext(threads: 2)
        c.matmulPath = path
        contexts.append((name, c))
    }
    print("\n== integer GEMM (\(Matmul.integerGEMMAccelerated ? "AVX-512 VNNI" : "no VNNI: packed kernels")), 2 threads: ms per call direct / blas / integer, then the integer path's GOP/s; * = fastest")
    let batches = (getenv("BENCH_BATCHES").map { String(cString: $0) } ?? "1,4,8,12,16,24,32,64,257,512").split(separator: ",").compactMap { Int($0) }
    let shapes = [(1280, 1280), (5120, 1280), (1280, 5120), (4096, 4096)]
    let xs = UnsafeMutablePointer<Float>.allocate(capacity: 512 * 5120)
    randomFloats(xs, 512 * 5120)
    let ys = UnsafeMutablePointer<Float>.allocate(capacity: 512 * 5120)
    for type in [GGMLType.q8_0, .q4_0] where wanted(type) {
        for (rows, cols) in shapes {
            let w = randomWeights(type, rows: rows, columns: cols)
            defer { w.deallocate() }
            let plain = WeightMatrix(type: type, rows: rows, columns: cols, data: w)
            for matrix in [plain, plain.repacked(context: benchContext(threads: 2))] {
                print("\(type) \(rows)×\(cols) \(matrix.layout == .rowMajor ? "row-major" : "repacked")")
                for b in batches {
                    let times = contexts.map { _, c in timeBest(budget: 0.2, minRuns: 2) { Matmul.multiply(matrix, xs, batch: b, into: ys, context: c) } }
                    let best = times.indices.min { times[$0] < times[$1] }!
                    let cells = times.indices.map { String(format: "%.2f", times[$0] * 1e3) + ($0 == best ? "*" : "") }
                    print("  b=\(b)".padding(toLength: 8, withPad: " ", startingAt: 0) + cells.joined(separator: " / ")
                          + String(format: "   %.0f GOP/s", 2.0 * Double(b * rows * cols) / times[2] / 1e9))
                }
            }
        }
    }
}

// ---------------------------------------------------------------- lane GEMM (BENCH_SECTIONS=lanes, lanesconv)
// Q8_0 products with many positions (SD / ZeroScope shapes): OpenBLAS on f32 weights (the peer),
// dequantized panels + sgemm (.blas), the tiled integer GEMM (.integerGEMM) and the lane GEMM
// (.laneGEMM), both on repacked weights; GOP/s counted as 2·M·K·N.
@MainActor func laneContexts(_ threads: Int) -> [(String, ExecutionContext)] {
    [("blas", Matmul.Path.blas), ("integer", .integerGEMM), ("lanes", .laneGEMM)].map { name, path in
        var c = benchContext(threads: threads)
        c.matmulPath = path
        return (name, c)
    }
}
if sections.contains("lanes") {
    print("\n== Q8_0 × many positions (\(Matmul.integerGEMMAccelerated ? "AVX-512 VNNI" : "no VNNI")): GOP/s per path; f32 sgemm peer on f32 weights of the same shape")
    print("M×K → N              thr  sgemm-f32     blas  integer    lanes  lanes/sgemm")
    let laneShapes = (getenv("BENCH_LANE_SHAPES").map { String(cString: $0) } ?? "4096x320x320,4096x320x2560,4096x1280x320,1024x640x640,256x1280x5120,2880x320x1280,154x768x3072,64x4096x4096")
        .split(separator: ",").map { $0.split(separator: "x").compactMap { Int($0) } }.filter { $0.count == 3 }
    for shape in laneShapes {
        let (m, k, n) = (shape[0], shape[1], shape[2])
        let xs = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
        let ys = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        let wf = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
        randomFloats(xs, m * k)
        randomFloats(wf, n * k)
        let w = randomWeights(.q8_0, rows: n, columns: k)
        let packed = WeightMatrix(type: .q8_0, rows: n, columns: k, data: w).repacked(context: benchContext(threads: 2))
        let ops = 2.0 * Double(m * k * n)
        for threads in [1, 2] {
            let tf = timeBest(budget: 0.5, minRuns: 2) {
                Kernels.sgemm(transB: true, m: m, n: n, k: k, a: xs, lda: k, b: wf, ldb: k, c: ys, ldc: n, context: benchContext(threads: threads))
            }
            let rates = laneContexts(threads).map { _, c in
                ops / timeBest(budget: 0.5, minRuns: 2) { Matmul.multiply(packed, xs, batch: m, into: ys, context: c) } / 1e9
            }
            let label = "\(m)×\(k) → \(n)".padding(toLength: 20, withPad: " ", startingAt: 0)
            print("\(label) \(threads)  \(fmt(ops / tf / 1e9)) \(rates.map { fmt($0) }.joined(separator: " "))  \(fmt(rates[2] / (ops / tf / 1e9), 2))×")
        }
        w.deallocate(); xs.deallocate(); ys.deallocate(); wf.deallocate()
    }
}
if sections.contains("lanesconv") {
    print("\n== Q8_0 convolutions (repacked kernels), ms per call; GOP/s as 2·O·C·taps·positions; f32 = today's f32 kernel path (Winograd where it applies)")
    print("shape                              thr   f32/wino    blas  integer    lanes   (GOP/s of lanes)")
    for (n, c, o, h, w, k, pad) in [(2, 320, 320, 32, 32, [3, 3], [1, 1]), (2, 640, 640, 16, 16, [3, 3], [1, 1]),
                                     (2, 1280, 1280, 8, 8, [3, 3], [1, 1]), (2, 1280, 1280, 16, 16, [3, 3], [1, 1]),
                                     (2, 320, 320, 64, 64, [3, 3], [1, 1]), (2, 320, 320, 8, 2880, [3, 1], [1, 0]),
                                     (2, 640, 640, 8, 720, [3, 1], [1, 0])] {
        let x = Tensor(shape: [n, c, h, w]) { randomFloats($0.baseAddress!, $0.count) }
        let columns = c * k[0] * k[1]
        let wq = randomWeights(.q8_0, rows: o, columns: columns)
        let packed = WeightMatrix(type: .q8_0, rows: o, columns: columns, data: wq).repacked(context: benchContext(threads: 2))
        let weight = Tensor(shape: [o, c, k[0], k[1]]) { Matmul.dequantized(packed, into: $0.baseAddress!, context: benchContext(threads: 2)) }
        let oh = h + 2 * pad[0] - k[0] + 1, ow = w + 2 * pad[1] - k[1] + 1
        let ops = 2.0 * Double(n * o * columns * oh * ow)
        for threads in [1, 2] {
            let tf = timeBest(budget: 0.5, minRuns: 1) {
                _ = NextGPTKernels.Convolution.conv2d(x, weight: weight, bias: nil, padding: pad, context: benchContext(threads: threads))
            }
            let times = laneContexts(threads).map { _, ctx in
                timeBest(budget: 0.5, minRuns: 1) {
                    _ = NextGPTKernels.Convolution.conv2d(x, matrix: packed, kernel: k, bias: nil, padding: pad, context: ctx)
                }
            }
            // (3, 1) over frames as 1-D taps: conv1d over T·HW at dilation HW (f32 weights, no im2col).
            let taps = k == [3, 1] ? timeBest(budget: 0.5, minRuns: 1) {
                _ = NextGPTKernels.Convolution.conv1d(x.reshaped([n, c, h * w]), weight: weight.reshaped([o, c, 3]), bias: nil,
                                                      padding: w, dilation: w, context: benchContext(threads: threads))
            } : nil
            let label = "\(n)×\(c)×\(h)×\(w) k\(k[0])x\(k[1]) → \(o)".padding(toLength: 34, withPad: " ", startingAt: 0)
            print("\(label) \(threads)  \(fmt(tf * 1e3)) \(times.map { fmt($0 * 1e3) }.joined(separator: " "))   \(fmt(ops / times[2] / 1e9))"
                  + (taps.map { "   taps f32 \(fmt($0 * 1e3)) ms" } ?? ""))
        }
        wq.deallocate()
    }
}

// Quantized paths at the context's kernel level (QuantizedPathBench.swift).
if sections.contains("winogradq8") { benchWinogradOverInteger() }
if sections.contains("blasq8") { benchIntegerOverBLAS() }

// ---------------------------------------------------------------- 3×3 convolutions (SD UNet / VAE shapes)
if sections.contains("conv") {
    var im2col = benchContext(threads: 2), winograd = im2col
    im2col.winogradEnabled = false
    winograd.winogradMinimumTiles = 1
    print("\n== conv2d 3×3 pad 1, 2 threads: ms per call, GFLOP/s counted as direct products (2·O·C·9·H·W)")
    print("shape                         im2col+sgemm        winograd F(4,3)     speed-up  sgemm peer GFLOP/s")
    for (n, c, o, h, w) in [(2, 320, 320, 64, 64), (2, 640, 640, 32, 32), (1, 512, 512, 64, 64), (1, 512, 512, 128, 128),
                            (1, 256, 256, 256, 256), (1, 128, 128, 512, 512)] {
        let x = Tensor(shape: [n, c, h, w]) { randomFloats($0.baseAddress!, $0.count) }
        let weight = Tensor(shape: [o, c, 3, 3]) { randomFloats($0.baseAddress!, $0.count) }
        let flops = 2.0 * Double(n * o * c * 9 * h * w)
        let tDirect = timeBest(budget: 0.5, minRuns: 1) {
            _ = NextGPTKernels.Convolution.conv2d(x, weight: weight, bias: nil, padding: [1, 1], context: im2col)
        }
        let tWino = timeBest(budget: 0.5, minRuns: 1) {
            _ = NextGPTKernels.Convolution.conv2d(x, weight: weight, bias: nil, padding: [1, 1], context: winograd)
        }
        let label = "\(n)×\(c)×\(h)×\(w) → \(o)".padding(toLength: 28, withPad: " ", startingAt: 0)
        print("\(label)  \(fmt(tDirect * 1e3)) ms \(fmt(flops / tDirect / 1e9))   \(fmt(tWino * 1e3)) ms \(fmt(flops / tWino / 1e9))   \(fmt(tDirect / tWino, 2))×  \(fmt(peerSgemm(threads: 2)))")
    }
}

// ---------------------------------------------------------------- attention (SD, ZeroScope, ImageBind shapes)
// Fused kernel (`attentionKernel = .fused`, at the context's kernel level) against the tiles and
// against one sgemm of the same FLOPs (n×n×n, n = ∛(FLOPs/2)) on the same pool.
if sections.contains("attention") {
    print("\n== scaled dot-product attention: ms per call, GFLOP/s counted as 4·L·S·D·heads; fused / tiles / sgemm of the same FLOPs")
    for threads in [1, 2] {
        var fused = benchContext(threads: threads), tiles = fused
        fused.attentionKernel = .fused
        tiles.attentionKernel = .tiles
        for (l, s, heads, d) in [(4096, 4096, 8, 40), (4096, 77, 8, 40), (2880, 2880, 5, 64), (257, 257, 16, 80), (1024, 1024, 8, 80),
                                 (4096, 4096, 1, 512)] {
            let q = Tensor(shape: [l, heads, d]) { randomFloats($0.baseAddress!, $0.count) }
            let k = Tensor(shape: [s, heads, d]) { randomFloats($0.baseAddress!, $0.count) }
            let v = Tensor(shape: [s, heads, d]) { randomFloats($0.baseAddress!, $0.count) }
            let flops = 4.0 * Double(l * s * d * heads)
            let budget = flops > 1e10 ? 2.0 : 0.6
            // Outputs from a repeating arena, as inside the models: a fresh 5 MiB output per call
            // would time its page faults with the kernel.
            let tFused = fused.withActivationArena("bench", repeatingPasses: true) {
                timeBest(budget: budget, minRuns: 2) {
                    _ = Attention.scaledDotProductAttention(query: q, key: k, value: v, context: fused)
                }
            }
            let tTiles = tiles.withActivationArena("bench", repeatingPasses: true) {
                timeBest(budget: budget, minRuns: 2) {
                    _ = Attention.scaledDotProductAttention(query: q, key: k, value: v, context: tiles)
                }
            }
            let side = Int(cbrt(flops / 2))
            let a = UnsafeMutablePointer<Float>.allocate(capacity: side * side), b = UnsafeMutablePointer<Float>.allocate(capacity: side * side),
                c = UnsafeMutablePointer<Float>.allocate(capacity: side * side)
            randomFloats(a, side * side)
            randomFloats(b, side * side)
            let tSgemm = timeBest(budget: budget, minRuns: 2) {
                Kernels.sgemm(m: side, n: side, k: side, a: a, lda: side, b: b, ldb: side, c: c, ldc: side, context: fused)
            }
            a.deallocate(); b.deallocate(); c.deallocate()
            let rates = (flops / tFused / 1e9, flops / tTiles / 1e9, 2 * pow(Double(side), 3) / tSgemm / 1e9)
            print("\(threads) thr  L \(l) S \(s) heads \(heads) d \(d):  fused \(fmt(tFused * 1e3)) ms \(fmt(rates.0)) GFLOP/s   tiles \(fmt(tTiles * 1e3)) ms \(fmt(rates.1))   sgemm \(side)³ \(fmt(rates.2))   fused/sgemm \(fmt(100 * rates.0 / rates.2))%  fused/tiles \(fmt(tTiles / tFused, 2))×")
        }
        // ZeroScope's temporal attention (every latent position over its 16 frames).
        let (b, f, heads, d) = (2880, 16, 5, 64)
        let q = Tensor(shape: [b, f, heads, d]) { randomFloats($0.baseAddress!, $0.count) }
        let k = Tensor(shape: [b, f, heads, d]) { randomFloats($0.baseAddress!, $0.count) }
        let v = Tensor(shape: [b, f, heads, d]) { randomFloats($0.baseAddress!, $0.count) }
        let flops = 4.0 * Double(b * f * f * d * heads)
        let tFused = timeBest(budget: 0.6, minRuns: 2) { _ = Attention.batchedScaledDotProductAttention(query: q, key: k, value: v, context: fused) }
        let tTiles = timeBest(budget: 0.6, minRuns: 2) { _ = Attention.batchedScaledDotProductAttention(query: q, key: k, value: v, context: tiles) }
        print("\(threads) thr  batched B \(b) L=S \(f) heads \(heads) d \(d):  fused \(fmt(tFused * 1e3)) ms \(fmt(flops / tFused / 1e9)) GFLOP/s   whole rows \(fmt(tTiles * 1e3)) ms \(fmt(flops / tTiles / 1e9))   fused/tiles \(fmt(tTiles / tFused, 2))×")
    }
}

// ---------------------------------------------------------------- UNet evaluation (BENCH_MODEL=container.gguf)
if sections.contains("unet"), let path = getenv("BENCH_MODEL").map({ String(cString: $0) }) {
    var context = benchContext(threads: 2)
    if getenv("NEXTGPT_PROFILE").map({ String(cString: $0) == "1" }) ?? false { context.profile = OpProfile() }
    // BENCH_ATTENTION=tiles: the attention kernel before the fused one, for before/after on one build.
    if getenv("BENCH_ATTENTION").map({ String(cString: $0) == "tiles" }) ?? false { context.attentionKernel = .tiles }
    let component = getenv("BENCH_COMPONENT").map { String(cString: $0) } ?? "sd15.unet"
    let file = try! ModelFile(path: path)
    let repack = getenv("BENCH_REPACK").map { String(cString: $0) == "1" } ?? false
    let unet = try! UNet2DConditionModel(file, component: component, options: LoadOptions(repackQuantized: repack))
    let sizes = (getenv("BENCH_LATENTS").map { String(cString: $0) } ?? "32,64").split(separator: ",").compactMap { Int($0) }
    print("\n== \(component) of \(path), batch 2 (classifier-free guidance), 2 threads, attention \(context.attentionKernel), kernels \(context.kernelLevel): seconds per evaluation")
    for size in sizes {
        let sample = Tensor(shape: [2, 4, size, size]) { randomFloats($0.baseAddress!, $0.count) }
        let encoderStates = Tensor(shape: [2, 77, 768]) { randomFloats($0.baseAddress!, $0.count) }
        var times: [Double] = []
        for _ in 0..<2 {
            let t0 = now()
            _ = try! unet(sample: sample, timestep: [500], encoderHiddenStates: encoderStates, context: context)
            times.append(now() - t0)
        }
        print("latent \(size)×\(size) (\(size * 8)² pixels): \(times.map { String(format: "%.2f", $0) }.joined(separator: ", ")) s")
        if let profile = context.profile { print(profile.report()) }
    }
}
// ---------------------------------------------------------------- 7B-shaped decode (BENCH_SECTIONS=decode)
// BENCH_DECODE_LAYERS layers (default 8) of LLaMA-7B's matrices (q, k, v, o 4096×4096; gate, up
// 11008×4096; down 4096×11008), repacked, each "token" one batch-1 product with every matrix in
// order, as decode streams them. Per token: GB/s of weights read; per configuration (kernel level
// × row split, alternating over BENCH_ROUNDS rounds) min / median / max, beside the bandwidth peer.
if sections.contains("decode") {
    let type = typeFilter?.first ?? .q4_0
    let layers = getenv("BENCH_DECODE_LAYERS").flatMap { Int(String(cString: $0)) } ?? 8
    let rounds = getenv("BENCH_ROUNDS").flatMap { Int(String(cString: $0)) } ?? 3
    let shapes = [(4096, 4096), (4096, 4096), (4096, 4096), (4096, 4096), (11008, 4096), (11008, 4096), (4096, 11008)]
    var matrices: [WeightMatrix] = []
    for _ in 0..<layers {
        for (rows, cols) in shapes {
            let w = randomWeights(type, rows: rows, columns: cols)
            matrices.append(WeightMatrix(type: type, rows: rows, columns: cols, data: w).repacked(context: benchContext(threads: 2)))
            w.deallocate()
        }
    }
    let bytes = matrices.reduce(0) { $0 + $1.byteCount }
    let xs = UnsafeMutablePointer<Float>.allocate(capacity: 11008)
    randomFloats(xs, 11008)
    let ys = UnsafeMutablePointer<Float>.allocate(capacity: 11008)
    var configurations: [(String, ExecutionContext)] = []
    for level in [KernelLevel.avx512VNNI, .avx2] where KernelLevel.available(upTo: level) == level {
        for split in [RowSplit.contiguous, .chunks] {
            var c = benchContext(threads: 2)
            c.kernelLevel = level
            c.rowSplit = split
            configurations.append(("\(level) \(split)", c))
        }
    }
    print("\n== 7B-shaped decode, \(type), \(layers) layers (\(fmt(Double(bytes) / 1e9, 2)) GB repacked), 2 threads: GB/s per token, min / median / max over \(rounds) rounds × 8 tokens")
    var perToken: [String: [Double]] = [:]
    var peers: [Double] = []
    for _ in 0..<rounds {
        peers.append(peerBandwidth(2))
        for (name, context) in configurations {
            for token in 0..<9 {
                let t0 = now()
                for m in matrices { Matmul.multiply(m, xs, batch: 1, into: ys, context: context) }
                if token > 0 { perToken[name, default: []].append(Double(bytes) / (now() - t0) / 1e9) }
            }
        }
    }
    peers.sort()
    print("bandwidth peer (best 16 MiB chunk per round): \(peers.map { fmt($0) }.joined(separator: ", ")) GB/s")
    for (name, _) in configurations {
        let v = perToken[name]!.sorted()
        print("\(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(fmt(v[0])) / \(fmt(v[v.count / 2])) / \(fmt(v[v.count - 1])) GB/s")
    }
}

bwBuffer.deallocate()
B.deallocate()
print("\ndone")
