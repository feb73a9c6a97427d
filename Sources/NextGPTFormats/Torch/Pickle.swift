import NextGPTCore
import NextGPTKernels

// A restricted pickle machine for the pickles `torch.save` writes (protocols 2–5).
//
// Nothing is ever executed or imported. GLOBAL / STACK_GLOBAL names are resolved against a fixed
// allow-list (tensor-rebuild functions, storage and dtype names, OrderedDict, torch.Size,
// _codecs.encode, set/frozenset); any other name — `os.system`, `builtins.eval`, a user class —
// is an error the moment the opcode is read. REDUCE / NEWOBJ are interpreted only for those
// names, by code here that builds plain values (dicts, tuples, tensor descriptions).
// Every length is checked against the bytes that remain, so a lying pickle cannot make it
// allocate more than the pickle's own size.

/// A tuple, list or dict built by the machine. Lists and dicts are mutable and shared through
/// the memo, so they are reference types; tuples are too, so that no value ever nests other
/// values directly (deep nesting then cannot overflow the stack when values are released).
final class PickleContainer {
    enum Kind { case tuple, list, dict }
    let kind: Kind
    /// Tuple / list items; for a dict, keys and values alternate (insertion order).
    var items: [PickleValue]
    /// For dicts: string key → index of the key in `items`, so SETITEM replaces.
    var stringKeys: [String: Int] = [:]
    /// Set by BUILD on an OrderedDict (e.g. a state dict's `_metadata`); kept, never applied.
    var hasBuildState = false

    init(_ kind: Kind, _ items: [PickleValue] = []) {
        self.kind = kind
        self.items = items
    }

    var count: Int { kind == .dict ? items.count / 2 : items.count }

    /// Dict entries in insertion order.
    var pairs: [(key: PickleValue, value: PickleValue)] {
        stride(from: 0, to: items.count - 1, by: 2).map { (items[$0], items[$0 + 1]) }
    }

    func set(_ key: PickleValue, _ value: PickleValue) {
        if case .string(let s) = key {
            if let index = stringKeys[s] { items[index + 1] = value; return }
            stringKeys[s] = items.count
        }
        items.append(key)
        items.append(value)
    }
}

/// A storage named by a persistent id `('storage', StorageType, key, location, numel[, view])`.
struct TorchStorageRef: Equatable {
    /// The storage key: the archive entry `data/<key>` (zip) or the key in the legacy key list.
    var key: String
    /// `torch.FloatStorage`, `torch.storage.UntypedStorage`, …
    var typeName: String
    /// nil for an untyped (byte) storage, whose element type comes from `_rebuild_tensor_v3`.
    var dtype: DType?
    var location: String
    /// In elements of `dtype` (bytes for an untyped storage).
    var numel: Int
    /// Legacy (pre-0.4) storage view: `key` names the root storage; the tensor's storage is the
    /// slice `[offset, offset + size)` (elements) of it, known under the view key.
    var view: (key: String, offset: Int, size: Int)?

    var elementSize: Int { dtype?.byteSize ?? 1 }

    static func == (a: TorchStorageRef, b: TorchStorageRef) -> Bool {
        a.key == b.key && a.typeName == b.typeName && a.numel == b.numel && a.view?.key == b.view?.key
            && a.view?.offset == b.view?.offset && a.view?.size == b.view?.size
    }
}

/// A tensor as `_rebuild_tensor_v2/_v3` describes it: a view of one storage (sizes, strides
/// and offset in elements).
struct TorchTensorRef {
    var storage: TorchStorageRef
    var dtype: DType
    var storageOffset: Int
    var shape: [Int]
    var strides: [Int]
    var isParameter = false
}

/// The allowed global names. They are only ever data: REDUCE of one of them is interpreted here.
enum PickleGlobal: Equatable {
    case orderedDict
    case rebuildTensor, rebuildTensorV2, rebuildTensorV3
    case rebuildParameter, rebuildParameterWithState
    case rebuildFromTypeV2
    /// `torch.Tensor`, `torch.nn.parameter.Parameter` (argument of `_rebuild_from_type_v2`).
    case tensorClass(String)
    /// nil dtype = `torch.storage.UntypedStorage`.
    case storageType(name: String, dtype: DType?)
    /// A `torch.<dtype>` name; nil when the dtype has no `DType` (uint16, complex64, float8 …).
    case dtype(name: String, dtype: DType?)
    case torchSize
    case codecsEncode
    case set

