import CNextGPTKernels
import XCTest

@testable import NextGPTKernels
import NextGPTTestSupport

final class MatmulTests: XCTestCase {
    static let types: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_K]

    /// Double-accumulated y = W·x with W decoded from its container bytes.
    func reference(_ wf: [Float], rows: Int, columns: Int, _ x: [Float], batch: Int) -> [Double] {
        var y = [Double](repeating: 0, count: batch * rows)
        for b in 0..<batch {
            for r in 0..<rows {
                var s = 0.0
                for c in 0..<columns { s += Double(wf[r * columns + c]) * Double(x[b * columns + c]) }
                y[b * rows + r] = s
            }
        }
        return y
    }

    func check(type: GGMLType, rows: Int, columns: Int, batch: Int, path: Matmul.Path) {
        var rng = Xorshift64(seed: UInt64(rows * 7 + columns * 13 + batch))
        let w = TensorEncoding.encode(rng.triangulars(rows * columns), as: type)
        let decoded = TensorEncoding.decode(w, type: type, count: rows * columns)
        let x = rng.triangulars(batch * columns, scale: 2)
        let expected = reference(decoded, rows: rows, columns: columns, x, batch: batch)
        var y = [Float](repeating: .nan, count: batch * rows)
        w.withUnsafeBytes { wb in
            let m = WeightMatrix(type: type, rows: rows, columns: columns, data: wb.baseAddress!)
            var context = ExecutionContext.default
            context.matmulPath = path
            Matmul.multiply(m, x, batch: batch, into: &y, context: context)
        }
        let usesQuantizedActivations = type.isQuantized && (path == .direct || (path == .automatic && batch < Matmul.blasThreshold(for: type)))
        let err = relativeL2(y, expected)
        let tolerance = usesQuantizedActivations ? 1e-2 : 1e-5
        XCTAssertLessThanOrEqual(err, tolerance, "\(type) \(path) batch \(batch): rel L2 \(err) vs f32 activations")
        if usesQuantizedActivations {
            // Same quantized activations, scalar twin: agreement to float rounding.
            var slow = [Float](repeating: .nan, count: batch * rows)
            w.withUnsafeBytes { wb in
                let m = WeightMatrix(type: type, rows: rows, columns: columns, data: wb.baseAddress!)
                Matmul.multiplyDirect(m, x, batch: batch, into: &slow, pool: ExecutionContext.default.pool, reference: true)
            }
            let e2 = relativeL2(y, slow)
            XCTAssertLessThanOrEqual(e2, 1e-5, "\(type) batch \(batch): rel L2 \(e2) vs scalar twin on the same activations")
        }
    }

    func testMultiplyAutomaticEveryTypeAndBatch() {
        for type in Self.types {
            for batch in [1, 3, 17, 64] {
                check(type: type, rows: 37, columns: type == .q4_K ? 768 : 416, batch: batch, path: .automatic)
            }
        }
    }

    func testMultiplyDirectPathEveryTypeAndBatch() {
        for type in Self.types {
            for batch in [1, 3, 17, 64] {
                check(type: type, rows: 37, columns: type == .q4_K ? 512 : 96, batch: batch, path: .direct)
            }
        }
    }

    func testMultiplyBLASPathEveryTypeAndBatch() {
        for type in Self.types {
            for batch in [1, 3, 17, 64] {
                check(type: type, rows: 45, columns: type == .q4_K ? 512 : 160, batch: batch, path: .blas)
            }
        }
    }

    /// Rows spread over several threads and BLAS panels.
    func testMultiplyLargerShapeAcrossThreads() {
        for type in Self.types {
            check(type: type, rows: 1031, columns: 1024, batch: 1, path: .automatic)
            check(type: type, rows: 2053, columns: 1024, batch: 5, path: .blas)  // two BLAS panels
        }
    }

    func testThreadSettingIsAppliedAndResultsDoNotDependOnIt() {
        var rng = Xorshift64(seed: 9)
        let rows = 203, columns = 512
        let w = TensorEncoding.encode(rng.triangulars(rows * columns), as: .q4_0)
        let x = rng.triangulars(columns)
        var results: [[Float]] = []
        for t in [1, 2, 3] {
            let context = ExecutionContext(threads: t)
            XCTAssertEqual(context.threads, t)
            var y = [Float](repeating: 0, count: rows)
            w.withUnsafeBytes { wb in
                Matmul.multiply(WeightMatrix(type: .q4_0, rows: rows, columns: columns, data: wb.baseAddress!), x, batch: 1, into: &y,
                                context: context)
            }
            results.append(y)
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
    }
}
