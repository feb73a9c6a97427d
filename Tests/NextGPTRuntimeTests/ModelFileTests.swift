import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTTestSupport
import XCTest

/// Zero-copy weights from the mapped container, component release, memory accounting.
final class ModelFileTests: XCTestCase {
    let bundles = TestSupport.bundles

    func testWeightsAreViewsIntoTheMappingAndSurviveRelease() throws {
        let path = "\(bundles)/vicuna-q4_0.gguf"
        let model = try ModelFile(path: path)
        let gguf = try GGUFFile(path: path)
        let name = "vicuna.model.layers.0.self_attn.q_proj.weight"
        let weight = try model.weight(name)
        let stored = try XCTUnwrap(gguf[tensor: name])
        XCTAssertEqual(weight.type, stored.type)
        // The view points into the mapping at the tensor's offset, 64-byte aligned, no copy.
        XCTAssertEqual(weight.bytes.baseAddress, model.mapping.base + stored.fileOffset)
        XCTAssertEqual(Int(bitPattern: weight.bytes.baseAddress!) % 64, 0)
        let before = weight.dequantized().values
        XCTAssertEqual(before, TensorEncoding.decode(try gguf.bytes(of: stored), type: stored.type, count: before.count))
        model.release(component: "vicuna")
        XCTAssertEqual(weight.dequantized().values, before, "pages come back from the page cache after release")
        XCTAssertThrowsError(try model.weight("vicuna.no.such.weight")) { error in
            XCTAssertTrue("\(error)".contains("vicuna.no.such.weight"))
        }
    }

    func testMemoryReportSeparatesAnonymousAndFileBackedPages() throws {
        let model = try ModelFile(path: "\(bundles)/vicuna-q4_0.gguf")
        for tensor in model.container.file.tensors { _ = try model.weight(tensor.name).dequantized() }
        let report = MemoryReport.current()
        XCTAssertGreaterThan(report.anonymousBytes, 0)
        XCTAssertGreaterThan(report.fileBytes, 0)
        XCTAssertGreaterThanOrEqual(report.peakBytes, report.anonymousBytes)
    }
}
