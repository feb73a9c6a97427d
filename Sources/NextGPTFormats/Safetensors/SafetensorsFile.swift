import Foundation
import NextGPTCore

/// Reads a `.safetensors` file: an 8-byte little-endian header length, a JSON header, then the
/// byte buffer. The header is validated as the reference implementation does: bounded length,
/// tensors tiling the buffer exactly, byte sizes matching dtype × shape.
public enum SafetensorsFile {
    /// The reference implementation refuses headers above 100 MB.
    public static let maxHeaderBytes = 100_000_000

    public static func read(path: String) throws -> Checkpoint {
        let file = try RandomAccessFile(path: path)
        guard file.size >= 8 else { throw FormatError(path, "truncated: \(file.size) bytes, a safetensors file starts with an 8-byte header length") }
        let lengthBytes = try file.read(at: 0, count: 8)
        let headerLength = lengthBytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(maxHeaderBytes) else {
            throw FormatError(path, "header length \(headerLength) exceeds the \(maxHeaderBytes)-byte limit (not a safetensors file?)")
        }
        guard Int(headerLength) <= file.size - 8 else {
            throw FormatError(path, "truncated: header of \(headerLength) bytes but the file has \(file.size)")
        }
        let header = try file.read(at: 8, count: Int(headerLength))
        guard header.first == UInt8(ascii: "{") else { throw FormatError(path, "header does not start with '{'") }
        let json: [String: HeaderValue]
        do {
            json = try JSONDecoder().decode([String: HeaderValue].self, from: Data(header))
        } catch {
            throw FormatError(path, "header is not a valid safetensors JSON header: \(describe(error))")
        }

        let dataStart = 8 + Int(headerLength)
        let dataSize = file.size - dataStart
        var metadata: [String: String] = [:]
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in json {
            let info: TensorEntry
            switch value {
            case .metadata(let dict):
                guard name == "__metadata__" else { throw FormatError(path, tensor: name, "entry is not a tensor description") }
                metadata = dict
                continue
            case .tensor(let entry):
                guard name != "__metadata__" else { throw FormatError(path, "__metadata__ must map strings to strings") }
                info = entry
            }
            guard let dtype = DType(rawValue: info.dtype) else {
                throw FormatError(path, tensor: name, "unsupported dtype \(info.dtype)")
            }
            let limit = UInt64(Int.max / 16)
            guard info.shape.allSatisfy({ $0 <= limit }), info.data_offsets.count == 2,
                  info.data_offsets.allSatisfy({ $0 <= limit }) else {
                throw FormatError(path, tensor: name, "shape or data_offsets out of range")
            }
            let shape = info.shape.map { Int($0) }
            guard let count = checkedElementCount(shape), count <= Int.max / 8 else {
                throw FormatError(path, tensor: name, "shape \(shape) overflows")
            }
            let (begin, end) = (Int(info.data_offsets[0]), Int(info.data_offsets[1]))
            guard begin <= end, end - begin == count * dtype.byteSize else {
                throw FormatError(path, tensor: name, "data_offsets [\(begin), \(end)] hold \(end &- begin) bytes, but \(dtype.rawValue) \(shape) needs \(count * dtype.byteSize)")
            }
            entries.append((name, dtype, shape, begin, end))
        }

        // Offsets must tile the buffer exactly: no gap, no overlap, nothing left over.
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var cursor = 0
        for entry in entries {
            guard entry.begin == cursor else {
                throw FormatError(path, tensor: entry.name, entry.begin < cursor
                    ? "data_offsets [\(entry.begin), \(entry.end)] overlap the previous tensor (ends at \(cursor))"
                    : "data_offsets leave a hole at bytes \(cursor)..<\(entry.begin)")
            }
            cursor = entry.end
        }
        guard cursor == dataSize else {
            throw FormatError(path, cursor > dataSize
                ? "truncated: tensors need \(cursor) data bytes but the file holds \(dataSize)"
                : "\(dataSize - cursor) bytes after the last tensor are not covered by the header")
        }

        // Keep the writer's order by offset, which is also the order on disk.
        let tensors = entries.map {
            SourceTensor(name: $0.name, dtype: $0.dtype, shape: $0.shape, file: file, byteOffset: dataStart + $0.begin)
        }
        return Checkpoint(tensors: tensors, files: [path], metadata: metadata)
    }

    private struct TensorEntry: Decodable {
        var dtype: String
        var shape: [UInt64]
        var data_offsets: [UInt64]
    }

    private enum HeaderValue: Decodable {
        case tensor(TensorEntry)
        case metadata([String: String])

        init(from decoder: Decoder) throws {
            if let entry = try? TensorEntry(from: decoder) {
                self = .tensor(entry)
            } else {
                self = .metadata(try [String: String](from: decoder))
            }
        }
    }

    private static func describe(_ error: Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
        if case DecodingError.typeMismatch(_, let context) = error {
            return "unexpected value at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        }
        return "\(error)"
    }
}
