import XCTest

@testable import NextGPTKernels
import NextGPTTestSupport

/// Bilinear resize (torch upsample_bilinear2d): the AVX2 body against its scalar twin, bit for
/// bit (torch itself is matched through the imagebind_preprocess_video bundles, exactly).
final class BilinearResizeTwinTests: XCTestCase {
    func testSimdMatchesScalarTwin() {
        var random = Xorshift64(seed: 11)
        for (inH, inW, outH, outW) in [(64, 96, 224, 336), (30, 40, 224, 298), (228, 240, 224, 235), (5, 3, 17, 9), (224, 224, 224, 224), (1, 1, 224, 224)] {
            let x = Tensor(shape: [6, inH, inW], values: (0..<(6 * inH * inW)).map { _ in Float(random.next() % 256) / 255 })
            let simd = BilinearResize.resize(x, height: outH, width: outW, context: .default)
            let scalar = BilinearResize.resize(x, height: outH, width: outW, context: .default, scalar: true)
            XCTAssertEqual(simd.shape, [6, outH, outW])
            XCTAssertEqual(simd.values, scalar.values, "\(inH)×\(inW) → \(outH)×\(outW)")
        }
    }

    func testEqualSizesCopyAndCornersKeepTheirValues() {
        let x = Tensor(shape: [1, 2, 2], values: [0, 1, 2, 3])
        XCTAssertEqual(BilinearResize.resize(x, height: 2, width: 2, context: .default).values, x.values)
        // torch: F.interpolate(tensor([[[[0., 1.], [2., 3.]]]]), size=(4, 4), mode="bilinear", align_corners=False)
        XCTAssertEqual(BilinearResize.resize(x, height: 4, width: 4, context: .default).values,
                       [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3])
    }
}
