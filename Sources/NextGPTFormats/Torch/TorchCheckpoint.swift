import NextGPTCore

/// Reads a `torch.save` zip checkpoint (PyTorch ≥ 1.6) without Python and without executing
/// anything: the archive's `data.pkl` is run on the restricted pickle machine (`TorchUnpickler`),
/// its persistent ids are resolved to the stored `data/<key>` entries, and each tensor becomes a
/// zero-copy `SourceTensor` view into the archive (strides kept for non-contiguous views).
///
/// Which tensors are returned — the flattening rule (`TorchObjects.flatten`):
/// 1. The unpickled object must be a dict (dict or OrderedDict).
/// 2. Wrapper unwrapping: while the current dict holds no tensor directly, and one of the
///    wrapper keys `state_dict`, `model_state_dict`, `model`, `module`, `params`, `weights`
///    (tried in that order) holds a dict that contains tensors, descend into it. Everything else
///    at that level (`optimizer`, `epoch`, …) is ignored and listed in metadata.
/// 3. The selected dict is flattened: tensor values keep their key; nested dicts (and lists or
///    tuples) contribute their tensors under `outer.inner` / `outer.0` names; integer keys are
///    written in decimal. Non-tensor leaves (ints, floats, strings, None, dtypes …) are ignored.
/// Metadata: `format`, `torch.archive_prefix`, `torch.byteorder`, `torch.pickle_protocol`,
/// `torch.version`, `torch.wrapper` (the unwrapped key path), `torch.ignored` (comma-separated
/// ignored keys) and `torch.value.<key>` (the value of each ignored scalar).
public enum TorchCheckpoint {
    /// data.pkl larger than this is refused (real ones are well under 10 MB).
    public static let maxPickleBytes = 1 << 30

    public static func read(path: String) throws -> Checkpoint {
        let file = try RandomAccessFile(path: path)
        let archive = try ZipArchive(file: file)
        var byName: [String: ZipArchive.Entry] = [:]
        for entry in archive.entries where byName[entry.name] == nil { byName[entry.name] = entry }

        let pickles = archive.entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
        guard let pickleEntry = pickles.first else {
            throw FormatError(path, "zip archive has no data.pkl entry: not a torch.save checkpoint")
        }
        guard pickles.count == 1 else {
            throw FormatError(path, "zip archive holds \(pickles.count) data.pkl entries (\(pickles.map(\.name).joined(separator: ", "))); expected one")
        }
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))

        var metadata: [String: String] = ["format": "torch", "torch.archive_prefix": prefix]
        var bigEndian = false
        metadata["torch.byteorder"] = "little" // torch < 2.1 wrote no byteorder record: little-endian
        if let entry = byName[prefix + "byteorder"] {
            let text = String(decoding: try archive.readStored(entry, limit: 64), as: UTF8.self)
                .torchTrimmed
            switch text {
            case "little": bigEndian = false
            case "big": bigEndian = true
            default: throw FormatError(path, "\(entry.name): unknown byte order '\(text)' (expected little or big)")
            }
            metadata["torch.byteorder"] = text
        }
        for name in [".data/version", "version"] {
            if let entry = byName[prefix + name], let bytes = try? archive.readStored(entry, limit: 64) {
                metadata["torch.version"] = String(decoding: bytes, as: UTF8.self).torchTrimmed
                break
            }
        }

        let pickleBytes = try archive.readStored(pickleEntry, limit: maxPickleBytes)
        let unpickler = TorchUnpickler(bytes: pickleBytes, path: path, label: pickleEntry.name)
        let root = try unpickler.load()
        metadata["torch.pickle_protocol"] = String(unpickler.protocolVersion)

        // Storages: each key must have a stored entry large enough for every use of it.
        var storageRanges: [String: Range<Int>] = [:]
        func storageRange(_ ref: TorchStorageRef, tensor: String) throws -> Range<Int> {
            if let range = storageRanges[ref.key] { return range }
            let entryName = prefix + "data/" + ref.key
            guard let entry = byName[entryName] else {
                throw FormatError(path, tensor: tensor, "storage '\(ref.key)' has no archive entry \(entryName)")
            }
            let range: Range<Int>
            do {
                range = try archive.storedRange(of: entry)
            } catch let error as FormatError {
                throw FormatError(path, tensor: tensor, error.message)
            }
            storageRanges[ref.key] = range
            return range
        }

        let flat = try withExtendedLifetime(unpickler) { try TorchObjects.flatten(root, path: path) }
        metadata.merge(flat.metadata) { a, _ in a }
        var tensors: [SourceTensor] = []
        tensors.reserveCapacity(flat.tensors.count)
        for (name, ref) in flat.tensors {
            let range = try storageRange(ref.storage, tensor: name)
            tensors.append(try TorchObjects.sourceTensor(
                name: name, ref, file: file, storageStart: range.lowerBound, storageBytes: range.count,
                storageLabel: "archive entry \(prefix)data/\(ref.storage.key)", bigEndian: bigEndian, path: path))
        }
        return Checkpoint(tensors: tensors, files: [path], metadata: metadata)
    }
}

