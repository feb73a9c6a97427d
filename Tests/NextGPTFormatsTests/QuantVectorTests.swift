import XCTest
@testable import NextGPTFormats
import NextGPTCore
import NextGPTKernels
import NextGPTTestSupport

/// Our ggml block quantizers against vectors made by others (tools/fixtures/fx_quant.py):
/// `gguf.quants.quantize` / `dequantize` from the `gguf` package, and for Q4_K (which gguf-py
/// cannot quantize) ggml's own C quantizer from llama.cpp's library.
final class QuantVectorTests: XCTestCase {
    var vectors: Checkpoint!
    override func setUpWithError() throws {
        vectors = try SafetensorsFile.read(path: "\(TestSupport.fixtures)/quant/vectors.safetensors")
    }

    func bytes(_ name: String) throws -> [UInt8] { try XCTUnwrap(vectors[name]).readBytes() }
    func floats(_ name: String) throws -> [Float] { try XCTUnwrap(vectors[name]).readFloats() }

    func testQ8_0AndQ4_0QuantizeByteIdenticalToGGUFPy() throws {
        let input = try floats("input")
        XCTAssertEqual(TensorEncoding.encode(input, as: .q8_0), try bytes("q8_0"))
        XCTAssertEqual(TensorEncoding.encode(input, as: .q4_0), try bytes("q4_0"))
    }

    func testQ4_KQuantizesByteIdenticalToGGMLC() throws {
        let input = try floats("input")
        let ours = TensorEncoding.encode(input, as: .q4_K)
        let ggml = try bytes("q4_k")
        let rows = zip(ours.chunked(144), ggml.chunked(144)).filter { $0 != $1 }.count
        XCTAssertEqual(rows, 0, "\(rows) of \(ggml.count / 144) Q4_K blocks differ from ggml's quantize_row_q4_K_ref")
    }

    func testDequantizationMatchesGGUFPyExactly() throws {
        let input = try floats("input")
        XCTAssertEqual(TensorEncoding.decode(try bytes("q8_0"), type: .q8_0, count: input.count), try floats("q8_0_dequant"))
        XCTAssertEqual(TensorEncoding.decode(try bytes("q4_0"), type: .q4_0, count: input.count), try floats("q4_0_dequant"))
        let blocks = try bytes("q4_k_blocks")
        XCTAssertEqual(TensorEncoding.decode(blocks, type: .q4_K, count: blocks.count / 144 * 256), try floats("q4_k_dequant"))
        XCTAssertEqual(TensorEncoding.decode(try bytes("q4_k"), type: .q4_K, count: input.count), try floats("q4_k_c_dequant"))
    }

    func testMultithreadedEncodingEqualsSingleThreaded() throws {
        let input = xorshiftMillionths(256 * 97, scale: 3)
        for type in [GGMLType.q8_0, .q4_0, .q4_K, .f16] {
            let one = TensorEncoding.encode(input, as: type, threads: 1)
            XCTAssertEqual(TensorEncoding.encode(input, as: type, threads: 4), one, "\(type)")
        }
    }
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
