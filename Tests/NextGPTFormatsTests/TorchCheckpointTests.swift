// Fixtures: Tests/Fixtures/torch-cases, generated with PyTorch (torch 2.15 CPU) by
//
//     /work/venv/bin/python tools/fixtures/torch_cases.py
//
// `expected.json` holds, for every good case, what torch.load returned (names, dtypes, shapes,
// values, FNV-1a-64 of the contiguous little-endian bytes), and for every bad case the substrings
// the error message must contain.
import Foundation
import XCTest
import NextGPTCore
@testable import NextGPTFormats
import NextGPTTestSupport

let torchFixtures = URL(fileURLWithPath: "\(TestSupport.fixtures)/torch-cases")

func torchFixture(_ name: String) -> String { torchFixtures.appendingPathComponent(name).path }

func torchFNV1a64(_ bytes: [UInt8]) -> String {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01B3
    }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

final class TorchCheckpointTests: XCTestCase {
    struct Expected: Decodable {
        struct Tensor: Decodable {
            var name: String
            var dtype: String
            var shape: [Int]
            var values: [Double]
            var fnv1a64: String
        }
        struct Good: Decodable {
            var tensors: [Tensor]
            var legacy: Bool
            var byteorder: String
            var prefix: String?
            var wrapper: String?
            var ignored: [String]?
            var values: [String: String]?
            var `protocol`: Int?
        }
        var good: [String: Good]
        var bad: [String: [String]]
    }

    static let expected: Expected = {
        let data = try! Data(contentsOf: torchFixtures.appendingPathComponent("expected.json"))
        return try! JSONDecoder().decode(Expected.self, from: data)
    }()

    /// Checks a checkpoint against what PyTorch loaded.
    func check(_ name: String, _ checkpoint: Checkpoint, _ good: Expected.Good, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(checkpoint.names, good.tensors.map(\.name), "\(name): tensor names and order", file: file, line: line)
        XCTAssertEqual(checkpoint.files, [torchFixture(name)], file: file, line: line)
        for want in good.tensors {
            guard let tensor = checkpoint[want.name] else { continue }
            XCTAssertEqual(tensor.dtype.rawValue, want.dtype, "\(name): \(want.name) dtype", file: file, line: line)
            XCTAssertEqual(tensor.shape, want.shape, "\(name): \(want.name) shape", file: file, line: line)
            XCTAssertEqual(torchFNV1a64(try tensor.readBytes()), want.fnv1a64, "\(name): \(want.name) bytes", file: file, line: line)
            XCTAssertEqual(try tensor.readFloats(), want.values.map { Float($0) }, "\(name): \(want.name) values", file: file, line: line)
        }
        let meta = checkpoint.metadata
        XCTAssertEqual(meta["format"], good.legacy ? "torch-legacy" : "torch", file: file, line: line)
        XCTAssertEqual(meta["torch.byteorder"], good.byteorder, file: file, line: line)
        if let prefix = good.prefix { XCTAssertEqual(meta["torch.archive_prefix"], prefix, file: file, line: line) }
        XCTAssertEqual(meta["torch.wrapper"], good.wrapper, "\(name): wrapper", file: file, line: line)
        XCTAssertEqual(meta["torch.ignored"], good.ignored?.joined(separator: ", "), "\(name): ignored keys", file: file, line: line)
        for (key, value) in good.values ?? [:] {
            XCTAssertEqual(meta["torch.value.\(key)"], value, "\(name): value of \(key)", file: file, line: line)
        }
        if let proto = good.protocol { XCTAssertEqual(meta["torch.pickle_protocol"], String(proto), file: file, line: line) }
    }

    func testGoodCasesMatchPyTorch() throws {
        XCTAssertGreaterThanOrEqual(Self.expected.good.count, 14)
        for (name, good) in Self.expected.good.sorted(by: { $0.key < $1.key }) {
            let path = torchFixture(name)
            XCTAssertEqual(try CheckpointFile.kind(path: path), good.legacy ? .torchLegacy : .torchZip, name)
            let viaSniffer = try CheckpointFile.read(path: path)
            try check(name, viaSniffer, good)
            let direct = good.legacy ? try LegacyTorch.read(path: path) : try TorchCheckpoint.read(path: path)
            XCTAssertEqual(direct.names, viaSniffer.names)
        }
    }

