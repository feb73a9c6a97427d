import CNextGPTKernels
import NextGPTTestSupport
import XCTest

/// Every SIMD kernel against its scalar reference twin, on odd sizes.
final class KernelTwinTests: XCTestCase {
    func testHalfConversionRowsMatchScalar() {
        for n in [1, 7, 8, 9, 31, 1003] {
            var values = xorshiftMillionths(n, scale: 70000)  // includes overflow to inf
            if n > 5 { values[0] = 1e-8; values[1] = -6.1e-5; values[2] = .nan; values[3] = 65519; values[4] = 65520 }
            var simd = [UInt16](repeating: 0, count: n), scalar = simd
            ngk_fp32_to_fp16_row(values, &simd, n)
            ngk_fp32_to_fp16_row_ref(values, &scalar, n)
            XCTAssertEqual(simd, scalar, "n=\(n)")
            var back = [Float](repeating: 0, count: n), backRef = back
            ngk_fp16_to_fp32_row(simd, &back, n)
            ngk_fp16_to_fp32_row_ref(simd, &backRef, n)
            XCTAssertEqual(back.map(\.bitPattern), backRef.map(\.bitPattern), "n=\(n)")
        }
    }

    func testHalfConversionMatchesSwiftFloat16() {
        // Swift's Float16 is IEEE round-to-nearest-even: an independent check of the scalar twin.
        for x in xorshiftMillionths(5000, scale: 3) + [0, -0, 1, 65504, 65520, 5.96e-8, 2.98e-8, 2.99e-8] {
            XCTAssertEqual(ngk_fp32_to_fp16(x), Float16(x).bitPattern, "\(x)")
        }
    }

    func testDequantizeTwins() {
        for blocks in [1, 3, 17] {
            let x = xorshiftMillionths(32 * blocks, scale: 5)
            var q8 = [UInt8](repeating: 0, count: 34 * blocks), q4 = [UInt8](repeating: 0, count: 18 * blocks)
            ngk_quantize_q8_0_ref(x, &q8, x.count)
            ngk_quantize_q4_0_ref(x, &q4, x.count)
            var a = [Float](repeating: 0, count: x.count), b = a
            ngk_dequantize_q8_0(q8, &a, x.count)
            ngk_dequantize_q8_0_ref(q8, &b, x.count)
            XCTAssertEqual(a, b)
            ngk_dequantize_q4_0(q4, &a, x.count)
            ngk_dequantize_q4_0_ref(q4, &b, x.count)
            XCTAssertEqual(a, b)
        }
    }

    func testQuantizeTwins() {
        // Random blocks, blocks of exact ties (k + 0.5 steps), zeros, repeated extremes of both signs.
        var x = xorshiftMillionths(32 * 61, scale: 7)
        for j in 0..<32 { x[j] = Float(j - 16) + 0.5; x[32 + j] = 0; x[64 + j] = j % 2 == 0 ? 3 : -3 }
        for j in 0..<32 { x[96 + j] = Float(j) * 127 / 31 - 63.5 }
        var fast = [UInt8](repeating: 0, count: 34 * 61), reference = fast
        ngk_quantize_q8_0(x, &fast, x.count)
        ngk_quantize_q8_0_ref(x, &reference, x.count)
        XCTAssertEqual(fast, reference)
        var fast4 = [UInt8](repeating: 0, count: 18 * 61), reference4 = fast4
        ngk_quantize_q4_0(x, &fast4, x.count)
        ngk_quantize_q4_0_ref(x, &reference4, x.count)
        XCTAssertEqual(fast4, reference4)
    }

    func testCRC32CTwinAndKnownValue() {
        // RFC 3720 check value: CRC-32C("123456789") = 0xE3069283.
        let digits = Array("123456789".utf8)
        XCTAssertEqual(ngk_crc32c_update(0, digits, digits.count), 0xE306_9283)
        XCTAssertEqual(ngk_crc32c_update_ref(0, digits, digits.count), 0xE306_9283)
        let bytes = (0..<1037).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for n in [0, 1, 7, 8, 9, 1037] {
            XCTAssertEqual(ngk_crc32c_update(0, bytes, n), ngk_crc32c_update_ref(0, bytes, n), "n=\(n)")
        }
        let split = ngk_crc32c_update(ngk_crc32c_update(0, bytes, 500), Array(bytes[500...]), 537)
        XCTAssertEqual(split, ngk_crc32c_update(0, bytes, 1037))
    }
}