/// Object walking and tensor construction shared by the zip and legacy torch readers.
enum TorchObjects {
    static let wrapperKeys = ["state_dict", "model_state_dict", "model", "module", "params", "weights"]
    static let maxDepth = 64
    /// Dict/list entries the flattening may visit. Real checkpoints have at most tens of
    /// thousands; the bound exists because memo references let a small pickle share one list
    /// under many paths (ten references per level, nine levels: 10⁹ tensor names from 200 bytes).
    static let maxFlattenedEntries = 1_000_000

    struct Flattened {
        var tensors: [(String, TorchTensorRef)] = []
        var metadata: [String: String] = [:]
    }

    static func flatten(_ root: PickleValue, path: String) throws -> Flattened {
        guard var current = root.dict else {
            if case .tensor = root {
                throw FormatError(path, "holds a single tensor, not a dict of named tensors")
            }
            throw FormatError(path, "holds a \(root.kindName), not a dict of named tensors (whole pickled modules are not supported; save a state_dict)")
        }
        var out = Flattened()
        var ignored: [String] = []
        var wrapperPath: [String] = []

        func keyString(_ key: PickleValue) -> String? {
            switch key {
            case .string(let s): return s
            case .int(let i): return String(i)
            default: return nil
            }
        }
        func scalarText(_ value: PickleValue) -> String? {
            switch value {
            case .none: return "None"
            case .bool(let b): return b ? "True" : "False"
            case .int(let i): return String(i)
            case .float(let d): return String(d)
            case .string(let s): return s.count <= 256 ? s : String(s.prefix(256)) + "…"
            case .global(let g): return g.pythonName
            default: return nil
            }
        }
        func containsTensor(_ value: PickleValue, _ depth: Int, _ seen: inout Set<ObjectIdentifier>) -> Bool {
            switch value {
            case .tensor: return true
            case .container(let c):
                guard depth < maxDepth, seen.insert(ObjectIdentifier(c)).inserted else { return false }
                if c.kind == .dict { return c.pairs.contains { containsTensor($0.value, depth + 1, &seen) } }
                return c.items.contains { containsTensor($0, depth + 1, &seen) }
            default: return false
            }
        }
        func ignore(_ name: String, _ value: PickleValue) {
            ignored.append(name)
            if let text = scalarText(value) { out.metadata["torch.value.\(name)"] = text }
        }

        // Wrapper unwrapping.
        while !current.pairs.contains(where: { if case .tensor = $0.value { return true } else { return false } }) {
            var chosen: (String, PickleContainer)? = nil
            for wrapper in wrapperKeys {
                guard chosen == nil else { break }
                for (key, value) in current.pairs {
                    guard case .string(wrapper) = key, let inner = value.dict else { continue }
                    var seen = Set<ObjectIdentifier>()
                    if containsTensor(value, 0, &seen) { chosen = (wrapper, inner) }
                    break
                }
            }
            guard let (wrapper, inner) = chosen, wrapperPath.count < maxDepth else { break }
            let prefix = wrapperPath.isEmpty ? "" : wrapperPath.joined(separator: ".") + "."
            for (key, value) in current.pairs {
                let name = keyString(key) ?? "<\(key.kindName) key>"
                if name != wrapper { ignore(prefix + name, value) }
            }
            wrapperPath.append(wrapper)
            current = inner
        }

        // Flattening, depth-first in dict order.
        var names = Set<String>()
        var visiting = Set<ObjectIdentifier>()
        var visited = 0
        // Whether a list or tuple reaches a tensor, computed once per container: a shared list
        // is asked again on every path that reaches it.
        var reachesTensor: [ObjectIdentifier: Bool] = [:]
        func walk(_ container: PickleContainer, prefix: String, depth: Int) throws {
            guard depth < maxDepth else {
                throw FormatError(path, tensor: prefix, "nested deeper than \(maxDepth) levels")
            }
            visited += container.count
            guard visited <= maxFlattenedEntries else {
                throw FormatError(path, tensor: prefix, "more than \(maxFlattenedEntries) entries to flatten (one container shared under many names?)")
            }
            guard visiting.insert(ObjectIdentifier(container)).inserted else {
                throw FormatError(path, tensor: prefix, "the object refers to itself")
            }
            defer { visiting.remove(ObjectIdentifier(container)) }
            let entries: [(String?, PickleValue, PickleValue)] = container.kind == .dict
                ? container.pairs.map { (keyString($0.key), $0.key, $0.value) }
                : container.items.enumerated().map { (String($0.offset), .int($0.offset), $0.element) }
            for (key, rawKey, value) in entries {
                guard let key else { ignored.append(prefix + "<\(rawKey.kindName) key>"); continue }
                let name = prefix + key
                switch value {
                case .tensor(let ref):
                    guard names.insert(name).inserted else {
                        throw FormatError(path, tensor: name, "the name occurs twice after flattening nested dicts")
                    }
                    out.tensors.append((name, ref))
                case .container(let inner):
                    let reaches = inner.kind == .dict || reachesTensor[ObjectIdentifier(inner)] ?? {
                        var seen = Set<ObjectIdentifier>()
                        let found = containsTensor(value, 0, &seen)
                        reachesTensor[ObjectIdentifier(inner)] = found
                        return found
                    }()
                    if !reaches {
                        ignore(name, value)
                    } else {
                        try walk(inner, prefix: name + ".", depth: depth + 1)
                    }
                default:
                    ignore(name, value)
                }
            }
        }
        try walk(current, prefix: "", depth: 0)

        if !wrapperPath.isEmpty { out.metadata["torch.wrapper"] = wrapperPath.joined(separator: ".") }
        if !ignored.isEmpty { out.metadata["torch.ignored"] = ignored.joined(separator: ", ") }
        return out
    }

