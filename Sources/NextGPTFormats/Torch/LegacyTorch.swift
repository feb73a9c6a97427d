import NextGPTCore

/// Reads the pre-1.6 `torch.save` format (`_use_new_zipfile_serialization=False`), verified
/// against files written by torch 2.x:
///
///     pickle 1: magic number 0x1950a86a20f9469cfc6c (LONG1)
///     pickle 2: protocol version 1001
///     pickle 3: sys_info {'protocol_version': 1001, 'little_endian': True, 'type_sizes': {...}}
///     pickle 4: the object; storages are persistent ids ('storage', type, key, location, numel, view)
///     pickle 5: the list of storage keys
///     then per key, in list order: element count (int64) + raw bytes
///
/// Counts and storage bytes are little-endian whatever the writing machine was: torch's
/// `THPStorage_writeFileRaw` converts on big-endian hosts (sys_info's `little_endian` only
/// describes the writer). Very old writers put the count in native order, so a count that only
/// makes sense big-endian from a big-endian writer is accepted too.
///
/// The object pickle runs on the same restricted machine as the zip format and is flattened by
/// the same rule (`TorchCheckpoint`). Storages are located by walking the count headers; the
/// tensors are zero-copy views into the file. (The tar-based format of torch < 0.4 is not read.)
public enum LegacyTorch {
    /// 0x1950a86a20f9469cfc6c as LONG1 little-endian bytes.
    static let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    /// The first bytes of a legacy file: PROTO 2, LONG1 of 10 bytes, then `magic`.
    public static let fileMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A] + magic

    public static func read(path: String) throws -> Checkpoint {
        try read(path: path, initialWindow: 1 << 20)
    }

    static func read(path: String, initialWindow: Int) throws -> Checkpoint {
        let file = try RandomAccessFile(path: path)
        // The pickles come first; their length is unknown until parsed, so parse a window of the
        // file and grow it if a pickle runs past its end.
        var window = min(file.size, max(initialWindow, 1))
        while true {
            let bytes = try file.read(at: 0, count: window)
            do {
                return try read(file: file, prefix: bytes, partial: window < file.size)
            } catch is TorchUnpickler.NeedsMoreData {
                guard window < TorchCheckpoint.maxPickleBytes else {
                    throw FormatError(path, "legacy torch file: the pickles at its start exceed \(TorchCheckpoint.maxPickleBytes) bytes")
                }
                window = min(window > file.size / 4 ? file.size : window * 4, TorchCheckpoint.maxPickleBytes)
            }
        }
    }

    private static func read(file: RandomAccessFile, prefix bytes: [UInt8], partial: Bool) throws -> Checkpoint {
        let path = file.path
        func unpickler(_ start: Int, _ label: String) -> TorchUnpickler {
            TorchUnpickler(bytes: bytes, start: start, path: path, label: "legacy torch file: \(label)", partial: partial)
        }
        let magicPickle = unpickler(0, "magic number")
        guard case .bigInt(let magicValue) = try magicPickle.load(), magicValue == magic else {
            throw FormatError(path, "not a legacy torch file: wrong magic number")
        }
        let versionPickle = unpickler(magicPickle.position, "protocol version")
        let version = try versionPickle.load()
        guard case .int(1001) = version else {
            throw FormatError(path, "legacy (pre-1.6) torch format with protocol version \(version) is not supported (expected 1001)")
        }
        let infoPickle = unpickler(versionPickle.position, "sys_info")
        let info = try infoPickle.load()
        var littleEndian = true
        if let dict = info.dict {
            for (key, value) in dict.pairs {
                if case .string("little_endian") = key, case .bool(let b) = value { littleEndian = b }
            }
        }
        let objectPickle = unpickler(infoPickle.position, "object")
        let root = try objectPickle.load()
        let keysPickle = unpickler(objectPickle.position, "storage keys")
        guard let keyValues = try keysPickle.load().sequenceItems else {
            throw FormatError(path, "legacy torch file: the storage key list is not a list")
        }
        let keys = try keyValues.map { value -> String in
            guard case .string(let key) = value else { throw FormatError(path, "legacy torch file: a storage key is a \(value.kindName)") }
            return key
        }

        // Storage records: count header + raw bytes, in key-list order.
        var known: [String: TorchStorageRef] = [:]
        for ref in objectPickle.storages where known[ref.key] == nil { known[ref.key] = ref }
        var ranges: [String: Range<Int>] = [:]
        var cursor = keysPickle.position
        for key in keys {
            guard let ref = known[key] else {
                throw FormatError(path, "legacy torch file: storage '\(key)' in the key list is not used by any tensor, so its element size is unknown")
            }
            guard cursor <= file.size - 8 else {
                throw FormatError(path, "truncated: storage '\(key)' header at byte \(cursor) is past the end of the file (\(file.size) bytes)")
            }
            let header = try file.read(at: cursor, count: 8)
            var count: UInt64 = 0, swapped: UInt64 = 0
            for i in 0..<8 {
                count |= UInt64(header[i]) << (8 * UInt64(i))
                swapped |= UInt64(header[7 - i]) << (8 * UInt64(i))
            }
            let start = cursor + 8
            let fits = { (n: UInt64) in n <= UInt64(file.size - start) / UInt64(ref.elementSize) }
            if !littleEndian && !fits(count) && fits(swapped) { count = swapped }
            guard fits(count) else {
                throw FormatError(path, "truncated: storage '\(key)' of \(count) elements × \(ref.elementSize) bytes at byte \(start) runs past the end of the file (\(file.size) bytes)")
            }
            let byteCount = Int(count) * ref.elementSize
            guard ranges[key] == nil else { throw FormatError(path, "legacy torch file: storage key '\(key)' listed twice") }
            ranges[key] = start..<(start + byteCount)
            cursor = start + byteCount
        }

        let flat = try withExtendedLifetime(objectPickle) { try TorchObjects.flatten(root, path: path) }
        var metadata = flat.metadata
        metadata["format"] = "torch-legacy"
        metadata["torch.byteorder"] = "little"
        metadata["torch.legacy_writer_byteorder"] = littleEndian ? "little" : "big"
        metadata["torch.pickle_protocol"] = String(objectPickle.protocolVersion)
        var tensors: [SourceTensor] = []
        for (name, ref) in flat.tensors {
            guard let range = ranges[ref.storage.key] else {
                throw FormatError(path, tensor: name, "storage '\(ref.storage.key)' is missing from the storage key list")
            }
            tensors.append(try TorchObjects.sourceTensor(
                name: name, ref, file: file, storageStart: range.lowerBound, storageBytes: range.count,
                storageLabel: "the file's record of storage '\(ref.storage.key)'", bigEndian: false, path: path))
        }
        return Checkpoint(tensors: tensors, files: [path], metadata: metadata)
    }
}
