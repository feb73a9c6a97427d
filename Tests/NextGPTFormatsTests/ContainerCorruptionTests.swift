import Foundation
import XCTest
import NextGPTCore
import NextGPTKernels
@testable import NextGPTFormats
import NextGPTTestSupport

/// Every single-bit flip of a container is named by `verifyChecksums` (or makes the header
/// unreadable): the header checksum covers metadata and tensor records, the per-tensor CRCs the
/// data, and the padding must stay zero. Format-1 containers (no header checksum) still verify.
final class ContainerCorruptionTests: XCTestCase {
    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    /// Two components, three F32 tensors (10, 7 and 16 elements: the first two need padding).
    func writeContainer(_ path: String, headerChecksum: Bool) throws {
        let tensors: [(String, [Float])] = [("a.w", (0..<10).map { Float($0) }), ("a.b", (0..<7).map { Float(-$0) }),
                                            ("b.w", (0..<16).map { Float($0) * 0.5 })]
        let bytes = tensors.map { $0.1.withUnsafeBytes { Array($0) } }
        let writer = try GGUFWriter(destination: path)
        try writer.begin(metadata: [
            ("general.architecture", .string("nextgpt")),
            ("general.alignment", .uint32(64)),
            ("nextgpt.format_version", .uint32(headerChecksum ? 2 : 1)),
            ("nextgpt.components", .strings(["a", "b"])),
            ("a.tensor_crc32c", .uint32s(bytes.prefix(2).map(Self.crc32c))),
            ("b.tensor_crc32c", .uint32s([Self.crc32c(bytes[2])])),
        ], tensors: tensors.map { GGUFTensorInfo(name: $0.0, shape: [$0.1.count], type: .f32) },
           headerChecksumKey: headerChecksum ? Container.headerChecksumKey : nil)
        for b in bytes { try writer.write(b) }
        try writer.commit()
    }

    func problems(_ path: String) -> [String] {
        do { return try Container(path: path).verifyChecksums().map(\.description) } catch { return ["header: \(error)"] }
    }

    func testEveryBitFlipIsNamed() throws {
        let dir = try scratchDirectory("corrupt")
        let path = "\(dir)/c.gguf"
        try writeContainer(path, headerChecksum: true)
        XCTAssertEqual(problems(path), [])
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let container = try Container(path: path)
        let ranges = container.file.tensors.map { ($0.name, $0.fileOffset..<($0.fileOffset + $0.byteCount)) }
        let damaged = "\(dir)/d.gguf"
        var counts = (header: 0, tensor: 0, padding: 0)
        for offset in 0..<original.count {
            // Every bit of the header and padding; one bit per byte of tensor data (the CRC's part).
            let inData = ranges.contains { $0.1.contains(offset) }
            for bit in inData ? [offset % 8] : Array(0..<8) {
                var bytes = original
                bytes[offset] ^= 1 << bit
                FileManager.default.createFile(atPath: damaged, contents: Data(bytes))
                let found = problems(damaged)
                if let (name, _) = ranges.first(where: { $0.1.contains(offset) }) {
                    XCTAssertTrue(found.contains { $0.contains("tensor '\(name)'") && $0.contains("CRC-32C") },
                                  "bit \(bit) of byte \(offset) (tensor \(name)): \(found)")
                    counts.tensor += 1
                } else if offset < container.file.dataOffset {
                    XCTAssertTrue(found.contains { $0.hasPrefix("header") }, "bit \(bit) of header byte \(offset): \(found)")
                    counts.header += 1
                } else {
                    XCTAssertTrue(found.contains { $0.contains("padding") }, "bit \(bit) of padding byte \(offset): \(found)")
                    counts.padding += 1
                }
            }
        }
        XCTAssertGreaterThan(counts.header, 1000)
        XCTAssertEqual(counts.tensor, 33 * 4)
        XCTAssertGreaterThan(counts.padding, 0)
    }

    func testZeroedPagesAndTrailingBytes() throws {
        let dir = try scratchDirectory("corrupt")
        let path = "\(dir)/c.gguf"
        try writeContainer(path, headerChecksum: true)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes += [0]
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        XCTAssertEqual(problems(path), ["file: 1 bytes after the last tensor's padding"])
        bytes.removeLast()
        bytes.replaceSubrange(0..<min(4096, bytes.count), with: [UInt8](repeating: 0, count: min(4096, bytes.count)))
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        XCTAssertTrue(problems(path).first?.hasPrefix("header") == true, "\(problems(path))")
    }

    func testFormatOneContainersWithoutHeaderChecksumStillVerify() throws {
        let dir = try scratchDirectory("corrupt")
        let path = "\(dir)/v1.gguf"
        try writeContainer(path, headerChecksum: false)
        XCTAssertEqual(problems(path), [])
        // Format 2 without the checksum: the key itself was damaged.
        let v2 = "\(dir)/v2.gguf"
        try writeContainer(v2, headerChecksum: true)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: v2)))
        let key = Array(Container.headerChecksumKey.utf8)
        let at = try XCTUnwrap((0..<bytes.count - key.count).first { Array(bytes[$0..<($0 + key.count)]) == key })
        bytes[at] ^= 0x20 // "Nextgpt.header_crc32c"
        FileManager.default.createFile(atPath: v2, contents: Data(bytes))
        XCTAssertTrue(problems(v2).contains { $0.contains("no nextgpt.header_crc32c although nextgpt.format_version is 2") }, "\(problems(v2))")
    }
}
