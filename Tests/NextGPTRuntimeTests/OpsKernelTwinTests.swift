import CNextGPTKernels
import Foundation
import NextGPTTestSupport
import XCTest

/// The AVX2 row kernels of nextgpt_ops.h against their scalar twins on odd sizes.
final class OpsKernelTwinTests: XCTestCase {
    let sizes = [1, 3, 7, 8, 9, 15, 17, 31, 33, 129, 1027]

    func check(_ a: [Float], _ b: [Float], _ label: String, tolerance: Double = 2e-6) {
        let r = relativeL2(a, b)
        XCTAssertLessThanOrEqual(r, tolerance, "\(label): rel L2 \(r)")
        for i in a.indices where !(abs(a[i] - b[i]) <= 1e-5 * max(1, abs(b[i]))) {
            XCTFail("\(label)[\(i)]: \(a[i]) vs \(b[i])"); return
        }
    }

    func testDispatchPath() {
        print("OPCASE kernel path \(String(cString: ngk_cpu_path()))")
    }

    func testNormRows() {
        for n in sizes {
            let x = xorshiftUniform(n, seed: UInt64(n), scale: 3), w = xorshiftUniform(n, seed: UInt64(n) + 99), b = xorshiftUniform(n, seed: UInt64(n) + 7)
            var y = [Float](repeating: 0, count: n), r = y
            for useWeight in [true, false] {
                let wp: [Float]? = useWeight ? w : nil
                withOptional(wp) { wptr in
                    ngo_rms_norm_row(x, wptr, &y, n, 1e-6)
                    ngo_rms_norm_row_ref(x, wptr, &r, n, 1e-6)
                }
                check(y, r, "rms_norm n=\(n) w=\(useWeight)")
                withOptional(wp) { wptr in
                    withOptional(useWeight ? b : nil) { bptr in
                        ngo_layer_norm_row(x, wptr, bptr, &y, n, 1e-5)
                        ngo_layer_norm_row_ref(x, wptr, bptr, &r, n, 1e-5)
                    }
                }
                if n > 1 { check(y, r, "layer_norm n=\(n) affine=\(useWeight)", tolerance: 1e-5) }
            }
        }
    }

    func testGroupStatisticsMatchScalarTwin() {
        for n in sizes + [100_003] {
            let a = xorshiftUniform(n, seed: UInt64(n) * 7, scale: 3).map { $0 + 5 }
            var (m1, v1, m2, v2) = (0.0, 0.0, 0.0, 0.0)
            ngo_mean_var(a, n, &m1, &v1)
            ngo_mean_var_ref(a, n, &m2, &v2)
            XCTAssertEqual(m1, m2, accuracy: 1e-12 * max(1, abs(m2)), "mean n=\(n)")
            XCTAssertEqual(v1, v2, accuracy: 1e-12 * max(1, abs(v2)), "variance n=\(n)")
        }
    }

    func testSoftmaxAndExpRows() {
        for n in sizes {
            var a = xorshiftUniform(n, seed: UInt64(n) * 3, scale: 30), b = a
            XCTAssertEqual(ngo_max_row(a, n), ngo_max_row_ref(a, n), "max n=\(n)")
            ngo_softmax_row(&a, n)
            ngo_softmax_row_ref(&b, n)
            check(a, b, "softmax n=\(n)")
            var c = xorshiftUniform(n, seed: UInt64(n) * 5, scale: 80), d = c
            let m: Float = 20
            let s1 = ngo_exp_shift_row(&c, n, m), s2 = ngo_exp_shift_row_ref(&d, n, m)
            check(c, d, "exp_shift n=\(n)")
            XCTAssertEqual(Double(s1), Double(s2), accuracy: 1e-5 * Double(s2), "exp_shift sum n=\(n)")
        }
        // underflow and overflow edges of the polynomial exp
        var e: [Float] = [-200, -104, -88, -87.3, -50, 0, 1e-8, 50, 88, 88.7, -1, 1, 2, -3, 0.5, -0.5, 10]
        var f = e
        _ = ngo_exp_shift_row(&e, e.count, 0)
        _ = ngo_exp_shift_row_ref(&f, f.count, 0)
        for i in e.indices {
            XCTAssertEqual(Double(e[i]), Double(f[i]), accuracy: max(1e-37, 4e-7 * Double(f[i])), "exp at index \(i)")
        }
    }