    /// A zero-copy view of a tensor in its storage, after checking that every element it can
    /// address lies inside the storage and the storage inside its bytes in the file.
    /// `storageStart`/`storageBytes`: where the storage's bytes are in the file.
    static func sourceTensor(name: String, _ ref: TorchTensorRef, file: RandomAccessFile, storageStart: Int,
                             storageBytes: Int, storageLabel: String, bigEndian: Bool, path: String) throws -> SourceTensor {
        let storage = ref.storage
        func fail(_ message: String) -> FormatError { FormatError(path, tensor: name, message) }

        // The storage itself must fit its bytes.
        let (needed, overflow) = storage.numel.multipliedReportingOverflow(by: storage.elementSize)
        guard !overflow, needed <= storageBytes else {
            throw fail("storage '\(storage.key)' (\(storage.typeName), \(storage.numel) elements) needs \(storage.numel &* storage.elementSize) bytes but \(storageLabel) holds \(storageBytes)")
        }
        // Legacy views select a slice of the root storage.
        var baseBytes = 0
        var capacityBytes = needed
        if let view = storage.view {
            let (end, o) = view.offset.addingReportingOverflow(view.size)
            guard !o, end <= storage.numel else {
                throw fail("storage view [\(view.offset), +\(view.size)) lies outside storage '\(storage.key)' of \(storage.numel) elements")
            }
            baseBytes = view.offset * storage.elementSize
            capacityBytes = view.size * storage.elementSize
        }

        let width = ref.dtype.byteSize
        guard ref.shape.allSatisfy({ $0 >= 0 }), let count = checkedElementCount(ref.shape),
              count <= Int.max / 16 else {
            throw fail("invalid size \(ref.shape)")
        }
        guard ref.strides.allSatisfy({ $0 >= 0 }) else { throw fail("negative stride \(ref.strides)") }
        guard ref.storageOffset >= 0 else { throw fail("negative storage offset \(ref.storageOffset)") }
        var byteOffset = storageStart + baseBytes
        if count > 0 {
            var last = ref.storageOffset
            for (extent, stride) in zip(ref.shape, ref.strides) {
                let (span, o1) = (extent - 1).multipliedReportingOverflow(by: stride)
                let (sum, o2) = last.addingReportingOverflow(span)
                guard !o1, !o2 else { throw fail("size \(ref.shape) with stride \(ref.strides) overflows") }
                last = sum
            }
            let (endBytes, o) = (last + 1).multipliedReportingOverflow(by: width)
            guard !o, endBytes <= capacityBytes else {
                throw fail("view (offset \(ref.storageOffset), size \(ref.shape), stride \(ref.strides)) reaches element \(last) of \(ref.dtype.rawValue) but storage '\(storage.key)' holds \(capacityBytes / width)")
            }
            byteOffset += ref.storageOffset * width
        }
        return SourceTensor(name: name, dtype: ref.dtype, shape: ref.shape, file: file, byteOffset: byteOffset,
                            strides: ref.strides, bigEndian: bigEndian && width > 1)
    }
}

extension String {
    /// Without surrounding whitespace or NULs (small text records of the archive).
    var torchTrimmed: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" || $0 == "\0" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
