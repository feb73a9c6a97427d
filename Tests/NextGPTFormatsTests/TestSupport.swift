import Foundation
import NextGPTCore

/// Paths and small helpers shared by the tests.
enum TestSupport {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures").path

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "nextgpt-tests-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ bytes: [UInt8], to path: String) {
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
    }

    /// A safetensors file from a raw header and data (no validation: tests build bad files too).
    static func safetensors(header: String, data: [UInt8], headerLength: UInt64? = nil) -> [UInt8] {
        let json = Array(header.utf8)
        var out: [UInt8] = []
        withUnsafeBytes(of: (headerLength ?? UInt64(json.count)).littleEndian) { out.append(contentsOf: $0) }
        return out + json + data
    }

    /// Deterministic pseudo-random floats (xorshift), for kernel twins.
    static func randomFloats(_ n: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15, scale: Float = 1) -> [Float] {
        var state = seed
        return (0..<n).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return (Float(state % 2_000_001) / 1_000_000 - 1) * scale
        }
    }
}
