import XCTest
@testable import NextGPTFormats
import NextGPTCore
import NextGPTKernels
import NextGPTTestSupport

final class GGUFTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = TestSupport.temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func writeSample(_ path: String) throws -> [Float] {
        let values = xorshiftMillionths(2 * 256, scale: 2)
        let writer = try GGUFWriter(destination: path, alignment: 64)
        let metadata: [(String, GGUFValue)] = [
            ("general.architecture", .string("nextgpt")), ("general.alignment", .uint32(64)),
            ("nextgpt.components", .strings(["demo"])), ("demo.flag", .bool(true)), ("demo.pi", .float64(3.25)),
            ("demo.ids", .int32s([-1, 2])), ("demo.checksum", .uint32s([0, 0])),
        ]
        let tensors = [GGUFTensorInfo(name: "demo.a", shape: [2, 256], type: .q8_0),
                       GGUFTensorInfo(name: "demo.b", shape: [3], type: .f32)]
        try writer.begin(metadata: metadata, tensors: tensors, patchable: ["demo.checksum"])
        try writer.write(TensorEncoding.encode(values, as: .q8_0))
        try writer.write(TensorEncoding.encode([1, 2, 3], as: .f32))
        try writer.patch("demo.checksum", with: .uint32s([7, 9]))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "nothing under the final name before commit")
        try writer.commit()
        return values
    }

    func testRoundTrip() throws {
        let path = "\(dir)/a.gguf"
        let values = try writeSample(path)
        let file = try GGUFFile(path: path)
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.alignment, 64)
        XCTAssertEqual(file.metadata["demo.flag"], .bool(true))
        XCTAssertEqual(file.metadata["demo.pi"], .float64(3.25))
        XCTAssertEqual(file.metadata["demo.ids"]?.intArray, [-1, 2])
        XCTAssertEqual(file.metadata["demo.checksum"]?.intArray, [7, 9])
        XCTAssertEqual(file.tensors.map(\.name), ["demo.a", "demo.b"])
        let a = file[tensor: "demo.a"]!
        XCTAssertEqual(a.shape, [2, 256])
        XCTAssertEqual(a.fileOffset % 64, 0)
        let decoded = TensorEncoding.decode(try file.bytes(of: a), type: .q8_0, count: 512)
        for (x, y) in zip(values, decoded) { XCTAssertEqual(x, y, accuracy: 2.0 / 127) }
        XCTAssertEqual(TensorEncoding.decode(try file.bytes(of: file[tensor: "demo.b"]!), type: .f32, count: 3), [1, 2, 3])
    }

    func testUncommittedWriterLeavesNothing() throws {
        let path = "\(dir)/b.gguf"
        do {
            let writer = try GGUFWriter(destination: path)
            try writer.begin(metadata: [], tensors: [GGUFTensorInfo(name: "x", shape: [4], type: .f32)])
            XCTAssertThrowsError(try writer.commit())  // a tensor was never written
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    func testRejectsBadFiles() throws {
        let path = "\(dir)/good.gguf"
        _ = try writeSample(path)
        let good = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        func check(_ bytes: [UInt8], _ texts: String..., line: UInt = #line) {
            let bad = "\(dir)/bad.gguf"
            TestSupport.write(bytes, to: bad)
            XCTAssertThrowsError(try GGUFFile(path: bad), line: line) { error in
                XCTAssertTrue(error is FormatError && "\(error)".contains(bad), line: line)
                XCTAssertTrue(texts.contains { "\(error)".contains($0) }, "'\(error)' lacks \(texts)", line: line)
            }
        }
        check(Array("GGUX".utf8) + good.dropFirst(4), "not a GGUF file")
        var version = good
        version[4] = 9
        check(version, "version 9")
        var tensorCount = good
        tensorCount.replaceSubrange(8..<16, with: [0, 0, 0, 0, 0, 0, 0, 0x80])
        check(tensorCount, "impossible")
        for cut in [3, 20, 60, 300, good.count - 100] {
            check(Array(good.prefix(cut)), "truncated", "impossible", "past the end", line: UInt(cut))
        }
    }
}
