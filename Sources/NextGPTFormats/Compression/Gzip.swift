import CZlib
import Foundation
import NextGPTCore

/// gzip members through zlib, for the small compressed side files upstream packages ship
/// (ImageBind's `bpe_simple_vocab_16e6.txt.gz`).
public enum Gzip {
    public static func isCompressed(_ data: Data) -> Bool { data.starts(with: [0x1F, 0x8B]) }

    /// The decompressed bytes; more than `limit` bytes out is refused, so a small bomb cannot
    /// take the memory. Errors name `path`.
    public static func decompress(_ data: Data, path: String, limit: Int = 256 << 20) throws -> Data {
        var stream = z_stream()
        // 16 + MAX_WBITS: a gzip header and trailer around the deflate stream.
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw FormatError(path, "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                try chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                        throw FormatError(path, "not a valid gzip file (\(reason))")
                    }
                    output.append(buffer.baseAddress!, count: buffer.count - Int(stream.avail_out))
                }
                guard output.count <= limit else { throw FormatError(path, "decompresses to more than \(limit) bytes") }
                if status != Z_STREAM_END && stream.avail_in == 0 && stream.avail_out != 0 {
                    throw FormatError(path, "gzip data is truncated")
                }
            } while status != Z_STREAM_END
        }
        return output
    }
}
