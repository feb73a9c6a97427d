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

    /// Recomputes every tensor's CRC-32C and compares with the stored checksums.
    /// `progress` gets (tensors done, total).
    public func verifyChecksums(progress: ((Int, Int) -> Void)? = nil) throws -> [Corruption] {
        var problems: [Corruption] = []
        var done = 0
        for component in components {
            let tensors = tensors(of: component)
            guard let stored = file.metadata["\(component).tensor_crc32c"]?.intArray else {
                problems.append(Corruption(component: component, tensor: nil, problem: "no \(component).tensor_crc32c checksums"))
                continue
            }
            guard stored.count == tensors.count else {
                problems.append(Corruption(component: component, tensor: nil,
                                           problem: "\(stored.count) checksums for \(tensors.count) tensors"))
                continue
            }
            for (tensor, expected) in zip(tensors, stored) {
                let crc = try checksum(of: tensor)
                if Int(crc) != expected {
                    problems.append(Corruption(component: component, tensor: tensor.name,
                                               problem: "CRC-32C \(hex(crc)) differs from the stored \(hex(UInt32(expected)))"))
                }
                done += 1
                progress?(done, file.tensors.count)
            }
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
