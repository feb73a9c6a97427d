// Unit tests of the restricted pickle machine and the zip reader on hand-assembled bytes.
// (The file fixtures come from /work/venv/bin/python tools/fixtures/torch_cases.py; see
// TorchCheckpointTests.swift.)
import Foundation
import XCTest
import NextGPTCore
import NextGPTKernels
@testable import NextGPTFormats
import NextGPTTestSupport

final class TorchPickleTests: XCTestCase {
    func unpickle(_ bytes: [UInt8]) throws -> (PickleValue, TorchUnpickler) {
        let machine = TorchUnpickler(bytes: bytes, path: "test.pt", label: "data.pkl")
        return (try machine.load(), machine)
    }

    func error(_ bytes: [UInt8]) -> String {
        do {
            _ = try unpickle(bytes)
            return "no error"
        } catch let error as FormatError {
            XCTAssertEqual(error.file, "test.pt")
            return error.description
        } catch {
            return "wrong error type: \(error)"
        }
    }

    func s(_ text: String) -> [UInt8] { [0x8C, UInt8(text.utf8.count)] + Array(text.utf8) }

    func testScalarsAndContainers() throws {
        // {'a': [1, -2, 3.5, True, None, b'xy', 'é', 2**70, -1 (LONG1)], 'b': (1,2,3)} with memo reuse
        var p: [UInt8] = [0x80, 0x04, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, 0x7D, 0x94, 0x28]
        p += s("a") + [0x5D, 0x94, 0x28, 0x4B, 1, 0x4A] + withUnsafeBytes(of: Int32(-2).littleEndian, Array.init)
        p += [0x47] + withUnsafeBytes(of: (3.5 as Double).bitPattern.bigEndian, Array.init)
        p += [0x88, 0x4E, 0x43, 2, 0x78, 0x79] + [0x58, 2, 0, 0, 0, 0xC3, 0xA9]
        p += [0x8A, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x40] + [0x8A, 1, 0xFF] + [0x65]
        p += s("b") + [0x4B, 1, 0x4D, 2, 0, 0x4B, 3, 0x87] + [0x75, 0x2E]
        let (value, machine) = try unpickle(p)
        XCTAssertEqual(machine.protocolVersion, 4)
        let dict = try XCTUnwrap(value.dict)
        XCTAssertEqual(dict.count, 2)
        let list = try XCTUnwrap(dict.pairs[0].value.sequenceItems)
        XCTAssertEqual(list.count, 9)
        guard case .int(1) = list[0], case .int(-2) = list[1], case .float(3.5) = list[2], case .bool(true) = list[3],
              case .none = list[4], case .bytes([0x78, 0x79]) = list[5], case .string("é") = list[6],
              case .bigInt = list[7], case .int(-1) = list[8] else { return XCTFail("\(list)") }
        XCTAssertEqual(dict.pairs[1].value.tupleItems?.count, 3)
    }

