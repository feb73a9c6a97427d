import CNextGPTKernels
import NextGPTCore

/// The NExT-GPT view of a GGUF file: components (tensor-name prefixes listed in
/// `nextgpt.components`), their metadata, and per-tensor CRC-32C checksums.
public struct Container: Sendable {
    public let file: GGUFFile
    public let components: [String]

    public init(path: String) throws {
        file = try GGUFFile(path: path)
        guard file.string("general.architecture") == "nextgpt" else {
            throw FormatError(path, "general.architecture is '\(file.string("general.architecture") ?? "missing")', not 'nextgpt'")
        }
        guard let names = file.metadata["nextgpt.components"]?.stringArray else {
            throw FormatError(path, "no nextgpt.components list")
        }
        components = names
    }

    /// The component a tensor belongs to: the longest listed prefix of its name.
    public func component(of tensorName: String) -> String? {
        components.filter { tensorName.hasPrefix($0 + ".") }.max { $0.count < $1.count }
    }

    public func tensors(of component: String) -> [GGUFTensor] {
        file.tensors.filter { self.component(of: $0.name) == component }
    }

    /// The PyTorch shape of a tensor (stored shapes of folded tensors differ).
    public func originalShape(of tensor: GGUFTensor) -> [Int] {
        file.metadata["nextgpt.orig_shape.\(tensor.name)"]?.intArray ?? tensor.shape
    }

    public struct Corruption: Sendable, CustomStringConvertible {
        public let component: String
        public let tensor: String?
        public let problem: String
        public var description: String { "\(component): \(tensor.map { "tensor '\($0)': " } ?? "")\(problem)" }
    }

    /// CRC-32C of the whole header (metadata and tensor records, up to the tensor data) with
    /// this value's own bytes counted as zeros; written from format version 2 on.
    public static let headerChecksumKey = "nextgpt.header_crc32c"
    public static let headerChecksumVersion = 2

    /// Checks the header checksum. Containers of format version 1 have none and pass; from
    /// version 2 on a missing checksum is itself damage (a flipped bit in its key).
    public func verifyHeader() throws -> [Corruption] {
        let block = "metadata block (header bytes 0..<\(file.dataOffset))"
        guard let value = file.metadata[Self.headerChecksumKey], let offset = file.metadataValueOffsets[Self.headerChecksumKey] else {
            if case .uint32(let version) = file.metadata["nextgpt.format_version"], version < Self.headerChecksumVersion {
                return []
            }
            return [Corruption(component: "header", tensor: nil, problem: "\(block): no \(Self.headerChecksumKey) although nextgpt.format_version is \(file.metadata["nextgpt.format_version"]?.intValue.map(String.init) ?? "missing")")]
        }
        guard case .uint32(let stored) = value else {
            return [Corruption(component: "header", tensor: nil, problem: "\(block): \(Self.headerChecksumKey) is not a UINT32")]
        }
        var bytes = try file.file.read(at: 0, count: file.dataOffset)
        bytes.replaceSubrange(offset..<(offset + 4), with: [0, 0, 0, 0])
        let crc = bytes.withUnsafeBytes { ngk_crc32c_update(0, $0.baseAddress, $0.count) }
        guard crc == stored else {
            return [Corruption(component: "header", tensor: nil, problem: "\(block): CRC-32C \(hex(crc)) differs from the stored \(hex(stored)); metadata or tensor records are damaged")]
        }
        return []
    }

    /// The writer pads every tensor with zeros to the alignment and ends the file there: nonzero
    /// padding or extra bytes are damage no tensor checksum covers.
    public func verifyPadding() throws -> [Corruption] {
        var problems: [Corruption] = []
        let ordered = file.tensors.sorted { $0.fileOffset < $1.fileOffset }
        for (i, tensor) in ordered.enumerated() {
            let end = tensor.fileOffset + tensor.byteCount
            let next = i + 1 < ordered.count ? ordered[i + 1].fileOffset
                : min(file.file.size, (end + file.alignment - 1) / file.alignment * file.alignment)
            guard next > end else { continue }
            let padding = try file.file.read(at: end, count: next - end)
            if let bad = padding.firstIndex(where: { $0 != 0 }) {
                problems.append(Corruption(component: component(of: tensor.name) ?? "file", tensor: tensor.name,
                                           problem: "padding byte \(end + bad) after the tensor is not zero"))
            }
        }
        let expectedSize = ordered.last.map { ($0.fileOffset + $0.byteCount + file.alignment - 1) / file.alignment * file.alignment } ?? file.dataOffset
        if file.file.size > expectedSize {
            problems.append(Corruption(component: "file", tensor: nil, problem: "\(file.file.size - expectedSize) bytes after the last tensor's padding"))
        }
        return problems
    }

    /// Recomputes every tensor's CRC-32C and compares with the stored checksums; also checks the
    /// header checksum and the padding. `progress` gets (tensors done, total).
    public func verifyChecksums(progress: ((Int, Int) -> Void)? = nil) throws -> [Corruption] {
        var problems = try verifyHeader() + verifyPadding()
        var done = 0
        for component in components {
            problems += try verifyTensors(of: component) { _ in
                done += 1
                progress?(done, file.tensors.count)
            }
        }
        return problems
    }

    /// The checks a run makes before it computes (`--check`): the header checksum and the tensors
    /// of `used` (components named exactly, or by a prefix before a dot: `sd15` is `sd15.unet` and
    /// the rest). Damage elsewhere in the file is not this run's business.
    public func verifyChecksums(of used: [String]) throws -> [Corruption] {
        var problems = try verifyHeader()
        for component in components where used.contains(where: { component == $0 || component.hasPrefix($0 + ".") }) {
            problems += try verifyTensors(of: component) { _ in }
        }
        return problems
    }

    /// One component's tensors against its stored CRC-32C list; `checked` sees each tensor done.
    func verifyTensors(of component: String, checked: (GGUFTensor) -> Void) throws -> [Corruption] {
        let tensors = tensors(of: component)
        guard let stored = file.metadata["\(component).tensor_crc32c"]?.intArray else {
            return [Corruption(component: component, tensor: nil, problem: "no \(component).tensor_crc32c checksums")]
        }
        guard stored.count == tensors.count else {
            return [Corruption(component: component, tensor: nil, problem: "\(stored.count) checksums for \(tensors.count) tensors")]
        }
        var problems: [Corruption] = []
        for (tensor, expected) in zip(tensors, stored) {
            let crc = try checksum(of: tensor)
            if Int(crc) != expected {
                problems.append(Corruption(component: component, tensor: tensor.name,
                                           problem: "CRC-32C \(hex(crc)) differs from the stored \(hex(UInt32(truncatingIfNeeded: expected)))"))
            }
            checked(tensor)
        }
        return problems
    }

    public func checksum(of tensor: GGUFTensor) throws -> UInt32 {
        var crc: UInt32 = 0
        let chunk = 16 << 20
        var buffer = [UInt8](repeating: 0, count: min(chunk, tensor.byteCount))
        var offset = 0
        while offset < tensor.byteCount {
            let n = min(chunk, tensor.byteCount - offset)
            try buffer.withUnsafeMutableBytes { raw in
                let slice = UnsafeMutableRawBufferPointer(rebasing: raw[0..<n])
                try file.file.read(into: slice, at: tensor.fileOffset + offset)
                crc = ngk_crc32c_update(crc, slice.baseAddress, n)
            }
            offset += n
        }
        return crc
    }

    private func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