    static let storageTypes: [String: DType] = [
        "FloatStorage": .f32, "HalfStorage": .f16, "BFloat16Storage": .bf16, "DoubleStorage": .f64,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8,
        "ByteStorage": .u8, "BoolStorage": .bool,
    ]
    /// Real torch storage classes without a `DType` here: named in a clear error.
    static let unsupportedStorageTypes: Set<String> = [
        "ComplexFloatStorage", "ComplexDoubleStorage", "QInt8Storage", "QUInt8Storage", "QInt32Storage",
        "QUInt4x2Storage", "QUInt2x4Storage",
    ]
    static let dtypes: [String: DType] = [
        "float32": .f32, "float": .f32, "float16": .f16, "half": .f16, "bfloat16": .bf16,
        "float64": .f64, "double": .f64, "int64": .i64, "long": .i64, "int32": .i32, "int": .i32,
        "int16": .i16, "short": .i16, "int8": .i8, "uint8": .u8, "bool": .bool,
    ]
    static let otherDtypes: Set<String> = [
        "uint16", "uint32", "uint64", "complex32", "complex64", "complex128", "cfloat", "cdouble", "chalf",
        "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
        "float4_e2m1fn_x2", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
        "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16",
        "int1", "int2", "int3", "int4", "int5", "int6", "int7",
        "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
    ]

    /// The Python name, for messages.
    var pythonName: String {
        switch self {
        case .orderedDict: return "collections.OrderedDict"
        case .rebuildTensor: return "torch._utils._rebuild_tensor"
        case .rebuildTensorV2: return "torch._utils._rebuild_tensor_v2"
        case .rebuildTensorV3: return "torch._utils._rebuild_tensor_v3"
        case .rebuildParameter: return "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: return "torch._utils._rebuild_parameter_with_state"
        case .rebuildFromTypeV2: return "torch._tensor._rebuild_from_type_v2"
        case .tensorClass(let name), .storageType(let name, _), .dtype(let name, _): return name
        case .torchSize: return "torch.Size"
        case .codecsEncode: return "_codecs.encode"
        case .set: return "builtins.set"
        }
    }

    enum Resolution { case allowed(PickleGlobal), unsupportedStorage, unknownStorage, disallowed }

    static func resolve(module: String, name: String) -> Resolution {
        switch (module, name) {
        case ("collections", "OrderedDict"): return .allowed(.orderedDict)
        case ("torch._utils", "_rebuild_tensor"): return .allowed(.rebuildTensor)
        case ("torch._utils", "_rebuild_tensor_v2"): return .allowed(.rebuildTensorV2)
        case ("torch._utils", "_rebuild_tensor_v3"): return .allowed(.rebuildTensorV3)
        case ("torch._utils", "_rebuild_parameter"): return .allowed(.rebuildParameter)
        case ("torch._utils", "_rebuild_parameter_with_state"): return .allowed(.rebuildParameterWithState)
        case ("torch._tensor", "_rebuild_from_type_v2"): return .allowed(.rebuildFromTypeV2)
        case ("torch", "Tensor"), ("torch._tensor", "Tensor"), ("torch.nn.parameter", "Parameter"):
            return .allowed(.tensorClass("\(module).\(name)"))
        case ("torch.storage", "UntypedStorage"), ("torch", "UntypedStorage"):
            return .allowed(.storageType(name: "\(module).\(name)", dtype: nil))
        case ("torch", "Size"): return .allowed(.torchSize)
        case ("_codecs", "encode"): return .allowed(.codecsEncode)
        case ("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"), ("__builtin__", "frozenset"):
            return .allowed(.set)
        default: break
        }
        guard module == "torch" else { return .disallowed }
        if let dtype = storageTypes[name] { return .allowed(.storageType(name: "torch.\(name)", dtype: dtype)) }
        if unsupportedStorageTypes.contains(name) { return .unsupportedStorage }
        if name.hasSuffix("Storage") { return .unknownStorage }
        if let dtype = dtypes[name] { return .allowed(.dtype(name: "torch.\(name)", dtype: dtype)) }
        if otherDtypes.contains(name) { return .allowed(.dtype(name: "torch.\(name)", dtype: nil)) }
        return .disallowed
    }
}

enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// A LONG1/LONG4 integer that does not fit 64 bits: little-endian two's complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case container(PickleContainer)
    case global(PickleGlobal)
    case storage(TorchStorageRef)
    case tensor(TorchTensorRef)

    var kindName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .container(let c):
            switch c.kind { case .tuple: return "tuple"; case .list: return "list"; case .dict: return "dict" }
        case .global: return "global"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }

    var tupleItems: [PickleValue]? {
        if case .container(let c) = self, c.kind == .tuple { return c.items }
        return nil
    }

    /// A tuple or list's items.
    var sequenceItems: [PickleValue]? {
        if case .container(let c) = self, c.kind != .dict { return c.items }
        return nil
    }

    var dict: PickleContainer? {
        if case .container(let c) = self, c.kind == .dict { return c }
        return nil
    }
}

/// Runs one pickle from `start` to its STOP opcode.
final class TorchUnpickler {
    /// Thrown when the pickle runs past the end of `bytes` while more of the file exists; the
    /// legacy reader then retries with a larger window.
    struct NeedsMoreData: Error {}

    let bytes: [UInt8]
    let path: String
    let label: String
    /// Added to offsets in error messages (position of `bytes` in the file or entry).
    let baseOffset: Int
    /// `bytes` is only a window of a longer input.
    let partial: Bool

    private(set) var position: Int
    private(set) var protocolVersion = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var containers: [PickleContainer] = []
    private var opcodeOffset = 0
    /// Every storage named by a persistent id, first occurrence per key, in order of appearance.
    private(set) var storages: [TorchStorageRef] = []
    private var storageIndex: [String: Int] = [:]

    static let maxMarks = 100_000
    static let maxStringBytes = 1 << 30

    init(bytes: [UInt8], start: Int = 0, path: String, label: String, baseOffset: Int = 0, partial: Bool = false) {
        self.bytes = bytes
        self.position = start
        self.path = path
        self.label = label
        self.baseOffset = baseOffset
        self.partial = partial
    }

    deinit {
        // Containers can form cycles (a list appended to itself through the memo) and arbitrarily
        // deep chains; emptying each one here releases them without recursion and without leaks.
        for container in containers {
            container.items.removeAll()
            container.stringKeys.removeAll()
        }
    }

    private func fail(_ message: String) -> FormatError {
        FormatError(path, "\(label): \(message) (at pickle offset \(baseOffset + opcodeOffset))")
    }

    // MARK: reading bytes

    private func need(_ count: Int) throws {
        guard count >= 0, count <= bytes.count - position else {
            if partial { throw NeedsMoreData() }
            throw FormatError(path, "\(label): truncated pickle: needs \(count) bytes at offset \(baseOffset + position), \(bytes.count - position) left")
        }
    }

    private func readByte() throws -> UInt8 {
        try need(1)
        defer { position += 1 }
        return bytes[position]
    }

