#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NextGPTCore

/// Writes a `.safetensors` file: an 8-byte little-endian header length, a JSON header padded
/// with spaces to a multiple of 8 bytes (as the reference implementation does), then the tensors'
/// bytes back to back in the order they were added. Tensors are held in memory until `write`;
/// it is meant for small files (verify dumps, test bundles), not checkpoints.
public struct SafetensorsWriter {
    public struct Entry {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var bytes: [UInt8]
    }

    public private(set) var entries: [Entry] = []
    private var names = Set<String>()

    public init() {}

    /// Adds a tensor from little-endian bytes (`dtype` × `shape` of them).
    public mutating func add(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) throws {
        guard name != "__metadata__", !name.isEmpty else { throw FormatError("safetensors", tensor: name, "reserved or empty tensor name") }
        guard let count = checkedElementCount(shape), count * dtype.byteSize == bytes.count else {
            throw FormatError("safetensors", tensor: name, "\(bytes.count) bytes do not hold \(dtype.rawValue) \(shape)")
        }
        guard names.insert(name).inserted else { throw FormatError("safetensors", tensor: name, "duplicate tensor name") }
        entries.append(Entry(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// Adds an F32 tensor.
    public mutating func add(name: String, shape: [Int], floats: [Float]) throws {
        var bytes = [UInt8](repeating: 0, count: floats.count * 4)
        bytes.withUnsafeMutableBytes { raw in
            for (i, v) in floats.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        }
        try add(name: name, dtype: .f32, shape: shape, bytes: bytes)
    }

    /// The whole file as bytes.
    public func serialized(metadata: [String: String] = [:]) throws -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for entry in entries {
            header[entry.name] = ["dtype": entry.dtype.rawValue, "shape": entry.shape, "data_offsets": [offset, offset + entry.bytes.count]]
            offset += entry.bytes.count
        }
        var json = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]))
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out += json
        for entry in entries { out += entry.bytes }
        return out
    }

    /// Writes the file under a temporary name beside `path` and renames it when complete.
    public func write(to path: String, metadata: [String: String] = [:]) throws {
        let bytes = try serialized(metadata: metadata)
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = "\(directory.isEmpty ? "/" : directory)/.\(base).tmp-\(getpid())"
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: temporary))
        } catch {
            throw FormatError(path, "cannot write \(temporary): \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw FormatError(path, "cannot rename \(temporary): \(reason)")
        }
    }
}