    func testMemoSharesMutableContainers() throws {
        // l = []; memo it; d = {'x': l, 'y': l}; append to l after both references exist.
        let p: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0, 0x58, 1, 0, 0, 0, 0x78, 0x5D, 0x71, 1, 0x73,
                          0x58, 1, 0, 0, 0, 0x79, 0x68, 1, 0x73, 0x68, 1, 0x4B, 7, 0x61, 0x30, 0x2E]
        let (value, machine) = try unpickle(p)
        let dict = try XCTUnwrap(value.dict)
        XCTAssertEqual(dict.pairs.map { $0.value.sequenceItems?.count }, [1, 1])
        // Values are only valid while their machine lives: it empties every container when released.
        withExtendedLifetime(machine) {}
    }

    func testSelfReferenceAndDeepNestingDoNotCrash() throws {
        // A list appended to itself, then deeply nested tuples and lists: released without recursion.
        var p: [UInt8] = [0x80, 0x02, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x30]
        p += [0x29] + [UInt8](repeating: 0x85, count: 200_000) + [0x30]
        p += [UInt8](repeating: 0x5D, count: 100_000) + [UInt8](repeating: 0x61, count: 99_999) + [0x2E]
        let (value, machine) = try unpickle(p)
        XCTAssertEqual(value.sequenceItems?.count, 1)
        // The flattener refuses what it cannot name instead of recursing without bound.
        XCTAssertThrowsError(try TorchObjects.flatten(value, path: "test.pt"))
        withExtendedLifetime(machine) {}
    }

    func testDisallowedGlobals() {
        for (module, name) in [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
                               ("subprocess", "check_output"), ("torch", "load"), ("__main__", "Model"),
                               ("torch.nn.modules.linear", "Linear"), ("numpy.core.multiarray", "_reconstruct")] {
            let global: [UInt8] = [0x63] + Array("\(module)\n\(name)\n".utf8)
            let text = error([0x80, 0x02] + global + [0x29, 0x52, 0x2E])
            XCTAssertTrue(text.contains("refusing global '\(module).\(name)'"), text)
            XCTAssertTrue(text.contains("offset 2"), text)
            let stacked = error([0x80, 0x04] + s(module) + s(name) + [0x93, 0x2E])
            XCTAssertTrue(stacked.contains("'\(module).\(name)'"), stacked)
        }
        XCTAssertTrue(error([0x80, 0x02, 0x63] + Array("torch\nQInt8Storage\n".utf8) + [0x2E]).contains("unsupported storage type torch.QInt8Storage"))
    }

    func testReduceOnlyForAllowedCallables() {
        // REDUCE of a string, of a storage type, NEWOBJ of a tensor function, BUILD with nothing.
        XCTAssertTrue(error([0x80, 0x02] + s("x") + [0x29, 0x52, 0x2E]).contains("REDUCE of a str"))
        XCTAssertTrue(error([0x80, 0x02, 0x63] + Array("torch\nFloatStorage\n".utf8) + [0x29, 0x52, 0x2E]).contains("torch.FloatStorage cannot be called"))
        XCTAssertTrue(error([0x80, 0x02, 0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8) + [0x29, 0x81, 0x2E]).contains("NEWOBJ"))
        XCTAssertTrue(error([0x80, 0x02, 0x7D, 0x62, 0x2E]).contains("BUILD with nothing to build"))
        // _codecs.encode and torch.Size and set are interpreted as data.
        let codecs: [UInt8] = [0x80, 0x02, 0x63] + Array("_codecs\nencode\n".utf8) + [0x58, 2, 0, 0, 0, 0xC3, 0xBF]
            + [0x58, 6, 0, 0, 0] + Array("latin1".utf8) + [0x86, 0x52, 0x2E]
        guard case .bytes([0xFF]) = try! unpickle(codecs).0 else { return XCTFail() }
    }

    func testMalformedInputs() {
        let cases: [([UInt8], String)] = [
            ([0x80, 0x02, 0xFF, 0x2E], "unsupported pickle opcode 0xff"),
            ([0x80, 0x02, 0x69], "0x69 (INST)"),
            ([0x80, 0x02, 0x92], "NEWOBJ_EX"),
            ([0x80, 0x01, 0x2E], "protocol 1"),
            ([0x80, 0x06, 0x2E], "protocol 6"),
            ([0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E], "runs past the end"),
            ([0x80, 0x02, 0x8D] + [UInt8](repeating: 0xFF, count: 8), "runs past the end"),
            ([0x80, 0x02, 0x8B, 0xFF, 0xFF, 0xFF, 0xFF], "runs past the end"),
            ([0x80, 0x02, 0x68, 3, 0x2E], "missing index 3"),
            ([0x80, 0x02, 0x74, 0x2E], "no MARK"),
            ([0x80, 0x02, 0x28, 0x30, 0x2E], "underflow"),
            ([0x80, 0x02, 0x4B, 1, 0x61, 0x2E], "APPEND target"),
            ([0x80, 0x02, 0x5D, 0x4B, 1, 0x4B, 2, 0x73, 0x2E], "SETITEM target is a list"),
            ([0x80, 0x02, 0x7D], "truncated pickle"),
            ([0x80, 0x02, 0x2E], "empty stack"),
            ([0x80, 0x02, 0x58, 2, 0, 0, 0, 0xC3, 0x28, 0x2E], "UTF-8"),
            ([0x80, 0x02, 0x63] + Array("torch".utf8), "truncated GLOBAL"),
            ([0x80, 0x02, 0x58, 1, 0, 0, 0, 0x78, 0x51, 0x2E], "unsupported persistent id"),
        ]
        for (bytes, needle) in cases {
            let text = error(bytes)
            XCTAssertTrue(text.contains(needle), "\(bytes): \(text)")
        }
    }

    func testTensorRebuildValidation() throws {
        func tensorPickle(numel: Int32, offset: Int32, size: [Int32], stride: [Int32]) -> [UInt8] {
            func int(_ v: Int32) -> [UInt8] { [0x4A] + withUnsafeBytes(of: v.littleEndian, Array.init) }
            var p: [UInt8] = [0x80, 0x02, 0x7D, 0x58, 1, 0, 0, 0, 0x77, 0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8)
            p += [0x28, 0x28, 0x58, 7, 0, 0, 0] + Array("storage".utf8) + [0x63] + Array("torch\nFloatStorage\n".utf8)
            p += [0x58, 1, 0, 0, 0, 0x30, 0x58, 3, 0, 0, 0] + Array("cpu".utf8) + int(numel) + [0x74, 0x51]
            p += int(offset) + [0x28] + size.flatMap(int) + [0x74, 0x28] + stride.flatMap(int) + [0x74, 0x89, 0x29, 0x74, 0x52]
            return p + [0x73, 0x2E]
        }
        let file = try RandomAccessFile(path: torchFixture("dtypes.pt"))
        func build(_ numel: Int32, _ offset: Int32, _ size: [Int32], _ stride: [Int32], bytes: Int = 1 << 20) throws -> SourceTensor {
            let (value, machine) = try unpickle(tensorPickle(numel: numel, offset: offset, size: size, stride: stride))
            let flat = try withExtendedLifetime(machine) { try TorchObjects.flatten(value, path: "test.pt") }
            let (name, ref) = flat.tensors[0]
            return try TorchObjects.sourceTensor(name: name, ref, file: file, storageStart: 0, storageBytes: bytes,
                                                 storageLabel: "entry", bigEndian: false, path: "test.pt")
        }
        XCTAssertEqual(try build(6, 0, [2, 3], [3, 1]).strides, nil)
        XCTAssertEqual(try build(6, 1, [2, 2], [1, 3]).strides, [1, 3])
        XCTAssertEqual(try build(6, 1, [2, 2], [1, 3]).byteOffset, 4)
        XCTAssertEqual(try build(1, 0, [1_000, 1_000], [0, 0]).elementCount, 1_000_000) // expand
        XCTAssertEqual(try build(0, 9, [0, 4], [4, 1]).byteCount, 0) // empty: offset not used
        for (args, needle) in [((6, 0, [2, 3], [3, 2]) as (Int32, Int32, [Int32], [Int32]), "reaches element 7"),
                               ((6, -1, [2], [1]), "negative storage offset"),
                               ((6, 0, [-2], [1]), "invalid size"),
                               ((6, 0, [2], [-1]), "negative stride"),
                               ((6, 0, [2, 3], [3]), "differ in rank"),
                               ((Int32.max, 0, [2], [1]), "needs 8589934588 bytes"),
                               ((2, 0, [Int32.max, Int32.max, Int32.max], [0, 0, 0]), "invalid size")] {
            XCTAssertThrowsError(try build(args.0, args.1, args.2, args.3)) { error in
                XCTAssertTrue("\(error)".contains(needle), "\(args): \(error)")
                XCTAssertEqual((error as? FormatError)?.tensor ?? ((error as? FormatError).map { _ in "w" }), "w")
            }
        }
    }

    func testZipArchiveEntriesAndErrors() throws {
        let archive = try ZipArchive(path: torchFixture("zip64_comment.pt"))
        XCTAssertEqual(String(decoding: archive.comment, as: UTF8.self), "written by tools/fixtures/torch_cases.py")
        let pkl = try XCTUnwrap(archive.entries.first { $0.name.hasSuffix("data.pkl") })
        XCTAssertTrue(pkl.isStored)
        XCTAssertEqual(try archive.storedRange(of: pkl).lowerBound % 64, 0)
        XCTAssertEqual(try archive.readStored(pkl).first, 0x80)

        let compressed = try ZipArchive(path: torchFixture("compressed.pt"))
        let deflated = try XCTUnwrap(compressed.entry(named: "archive/data/0"))
        XCTAssertThrowsError(try compressed.storedRange(of: deflated)) { XCTAssertTrue("\($0)".contains("compressed (method 8)"), "\($0)") }

        // A central directory that claims more than the file holds is refused before reading it.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: torchFixture("evil_eval.pt"))))
        let eocd = bytes.count - 22
        bytes.replaceSubrange((eocd + 12)..<(eocd + 16), with: [0xF0, 0xFF, 0xFF, 0x7F])
        let path = try scratchDirectory("torch") + "/zip.pt"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ZipArchive(path: path)) { XCTAssertTrue("\($0)".contains("central directory"), "\($0)") }
    }
}
