import NextGPTCore

/// The tensors of one upstream source — a file, a sharded folder or a diffusers component —
/// in file order, with every file that was opened (for provenance).
public struct Checkpoint: Sendable {
    public var tensors: [SourceTensor]
    public var files: [String]
    /// Free-form string metadata (safetensors `__metadata__`, torch archive facts).
    public var metadata: [String: String]

    public init(tensors: [SourceTensor], files: [String], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.files = files
        self.metadata = metadata
    }

    public var names: [String] { tensors.map(\.name) }

    public subscript(name: String) -> SourceTensor? { tensors.first { $0.name == name } }

    /// Appends another checkpoint's tensors; a name present in both is an error naming both files.
    public mutating func merge(_ other: Checkpoint) throws {
        var seen = Dictionary(tensors.map { ($0.name, $0.file.path) }, uniquingKeysWith: { a, _ in a })
        for tensor in other.tensors {
            if let first = seen[tensor.name] {
                throw FormatError(tensor.file.path, tensor: tensor.name, "also present in \(first)")
            }
            seen[tensor.name] = tensor.file.path
            tensors.append(tensor)
        }
        files += other.files
        metadata.merge(other.metadata) { a, _ in a }
    }

    /// Keeps the tensors whose names start with `prefix`, with the prefix removed.
    public func stripping(prefix: String) -> Checkpoint {
        var out = self
        out.tensors = tensors.compactMap { tensor in
            guard tensor.name.hasPrefix(prefix) else { return nil }
            var renamed = tensor
            renamed.name = String(tensor.name.dropFirst(prefix.count))
            return renamed
        }
        return out
    }
}
