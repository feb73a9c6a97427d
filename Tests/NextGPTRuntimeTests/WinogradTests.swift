import CNextGPTKernels
import NextGPTKernels
import NextGPTTestSupport
import XCTest

/// Winograd F(4×4, 3×3) against the im2col + sgemm convolution (itself checked against PyTorch by
/// the op bundle), on sizes that leave partial tiles and chunk the tile loop.
final class WinogradTests: XCTestCase {
    func testMatchesIm2colConvolution() {
        let budget = ExecutionContext.default.convolutionColumnBudget
        for (n, c, o, h, w, smallBudget) in [(1, 16, 8, 48, 48, false), (2, 24, 20, 45, 47, false), (2, 32, 16, 45, 51, true), (1, 16, 32, 64, 33, false)] {
            let x = lcgThousandths([n, c, h, w], state: UInt64(c * h)), weight = lcgThousandths([o, c, 3, 3], state: UInt64(o + w))
            let bias = lcgThousandths([o], state: 5)
            var context = ExecutionContext.default
            context.convolutionColumnBudget = smallBudget ? 36 * 32 * 10 / 4 : budget
            context.winogradEnabled = true
            XCTAssertTrue(Convolution.useWinograd(channels: c, kernel: [3, 3], stride: [1, 1], padding: [1, 1], height: h, width: w,
                                                  context: context))
            let fast = Convolution.conv2d(x, weight: weight, bias: bias, padding: [1, 1], context: context)
            context.winogradEnabled = false
            let direct = Convolution.conv2d(x, weight: weight, bias: bias, padding: [1, 1], context: context)
            XCTAssertEqual(fast.shape, direct.shape)
            let rel = relativeL2(fast, direct)
            XCTAssertLessThan(rel, 2e-6, "\(n)×\(c)×\(h)×\(w) → \(o): rel L2 \(rel)")
        }
    }

    /// Quantized kernels take Winograd from 32×32 planes (64 tiles) at the AVX2 level, where the
    /// integer kernels have no VNNI; f32 kernels, and quantized ones at other levels, from 128 tiles.
    func testQuantizedKernelsTakeWinogradEarlierAtTheAVX2Level() {
        func winograd(_ side: Int, quantized: Bool, level: KernelLevel) -> Bool {
            var context = ExecutionContext.default
            context.kernelLevel = level
            return Convolution.useWinograd(channels: 320, kernel: [3, 3], stride: [1, 1], padding: [1, 1], height: side, width: side,
                                           quantizedKernel: quantized, context: context)
        }
        XCTAssertTrue(winograd(64, quantized: false, level: .scalar))
        XCTAssertFalse(winograd(32, quantized: false, level: .scalar))
        XCTAssertFalse(winograd(32, quantized: true, level: .scalar))
        guard KernelLevel.available(upTo: .avx2) == .avx2 else { return }
        XCTAssertTrue(winograd(32, quantized: true, level: .avx2))
        XCTAssertFalse(winograd(28, quantized: true, level: .avx2))
        XCTAssertFalse(winograd(32, quantized: false, level: .avx2))
        if KernelLevel.machine == .avx512VNNI { XCTAssertFalse(winograd(32, quantized: true, level: .avx512VNNI)) }
    }

    /// The 8-lane transforms against their one-tile scalar twins, on a plane with partial tiles
    /// and a tile range that starts and ends mid-row.
    func testTransformsMatchScalarTwins() {
        let (c, h, w) = (3, 19, 23)
        let tilesWide = (w + 3) / 4, tiles = ((h + 3) / 4) * tilesWide
        let x = lcgThousandths([c, h, w], state: 3).values
        let (first, count) = (5, tiles - 7)
        var fast = [Float](repeating: 0, count: 36 * c * count), twin = fast
        ngk_winograd43_input(x, h, w, 0, c, c, first, count, &fast, count)
        ngk_winograd43_input_ref(x, h, w, 0, c, c, first, count, &twin, count)
        for (a, b) in zip(fast, twin) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b))) }
        let products = lcgThousandths([36, c, count], state: 4).values, bias: [Float] = [0.5, -1, 2]
        var outFast = [Float](repeating: 0, count: c * h * w), outTwin = outFast
        ngk_winograd43_output(products, count, 0, c, c, first, count, h, w, bias, &outFast)
        ngk_winograd43_output_ref(products, count, 0, c, c, first, count, h, w, bias, &outTwin)
        for (a, b) in zip(outFast, outTwin) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b))) }
        XCTAssertGreaterThan(outTwin.filter { $0 != 0 }.count, c * h * w / 2)
    }
}