    private func readUInt(_ width: Int) throws -> UInt64 {
        try need(width)
        var value: UInt64 = 0
        for i in 0..<width { value |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += width
        return value
    }

    private func readBytes(_ count: Int) throws -> [UInt8] {
        try need(count)
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    private func readLength(_ width: Int) throws -> Int {
        let length = try readUInt(width)
        guard length <= UInt64(bytes.count - position) || partial && length <= UInt64(Self.maxStringBytes) else {
            throw fail("length \(length) runs past the end of the pickle (\(bytes.count - position) bytes left)")
        }
        return Int(length)
    }

    private func readLine() throws -> String {
        var end = position
        while end < bytes.count && bytes[end] != 0x0A {
            end += 1
            if end - position > 1024 { throw fail("GLOBAL name longer than 1024 bytes") }
        }
        guard end < bytes.count else {
            if partial { throw NeedsMoreData() }
            throw fail("truncated GLOBAL name")
        }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    private func decodeString(_ raw: [UInt8]) throws -> String {
        guard let s = String(validating: raw, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
    }

    // MARK: stack

    private func pop() throws -> PickleValue {
        guard let top = stack.popLast() else { throw fail("stack underflow") }
        if let mark = marks.last, stack.count < mark { throw fail("stack underflow below MARK") }
        return top
    }

    private func popMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw fail("no MARK on the stack") }
        guard mark <= stack.count else { throw fail("stack underflow below MARK") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func make(_ kind: PickleContainer.Kind, _ items: [PickleValue] = []) -> PickleValue {
        let container = PickleContainer(kind, items)
        containers.append(container)
        return .container(container)
    }

    private func topContainer(_ kind: PickleContainer.Kind, below count: Int, opcode: String) throws -> PickleContainer {
        guard stack.count > count, case .container(let c) = stack[stack.count - 1 - count] else {
            throw fail("\(opcode) target is not a \(kind)")
        }
        if kind == .list {
            guard c.kind == .list else { throw fail("\(opcode) target is a \(c.kind), not a list") }
        } else if c.kind != kind {
            throw fail("\(opcode) target is a \(c.kind), not a \(kind)")
        }
        return c
    }

    // MARK: the machine

    /// Runs to STOP and returns the pickled object; `position` is then just past STOP.
    func load() throws -> PickleValue {
        while true {
            opcodeOffset = position
            let op = try readByte()
            switch op {
            case 0x80: // PROTO
                let version = Int(try readByte())
                guard (2...5).contains(version) else { throw fail("pickle protocol \(version) is not supported (expected 2–5)") }
                protocolVersion = version
            case 0x95: // FRAME
                let length = try readUInt(8)
                guard length <= UInt64(bytes.count - position) || partial else {
                    throw fail("FRAME of \(length) bytes runs past the end of the pickle")
                }
            case 0x2E: // STOP
                guard marks.isEmpty || marks.last! <= stack.count else { throw fail("STOP inside MARK") }
                guard let result = stack.popLast() else { throw fail("STOP with an empty stack") }
                return result
            case 0x28: // MARK
                guard marks.count < Self.maxMarks else { throw fail("more than \(Self.maxMarks) nested MARKs") }
                marks.append(stack.count)
            case 0x30: // POP
                _ = try pop()
            case 0x31: // POP_MARK
                _ = try popMark()
            case 0x32: // DUP
                guard let top = stack.last else { throw fail("stack underflow") }
                stack.append(top)

            // constants and scalars
            case 0x4E: stack.append(.none) // NONE
            case 0x88: stack.append(.bool(true)) // NEWTRUE
            case 0x89: stack.append(.bool(false)) // NEWFALSE
            case 0x4B: stack.append(.int(Int(try readByte()))) // BININT1
            case 0x4D: stack.append(.int(Int(try readUInt(2)))) // BININT2
            case 0x4A: stack.append(.int(Int(Int32(bitPattern: UInt32(try readUInt(4)))))) // BININT
            case 0x8A: // LONG1
                let length = try readLength(1)
                stack.append(Self.long(try readBytes(length)))
            case 0x8B: // LONG4
                let length = try readLength(4)
                stack.append(Self.long(try readBytes(length)))
            case 0x47: // BINFLOAT (big-endian)
                let raw = try readBytes(8)
                var bits: UInt64 = 0
                for b in raw { bits = bits << 8 | UInt64(b) }
                stack.append(.float(Double(bitPattern: bits)))

            // strings and bytes
            case 0x58: stack.append(.string(try decodeString(readBytes(readLength(4))))) // BINUNICODE
            case 0x8C: stack.append(.string(try decodeString(readBytes(readLength(1))))) // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try decodeString(readBytes(readLength(8))))) // BINUNICODE8
            case 0x43: stack.append(.bytes(try readBytes(readLength(1)))) // SHORT_BINBYTES
            case 0x42: stack.append(.bytes(try readBytes(readLength(4)))) // BINBYTES
            case 0x8E: stack.append(.bytes(try readBytes(readLength(8)))) // BINBYTES8
            // Python 2 `str` (old checkpoints written by Python 2): decoded as Latin-1.
            case 0x55: stack.append(.string(Self.latin1(try readBytes(readLength(1))))) // SHORT_BINSTRING
            case 0x54: // BINSTRING (signed 4-byte length)
                let length = try readUInt(4)
                guard length < 0x8000_0000 else { throw fail("negative BINSTRING length") }
                try need(Int(length))
                stack.append(.string(Self.latin1(try readBytes(Int(length)))))

            // containers
            case 0x7D: stack.append(make(.dict)) // EMPTY_DICT
            case 0x5D: stack.append(make(.list)) // EMPTY_LIST
            case 0x29: stack.append(make(.tuple)) // EMPTY_TUPLE
            case 0x8F: stack.append(make(.list)) // EMPTY_SET (kept as a list)
            case 0x74: stack.append(make(.tuple, try popMark())) // TUPLE
            case 0x85: // TUPLE1
                let a = try pop()
                stack.append(make(.tuple, [a]))
            case 0x86: // TUPLE2
                let b = try pop(), a = try pop()
                stack.append(make(.tuple, [a, b]))
            case 0x87: // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                stack.append(make(.tuple, [a, b, c]))
            case 0x6C: stack.append(make(.list, try popMark())) // LIST
            case 0x91: stack.append(make(.list, try popMark())) // FROZENSET
            case 0x61: // APPEND
                let value = try pop()
                try topContainer(.list, below: 0, opcode: "APPEND").items.append(value)
            case 0x65, 0x90: // APPENDS, ADDITEMS
                let items = try popMark()
                try topContainer(.list, below: 0, opcode: op == 0x65 ? "APPENDS" : "ADDITEMS").items += items
            case 0x64: // DICT
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("DICT with an odd number of items") }
                let dict = make(.dict)
                for i in stride(from: 0, to: items.count, by: 2) { dict.dict!.set(items[i], items[i + 1]) }
                stack.append(dict)
            case 0x73: // SETITEM
                let value = try pop(), key = try pop()
                try topContainer(.dict, below: 0, opcode: "SETITEM").set(key, value)
            case 0x75: // SETITEMS
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
                let dict = try topContainer(.dict, below: 0, opcode: "SETITEMS")
                for i in stride(from: 0, to: items.count, by: 2) { dict.set(items[i], items[i + 1]) }

            // memo
            case 0x71: try put(Int(try readByte())) // BINPUT
            case 0x72: try put(Int(try readUInt(4))) // LONG_BINPUT
            case 0x94: try put(memo.count) // MEMOIZE
            case 0x68: try get(Int(try readByte())) // BINGET
            case 0x6A: try get(Int(try readUInt(4))) // LONG_BINGET

            // names, objects
            case 0x63: // GLOBAL
                let module = try readLine()
                let name = try readLine()
                stack.append(.global(try resolve(module: module, name: name)))
            case 0x93: // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case .string(let n) = name, case .string(let m) = module else {
                    throw fail("STACK_GLOBAL needs two strings, got \(module.kindName) and \(name.kindName)")
                }
                stack.append(.global(try resolve(module: m, name: n)))
            case 0x51: // BINPERSID
                let ref = try storage(fromPersistentID: try pop())
                if storageIndex[ref.key] == nil {
                    storageIndex[ref.key] = storages.count
                    storages.append(ref)
                }
                stack.append(.storage(ref))
            case 0x52: // REDUCE
                let args = try pop(), callable = try pop()
                stack.append(try reduce(callable, args, depth: 0))
            case 0x81: // NEWOBJ
                let args = try pop(), cls = try pop()
                guard case .global(let g) = cls, g == .orderedDict || g == .set else {
                    throw fail("NEWOBJ is only supported for OrderedDict and set, got \(describe(cls))")
                }
                stack.append(try reduce(cls, args, depth: 0))
            case 0x62: // BUILD: the state is kept out of the object; nothing is applied or called.
                _ = try pop()
                guard let target = stack.last else { throw fail("BUILD with nothing to build") }
                if case .container(let c) = target { c.hasBuildState = true }
            default:
                throw fail("unsupported pickle opcode 0x\(String(op, radix: 16, uppercase: false).leftPadded(2))\(Self.opcodeNames[op].map { " (\($0))" } ?? "")")
            }
        }
    }

    private func put(_ index: Int) throws {
        guard let top = stack.last else { throw fail("memo PUT with an empty stack") }
        guard memo.count < bytes.count + 1 else { throw fail("memo larger than the pickle") }
        memo[index] = top
    }

    private func get(_ index: Int) throws {
        guard let value = memo[index] else { throw fail("memo GET of missing index \(index)") }
        stack.append(value)
    }

    private func resolve(module: String, name: String) throws -> PickleGlobal {
        switch PickleGlobal.resolve(module: module, name: name) {
        case .allowed(let g): return g
        case .unsupportedStorage:
            throw fail("unsupported storage type \(module).\(name) (supported: \(PickleGlobal.storageTypes.keys.sorted().map { "torch.\($0)" }.joined(separator: ", ")))")
        case .unknownStorage:
            throw fail("unknown storage type \(module).\(name)")
        case .disallowed:
            throw fail("refusing global '\(module).\(name)': only torch tensor-rebuild functions, storage and dtype names, OrderedDict and torch.Size may appear in a checkpoint pickle; nothing is executed")
        }
    }

    private func describe(_ value: PickleValue) -> String {
        if case .global(let g) = value { return g.pythonName }
        return value.kindName
    }

    static func long(_ raw: [UInt8]) -> PickleValue {
        if raw.isEmpty { return .int(0) }
        if raw.count > 8 {
            // Fits 64 bits only if the extra bytes are pure sign extension.
            let sign: UInt8 = raw[7] & 0x80 != 0 ? 0xFF : 0
            guard raw[8...].allSatisfy({ $0 == sign }) else { return .bigInt(raw) }
        }
        var value: UInt64 = 0
        for (i, b) in raw.prefix(8).enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
        if raw.count < 8 && raw.last! & 0x80 != 0 { value |= ~0 << (8 * UInt64(raw.count)) }
        return .int(Int(Int64(bitPattern: value)))
    }

    static func latin1(_ raw: [UInt8]) -> String {
        String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) }))
    }

    // MARK: persistent ids and REDUCE

    /// `('storage', StorageType, key, location, numel)`; legacy files add a sixth item, the view
    /// metadata (None or `(root_key, offset, size)`).
    private func storage(fromPersistentID pid: PickleValue) throws -> TorchStorageRef {
        guard let items = pid.tupleItems, items.count == 5 || items.count == 6,
              case .string("storage") = items[0] else {
            throw fail("unsupported persistent id \(describe(pid)) (expected ('storage', type, key, location, numel))")
        }
        guard case .global(.storageType(let typeName, let dtype)) = items[1] else {
            throw fail("persistent id names \(describe(items[1])), not a storage type")
        }
        let key: String
        switch items[2] {
        case .string(let s): key = s
        case .int(let i): key = String(i)
        default: throw fail("storage key is a \(items[2].kindName), not a string")
        }
        guard case .string(let location) = items[3] else { throw fail("storage location is not a string") }
        guard case .int(let numel) = items[4], numel >= 0 else { throw fail("storage '\(key)' has an invalid element count") }
        var ref = TorchStorageRef(key: key, typeName: typeName, dtype: dtype, location: location, numel: numel)
        if items.count == 6, case .container = items[5] {
            guard let view = items[5].tupleItems, view.count == 3, case .string(let root) = view[0],
                  case .int(let offset) = view[1], case .int(let size) = view[2], offset >= 0, size >= 0 else {
                throw fail("storage '\(key)' has malformed view metadata")
            }
            ref.view = (root, offset, size)
        } else if items.count == 6, case .none = items[5] {
        } else if items.count == 6 {
            throw fail("storage '\(key)' has malformed view metadata")
        }
        return ref
    }

    private func ints(_ value: PickleValue, _ what: String) throws -> [Int] {
        guard let items = value.sequenceItems else { throw fail("tensor \(what) is a \(value.kindName), not a tuple") }
        guard items.count <= 64 else { throw fail("tensor \(what) has \(items.count) dimensions") }
        return try items.map {
            guard case .int(let v) = $0 else { throw fail("tensor \(what) holds a \($0.kindName)") }
            return v
        }
    }

    private func reduce(_ callable: PickleValue, _ argsValue: PickleValue, depth: Int) throws -> PickleValue {
        guard case .global(let g) = callable else {
            throw fail("REDUCE of a \(callable.kindName), not an allowed callable")
        }
        guard let args = argsValue.tupleItems else { throw fail("REDUCE arguments are a \(argsValue.kindName), not a tuple") }
        switch g {
        case .orderedDict:
            let dict = make(.dict)
            if let first = args.first {
                guard args.count == 1, let pairs = first.sequenceItems else { throw fail("OrderedDict() with unexpected arguments") }
                for pair in pairs {
                    guard let kv = pair.sequenceItems, kv.count == 2 else { throw fail("OrderedDict() item is not a pair") }
                    dict.dict!.set(kv[0], kv[1])
                }
            }
            return dict
        case .set:
            guard args.count <= 1 else { throw fail("set() with \(args.count) arguments") }
            return make(.list, try args.first.map {
                guard let items = $0.sequenceItems else { throw fail("set() of a \($0.kindName)") }
                return items
            } ?? [])
        case .torchSize:
            guard args.count == 1, let items = args[0].sequenceItems else { throw fail("torch.Size() with unexpected arguments") }
            return make(.tuple, items)
        case .codecsEncode:
            guard args.count == 2, case .string(let text) = args[0], case .string(let encoding) = args[1] else {
                throw fail("_codecs.encode() with unexpected arguments")
            }
            switch encoding.lowercased() {
            case "latin1", "latin-1", "iso-8859-1":
                var out: [UInt8] = []
                for scalar in text.unicodeScalars {
                    guard scalar.value < 256 else { throw fail("_codecs.encode(): character not in latin1") }
                    out.append(UInt8(scalar.value))
                }
                return .bytes(out)
            case "utf-8", "utf8": return .bytes(Array(text.utf8))
            default: throw fail("_codecs.encode() with encoding '\(encoding)'")
            }
        case .rebuildTensor, .rebuildTensorV2, .rebuildTensorV3:
            let minimum = g == .rebuildTensor ? 4 : (g == .rebuildTensorV2 ? 4 : 7)
            guard args.count >= minimum, args.count <= 8 else { throw fail("\(g.pythonName) with \(args.count) arguments") }
            guard case .storage(let storage) = args[0] else { throw fail("\(g.pythonName) of a \(args[0].kindName), not a storage") }
            guard case .int(let offset) = args[1] else { throw fail("tensor storage offset is a \(args[1].kindName)") }
            let shape = try ints(args[2], "size")
            let strides = try ints(args[3], "stride")
            guard shape.count == strides.count else { throw fail("tensor size \(shape) and stride \(strides) differ in rank") }
            var dtype = storage.dtype
            if g == .rebuildTensorV3 {
                guard case .global(.dtype(let name, let d)) = args[6] else { throw fail("_rebuild_tensor_v3 dtype is a \(describe(args[6]))") }
                guard let d else { throw fail("dtype \(name) is not supported") }
                if let typed = storage.dtype, typed != d {
                    throw fail("dtype \(name) does not match storage type \(storage.typeName)")
                }
                dtype = d
            }
            guard let dtype else {
                throw fail("untyped storage '\(storage.key)' used without a dtype")
            }
            return .tensor(TorchTensorRef(storage: storage, dtype: dtype, storageOffset: offset, shape: shape, strides: strides))
        case .rebuildParameter, .rebuildParameterWithState:
            guard args.count >= 1, case .tensor(var tensor) = args[0] else {
                throw fail("\(g.pythonName) of a \(args.first?.kindName ?? "nothing"), not a tensor")
            }
            tensor.isParameter = true
            return .tensor(tensor)
        case .rebuildFromTypeV2:
            guard depth < 4, args.count == 4, case .global(.tensorClass) = args[1] else {
                throw fail("_rebuild_from_type_v2 is only supported for torch.Tensor / Parameter")
            }
            return try reduce(args[0], args[2], depth: depth + 1)
        case .tensorClass(let name), .storageType(let name, _), .dtype(let name, _):
            throw fail("\(name) cannot be called")
        }
    }

    static let opcodeNames: [UInt8: String] = [
        0x28: "MARK", 0x2E: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT",
        0x4A: "BININT", 0x4B: "BININT1", 0x4C: "LONG", 0x4D: "BININT2", 0x4E: "NONE", 0x50: "PERSID",
        0x51: "BINPERSID", 0x52: "REDUCE", 0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING",
        0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND", 0x62: "BUILD", 0x63: "GLOBAL", 0x64: "DICT",
        0x7D: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET", 0x68: "BINGET", 0x69: "INST", 0x6A: "LONG_BINGET",
        0x6C: "LIST", 0x5D: "EMPTY_LIST", 0x6F: "OBJ", 0x70: "PUT", 0x71: "BINPUT", 0x72: "LONG_BINPUT",
        0x73: "SETITEM", 0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT",
        0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1",
        0x86: "TUPLE2", 0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8A: "LONG1", 0x8B: "LONG4",
        0x42: "BINBYTES", 0x43: "SHORT_BINBYTES", 0x8C: "SHORT_BINUNICODE", 0x8D: "BINUNICODE8",
        0x8E: "BINBYTES8", 0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX",
        0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
        0x98: "READONLY_BUFFER",
    ]
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
