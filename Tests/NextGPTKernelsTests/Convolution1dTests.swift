import Foundation
import NextGPTKernels
import NextGPTTestSupport
import XCTest

/// `Convolution.conv1d` (im2col + the pool's sgemm) and `convTranspose1d` (the pool's sgemm +
/// col2im) against direct scalar sums in Double, at HiFi-GAN's settings (dilated "same" convs,
/// transposed upsamplers with padding (k − u) / 2), tiles smaller than the input, 1 and 2 threads.
final class Convolution1dTests: XCTestCase {
    /// y[n, o, t] = b[o] + Σ_c Σ_k x[n, c, t·s − p + k·d] · w[o, c, k].
    func referenceConv1d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride s: Int, padding p: Int, dilation d: Int) -> [Double] {
        let (n, c, l) = (x.shape[0], x.shape[1], x.shape[2]), (o, k) = (w.shape[0], w.shape[2])
        let lout = (l + 2 * p - d * (k - 1) - 1) / s + 1
        let (xv, wv, bv) = (x.values, w.values, b?.values)
        var y = [Double](repeating: 0, count: n * o * lout)
        for b0 in 0..<n { for oc in 0..<o { for t in 0..<lout {
            var sum = Double(bv?[oc] ?? 0)
            for ic in 0..<c { for kk in 0..<k {
                let i = t * s - p + kk * d
                if i >= 0 && i < l { sum += Double(xv[(b0 * c + ic) * l + i]) * Double(wv[(oc * c + ic) * k + kk]) }
            } }
            y[(b0 * o + oc) * lout + t] = sum
        } } }
        return y
    }

    /// y[n, o, i·s − p + k] += x[n, c, i] · w[c, o, k], plus b[o].
    func referenceConvTranspose1d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride s: Int, padding p: Int) -> [Double] {
        let (n, c, l) = (x.shape[0], x.shape[1], x.shape[2]), (o, k) = (w.shape[1], w.shape[2])
        let lout = (l - 1) * s - 2 * p + k
        let (xv, wv, bv) = (x.values, w.values, b?.values)
        var y = [Double](repeating: 0, count: n * o * lout)
        for b0 in 0..<n { for oc in 0..<o { for t in 0..<lout { y[(b0 * o + oc) * lout + t] = Double(bv?[oc] ?? 0) } } }
        for b0 in 0..<n { for ic in 0..<c { for i in 0..<l { for oc in 0..<o { for kk in 0..<k {
            let t = i * s - p + kk
            if t >= 0 && t < lout { y[(b0 * o + oc) * lout + t] += Double(xv[(b0 * c + ic) * l + i]) * Double(wv[(ic * o + oc) * k + kk]) }
        } } } } }
        return y
    }

    func testDilatedConv1dMatchesScalarReference() {
        for threads in [1, 2] {
            var context = ExecutionContext(threads: threads)
            context.convolutionColumnBudget = 3000  // several tiles per sequence
            for (kernel, dilation) in [(3, 1), (3, 5), (7, 3), (11, 5), (7, 1)] {
                let x = xorshiftUniform([2, 24, 157], seed: UInt64(kernel * 10 + dilation))
                let w = xorshiftUniform([20, 24, kernel], seed: 99, scale: 0.3), b = xorshiftUniform([20], seed: 7)
                let padding = (kernel * dilation - dilation) / 2
                let y = Convolution.conv1d(x, weight: w, bias: b, padding: padding, dilation: dilation, context: context)
                XCTAssertEqual(y.shape, [2, 20, 157])
                let reference = referenceConv1d(x, w, b, stride: 1, padding: padding, dilation: dilation)
                XCTAssertLessThan(relativeL2(y.values, reference), 1e-6, "k \(kernel) d \(dilation) threads \(threads)")
            }
            let x = xorshiftUniform([1, 64, 33], seed: 3), w = xorshiftUniform([1, 64, 7], seed: 4)
            let post = Convolution.conv1d(x, weight: w, bias: nil, padding: 3, context: context)
            XCTAssertLessThan(relativeL2(post.values, referenceConv1d(x, w, nil, stride: 1, padding: 3, dilation: 1)), 1e-6)
        }
    }

    /// From 128 input channels stride-1 convolutions take the per-tap sgemm path (no im2col):
    /// several output strips per thread, with and without bias, odd lengths.
    func testWideDilatedConv1dMatchesScalarReference() {
        for threads in [1, 2] {
            let context = ExecutionContext(threads: threads)
            for (kernel, dilation, bias) in [(3, 1, true), (3, 5, false), (7, 3, true), (11, 5, true), (1, 1, true)] {
                let x = xorshiftUniform([2, 130, 97], seed: UInt64(kernel * 10 + dilation))
                let w = xorshiftUniform([24, 130, kernel], seed: 98, scale: 0.1), b = xorshiftUniform([24], seed: 8)
                let padding = (kernel * dilation - dilation) / 2
                let y = Convolution.conv1d(x, weight: w, bias: bias ? b : nil, padding: padding, dilation: dilation, context: context)
                XCTAssertEqual(y.shape, [2, 24, 97])
                let reference = referenceConv1d(x, w, bias ? b : nil, stride: 1, padding: padding, dilation: dilation)
                XCTAssertLessThan(relativeL2(y.values, reference), 1e-6, "k \(kernel) d \(dilation) threads \(threads)")
            }
            // Unpadded ("valid") and asymmetric lengths.
            let x = xorshiftUniform([1, 128, 40], seed: 5), w = xorshiftUniform([9, 128, 7], seed: 6, scale: 0.1)
            let valid = Convolution.conv1d(x, weight: w, bias: nil, padding: 0, dilation: 2, context: context)
            XCTAssertEqual(valid.shape, [1, 9, 28])
            XCTAssertLessThan(relativeL2(valid.values, referenceConv1d(x, w, nil, stride: 1, padding: 0, dilation: 2)), 1e-6)
        }
    }

    func testConvTranspose1dMatchesScalarReference() {
        for threads in [1, 2] {
            var context = ExecutionContext(threads: threads)
            context.convolutionColumnBudget = 2000
            for (rate, kernel) in [(5, 16), (4, 16), (2, 8), (2, 4), (3, 3)] {
                let x = xorshiftUniform([2, 40, 23], seed: UInt64(rate * 100 + kernel))
                let w = xorshiftUniform([40, 18, kernel], seed: 5, scale: 0.3), b = xorshiftUniform([18], seed: 6)
                let padding = (kernel - rate) / 2
                let y = Convolution.convTranspose1d(x, weight: w, bias: b, stride: rate, padding: padding, context: context)
                XCTAssertEqual(y.shape, [2, 18, 22 * rate - 2 * padding + kernel])
                let reference = referenceConvTranspose1d(x, w, b, stride: rate, padding: padding)
                XCTAssertLessThan(relativeL2(y.values, reference), 1e-6, "u \(rate) k \(kernel) threads \(threads)")
            }
        }
    }
}