    func testEveryStorageDtype() throws {
        let checkpoint = try TorchCheckpoint.read(path: torchFixture("dtypes.pt"))
        XCTAssertEqual(Set(checkpoint.tensors.map(\.dtype)), Set(DType.allCases))
        XCTAssertEqual(checkpoint["scalar"]?.shape, [])
        XCTAssertEqual(checkpoint["scalar"]?.elementCount, 1)
        XCTAssertEqual(checkpoint["empty"]?.shape, [0, 3])
        XCTAssertEqual(try checkpoint["empty"]?.readBytes(), [])
        XCTAssertEqual(try checkpoint["i64"]?.readBytes().count, 32)
        // Contiguous tensors are direct views of the archive entry (no strides kept).
        XCTAssertTrue(checkpoint.tensors.allSatisfy { $0.strides == nil })
    }

    func testDeltaParametersAreZeroCopyViews() throws {
        let checkpoint = try TorchCheckpoint.read(path: torchFixture("pytorch_model.pt"))
        XCTAssertEqual(checkpoint.metadata["torch.archive_prefix"], "pytorch_model/")
        XCTAssertTrue(checkpoint.tensors.allSatisfy { $0.dtype == .f16 && $0.strides == nil })
        // Each storage is a stored entry aligned to 64 bytes by torch's writer.
        XCTAssertTrue(checkpoint.tensors.allSatisfy { $0.byteOffset % 64 == 0 })
    }

    func testSharedStoragesAndViews() throws {
        let shared = try TorchCheckpoint.read(path: torchFixture("shared.pt"))
        let embed = try XCTUnwrap(shared["embed.weight"]), head = try XCTUnwrap(shared["lm_head.weight"])
        XCTAssertEqual(embed.byteOffset, head.byteOffset)
        XCTAssertEqual(shared["row2"]?.byteOffset, embed.byteOffset + 2 * 5 * 4)
        XCTAssertEqual(shared["cols"]?.strides, [5, 1])
        XCTAssertEqual(shared["cols"]?.byteOffset, embed.byteOffset + 2 * 4)

        let views = try TorchCheckpoint.read(path: torchFixture("views.pt"))
        XCTAssertEqual(views["t"]?.strides, [1, 6])
        XCTAssertEqual(views["expand"]?.strides, [0, 1])
        XCTAssertEqual(views["steps"]?.strides, [12, 3])
        XCTAssertNil(views["tail"]?.strides)
    }

    func testLegacyReaderGrowsItsWindow() throws {
        for name in ["legacy.pt", "legacy_view.pt", "legacy_be_writer.pt"] {
            let whole = try LegacyTorch.read(path: torchFixture(name))
            for window in [1, 7, 64, 300] {
                let grown = try LegacyTorch.read(path: torchFixture(name), initialWindow: window)
                XCTAssertEqual(grown.names, whole.names)
                XCTAssertEqual(grown.tensors.map(\.byteOffset), whole.tensors.map(\.byteOffset))
            }
        }
        let view = try LegacyTorch.read(path: torchFixture("legacy_view.pt"))
        XCTAssertEqual(try view["view"]?.readFloats(), [3, 4])
        XCTAssertEqual(view.metadata["torch.legacy_writer_byteorder"], "little")
        let beWriter = try LegacyTorch.read(path: torchFixture("legacy_be_writer.pt"))
        XCTAssertEqual(beWriter.metadata["torch.legacy_writer_byteorder"], "big")
    }

    func testWrapperRulesAndIgnoredValues() throws {
        let model = try TorchCheckpoint.read(path: torchFixture("wrap_model.pt"))
        XCTAssertEqual(model.metadata["torch.wrapper"], "model")
        XCTAssertFalse(model.names.contains { $0.contains("exp_avg") }, "optimizer state must not leak into the tensors")
        let nested = try TorchCheckpoint.read(path: torchFixture("nested.pt"))
        XCTAssertNil(nested.metadata["torch.wrapper"])
        XCTAssertEqual(nested.metadata["torch.value.step"], "3")
    }

    func testBadCasesGiveErrorsNamingTheProblem() throws {
        XCTAssertGreaterThanOrEqual(Self.expected.bad.count, 16)
        for (name, needles) in Self.expected.bad.sorted(by: { $0.key < $1.key }) {
            let path = torchFixture(name)
            do {
                let checkpoint = try CheckpointFile.read(path: path)
                XCTFail("\(name): read \(checkpoint.names) instead of failing")
            } catch let error as FormatError {
                XCTAssertEqual(error.file, path, "\(name): the error names the file")
                let text = error.description
                XCTAssertTrue(text.hasPrefix(path), "\(name): \(text)")
                for needle in needles {
                    XCTAssertTrue(text.contains(needle), "\(name): '\(text)' lacks '\(needle)'")
                }
            } catch {
                XCTFail("\(name): unexpected error type \(error)")
            }
        }
    }

