import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels

/// A JSON value from a bundle's probe description (`args` may hold anything).
public enum JSONValue: Sendable, Equatable, Decodable, CustomStringConvertible {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public var any: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let b): return b
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? Int(d) as Any : d as Any
        case .string(let s): return s
        case .array(let a): return a.map(\.any)
        case .object(let o): return o.mapValues(\.any)
        }
    }

    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? "\(Int(d))" : "\(d)"
        case .string(let s): return "\"\(s)\""
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.keys.sorted().map { "\"\($0)\": \(o[$0]!)" }.joined(separator: ", ") + "}"
        }
    }
}

/// Pass criteria of one probe; every bound present must hold for every output.
public struct Tolerance: Sendable, Equatable {
    /// ‖ours − ref‖₂ / ‖ref‖₂ at most this.
    public var relL2: Double
    /// Largest |ours − ref| at most this (optional).
    public var maxAbs: Double?
    /// Cosine similarity at least this (optional).
    public var minCosine: Double?
    /// PSNR in dB at least this, with peak 1 (images as floats in [0, 1]; optional).
    public var minPSNR: Double?

    public init(relL2: Double, maxAbs: Double? = nil, minCosine: Double? = nil, minPSNR: Double? = nil) {
        self.relL2 = relL2
        self.maxAbs = maxAbs
        self.minCosine = minCosine
        self.minPSNR = minPSNR
    }

    var json: [String: Any] {
        var o: [String: Any] = ["rel_l2": relL2]
        if let maxAbs { o["max_abs"] = maxAbs }
        if let minCosine { o["cosine"] = minCosine }
        if let minPSNR { o["psnr"] = minPSNR }
        return o
    }
}

/// One comparison: run `call` on the component's weights with `args` and the bundle tensors named
/// in `inputs`, compare each output with the bundle tensor named in `expect`.
public struct Probe: Sendable {
    public var name: String
    public var component: String
    public var call: String
    public var args: [String: JSONValue]
    /// Call parameter → bundle tensor name.
    public var inputs: [String: String]
    /// Call output → bundle tensor name.
    public var expect: [String: String]
    public var tolerance: Tolerance
}

/// A reference bundle: a safetensors file whose `__metadata__` key `nextgpt.reference` describes
/// the probes (see formats/reference-bundle.md).
public struct ReferenceBundle: Sendable {
    public static let metadataKey = "nextgpt.reference"
    public static let supportedVersion = 1

    public let path: String
    public let version: Int
    public let probes: [Probe]
    public let checkpoint: Checkpoint
    private let index: [String: SourceTensor]
    /// Other `__metadata__` entries (free text: who made the bundle, from what).
    public var metadata: [String: String] { checkpoint.metadata }

    public init(path: String) throws {
        self.path = path
        checkpoint = try SafetensorsFile.read(path: path)
        index = Dictionary(checkpoint.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        guard let text = checkpoint.metadata[Self.metadataKey] else {
            throw FormatError(path, "no '\(Self.metadataKey)' key in the safetensors __metadata__ (not a reference bundle?)")
        }
        let root: JSONValue
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw FormatError(path, "\(Self.metadataKey) is not valid JSON: \(Self.describe(error))")
        }
        let checkpointIndex = index
        let fail = { (message: String) in FormatError(path, "\(Self.metadataKey): \(message)") }
        guard case .object(let top) = root else { throw fail("must be a JSON object") }
        guard case .number(let v)? = top["version"] else { throw fail("missing numeric 'version'") }
        // Compared as a Double: Int(v) traps on a version like 1e300.
        guard v == Double(Self.supportedVersion) else { throw fail("version \(v) is not supported (this build reads version \(Self.supportedVersion))") }
        version = Self.supportedVersion
        guard case .array(let list)? = top["probes"] else { throw fail("missing 'probes' array") }
        var parsed: [Probe] = []
        var seen = Set<String>()
        for (i, item) in list.enumerated() {
            guard case .object(let p) = item else { throw fail("probes[\(i)] is not an object") }
            let label: String
            if case .string(let n)? = p["name"] { label = "probe '\(n)'" } else { label = "probes[\(i)]" }
            func string(_ key: String) throws -> String {
                guard case .string(let s)? = p[key], !s.isEmpty else { throw fail("\(label): missing string '\(key)'") }
                return s
            }
            func names(_ key: String, required: Bool) throws -> [String: String] {
                guard let value = p[key] else {
                    if required { throw fail("\(label): missing object '\(key)'") }
                    return [:]
                }
                guard case .object(let o) = value else { throw fail("\(label): '\(key)' must map names to tensor names") }
                var out: [String: String] = [:]
                for (k, v) in o {
                    guard case .string(let s) = v else { throw fail("\(label): \(key).\(k) must be a tensor name (string)") }
                    guard checkpointIndex[s] != nil else { throw FormatError(path, tensor: s, "named by \(label) \(key).\(k) but not in the bundle") }
                    out[k] = s
                }
                return out
            }
            let name = try string("name")
            guard seen.insert(name).inserted else { throw fail("duplicate probe name '\(name)'") }
            let call = try string("call")
            var args: [String: JSONValue] = [:]
            if let a = p["args"] {
                guard case .object(let o) = a else { throw fail("\(label): 'args' must be an object") }
                args = o
            }
            let expect = try names("expect", required: true)
            guard !expect.isEmpty else { throw fail("\(label): 'expect' is empty") }
            guard case .object(let t)? = p["tolerance"], case .number(let rel)? = t["rel_l2"], rel >= 0 else {
                throw fail("\(label): missing 'tolerance' with a non-negative number 'rel_l2'")
            }
            var tolerance = Tolerance(relL2: rel)
            if case .number(let m)? = t["max_abs"] { tolerance.maxAbs = m }
            if case .number(let c)? = t["cosine"] { tolerance.minCosine = c }
            if case .number(let d)? = t["psnr"] { tolerance.minPSNR = d }
            parsed.append(Probe(name: name, component: try string("component"), call: call, args: args,
                                inputs: try names("inputs", required: false), expect: expect, tolerance: tolerance))
        }
        guard !parsed.isEmpty else { throw fail("no probes") }
        probes = parsed
    }

    /// A bundle tensor as f32 values (any float or integer dtype is widened).
    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func tensor(_ name: String) throws -> Tensor {
        guard let source = index[name] else { throw FormatError(path, tensor: name, "not in the bundle") }
        return Tensor(shape: source.shape, values: try source.readFloats())
    }

    private static func describe(_ error: Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            if let underlying = context.underlyingError { return "\(context.debugDescription) \(underlying.localizedDescription)" }
            return context.debugDescription
        }
        return "\(error)"
    }
}
