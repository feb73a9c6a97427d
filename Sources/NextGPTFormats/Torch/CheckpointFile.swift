import NextGPTCore

/// Reads one upstream checkpoint file of any supported kind, chosen by its first bytes:
/// `PK\x03\x04` (or an empty zip) → `TorchCheckpoint` (torch.save ≥ 1.6),
/// `\x80\x02\x8a\x0a` + torch magic → `LegacyTorch`, an 8-byte length followed by `{` →
/// `SafetensorsFile`. A GGUF file or anything else is an error naming the file.
public enum CheckpointFile {
    public static let acceptedFormats =
        "accepted formats: safetensors, a torch.save zip checkpoint (PyTorch ≥ 1.6, .pt/.pth/.bin/.ckpt) or a legacy torch.save file (PyTorch < 1.6)"

    public enum Kind: String, Sendable {
        case safetensors, torchZip, torchLegacy
    }

    /// The format of the file, from its first bytes; an error when it is none of the accepted ones.
    public static func kind(path: String) throws -> Kind {
        let file = try RandomAccessFile(path: path)
        let head = try file.read(at: 0, count: min(file.size, 16))
        func starts(_ prefix: [UInt8]) -> Bool { head.count >= prefix.count && Array(head.prefix(prefix.count)) == prefix }

        if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) { return .torchZip }
        if starts([0x80, 0x02, 0x8A, 0x0A]) { return .torchLegacy }
        if starts(Array("GGUF".utf8)) {
            throw FormatError(path, "is a GGUF container, not an upstream checkpoint (\(acceptedFormats))")
        }
        if head.count >= 9 {
            var length: UInt64 = 0
            for i in 0..<8 { length |= UInt64(head[i]) << (8 * UInt64(i)) }
            if length >= 2, length <= UInt64(file.size - 8), head[8] == UInt8(ascii: "{") { return .safetensors }
        }
        if file.size == 0 { throw FormatError(path, "is empty (\(acceptedFormats))") }
        if file.size > 262, Array(try file.read(at: 257, count: 5)) == Array("ustar".utf8) {
            throw FormatError(path, "is a tar archive (torch.save of PyTorch < 0.4 or an archive of files), not a supported checkpoint (\(acceptedFormats))")
        }
        if starts([0x80]) {
            throw FormatError(path, "is a plain pickle, not a torch.save checkpoint (\(acceptedFormats))")
        }
        throw FormatError(path, "is not a recognised checkpoint: unknown leading bytes \(head.prefix(8).map { String($0, radix: 16) }.joined(separator: " ")) (\(acceptedFormats))")
    }

    public static func read(path: String) throws -> Checkpoint {
        switch try kind(path: path) {
        case .torchZip: return try TorchCheckpoint.read(path: path)
        case .torchLegacy: return try LegacyTorch.read(path: path)
        case .safetensors: return try SafetensorsFile.read(path: path)
        }
    }
}