    func testMaliciousGlobalIsRefusedWhenSeen() {
        // os.system follows a valid tensor: the error comes at the GLOBAL opcode (offset 154 in
        // data.pkl), before REDUCE is reached.
        XCTAssertThrowsError(try TorchCheckpoint.read(path: torchFixture("evil_os_system.pt"))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("refusing global 'os.system'"), text)
            XCTAssertTrue(text.contains("archive/data.pkl"), text)
            XCTAssertTrue(text.contains("offset 154"), text)
        }
    }

    func testSniffer() throws {
        let dir = try scratchDirectory("torch")
        // Safetensors goes to SafetensorsFile.
        let header = Array(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.utf8)
        var st = withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header
        st += withUnsafeBytes(of: Float(1.5), Array.init)
        let stPath = "\(dir)/a.safetensors"
        try Data(st).write(to: URL(fileURLWithPath: stPath))
        XCTAssertEqual(try CheckpointFile.kind(path: stPath), .safetensors)
        XCTAssertEqual(try CheckpointFile.read(path: stPath)["x"]?.readFloats(), [1.5])

        let empty = "\(dir)/empty.bin"
        try Data().write(to: URL(fileURLWithPath: empty))
        XCTAssertThrowsError(try CheckpointFile.read(path: empty)) { XCTAssertTrue("\($0)".contains("empty"), "\($0)") }
        XCTAssertThrowsError(try CheckpointFile.read(path: "\(dir)/missing.pt")) {
            XCTAssertTrue($0 is FormatError)
        }
    }

    /// Every prefix of a good file must fail cleanly (FormatError, no crash).
    func testTruncatedFilesFailCleanly() throws {
        let dir = try scratchDirectory("torch")
        for name in ["legacy.pt", "zip64_comment.pt", "dtypes.pt", "proto4.pt"] {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: torchFixture(name))))
            let out = "\(dir)/cut-\(name)"
            var failures = 0
            try writeFile(bytes, to: out)
            for length in stride(from: bytes.count - 1, through: 0, by: -1) {
                XCTAssertEqual(truncate(out, off_t(length)), 0)
                do {
                    let checkpoint = try CheckpointFile.read(path: out)
                    for tensor in checkpoint.tensors { _ = try tensor.readBytes() }
                    XCTFail("\(name) cut at \(length) was read")
                } catch let error as FormatError {
                    XCTAssertEqual(error.file, out)
                    failures += 1
                }
            }
            XCTAssertGreaterThan(failures, 0)
        }
    }

    /// Random byte corruption must never crash: either a FormatError or tensors that read.
    func testCorruptedFilesNeverCrash() throws {
        let dir = try scratchDirectory("torch")
        var generator = LinearCongruential64(state: Xorshift64.goldenRatio)
        func next() -> Int { Int(truncatingIfNeeded: generator.next() >> 33) }
        var outcomes = (ok: 0, failed: 0)
        for name in ["legacy.pt", "legacy_view.pt", "views.pt", "proto5.pt", "zip64_comment.pt", "bigendian.pt"] {
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: torchFixture(name))))
            let out = "\(dir)/bad-\(name)"
            for _ in 0..<2000 {
                var bytes = original
                for _ in 0..<(1 + next() % 4) {
                    let i = next() % bytes.count
                    bytes[i] = next() % 3 == 0 ? 0xFF : UInt8(truncatingIfNeeded: next())
                }
                try writeFile(bytes, to: out)
                do {
                    let checkpoint = try CheckpointFile.read(path: out)
                    for tensor in checkpoint.tensors where tensor.byteCount < 1 << 24 { _ = try tensor.readBytes() }
                    outcomes.ok += 1
                } catch is FormatError {
                    outcomes.failed += 1
                }
            }
        }
        XCTAssertGreaterThan(outcomes.failed, 0)
    }

    /// Overwrites `path` in place and sets its length (opening with O_TRUNC and rewriting is slow
    /// on some file systems and would dominate these loops).
    func writeFile(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        guard fd >= 0 else { throw FormatError(path, "cannot create") }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard written == bytes.count, ftruncate(fd, off_t(bytes.count)) == 0 else { throw FormatError(path, "cannot write") }
    }
}
