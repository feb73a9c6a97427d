// Which path a quantized product should take at the machine's kernel level: Winograd (f32) or
// patch rows through the integer kernels for Q8_0 3×3 convolutions, the integer kernels or
// dequantize + sgemm for Q8_0 linears. Shapes are SD 1.5's UNet at 256² and 512² (batch 2: CFG).
import Foundation
import NextGPTKernels

// ---------------------------------------------------------------- Q8_0 3×3 convolutions: Winograd or integer (BENCH_SECTIONS=winogradq8)
// SD UNet planes at 256² and 512² (batch 2: CFG), Q8_0 kernels repacked as `nextgpt sd` loads them:
// Winograd F(4,3) on the kernel widened per call (what Conv2d does) against patch rows through the
// integer kernels, at the context's kernel level (the figures behind `winogradMinimumTilesOverInteger`).
@MainActor func benchWinogradOverInteger() {
    var winograd = benchContext(threads: 2), integer = winograd
    winograd.winogradMinimumTiles = 1
    integer.winogradEnabled = false
    integer.laneGEMMOverWinograd = true
    print("\n== Q8_0 conv2d 3×3 pad 1, 2 threads, level \(winograd.kernelLevel): ms per call (Winograd includes widening the kernel)")
    print("shape (tiles per sample)            winograd   cached  cached-BLAS  streamed   integer   integer/winograd  integer/cached  integer/streamed")
    for (n, c, o, h, w) in [(2, 320, 320, 32, 32), (2, 640, 640, 16, 16), (2, 1280, 1280, 8, 8), (2, 320, 320, 64, 64),
                            (2, 640, 640, 32, 32), (2, 1280, 1280, 16, 16), (2, 640, 640, 8, 8), (2, 2560, 1280, 8, 8), (2, 2560, 1280, 16, 16),
                            (2, 1280, 1280, 32, 32), (2, 1920, 640, 32, 32), (2, 1280, 1280, 4, 4), (1, 512, 512, 64, 64), (1, 256, 256, 128, 128)] {
        let x = Tensor(shape: [n, c, h, w]) { randomFloats($0.baseAddress!, $0.count) }
        let wq = randomWeights(.q8_0, rows: o, columns: c * 9)
        let packed = WeightMatrix(type: .q8_0, rows: o, columns: c * 9, data: wq).repacked(context: winograd)
        let tWino = timeBest(budget: 1.0, minRuns: 2) {
            _ = NextGPTKernels.Convolution.winogradConv3x3(x, kernel: WinogradKernel(matrix: packed, context: winograd), bias: nil, context: winograd)
        }
        let kernel = WinogradKernel(matrix: packed, context: winograd)
        let tCached = timeBest(budget: 1.0, minRuns: 2) {
            _ = NextGPTKernels.Convolution.winogradConv3x3(x, kernel: kernel, bias: nil, context: winograd)
        }
        var blasProducts = winograd
        blasProducts.winogradInPlaceProductTiles = 0
        let tCachedBLAS = timeBest(budget: 1.0, minRuns: 2) {
            _ = NextGPTKernels.Convolution.winogradConv3x3(x, kernel: kernel, bias: nil, context: blasProducts)
        }
        let tStreamed = timeBest(budget: 1.0, minRuns: 2) {
            _ = NextGPTKernels.Convolution.winogradConv3x3(x, streaming: packed, bias: nil, context: winograd)
        }
        let tInt = timeBest(budget: 1.0, minRuns: 2) {
            _ = NextGPTKernels.Convolution.conv2d(x, matrix: packed, kernel: [3, 3], bias: nil, padding: [1, 1], context: integer)
        }
        let label = "\(n)×\(c)×\(h)×\(w) → \(o) (\(((h + 3) / 4) * ((w + 3) / 4)))".padding(toLength: 34, withPad: " ", startingAt: 0)
        print("\(label) \(fmt(tWino * 1e3))  \(fmt(tCached * 1e3))  \(fmt(tCachedBLAS * 1e3))  \(fmt(tStreamed * 1e3))  \(fmt(tInt * 1e3))   \(fmt(tInt / tWino, 2))×   \(fmt(tInt / tCached, 2))×   \(fmt(tInt / tStreamed, 2))×")
        wq.deallocate()
    }
}

// ---------------------------------------------------------------- Q8_0 linears: integer kernels or dequantize + sgemm (BENCH_SECTIONS=blasq8)
// SD UNet linears at 256² and 512² (batch 2: CFG), repacked Q8_0, 2 threads, alternating over
// BENCH_ROUNDS rounds; median GOP/s of each path at the context's kernel level.
@MainActor func benchIntegerOverBLAS() {
    let rounds = getenv("BENCH_ROUNDS").flatMap { Int(String(cString: $0)) } ?? 5
    var integer = benchContext(threads: 2), blas = integer, direct = integer
    integer.matmulPath = .integerGEMM
    blas.matmulPath = .blas
    direct.matmulPath = .direct
    print("\n== Q8_0 linears, 2 threads, level \(integer.kernelLevel): median GOP/s over \(rounds) alternating rounds")
    print("M×K → N                 integer    direct      blas   blas/integer   blas/direct")
    for (m, k, n) in [(2048, 320, 320), (2048, 320, 2560), (2048, 1280, 320), (512, 640, 640), (512, 640, 5120), (512, 2560, 640),
                      (8192, 320, 320), (8192, 320, 2560), (8192, 1280, 320), (2048, 640, 640), (2048, 640, 5120), (2048, 2560, 640),
                      (1024, 320, 320), (1024, 320, 2560), (1024, 1280, 320)] {
        let wq = randomWeights(.q8_0, rows: n, columns: k)
        let packed = WeightMatrix(type: .q8_0, rows: n, columns: k, data: wq).repacked(context: integer)
        let xs = UnsafeMutablePointer<Float>.allocate(capacity: m * k), ys = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        randomFloats(xs, m * k)
        let ops = 2.0 * Double(m * k * n)
        var ti: [Double] = [], td: [Double] = [], tb: [Double] = []
        for _ in 0..<rounds {
            ti.append(timeBest(budget: 0.2, minRuns: 1) { Matmul.multiply(packed, xs, batch: m, into: ys, context: integer) })
            td.append(timeBest(budget: 0.2, minRuns: 1) { Matmul.multiply(packed, xs, batch: m, into: ys, context: direct) })
            tb.append(timeBest(budget: 0.2, minRuns: 1) { Matmul.multiply(packed, xs, batch: m, into: ys, context: blas) })
        }
        ti.sort(); td.sort(); tb.sort()
        let (ri, rd, rb) = (ops / ti[rounds / 2] / 1e9, ops / td[rounds / 2] / 1e9, ops / tb[rounds / 2] / 1e9)
        let label = "\(m)×\(k) → \(n)".padding(toLength: 22, withPad: " ", startingAt: 0)
        print("\(label) \(fmt(ri))  \(fmt(rd))  \(fmt(rb))   \(fmt(rb / ri, 2))×          \(fmt(rb / rd, 2))×")
        wq.deallocate(); xs.deallocate(); ys.deallocate()
    }
}