    func testActivationRows() {
        typealias Row = (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void
        let pairs: [(String, Row, Row)] = [
            ("silu", ngo_silu_row, ngo_silu_row_ref),
            ("quick_gelu", ngo_quick_gelu_row, ngo_quick_gelu_row_ref),
            ("gelu_tanh", ngo_gelu_tanh_row, ngo_gelu_tanh_row_ref),
            ("gelu_erf", ngo_gelu_erf_row, ngo_gelu_erf_row_ref),
        ]
        for (name, fast, ref) in pairs {
            for n in sizes {
                var x = xorshiftUniform(n, seed: UInt64(n) * 11, scale: 12)
                if n > 3 { x[0] = -100; x[1] = 100; x[2] = 0 }
                var y = [Float](repeating: 0, count: n), r = y
                fast(x, &y, n)
                ref(x, &r, n)
                check(y, r, "\(name) n=\(n)")
                // in place
                var z = x
                z.withUnsafeMutableBufferPointer { fast($0.baseAddress, $0.baseAddress, n) }
                XCTAssertEqual(z, y, "\(name) in place n=\(n)")
            }
        }
    }

    private func withOptional(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> Void) {
        guard let a else { body(nil); return }
        a.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}

/// The single-thread sgemm of nextgpt_sgemm1t.h (attention tiles) against its scalar twin.
final class SingleThreadSgemmTwinTests: XCTestCase {
    func testSgemmAgainstScalarTwin() {
        // k past 256 crosses the AVX2 body's blocks of B (the later ones accumulate into C)
        let shapes = [(1, 1, 1), (3, 17, 5), (6, 16, 40), (7, 33, 9), (13, 15, 1), (64, 136, 40), (5, 40, 131), (7, 33, 600), (6, 130, 257)]
        for (m, n, k) in shapes {
            let (lda, ldb, ldc) = (k + 3, max(n, k) + 5, n + 2)
            let a = xorshiftUniform(m * lda, seed: UInt64(m * 7 + k))
            let b = xorshiftUniform(max(n, k) * ldb, seed: UInt64(n * 13 + k))
            let c0 = xorshiftUniform(m * ldc, seed: UInt64(m + n))
            var scratch = [Float](repeating: .nan, count: k * n)
            for beta: Float in [0, 1] {
                for transposed in [false, true] {
                    // beta 0 must not read C: start from NaN there
                    var fast = beta == 0 ? [Float](repeating: .nan, count: m * ldc) : c0, slow = fast
                    if transposed {
                        ngs_sgemm_nt(m, n, k, 0.7, a, lda, b, ldb, beta, &fast, ldc, &scratch)
                        ngs_sgemm_nt_ref(m, n, k, 0.7, a, lda, b, ldb, beta, &slow, ldc)
                    } else {
                        ngs_sgemm_nn(m, n, k, 0.7, a, lda, b, ldb, beta, &fast, ldc)
                        ngs_sgemm_nn_ref(m, n, k, 0.7, a, lda, b, ldb, beta, &slow, ldc)
                    }
                    let label = "sgemm \(transposed ? "nt" : "nn") \(m)x\(n)x\(k) beta \(beta)"
                    // only the m × n block is written; the padding columns keep their values
                    for i in 0..<m {
                        for j in 0..<ldc {
                            let (x, y) = (fast[i * ldc + j], slow[i * ldc + j])
                            if j >= n {
                                XCTAssertTrue(x.bitPattern == y.bitPattern, "\(label): column \(j) past n written"); continue
                            }
                            XCTAssertEqual(Double(x), Double(y), accuracy: 2e-6 * Double(k).squareRoot() * 4, "\(label) [\(i), \(j)]")
                        }
                    }
                }
            }
        }
        print("OPCASE sgemm1t path \(String(cString: ngk_cpu_path()))")
    }

    /// The dot-product form for few columns: every row group (3, 2, 1 rows), column group (4..1)
    /// and k tail (k mod 8), written and accumulated, against the nt twin.
    func testDotProductsAgainstScalarTwin() {
        for (m, n, k) in [(1, 1, 1), (3, 4, 8), (5, 7, 19), (12, 8, 128), (13, 15, 131), (2, 3, 7)] {
            let (lda, ldb, ldc) = (k + 5, k + 3, n + 2)
            let a = xorshiftUniform(m * lda, seed: UInt64(m * 11 + k)), b = xorshiftUniform(n * ldb, seed: UInt64(n * 5 + k))
            let c0 = xorshiftUniform(m * ldc, seed: UInt64(m * n + 3))
            for accumulate: Int32 in [0, 1] {
                var fast = accumulate == 0 ? [Float](repeating: .nan, count: m * ldc) : c0, slow = fast
                ngs_sgemm_nt_dots(m, n, k, a, lda, b, ldb, accumulate, &fast, ldc)
                ngs_sgemm_nt_ref(m, n, k, 1, a, lda, b, ldb, Float(accumulate), &slow, ldc)
                let label = "dots \(m)x\(n)x\(k) accumulate \(accumulate)"
                for i in 0..<m {
                    for j in 0..<ldc {
                        let (x, y) = (fast[i * ldc + j], slow[i * ldc + j])
                        if j >= n { XCTAssertTrue(x.bitPattern == y.bitPattern, "\(label): column \(j) past n written"); continue }
                        XCTAssertEqual(Double(x), Double(y), accuracy: 2e-6 * Double(k).squareRoot() * 4, "\(label) [\(i), \(j)]")
                    }
                }
            }
        }
    }
}
