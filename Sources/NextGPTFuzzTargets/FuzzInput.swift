import Foundation
import NextGPTCore

/// The parsers read files, so each fuzz input is written to one file on tmpfs (/dev/shm when
/// present), overwritten in place per run: no disk traffic, no new API in the parsers.
/// Not thread-safe: libFuzzer and the seed-corpus test run one input at a time.
public enum FuzzInput {
    /// One folder per process; libFuzzer runs one input at a time, so one file name is enough.
    public static let folder: String = {
        let base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        let path = "\(base)/nextgpt-fuzz-\(getpid())"
        mkdir(path, 0o700)
        atexit { FuzzInput.removeFolder() }
        return path
    }()

    /// Removes `folder` and what is in it (libFuzzer leaves through exit(), so atexit runs).
    static func removeFolder() { try? FileManager.default.removeItem(atPath: folder) }

    /// Writes `bytes` to `folder/name` (replacing what was there) and returns the path.
    @discardableResult
    public static func write(_ bytes: UnsafeRawBufferPointer, name: String = "input") -> String {
        let path = "\(folder)/\(name)"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create \(path)")
        var offset = 0
        while offset < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + offset, bytes.count - offset, off_t(offset))
            precondition(n > 0, "cannot write \(path)")
            offset += n
        }
        close(fd)
        return path
    }

    @discardableResult
    public static func write(_ bytes: [UInt8], name: String = "input") -> String {
        bytes.withUnsafeBytes { write($0, name: name) }
    }

    /// The input as bytes (an empty buffer when libFuzzer passes a null pointer).
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// Reads every tensor of a parsed checkpoint that is small enough, so lying views and
    /// offsets are exercised too (errors are fine; crashes are not).
    public static func touch(_ tensors: [SourceTensor]) {
        for tensor in tensors.prefix(64) where tensor.byteCount <= 1 << 20 {
            _ = try? tensor.readBytes()
        }
    }

    /// Splits the input at the first `separator` byte: two files from one input.
    public static func split(_ bytes: [UInt8], separator: UInt8 = 0) -> ([UInt8], [UInt8]) {
        guard let i = bytes.firstIndex(of: separator) else { return (bytes, []) }
        return (Array(bytes[..<i]), Array(bytes[(i + 1)...]))
    }
}

/// A torch.save-style zip holding `data.pkl` as `archive/data.pkl` and a 64-byte storage
/// `archive/data/0`: the pickle fuzz target wraps its input in it so the whole checkpoint path
/// (pickle machine, flattening, tensor views) runs on it.
public enum TorchZipWrapper {
    public static func archive(pickle: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        let entries: [(String, [UInt8])] = [("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8)),
                                            ("archive/data/0", [UInt8](repeating: 0x3F, count: 64))]
        func u16(_ v: Int, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: Int, _ a: inout [UInt8]) { u16(v & 0xFFFF, &a); u16(v >> 16 & 0xFFFF, &a) }
        for (name, data) in entries {
            let offset = out.count
            let nameBytes = Array(name.utf8)
            u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(0, &out); u32(0, &out); u32(0, &out)
            u32(data.count, &out); u32(data.count, &out); u16(nameBytes.count, &out); u16(0, &out)
            out += nameBytes + data
            u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(0, &central)
            u32(0, &central); u32(0, &central); u32(data.count, &central); u32(data.count, &central)
            u16(nameBytes.count, &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central)
            u32(0, &central); u32(offset, &central)
            central += nameBytes
        }
        let cdOffset = out.count
        out += central
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(entries.count, &out); u16(entries.count, &out)
        u32(central.count, &out); u32(cdOffset, &out); u16(0, &out)
        return out
    }
}
