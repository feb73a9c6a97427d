import XCTest
@testable import NextGPTFormats
import NextGPTCore
import NextGPTTestSupport

final class SafetensorsTests: XCTestCase {
    var dir = ""
    override func setUp() { dir = TestSupport.temporaryDirectory() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func file(_ bytes: [UInt8], _ name: String = "t.safetensors") -> String {
        let path = "\(dir)/\(name)"
        TestSupport.write(bytes, to: path)
        return path
    }

    func expectError(_ bytes: [UInt8], containing text: String, file: StaticString = #filePath, line: UInt = #line) {
        let path = self.file(bytes)
        XCTAssertThrowsError(try SafetensorsFile.read(path: path), file: file, line: line) { error in
            guard let e = error as? FormatError else { return XCTFail("not a FormatError: \(error)", file: file, line: line) }
            XCTAssertEqual(e.file, path, file: file, line: line)
            XCTAssertTrue(e.description.contains(text), "'\(e)' lacks '\(text)'", file: file, line: line)
        }
    }

    func testReadsEveryDtypeAndMetadata() throws {
        let data: [UInt8] = [0, 0, 128, 63, 0, 60, 128, 63, 7, 1]  // f32 1.0, f16 1.0, bf16 1.0, i8 7, bool true
        let header = """
        {"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},\
        "b":{"dtype":"F16","shape":[1],"data_offsets":[4,6]},"c":{"dtype":"BF16","shape":[],"data_offsets":[6,8]},\
        "d":{"dtype":"I8","shape":[1,1],"data_offsets":[8,9]},"e":{"dtype":"BOOL","shape":[1],"data_offsets":[9,10]},\
        "z":{"dtype":"F64","shape":[0],"data_offsets":[10,10]}}
        """
        let checkpoint = try SafetensorsFile.read(path: file(TestSupport.safetensors(header: header, data: data)))
        XCTAssertEqual(checkpoint.metadata, ["format": "pt"])
        XCTAssertEqual(try checkpoint["a"]!.readFloats(), [1])
        XCTAssertEqual(try checkpoint["b"]!.readFloats(), [1])
        XCTAssertEqual(try checkpoint["c"]!.readFloats(), [1])
        XCTAssertEqual(checkpoint["c"]!.shape, [])
        XCTAssertEqual(try checkpoint["d"]!.readFloats(), [7])
        XCTAssertEqual(try checkpoint["e"]!.readFloats(), [1])
        XCTAssertEqual(checkpoint["z"]!.elementCount, 0)
    }

    func testRejectsWrongMagicAndHugeHeaderLength() {
        expectError(Array("not a safetensors file at all".utf8), containing: "exceeds")
        expectError(TestSupport.safetensors(header: "{}", data: [], headerLength: 1 << 63), containing: "exceeds")
        expectError([1, 2, 3], containing: "truncated")
    }

    func testRejectsTruncationAtSeveralOffsets() {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        let whole = TestSupport.safetensors(header: header, data: [UInt8](repeating: 1, count: 16))
        for cut in [4, 8, 20, whole.count - 16, whole.count - 1] {
            let path = file(Array(whole.prefix(cut)), "cut\(cut).safetensors")
            XCTAssertThrowsError(try SafetensorsFile.read(path: path), "cut at \(cut)") { error in
                XCTAssertTrue(error is FormatError, "cut at \(cut): \(error)")
            }
        }
    }

    func testRejectsOverlapsHolesAndSizeMismatch() {
        let overlap = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        expectError(TestSupport.safetensors(header: overlap, data: [UInt8](repeating: 0, count: 12)), containing: "overlap")
        let hole = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        expectError(TestSupport.safetensors(header: hole, data: [UInt8](repeating: 0, count: 8)), containing: "hole")
        let size = #"{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}"#
        expectError(TestSupport.safetensors(header: size, data: [UInt8](repeating: 0, count: 8)), containing: "needs 6")
        let extra = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#
        expectError(TestSupport.safetensors(header: extra, data: [1, 2, 3]), containing: "not covered")
        let dtype = #"{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#
        expectError(TestSupport.safetensors(header: dtype, data: [0]), containing: "unsupported dtype")
        let overflow = #"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#
        expectError(TestSupport.safetensors(header: overflow, data: [0, 0, 0, 0]), containing: "a")
        expectError(TestSupport.safetensors(header: "[1,2]", data: []), containing: "'{'")
        expectError(TestSupport.safetensors(header: "{\"a\": 3", data: []), containing: "JSON")
    }
}
