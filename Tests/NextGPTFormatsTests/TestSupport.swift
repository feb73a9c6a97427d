import Foundation
import NextGPTTestSupport

/// File builders only the format tests need.
extension TestSupport {
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
}
