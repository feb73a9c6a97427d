import Foundation
import NextGPTConvert
import NextGPTCore
import NextGPTKernels
import NextGPTFormats

enum ConvertSupport {
    /// Writes tensors as a safetensors file (f32), for building broken checkpoints in tests.
    static func writeSafetensors(_ tensors: [(String, [Int], [Float])], to path: String) {
        var header: [String] = []
        var data: [UInt8] = []
        for (name, shape, values) in tensors {
            let begin = data.count
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            header.append("\"\(name)\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[\(begin),\(data.count)]}")
        }
        let json = Array("{\(header.joined(separator: ","))}".utf8)
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes.append(contentsOf: $0) }
        FileManager.default.createFile(atPath: path, contents: Data(bytes + json + data))
    }

    /// Dequantized values of a container tensor.
    static func values(_ file: GGUFFile, _ name: String) throws -> [Float] {
        guard let t = file[tensor: name] else { throw FormatError(file.path, tensor: name, "not in container") }
        return TensorEncoding.decode(try file.bytes(of: t), type: t.type, count: t.shape.reduce(1, *))
    }

    /// Largest error allowed for one block-quantized value: half a step for Q8_0 and a step for
    /// Q4_0 (the extreme maps to −8, the other side clamps at +7), plus what rounding the scale
    /// to f16 moves the largest level (127 or 8 steps × 2⁻¹¹).
    static func bound(_ type: GGMLType, blockMaxAbs: Float) -> Float {
        switch type {
        case .q8_0: return blockMaxAbs / 127 * (0.5 + 127.0 / 2048) + 1e-6
        case .q4_0: return blockMaxAbs / 8 * (1 + 8.0 / 2048) + 1e-6
        case .q4_K: return blockMaxAbs / 7 + 1e-6
        case .f16: return blockMaxAbs * 1e-3 + 1e-7
        case .bf16: return blockMaxAbs * 8e-3
        default: return 0
        }
    }
}
