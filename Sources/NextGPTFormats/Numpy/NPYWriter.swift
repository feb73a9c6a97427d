import Foundation
import NextGPTCore

/// NumPy's `.npy` format, version 1.0, for float32 arrays (what `np.load` reads back): the magic,
/// a header dict padded with spaces to a multiple of 64 bytes, then little-endian C-order data.
public enum NPYWriter {
    public static func serialized(_ values: [Float], shape: [Int]) -> [UInt8] {
        precondition(shape.reduce(1, *) == values.count, "npy: \(values.count) values for shape \(shape)")
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let length = UInt16(header.utf8.count)
        out += [UInt8(length & 0xFF), UInt8(length >> 8)]
        out += Array(header.utf8)
        out.reserveCapacity(out.count + values.count * 4)
        for value in values {
            let bits = value.bitPattern.littleEndian
            out += [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)]
        }
        return out
    }

    /// Writes under a temporary name beside `path`, then renames: no half-written file is left.
    public static func write(_ values: [Float], shape: [Int], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
        do {
            try Data(serialized(values, shape: shape)).write(to: URL(fileURLWithPath: temporary))
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
