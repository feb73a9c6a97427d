// Absurd declared sizes are errors before any large allocation: each file here is a few hundred
// bytes that claims terabytes (or, through the pickle memo, a billion tensors). Every case must
// throw a FormatError naming the file, quickly, and the process's peak RSS must not grow by more
// than a small bound over the whole test. (The 100 000 × 100 000 PNG: ImageIOTests.)
import Foundation
import XCTest
import NextGPTCore
@testable import NextGPTFormats
import NextGPTTestSupport

final class ResourceLimitTests: XCTestCase {
    var dir = ""
    var peakBefore = 0

    override func setUpWithError() throws {
        dir = try scratchDirectory("limits")
        peakBefore = Self.peakResidentBytes()
    }

    override func tearDown() {
        let growth = Self.peakResidentBytes() - peakBefore
        XCTAssertLessThan(growth, 256 << 20, "peak RSS grew by \(growth >> 20) MiB")
    }

    static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

    /// Writes `bytes`, runs `read` on the file and expects a FormatError naming it with every fragment.
    func expectRefused(_ name: String, _ bytes: [UInt8], _ fragments: [String], line: UInt = #line,
                       _ read: (String) throws -> Void) {
        let path = "\(dir)/\(name)"
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        do {
            try read(path)
            XCTFail("\(name) was accepted", line: line)
        } catch let error as FormatError {
            XCTAssertEqual(error.file, path, line: line)
            for fragment in fragments {
                XCTAssertTrue(error.description.contains(fragment), "'\(error.description)' lacks '\(fragment)'", line: line)
            }
        } catch {
            XCTFail("\(name): not a FormatError: \(error)", line: line)
        }
    }

    // MARK: safetensors

    func testSafetensorsAbsurdHeaderAndTensorSizes() {
        let read = { (path: String) in _ = try SafetensorsFile.read(path: path) }
        expectRefused("header-2^63.safetensors", le(UInt64(1) << 63) + Array("{}".utf8), ["header length 9223372036854775808 exceeds"], read)
        // A 2^40-element tensor (4 TiB of F32) declared over 4 bytes of data.
        let huge = #"{"w":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4398046511104]}}"#
        expectRefused("2^40-elements.safetensors", TestSupport.safetensors(header: huge, data: [0, 0, 0, 0]),
                      ["truncated: tensors need 4398046511104 data bytes but the file holds 4"], read)
        // Element count that overflows 64 bits.
        let overflow = #"{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#
        expectRefused("overflow.safetensors", TestSupport.safetensors(header: overflow, data: [0, 0, 0, 0]), ["w", "overflows"], read)
    }

    // MARK: zip

    /// A stored zip of `entries` whose central record for `lie` claims `claimed` bytes (ZIP64 when
    /// it needs more than 32 bits).
    func zip(_ entries: [(String, [UInt8])], lie: String, claimed: UInt64) -> [UInt8] {
        var out: [UInt8] = [], central: [UInt8] = []
        for (name, data) in entries {
            let offset = out.count
            let nameBytes = Array(name.utf8)
            out += le(UInt32(0x0403_4B50)) + le(UInt16(45)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0)) + le(UInt32(0))
            out += le(UInt32(data.count)) + le(UInt32(data.count)) + le(UInt16(nameBytes.count)) + le(UInt16(0)) + nameBytes + data
            var size = UInt32(data.count)
            var extra: [UInt8] = []
            if name == lie {
                if claimed >= 0xFFFF_FFFF {
                    size = 0xFFFF_FFFF
                    extra = le(UInt16(1)) + le(UInt16(16)) + le(claimed) + le(claimed)
                } else {
                    size = UInt32(claimed)
                }
            }
            central += le(UInt32(0x0201_4B50)) + le(UInt16(45)) + le(UInt16(45)) + le(UInt16(0)) + le(UInt16(0))
            central += le(UInt32(0)) + le(UInt32(0)) + le(size) + le(size) + le(UInt16(nameBytes.count)) + le(UInt16(extra.count))
            central += le(UInt16(0)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0)) + le(UInt32(offset)) + nameBytes + extra
        }
        let cdOffset = out.count
        out += central
        out += le(UInt32(0x0605_4B50)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(entries.count)) + le(UInt16(entries.count))
        out += le(UInt32(central.count)) + le(UInt32(cdOffset)) + le(UInt16(0))
        return out
    }

    func testZipEntriesClaimingATerabyte() {
        let pickle: [UInt8] = [0x80, 0x02, 0x7D, 0x2E] // {}
        let entries = [("archive/data.pkl", pickle), ("archive/data/0", [UInt8](repeating: 0, count: 16))]
        let tb: UInt64 = 1 << 40
        expectRefused("1tb-storage.pt", zip(entries, lie: "archive/data/0", claimed: tb), ["archive/data/0", "claims 1099511627776 bytes"]) {
            _ = try ZipArchive(path: $0)
        }
        expectRefused("1tb-pickle.pt", zip(entries, lie: "archive/data.pkl", claimed: tb), ["claims 1099511627776 bytes"]) {
            _ = try TorchCheckpoint.read(path: $0)
        }
        // Without ZIP64 the most a record can claim is 4 GiB − 1: still beyond the file.
        expectRefused("4gb-pickle.pt", zip(entries, lie: "archive/data.pkl", claimed: 0xFFFF_FFFE), ["claims 4294967294 bytes"]) {
            _ = try TorchCheckpoint.read(path: $0)
        }
    }

    // MARK: pickles

    func s(_ text: String) -> [UInt8] { [0x8C, UInt8(text.utf8.count)] + Array(text.utf8) }
    func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }

    /// `{'a': L9}` where L0 holds one tensor ten times and L(i+1) holds L(i) ten times through the
    /// memo: 254 bytes of pickle, 10¹⁰ tensor names if flattened naively.
    func billionTensors() -> [UInt8] {
        var p: [UInt8] = [0x80, 0x02]
        p += global("torch._utils", "_rebuild_tensor_v2") + [0x28, 0x28] + s("storage") + global("torch", "FloatStorage")
        p += s("0") + s("cpu") + [0x4B, 1, 0x74, 0x51, 0x4B, 0, 0x4B, 1, 0x85, 0x4B, 1, 0x85, 0x89]
        p += global("collections", "OrderedDict") + [0x29, 0x52, 0x74, 0x52, 0x71, 0, 0x30]
        for level in 0..<10 {
            p += [0x5D, 0x28] + [UInt8](repeating: 0, count: 10).flatMap { _ in [0x68, UInt8(level)] } + [0x65, 0x71, UInt8(level + 1), 0x30]
        }
        return p + [0x7D] + s("a") + [0x68, 10, 0x73, 0x2E]
    }

    func testPickleBombs() throws {
        let zipped = { (pickle: [UInt8]) in
            self.zip([("archive/data.pkl", pickle), ("archive/data/0", [0, 0, 0, 0])], lie: "", claimed: 0)
        }
        let read = { (path: String) in _ = try TorchCheckpoint.read(path: path) }
        let start = Date()
        expectRefused("billion-tensors.pt", zipped(billionTensors()), ["more than 1000000 entries to flatten"], read)
        XCTAssertLessThan(Date().timeIntervalSince(start), 60, "the refusal must come early, not after the walk")
        // Lengths of 2^62 bytes: strings, bytes, long integers.
        for (name, opcode, width) in [("binunicode8", UInt8(0x8D), 8), ("binbytes8", 0x8E, 8), ("long4", 0x8B, 4), ("binbytes", 0x42, 4)] {
            let length: [UInt8] = width == 8 ? le(UInt64(1) << 62) : le(UInt32(0x7FFF_FFFF))
            expectRefused("\(name).pt", zipped([0x80, 0x04, opcode] + length + [0x2E]), ["runs past the end of the pickle"], read)
        }
        expectRefused("frame.pt", zipped([0x80, 0x04, 0x95] + le(UInt64(1) << 62) + [0x7D, 0x2E]), ["FRAME of 4611686018427387904 bytes"], read)
        // A million nested MARKs; a recursion bomb of nested tuples is released without recursion.
        expectRefused("marks.pt", zipped([0x80, 0x02] + [UInt8](repeating: 0x28, count: 1_000_000) + [0x2E]), ["more than 100000 nested MARKs"], read)
        var nested: [UInt8] = [0x80, 0x02, 0x7D] + s("a") + [0x29] + [UInt8](repeating: 0x85, count: 500_000) + [0x73, 0x2E]
        let nestedPath = "\(dir)/nested.pt"
        FileManager.default.createFile(atPath: nestedPath, contents: Data(zipped(nested)))
        XCTAssertEqual(try TorchCheckpoint.read(path: nestedPath).tensors.count, 0)
        nested = [0x80, 0x02] + [0x72] + le(UInt32.max) + [0x2E]
        expectRefused("memo-put-empty.pt", zipped(nested), ["memo PUT with an empty stack"], read)
        expectRefused("memo-get-huge.pt", zipped([0x80, 0x02, 0x6A] + le(UInt32.max) + [0x2E]), ["memo GET of missing index 4294967295"], read)
    }

    func testLegacyStorageRecordClaimingExabytes() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: torchFixture("legacy.pt"))))
        // Five pickles, then the first storage's record: its element count, then its bytes.
        var header = 0
        for _ in 0..<5 {
            let machine = TorchUnpickler(bytes: bytes, start: header, path: "legacy.pt", label: "pickle")
            _ = try machine.load()
            header = machine.position
        }
        XCTAssertLessThan(bytes[header..<(header + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }, 1 << 20)
        bytes.replaceSubrange(header..<(header + 8), with: le(UInt64(1) << 60))
        expectRefused("exabyte-legacy.pt", bytes, ["runs past the end of the file"]) { _ = try LegacyTorch.read(path: $0) }
    }

    // MARK: GGUF

    func ggufString(_ text: String) -> [UInt8] { le(UInt64(text.utf8.count)) + Array(text.utf8) }

    func testGGUFAbsurdCountsAndLengths() {
        // Padding keeps the small counts plausible, so the absurd field is the one refused.
        let read = { (path: String) in
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            bytes += [UInt8](repeating: 0, count: 256)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            _ = try GGUFFile(path: path)
        }
        let head = Array("GGUF".utf8) + le(UInt32(3))
        expectRefused("tensors.gguf", head + le(UInt64(1) << 63) + le(UInt64(0)), ["tensor count 9223372036854775808 is impossible"], read)
        expectRefused("kv.gguf", head + le(UInt64(0)) + le(UInt64(1) << 62), ["metadata count 4611686018427387904 is impossible"], read)
        expectRefused("key.gguf", head + le(UInt64(0)) + le(UInt64(1)) + le(UInt64(1) << 62) + [0x61],
                      ["string of 4611686018427387904 bytes"], read)
        let arrayOfStrings = head + le(UInt64(0)) + le(UInt64(1)) + ggufString("tokens") + le(UInt32(9)) + le(UInt32(8))
        expectRefused("array.gguf", arrayOfStrings + le(UInt64(1) << 61), ["array length of 'tokens' 2305843009213693952 is impossible"], read)
        expectRefused("array-string.gguf", arrayOfStrings + le(UInt64(2)) + le(UInt64(1) << 62),
                      ["string of 4611686018427387904 bytes"], read)
        // One tensor of 2^20 × 2^20 elements (4 TiB of F32) with no data.
        let tensor = head + le(UInt64(1)) + le(UInt64(0)) + ggufString("w") + le(UInt32(2))
        expectRefused("tensor.gguf", tensor + le(UInt64(1) << 20) + le(UInt64(1) << 20) + le(UInt32(0)) + le(UInt64(0)),
                      ["dimension 1048576 is impossible"], read)
        expectRefused("rank.gguf", tensor.dropLast(4) + le(UInt32(1) << 31), ["has 2147483648 dimensions"], read)
        expectRefused("overflow.gguf", tensor + le(UInt64(1) << 62) + le(UInt64(1) << 62) + le(UInt32(0)) + le(UInt64(0)),
                      ["impossible"], read)
    }
}
